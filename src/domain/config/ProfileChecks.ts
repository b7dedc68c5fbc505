/**
 * The checks of a loaded config that concern the selected project, profile and provider: the
 * provider block has what it needs (and no unsupported mode), and the project and profile named
 * exist (else auth would be off without a word). Pure: each problem is a `ConfigError` naming
 * the file, the key and the fix.
 */
import { Redacted } from "effect"
import { ConfigError } from "./ConfigError.js"
import type { SiteConfig } from "./SiteConfig.js"
import { type AuthConfig, ProviderDisplayName, ReservedAuthorizeParams, type UserConfig } from "./UserConfig.js"

export const SiteFileName = "mxcp-site.yml"

/** `record[key]` for own keys only (a project named `constructor` must not find `Object.prototype`). */
const own = <A>(record: Readonly<Record<string, A>>, key: string): A | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined

const isBlank = (v: string | Redacted.Redacted<string> | undefined): boolean =>
  v === undefined || (typeof v === "string" ? v : Redacted.value(v)) === ""

/** The keys the selected provider's block must set. */
const requiredKeys = (auth: AuthConfig): ReadonlyArray<string> => {
  switch (auth.provider) {
    case "none":
      return []
    case "oidc":
      return ["config_url", "client_id", "client_secret"]
    case "keycloak":
      return ["client_id", "client_secret", "realm", "server_url"]
    default:
      return ["client_id", "client_secret"]
  }
}

/**
 * `<Provider> OAuth configuration is incomplete` when the selected provider's block lacks a
 * required key; verifier mode (not supported yet); `extra_authorize_params` that would
 * override the flow's own parameters.
 */
export const checkProvider = (file: string, authKey: string, auth: AuthConfig): ConfigError | undefined => {
  if (auth.mode === "verifier") {
    // MXCP's verifier mode (a protected resource only, accepting the IdP's own access tokens) is
    // not built yet: starting as an authorization server instead would be a silent surprise.
    return (
      new ConfigError({
        file,
        key: `${authKey}.mode`,
        message: 'MXCP key "mode: verifier" is not supported by this server: verifier mode is not supported by mxcp-ts yet ' +
          "(the server can only be its own authorization server)",
        fix: `remove ${authKey}.mode (or set it to issuer) to log users in through the ${authKey}.provider block`
      })
    )
  }
  if (auth.provider === "none") return undefined
  const block = auth[auth.provider] as Readonly<Record<string, unknown>> | undefined
  const missing = requiredKeys(auth).filter((key) => isBlank(block?.[key] as string | Redacted.Redacted<string> | undefined))
  const blockKey = `${authKey}.${auth.provider}`
  if (missing.length > 0) {
    return (
      new ConfigError({
        file,
        key: missing.length === 1 ? `${blockKey}.${missing[0]}` : blockKey,
        message: `${ProviderDisplayName[auth.provider]} OAuth configuration is incomplete`,
        fix: block === undefined
          ? `add ${blockKey} with ${requiredKeys(auth).join(", ").replace(/, ([^,]*)$/, " and $1")}`
          : `set ${missing.join(" and ")} in ${blockKey}`
      })
    )
  }
  if (auth.provider === "oidc" && auth.oidc !== undefined) {
    const reserved = Object.keys(auth.oidc.extra_authorize_params).filter((k) => ReservedAuthorizeParams.includes(k))
    if (reserved.length > 0) {
      return (
        new ConfigError({
          file,
          key: `${blockKey}.extra_authorize_params.${reserved[0]}`,
          message: `${reserved.join(", ")} is set by the server itself and cannot be overridden`,
          fix: `remove ${reserved.join(" and ")} from ${blockKey}.extra_authorize_params (use ${blockKey}.scope for the scope)`
        })
      )
    }
  }
  return undefined
}

const listOf = (names: ReadonlyArray<string>): string => (names.length === 0 ? "none" : names.join(", "))

/**
 * The project and profile must exist: a profile is the site's `profile`, one of the site's
 * `profiles`, or one the user config has for this project; a user config that has projects must
 * have this one, and that project must have the selected profile (else auth would be off without
 * a word: a config copied from a guide names `my_project`/`dev`). Each mismatch is a problem that
 * names what exists.
 */
export const selectionProblems = (
  site: SiteConfig,
  user: UserConfig,
  profile: string,
  fromFlag: boolean,
  siteFile: string,
  userLabel: string
): ReadonlyArray<ConfigError> => {
  const project = own(user.projects, site.project)
  const userProjects = Object.keys(user.projects)
  const userProfiles = project === undefined ? [] : Object.keys(project.profiles)
  const known = [...new Set([site.profile, ...Object.keys(site.profiles), ...userProfiles])]
  const problems: Array<ConfigError> = []
  if (!known.includes(profile)) {
    problems.push(
      new ConfigError({
        file: siteFile,
        key: fromFlag ? "profiles (--profile)" : "profile",
        message: `unknown profile "${profile}"; the profiles of project ${site.project} are: ${listOf(known)}`,
        fix: `use one of them${fromFlag ? " with --profile" : ""}, or add profiles.${profile} to ${SiteFileName}`
      })
    )
  }
  if (project === undefined && userProjects.length > 0) {
    problems.push(
      new ConfigError({
        file: userLabel,
        key: "projects",
        message: `no project "${site.project}" (the project of ${siteFile}); this file has: ${listOf(userProjects)}`,
        fix: `rename the project under projects: to ${site.project}, or set project: in ${SiteFileName} to the one you meant`
      })
    )
  } else if (project !== undefined && own(project.profiles, profile) === undefined && known.includes(profile)) {
    problems.push(
      new ConfigError({
        file: userLabel,
        key: `projects.${site.project}.profiles`,
        message: `no profile "${profile}" for project ${site.project}; this file has: ${listOf(userProfiles)}`,
        fix: `add projects.${site.project}.profiles.${profile} (an empty one means auth off), or choose another profile with --profile`
      })
    )
  }
  return problems
}

