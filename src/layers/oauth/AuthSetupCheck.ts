/**
 * `mxcp validate`'s look at the selected profile's auth, beyond what loading the config already
 * checks (a complete provider block, every `${VAR}` set): the callback URL to register with the
 * provider, the OAuth state files (read-only: nothing is created), and the production
 * recommendations that are easy to get wrong. With PostgreSQL and `checkConnection`, it connects
 * and reads the schema version (read-only too: nothing is created or migrated).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Logger, LogLevel, Redacted } from "effect"
import { ConfigError } from "../../domain/config/ConfigError.js"
import { postgresTarget, redactedUrl, resolvePersistence } from "../../domain/config/Persistence.js"
import { ProviderDisplayName } from "../../domain/config/UserConfig.js"
import { baseUrlFor } from "../../http/server/BaseUrl.js"
import type { AppConfig } from "../../services/config/AppConfig.js"
import { isLoopbackName } from "../../http/server/HostChecks.js"
import { isInsecureBase } from "../server/HttpServeNode.js"
import { inspectPostgres, LATEST_PG_MIGRATION } from "./store/OAuthDatabasePostgres.js"
import { inspectStateFiles } from "./store/StateFiles.js"
import { googleSpec } from "./providers/GoogleProvider.js"
import { keycloakSpec } from "./providers/KeycloakProvider.js"
import { discoverOnce, oidcSpec, type OidcProviderSpec } from "./providers/OidcProvider.js"

/** The OpenID Provider spec of the selected block, when it is one. */
const openIdSpec = (auth: AppConfig.Shape["auth"]): OidcProviderSpec | undefined => {
  switch (auth.provider) {
    case "oidc":
      return auth.oidc === undefined ? undefined : oidcSpec(auth.oidc)
    case "google":
      return auth.google === undefined ? undefined : googleSpec(auth.google)
    case "keycloak":
      return auth.keycloak === undefined ? undefined : keycloakSpec(auth.keycloak)
    default:
      return undefined
  }
}

/** The key to fix when the discovery document of `provider`'s block cannot be used. */
const discoveryKey = (provider: string): string => (provider === "keycloak" ? "server_url" : "config_url")

export interface AuthSetupReport {
  /** Facts for the user (stdout): provider, callback URL, where OAuth state lives. */
  readonly lines: ReadonlyArray<string>
  /** Works, but not as recommended for production. */
  readonly warnings: ReadonlyArray<string>
  /** Would stop `serve`, or break logins. */
  readonly problems: ReadonlyArray<ConfigError>
}

/** An `http:` redirect URI to a host other than loopback: codes would cross the network in clear. */
const isPlainRemote = (uri: string): boolean => {
  try {
    const url = new URL(uri)
    return url.protocol === "http:" && !isLoopbackName(url.hostname)
  } catch {
    return false
  }
}

