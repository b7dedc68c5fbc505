import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import * as YAML from "yaml"
import { decodeConfig, decodeConfigAll, unknownKeyErrors } from "../../domain/config/ConfigDecode.js"
import { combineConfigErrors, ConfigError } from "../../domain/config/ConfigError.js"
import { formatKeyPath, interpolateAll, type KeyPath, type MissingEnvVar } from "../../domain/config/Interpolate.js"
import { type MxcpUnsupported, SiteMxcpUnsupported, UserMxcpUnsupported } from "../../domain/config/MxcpKeys.js"
import { type IgnoredKeys, SiteConfig, SiteIgnoredKeys } from "../../domain/config/SiteConfig.js"
import { resolvePersistence } from "../../domain/config/Persistence.js"
import { checkProvider, selectionProblems } from "../../domain/config/ProfileChecks.js"
import {
  type AuthConfig,
  AuthConfig as AuthConfigSchema,
  defaultAuthConfig,
  UserConfig,
  UserIgnoredKeys
} from "../../domain/config/UserConfig.js"
import { AppConfig, type ConfigOverrides, type ServeSettings } from "../../services/config/AppConfig.js"

export { SiteFileName } from "../../domain/config/ProfileChecks.js"
import { SiteFileName } from "../../domain/config/ProfileChecks.js"

// ---------------------------------------------------------------------------
// Tree helpers: not-implemented keys, interpolation
// ---------------------------------------------------------------------------

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const copyTree = (u: unknown): unknown =>
  Array.isArray(u)
    ? u.map(copyTree)
    : isRecord(u)
    ? Object.fromEntries(Object.entries(u).map(([k, v]) => [k, copyTree(v)]))
    : u

/** Removes the MXCP keys this server ignores; returns the copy and the path of each key removed. */
export const stripIgnoredKeys = (
  tree: unknown,
  rules: ReadonlyArray<IgnoredKeys>
): { readonly tree: unknown; readonly removed: ReadonlyArray<KeyPath> } => {
  const copy = copyTree(tree)
  const removed: Array<KeyPath> = []
  const visit = (node: unknown, at: ReadonlyArray<string>, path: KeyPath, keys: ReadonlyArray<string>) => {
    if (!isRecord(node)) return
    const [head, ...rest] = at
    if (head === undefined) {
      for (const key of keys) {
        if (Object.hasOwn(node, key)) {
          delete node[key]
          removed.push([...path, key])
        }
      }
      return
    }
    const next = head === "*" ? Object.keys(node) : Object.hasOwn(node, head) ? [head] : []
    for (const k of next) visit(node[k], rest, [...path, k], keys)
  }
  for (const rule of rules) visit(copy, rule.at, [], rule.keys)
  return { tree: copy, removed }
}

/** `${VAR}` left unset, as the config problem of its key. */
const missingVarError = (file: string, e: MissingEnvVar): ConfigError =>
  new ConfigError({
    file,
    key: formatKeyPath(e.path),
    message: e.message,
    fix: `set ${e.variable} in the environment before starting the server`
  })

/** `tree` without the key at `path` (a copy; the input is not modified). */
const withoutKey = (tree: unknown, path: KeyPath): unknown => {
  const [head, ...rest] = path
  if (head === undefined) return tree
  if (Array.isArray(tree) && typeof head === "number") {
    return rest.length === 0 ? tree : tree.map((item: unknown, i) => (i === head ? withoutKey(item, rest) : item))
  }
  if (!isRecord(tree) || typeof head !== "string" || !Object.hasOwn(tree, head)) return tree
  if (rest.length === 0) return Object.fromEntries(Object.entries(tree).filter(([k]) => k !== head))
  return { ...tree, [head]: withoutKey(tree[head], rest) }
}

/**
 * One config file, every problem collected: the keys are checked first, on the tree as written
 * (an unknown or unsupported block is reported without first demanding its variables), then every
 * `${VAR}` is expanded (each unset one is a problem of its key), then the values are decoded.
 */
const decodeFile = <A, I>(
  schema: Schema.Schema<A, I, never>,
  file: string,
  tree: unknown,
  env: Readonly<Record<string, string | undefined>>,
  mxcp: ReadonlyArray<MxcpUnsupported>
): Either.Either<A, ReadonlyArray<ConfigError>> => {
  const unknown = unknownKeyErrors(schema, file, tree, mxcp)
  const known = unknown.reduce((t, u) => withoutKey(t, u.path), tree)
  const expanded = interpolateAll(known, env)
  const missing = expanded.missing.map((e) => missingVarError(file, e))
  const decoded = decodeConfigAll(schema, file, expanded.tree, mxcp, expanded.missing.map((e) => e.path))
  const problems = [...unknown.map((u) => u.error), ...missing, ...(Either.isLeft(decoded) ? decoded.left : [])]
  if (problems.length > 0 || Either.isLeft(decoded)) return Either.left(problems)
  return Either.right(decoded.right)
}

// ---------------------------------------------------------------------------
// Building the service from parsed trees
// ---------------------------------------------------------------------------

/** Input of `makeAppConfig`: already-parsed (not yet decoded) config trees. */
export interface AppConfigValues {
  /** Absolute folder of the project (`mxcp-site.yml`'s folder). */
  readonly projectRoot: string
  /** The parsed `mxcp-site.yml`. */
  readonly site: unknown
  /** The parsed user config; `undefined` or `null` means defaults. */
  readonly user?: unknown
  /** For messages; defaults to `<projectRoot>/mxcp-site.yml`. */
  readonly siteFile?: string | undefined
  /** Where `user` came from; `null` when it is not from a file. */
  readonly userFile?: string | null | undefined
  /** Flags, environment (`${VAR}`), home folder; `cwd` is not used here. */
  readonly overrides?: Partial<ConfigOverrides> | undefined
}

/** `record[key]` for own keys only (a project named `constructor` must not find `Object.prototype`). */
const own = <A>(record: Readonly<Record<string, A>>, key: string): A | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined

const expandHome = (p: string, homeDir: string): string =>
  p === "~" ? homeDir : p.startsWith("~/") ? nodePath.join(homeDir, p.slice(2)) : p

const resolvePath = (p: string, base: string, homeDir: string): string =>
  nodePath.resolve(base, expandHome(p, homeDir))

/**
 * Builds the service from parsed config trees: strips ignored keys, checks keys, interpolates,
 * decodes, selects the project and profile. Fails with every problem found (the first is the
 * error, the others in its `more`), one per key.
 */