/** The report for `config`'s project and profile; nothing when auth is off. */
export const checkAuthSetup = (
  config: AppConfig.Shape,
  options: { readonly checkConnection?: boolean } = {}
): Effect.Effect<AuthSetupReport> =>
  Effect.gen(function* () {
    const auth = config.auth
    if (auth.provider === "none") return { lines: ["Auth: none"], warnings: [], problems: [] }
    const lines: Array<string> = []
    const warnings: Array<string> = []
    const problems: Array<ConfigError> = []
    const authKey = `projects.${config.site.project}.profiles.${config.profile}.auth`
    const display = ProviderDisplayName[auth.provider]
    const block = auth[auth.provider]
    const callbackPath = block?.callback_path ?? ""
    // No request headers: what the server registers when nothing forwards a host to it.
    const base = baseUrlFor(config.serve, {}, config.serve.port)
    lines.push(`Auth: ${auth.provider} (profile ${config.profile})`)
    lines.push(`OAuth issuer: ${base}`)
    lines.push(`Callback URL to register with ${display}: ${base}${callbackPath}`)

    if (isInsecureBase(base)) {
      warnings.push(
        `the base URL ${base} uses plain http on a non-loopback host: tokens and codes would cross the network ` +
          "in clear; set transport.http.base_url to an https URL (or scheme: https behind a TLS proxy)"
      )
    }
    if (config.serve.baseUrl === null && config.serve.trustProxy) {
      warnings.push(
        "trust_proxy without base_url: the callback URL above applies only when no X-Forwarded-Host is sent; " +
          "set transport.http.base_url to the URL clients use"
      )
    }
    if (config.serve.baseUrl === null && config.serve.port === 0) {
      warnings.push("port 0: the callback URL depends on the port picked at startup; set transport.http.base_url")
    }
    for (const client of auth.clients) {
      for (const uri of client.redirect_uris) {
        if (isPlainRemote(uri)) {
          warnings.push(`${authKey}.clients: ${client.client_id}: redirect URI ${uri} is plain http to a remote host; use https`)
        }
      }
    }

    const spec = openIdSpec(auth)
    if (spec !== undefined) {
      // One look at the discovery document, as the server's startup makes it (logs stay quiet).
      const found = yield* Effect.either(discoverOnce(spec)).pipe(
        Effect.provide(NodeHttpClient.layerUndici),
        Logger.withMinimumLogLevel(LogLevel.None)
      )
      if (Either.isRight(found)) {
        lines.push(`OpenID Provider: issuer ${found.right.issuer} (from ${spec.configUrl})`)
        if (!found.right.pkceS256) {
          warnings.push(`${display} does not list S256 in code_challenge_methods_supported: logins go without PKCE (the nonce still binds them)`)
        }
      } else {
        const key = `${authKey}.${auth.provider}.${discoveryKey(auth.provider)}`
        problems.push(
          new ConfigError({
            file: config.userFile ?? "user config",
            key,
            message: found.left.message,
            fix: auth.provider === "keycloak"
              ? `check ${authKey}.keycloak.server_url and realm (the document is ${spec.configUrl}) and that this host reaches it`
              : `check ${key} (the provider's /.well-known/openid-configuration URL) and that this host reaches it`
          })
        )
      }
    }

    const stored = auth.persistence
    const persistence = stored === undefined
      ? undefined
      : Either.getOrUndefined(resolvePersistence(stored, config.userFile ?? "user config", `${authKey}.persistence`))
    if (persistence === undefined) {
      lines.push("OAuth state: in memory (logins and registered clients are lost on restart)")
      warnings.push(`${authKey}.persistence is not set: every restart logs users out (set it for production)`)
    } else if (persistence.type === "sqlite") {
      lines.push(`OAuth state: ${persistence.path}`)
      const files = yield* inspectStateFiles(persistence.path, persistence.encryption_key)
      problems.push(...files.problems)
      warnings.push(...files.warnings)
    } else {
      const url = Redacted.value(persistence.url)
      lines.push(`OAuth state: PostgreSQL ${redactedUrl(url)}, schema ${persistence.schema} (shared by every instance)`)
      if (options.checkConnection === true) {
        const found = yield* inspectPostgres({ url: persistence.url, encryptionKey: persistence.encryption_key, schema: persistence.schema })
        const target = postgresTarget(url)
        const where = target === undefined ? redactedUrl(url) : `${target.host}:${target.port}, database ${target.database}`
        switch (found._tag) {
          case "Unreachable":
            problems.push(
              new ConfigError({
                file: config.userFile ?? "user config",
                key: `${authKey}.persistence.url`,
                message: `cannot connect to PostgreSQL at ${where}: ${found.reason}`,
                fix: "check that PostgreSQL runs and accepts this host, and the URL's host, database, user and password"
              })
            )
            break
          case "Empty":
            lines.push(`PostgreSQL: connected; schema ${persistence.schema} has no OAuth tables yet (the first server start creates them)`)
            break
          case "Found":
            if (found.version > LATEST_PG_MIGRATION) {
              problems.push(
                new ConfigError({
                  file: config.userFile ?? "user config",
                  key: `${authKey}.persistence.schema`,
                  message: `schema ${persistence.schema} has schema version ${found.version}, newer than this mxcp-ts knows (${LATEST_PG_MIGRATION})`,
                  fix: "run the newer mxcp-ts, or point auth.persistence.schema at another schema"
                })
              )
            } else {
              lines.push(
                `PostgreSQL: connected; schema version ${found.version}${
                  found.version < LATEST_PG_MIGRATION ? ` (the next server start upgrades it to ${LATEST_PG_MIGRATION})` : " (current)"
                }`
              )
            }
            break
        }
      } else {
        lines.push("PostgreSQL: connection not checked (mxcp validate --check-connection connects and reads the schema version)")
      }
    }
    return { lines, warnings, problems }
  })