export const makeAppConfig = Effect.fn("AppConfig.make")(function*(values: AppConfigValues) {
  const overrides = values.overrides ?? {}
  const env = overrides.env ?? {}
  const homeDir = overrides.homeDir ?? os.homedir()
  const projectRoot = nodePath.resolve(values.projectRoot)
  const siteFile = values.siteFile ?? nodePath.join(projectRoot, SiteFileName)
  const userFile = values.userFile ?? null
  const userLabel = userFile ?? "user config"
  const warnings: Array<string> = []
  const problems: Array<ConfigError> = []
  const note = (file: string, removed: ReadonlyArray<KeyPath>) => {
    for (const p of removed) {
      const key = formatKeyPath(p)
      warnings.push(`${file}: ${key}: MXCP key "${String(p[p.length - 1])}" is not supported by this server: ignored`)
    }
  }

  let site: SiteConfig | undefined
  if (values.site === null || values.site === undefined) {
    problems.push(
      new ConfigError({ file: siteFile, key: "", message: "the file is empty", fix: "add at least mxcp: 1 and project: NAME" })
    )
  } else {
    const siteStripped = stripIgnoredKeys(values.site, SiteIgnoredKeys)
    note(siteFile, siteStripped.removed)
    const decoded = decodeFile(SiteConfig, siteFile, siteStripped.tree, env, SiteMxcpUnsupported)
    if (Either.isLeft(decoded)) problems.push(...decoded.left)
    else site = decoded.right
  }

  const userRaw = values.user === undefined || values.user === null ? {} : values.user
  const userStripped = stripIgnoredKeys(userRaw, UserIgnoredKeys)
  note(userLabel, userStripped.removed)
  const userDecoded = decodeFile(UserConfig, userLabel, userStripped.tree, env, UserMxcpUnsupported)
  if (Either.isLeft(userDecoded)) problems.push(...userDecoded.left)
  const user = Either.getOrUndefined(userDecoded)

  if (site === undefined || user === undefined) {
    return yield* combineConfigErrors(problems) ??
      new ConfigError({ file: siteFile, key: "", message: "invalid configuration", fix: "check the file against the README" })
  }

  const profile = overrides.profile ?? site.profile
  problems.push(...selectionProblems(site, user, profile, overrides.profile !== undefined, siteFile, userLabel))
  const project = own(user.projects, site.project)
  const configured = project === undefined ? undefined : own(project.profiles, profile)
  const authKey = `projects.${site.project}.profiles.${profile}.auth`
  const decodedAuth = configured?.auth ?? defaultAuthConfig
  const incomplete = checkProvider(userLabel, authKey, decodedAuth)
  if (incomplete !== undefined) problems.push(incomplete)
  const persistence = decodedAuth.persistence
  if (persistence !== undefined) {
    const resolved = resolvePersistence(persistence, userLabel, `${authKey}.persistence`)
    if (Either.isLeft(resolved)) problems.push(resolved.left)
  }
  const failed = combineConfigErrors(problems)
  if (failed !== undefined) return yield* failed
  const auth: AuthConfig = persistence === undefined || persistence.path === undefined
    ? decodedAuth
    : { ...decodedAuth, persistence: { ...persistence, path: resolvePath(persistence.path, projectRoot, homeDir) } }

  const siteProfile = own(site.profiles, profile)
  const dbPath = siteProfile?.duckdb.path ?? `data/db-${profile}.duckdb`
  const readonly = overrides.readonly === true || siteProfile?.duckdb.readonly === true
  const http = user.transport.http
  const serve: ServeSettings = {
    host: overrides.host ?? http.host,
    port: overrides.port ?? http.port,
    transport: overrides.transport ?? user.transport.provider,
    scheme: http.scheme ?? "http",
    schemeFromConfig: http.scheme !== undefined,
    baseUrl: http.base_url === null ? null : http.base_url.replace(/\/+$/, ""),
    trustProxy: http.trust_proxy,
    stateless: overrides.stateless ?? http.stateless,
    readonly,
    sqlTools: overrides.sqlTools ?? site.sql_tools.enabled,
    exposeExternalToken: site.sql_tools.expose_external_token,
    debug: overrides.debug ?? false
  }

  const shape: AppConfig.Shape = {
    projectRoot,
    siteFile,
    userFile,
    site,
    user,
    profile,
    auth,
    duckdb: {
      path: dbPath === ":memory:" ? dbPath : resolvePath(dbPath, projectRoot, homeDir),
      readonly,
      initSql: siteProfile?.duckdb.init_sql === undefined
        ? undefined
        : resolvePath(siteProfile.duckdb.init_sql, projectRoot, homeDir),
      threads: siteProfile?.duckdb.threads
    },
    serve,
    warnings
  }
  return shape
})

/** Decodes just an `auth` block (for embedding and tests). */
export const decodeAuthConfig = (raw: unknown, file = "auth"): Effect.Effect<AuthConfig, ConfigError> =>
  decodeConfig(AuthConfigSchema, file, raw)

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

const isFile = (p: string): boolean => fs.statSync(p, { throwIfNoEntry: false })?.isFile() === true

/** The nearest `mxcp-site.yml` at or above `cwd`. */
export const findSiteFile = (cwd: string): Effect.Effect<string, ConfigError> =>
  Effect.suspend(() => {
    const start = nodePath.resolve(cwd)
    for (let dir = start;; dir = nodePath.dirname(dir)) {
      const candidate = nodePath.join(dir, SiteFileName)
      if (isFile(candidate)) return Effect.succeed(candidate)
      if (nodePath.dirname(dir) === dir) break
    }
    return Effect.fail(
      new ConfigError({
        file: start,
        key: "",
        message: `no ${SiteFileName} found in this folder or any parent folder`,
        fix: `run mxcp inside a project folder (one that contains ${SiteFileName}) or one of its subfolders`
      })
    )
  })

const readText = (file: string): Effect.Effect<string, ConfigError> =>
  Effect.try({
    try: () => fs.readFileSync(file, "utf8"),
    catch: (e) =>
      new ConfigError({
        file,
        key: "",
        message: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
        fix: "check that the file exists and is readable"
      })
  })

/** Parses YAML text; syntax errors name the line and column. An empty document is `null`. */
export const parseYaml = (file: string, text: string): Effect.Effect<unknown, ConfigError> =>
  Effect.suspend(() => {
    const lineCounter = new YAML.LineCounter()
    const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true })
    const error = doc.errors[0]
    if (error !== undefined) {
      const pos = lineCounter.linePos(error.pos[0])
      const line = Math.max(pos.line, 1)
      const col = pos.line === 0 ? error.pos[0] + 1 : pos.col
      const detail = error.message.split("\n")[0] ?? error.code
      return Effect.fail(
        new ConfigError({
          file,
          key: "",
          message: `invalid YAML at line ${line}, column ${col}: ${detail}`,
          fix: `fix the YAML syntax at line ${line}, column ${col}`
        })
      )
    }
    return Effect.try({
      try: () => doc.toJS({ maxAliasCount: 1000 }) as unknown,
      catch: (e) =>
        new ConfigError({
          file,
          key: "",
          message: `invalid YAML: ${e instanceof Error ? e.message : String(e)}`,
          fix: "simplify the YAML (aliases)"
        })
    })
  })

const readYaml = (file: string) => Effect.flatMap(readText(file), (text) => parseYaml(file, text))

/** Which user config file applies, and whether it was asked for explicitly. */
const userConfigLocation = (overrides: ConfigOverrides) => {
  const cwd = nodePath.resolve(overrides.cwd)
  if (overrides.configPath !== undefined && overrides.configPath !== "") {
    return {
      file: resolvePath(overrides.configPath, cwd, overrides.homeDir),
      explicit: "check the --config path (or leave it out to use MXCP_CONFIG or ~/.mxcp/config.yml)"
    } as const
  }
  const fromEnv = overrides.env["MXCP_CONFIG"]
  if (fromEnv !== undefined && fromEnv !== "") {
    return {
      file: resolvePath(fromEnv, cwd, overrides.homeDir),
      explicit: "check the MXCP_CONFIG variable (or unset it to use ~/.mxcp/config.yml)"
    } as const
  }
  return { file: nodePath.join(overrides.homeDir, ".mxcp", "config.yml"), explicit: undefined } as const
}

/** Finds and reads both config files, then builds the service. */
export const loadAppConfig = Effect.fn("AppConfig.load")(function*(overrides: ConfigOverrides) {
  const siteFile = yield* findSiteFile(overrides.cwd)
  const site = yield* readYaml(siteFile)
  const location = userConfigLocation(overrides)
  const exists = isFile(location.file)
  if (!exists && location.explicit !== undefined) {
    return yield* new ConfigError({
      file: location.file,
      key: "",
      message: "user config file not found",
      fix: location.explicit
    })
  }
  const user = exists ? yield* readYaml(location.file) : undefined
  yield* Effect.annotateCurrentSpan({ siteFile, userFile: exists ? location.file : "none" })
  return yield* makeAppConfig({
    projectRoot: nodePath.dirname(siteFile),
    siteFile,
    site,
    user,
    userFile: exists ? location.file : null,
    overrides
  })
})

/** The config service from `mxcp-site.yml` (walked up from `cwd`) and the user config. */
export const AppConfigFromFiles = (overrides: ConfigOverrides): Layer.Layer<AppConfig, ConfigError> =>
  Layer.effect(AppConfig, loadAppConfig(overrides))

/** The config service from already-parsed trees (tests, embedding). */
export const AppConfigFromValues = (values: AppConfigValues): Layer.Layer<AppConfig, ConfigError> =>
  Layer.effect(AppConfig, makeAppConfig(values))
