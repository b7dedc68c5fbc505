/**
 * One concept: the schema of the user config file (`~/.mxcp/config.yml`), key by key, with its
 * documented defaults: transport, projects and profiles, and each profile's `auth` with one block
 * per provider (GitHub, Atlassian, Salesforce, OIDC, Google, Keycloak) and their `claim_mappings`.
 */
import { Schema } from "effect"
import { CimdConfig } from "./CimdConfig.js"
import {
  ConfigVersion,
  emptyWhenNull,
  Flag,
  type IgnoredKeys,
  NonEmpty,
  NotImplementedTopLevelKeys,
  Seconds,
  WholeNumber
} from "./SiteConfig.js"
import { DefaultPostgresPoolSize, DefaultPostgresSchema, PoolSize, PostgresSchemaName } from "./PostgresNames.js"

// ---------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------

const isHttpUrl = (s: string): boolean => {
  try {
    const url = new URL(s)
    return url.protocol === "http:" || url.protocol === "https:"
  } catch {
    return false
  }
}

/** An absolute `http:` or `https:` URL. */
export const HttpUrl = Schema.String.pipe(
  Schema.filter(isHttpUrl, { description: "an absolute http(s) URL" })
)

/**
 * The external base URL: an http(s) origin. A path cannot work (the OAuth endpoints and
 * `/.well-known/...` live at the root), and query, fragment or userinfo make no sense here.
 */
export const BaseUrl = Schema.String.pipe(
  Schema.filter((s) => {
    if (!isHttpUrl(s)) return false
    const url = new URL(s)
    return (url.pathname === "/" || url.pathname === "") && url.search === "" && url.hash === "" &&
      url.username === "" && url.password === "" && !s.includes("?") && !s.includes("#")
  }, { description: "an http(s) origin such as https://mcp.example.com (no path, query or fragment)" })
)

/** Host names that may use plain `http` for an identity provider (local IdPs and tests). */
export const isLoopbackHost = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/** An `https:` URL, or `http:` on a loopback host; the rule for identity provider URLs. */
export const isSecureUrl = (s: string): boolean => {
  if (!isHttpUrl(s)) return false
  const url = new URL(s)
  return url.username === "" && url.password === "" && url.hash === "" &&
    (url.protocol === "https:" || isLoopbackHost(url.hostname))
}

/** An identity provider URL: https, or http on a loopback host (127.0.0.1, ::1, localhost). */
export const SecureUrl = Schema.String.pipe(
  Schema.filter(isSecureUrl, { description: "an https URL (http only on loopback hosts: 127.0.0.1, ::1, localhost)" })
)

/** A URL path such as `/github/callback`. */
export const CallbackPath = Schema.String.pipe(
  Schema.filter((s) => s.startsWith("/") && !s.includes("?") && !s.includes("#"), {
    description: "a path starting with / (no query or fragment)"
  })
)

/** A secret string: `Redacted` from decode to the one call that needs the raw value. */
export const Secret = Schema.Redacted(Schema.String)

const isBase64Key32 = (s: string): boolean =>
  /^[A-Za-z0-9+/_-]+={0,2}$/.test(s) &&
  Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64").length === 32

/** A 32-byte key, base64 (standard or url-safe alphabet), kept `Redacted`. */
export const EncryptionKey = Schema.Redacted(
  Schema.String.pipe(Schema.filter(isBase64Key32, { description: "32 bytes, base64-encoded" }))
)

/** An `allowed_hosts` entry: `name`, `name:port`, `*.domain` (any subdomain) or `[ipv6]`, port optional. */
export const HostPattern = Schema.String.pipe(
  Schema.filter(
    (s) =>
      /^(?:\*\.)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(?::\d{1,5})?$/.test(s) ||
      /^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(s),
    { description: "a host name, optionally with :port (e.g. mcp.example.com, mcp.example.com:8443, *.example.com)" }
  )
)

const PositiveInt = WholeNumber.pipe(Schema.greaterThan(0, { description: "a positive integer" }))

// ---------------------------------------------------------------------------
// Upstream OAuth providers
// ---------------------------------------------------------------------------

export const ProviderName = Schema.Literal("none", "github", "atlassian", "salesforce", "oidc", "google", "keycloak")
export type ProviderName = typeof ProviderName.Type

/** The documented defaults of each provider block. */
export const GitHubDefaults = {
  scope: "user:email",
  callback_path: "/github/callback",
  auth_url: "https://github.com/login/oauth/authorize",
  token_url: "https://github.com/login/oauth/access_token",
  api_url: "https://api.github.com"
} as const

export const AtlassianDefaults = {
  scope: "read:me read:jira-work read:jira-user read:confluence-content.all read:confluence-user offline_access",
  callback_path: "/atlassian/callback",
  auth_url: "https://auth.atlassian.com/authorize",
  token_url: "https://auth.atlassian.com/oauth/token",
  api_url: "https://api.atlassian.com"
} as const

export const SalesforceDefaults = {
  scope: "api refresh_token openid profile email",
  callback_path: "/salesforce/callback",
  auth_url: "https://login.salesforce.com/services/oauth2/authorize",
  token_url: "https://login.salesforce.com/services/oauth2/token"
} as const

/** The documented defaults of the OpenID Connect blocks (MXCP's). */
export const OidcDefaults = {
  scope: "openid profile email",
  callback_path: "/oidc/callback",
  provider_name: "oidc"
} as const

export const GoogleDefaults = {
  scope: "openid profile email",
  callback_path: "/google/callback",
  auth_url: "https://accounts.google.com/o/oauth2/v2/auth",
  token_url: "https://oauth2.googleapis.com/token",
  /** Not an MXCP key: where the Google preset reads its key set, userinfo endpoint and issuer. */
  config_url: "https://accounts.google.com/.well-known/openid-configuration"
} as const

export const KeycloakDefaults = {
  scope: "openid profile email",
  callback_path: "/keycloak/callback"
} as const

/** Default upstream HTTP timeout, in seconds. */
export const DefaultProviderTimeout = 10

const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: A) =>
  Schema.optionalWith(schema, { default: () => value, nullable: true })

/**
 * `claim_mappings`: claim path → claim value → capabilities (`domain/oauth/Capabilities.ts`), on
 * every provider block; default none.
 */
export const ClaimMappingsConfig = Schema.Record({
  key: NonEmpty,
  value: Schema.Record({ key: Schema.String, value: Schema.Array(NonEmpty) })
}).annotations({ description: "a map of claim path → claim value → list of capabilities" })
export type ClaimMappingsConfig = typeof ClaimMappingsConfig.Type

const claimMappingsField = withDefault(ClaimMappingsConfig, {})

/** Optional credentials: the loader requires them for the selected provider. */
const credentialFields = {
  client_id: Schema.optionalWith(Schema.String, { exact: true, nullable: true }),
  client_secret: Schema.optionalWith(Secret, { exact: true, nullable: true })
}

/**
 * Fields common to every provider block. `client_id` and `client_secret` are optional here;
 * the loader requires both for the selected provider (`<Provider> OAuth configuration is incomplete`).
 */
const providerFields = (d: {
  readonly scope: string
  readonly callback_path: string
  readonly auth_url: string
  readonly token_url: string
}) => ({
  ...credentialFields,
  scope: withDefault(Schema.String, d.scope),
  callback_path: withDefault(CallbackPath, d.callback_path),
  auth_url: withDefault(HttpUrl, d.auth_url),
  token_url: withDefault(HttpUrl, d.token_url),
  /** Upstream HTTP timeout in seconds. */
  timeout: withDefault(Seconds, DefaultProviderTimeout),
  claim_mappings: claimMappingsField
})

export const GitHubConfig = Schema.Struct({
  ...providerFields(GitHubDefaults),
  /** User from `GET {api_url}/user`, email fallback `GET {api_url}/user/emails`. */
  api_url: withDefault(HttpUrl, GitHubDefaults.api_url)
})
export type GitHubConfig = typeof GitHubConfig.Type

export const AtlassianConfig = Schema.Struct({
  ...providerFields(AtlassianDefaults),
  /** User from `GET {api_url}/me`. */
  api_url: withDefault(HttpUrl, AtlassianDefaults.api_url)
})
export type AtlassianConfig = typeof AtlassianConfig.Type

export const SalesforceConfig = Schema.Struct(providerFields(SalesforceDefaults))
export type SalesforceConfig = typeof SalesforceConfig.Type

/** `provider_name`: what `get_user_provider()` returns and logs show for an OIDC provider. */
export const OidcProviderName = Schema.String.pipe(
  Schema.filter((s) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s), {
    description: "a short name of letters, digits, '.', '_' or '-' (e.g. okta)"
  })
)

/**
 * Parameters of our own authorization request to the IdP; `extra_authorize_params` may not set
 * them (a `response_type` or `redirect_uri` of the operator's would break the flow's checks).
 */
export const ReservedAuthorizeParams: ReadonlyArray<string> = [
  "client_id",
  "redirect_uri",
  "response_type",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method"
]

/**
 * `provider: oidc`: any OpenID Provider found through its discovery document. `config_url`,
 * `client_id` and `client_secret` are required (the loader says so).
 */
export const OidcConfig = Schema.Struct({
  /** The discovery document, e.g. `https://idp.example.com/.well-known/openid-configuration`. */
  config_url: Schema.optionalWith(SecureUrl, { exact: true, nullable: true }),
  ...credentialFields,
  scope: withDefault(Schema.String, OidcDefaults.scope),
  callback_path: withDefault(CallbackPath, OidcDefaults.callback_path),
  /** Sent as `audience` at the IdP's authorize and token endpoints. */
  audience: Schema.optionalWith(NonEmpty, { exact: true, nullable: true }),
  /** More query parameters of the authorization request (e.g. `prompt: consent`, `hd: example.com`). */
  extra_authorize_params: withDefault(Schema.Record({ key: NonEmpty, value: Schema.String }), {}),
  provider_name: withDefault(OidcProviderName, OidcDefaults.provider_name),
  timeout: withDefault(Seconds, DefaultProviderTimeout),
  claim_mappings: claimMappingsField
})
export type OidcConfig = typeof OidcConfig.Type

/** `provider: google`: a preset over OIDC (Google's discovery document, these endpoints). */
export const GoogleConfig = Schema.Struct({
  ...providerFields(GoogleDefaults),
  /** Not an MXCP key: the discovery document the preset reads (tests point it at a local IdP). */
  config_url: withDefault(SecureUrl, GoogleDefaults.config_url)
})
export type GoogleConfig = typeof GoogleConfig.Type

/** `provider: keycloak`: a preset over OIDC at `{server_url}/realms/{realm}`; both required. */
export const KeycloakConfig = Schema.Struct({
  ...credentialFields,
  realm: Schema.optionalWith(NonEmpty, { exact: true, nullable: true }),
  /** The Keycloak server, e.g. `https://keycloak.example.com` (with `/auth` for Keycloak 16 and older). */
  server_url: Schema.optionalWith(SecureUrl, { exact: true, nullable: true }),
  scope: withDefault(Schema.String, KeycloakDefaults.scope),
  callback_path: withDefault(CallbackPath, KeycloakDefaults.callback_path),
  timeout: withDefault(Seconds, DefaultProviderTimeout),
  claim_mappings: claimMappingsField
})
export type KeycloakConfig = typeof KeycloakConfig.Type

/**
 * `auth.mode`: `issuer` (our own authorization server, the default). MXCP's `verifier` decodes so
 * that the loader can refuse it by name (not supported yet).
 */
export const AuthMode = Schema.Literal("issuer", "verifier")
export type AuthMode = typeof AuthMode.Type

// ---------------------------------------------------------------------------
// auth
// ---------------------------------------------------------------------------

export const DefaultClientRedirectUris: ReadonlyArray<string> = [
  "http://127.0.0.1:49153/oauth/callback",
  "http://localhost:49153/oauth/callback"
]

export const GrantType = Schema.Literal("authorization_code", "refresh_token")
export type GrantType = typeof GrantType.Type

/** A pre-registered OAuth client (skips consent). */
export const ClientConfig = Schema.Struct({
  client_id: NonEmpty,
  name: NonEmpty,
  /** Omitted for public clients. */
  client_secret: Schema.optionalWith(Secret, { exact: true, nullable: true }),
  redirect_uris: withDefault(Schema.Array(NonEmpty), DefaultClientRedirectUris),
  grant_types: withDefault(Schema.Array(GrantType), ["authorization_code"] as const),
  scopes: withDefault(Schema.Array(NonEmpty), ["mxcp:access"])
})
export type ClientConfig = typeof ClientConfig.Type

export const DefaultPersistencePath = "~/.mxcp/oauth.db"

/** Seconds between sweeps of expired OAuth state when `persistence.sweep_interval` is not set. */
export const DefaultSweepInterval = 60

/**
 * Every key of `auth.persistence`, each optional: which ones apply depends on `type` (checked
 * after decoding by `resolvePersistence` in `Persistence.ts`, whose errors name the key).
 */
const PersistenceFields = Schema.Struct({
  /** `sqlite` (one file, the default) or `postgres` (shared by several instances). */
  type: withDefault(Schema.Literal("sqlite", "postgres"), "sqlite" as const),
  /** sqlite: the database file. The loader expands a leading `~`. */
  path: Schema.optionalWith(NonEmpty, { exact: true, nullable: true }),
  /** postgres: a libpq URL (`postgres://user:password@host:5432/database`); never shown in messages. */
  url: Schema.optionalWith(Secret, { exact: true, nullable: true }),
  /** Key for upstream tokens at rest. sqlite: generated into `<path>.key` when absent; postgres: required. */
  encryption_key: Schema.optionalWith(EncryptionKey, { exact: true, nullable: true }),
  /** MXCP's name for `encryption_key` (an alias: set one of the two). */
  auth_encryption_key: Schema.optionalWith(EncryptionKey, { exact: true, nullable: true }),
  /** postgres: the schema holding the tables (default `DefaultPostgresSchema`). */
  schema: Schema.optionalWith(PostgresSchemaName, { exact: true, nullable: true }),
  /** postgres: connections per server process (default `DefaultPostgresPoolSize`). */
  pool_size: Schema.optionalWith(PoolSize, { exact: true, nullable: true }),
  /** Seconds between sweeps of expired codes, tokens and pending flows (default `DefaultSweepInterval`). */
  sweep_interval: Schema.optionalWith(Seconds, { exact: true, nullable: true })
})

/** OAuth state in SQLite or PostgreSQL, with the defaults of its `type` filled in. */
export const PersistenceConfig = Schema.transform(PersistenceFields, Schema.typeSchema(PersistenceFields), {
  strict: true,
  decode: (p) =>
    p.type === "sqlite"
      ? { ...p, path: p.path ?? DefaultPersistencePath }
      : { ...p, schema: p.schema ?? DefaultPostgresSchema, pool_size: p.pool_size ?? DefaultPostgresPoolSize },
  encode: (p) => p
})
export type PersistenceConfig = typeof PersistenceConfig.Type

export const AuthorizationConfig = Schema.Struct({
  /** Every listed scope must be in the token for every MCP request. */
  required_scopes: withDefault(Schema.Array(NonEmpty), [])
})
export type AuthorizationConfig = typeof AuthorizationConfig.Type

export const DefaultAccessTokenTtl = 3600
export const DefaultRefreshTokenTtl = 2_592_000
/** Default of `auth.refresh_reuse_grace`, in seconds. */
export const DefaultRefreshReuseGrace = 30

/** Longest `auth.refresh_reuse_grace`: a longer one would leave a stolen refresh token usable for too long. */
export const MaxRefreshReuseGrace = 300

const ReuseGraceSeconds = WholeNumber.pipe(
  Schema.between(0, MaxRefreshReuseGrace, {
    description: `a whole number of seconds from 0 (off) to ${MaxRefreshReuseGrace}`
  })
)

/** Defaults of `auth.registration` (RFC 7591 dynamic client registration limits). */
export const RegistrationDefaults = {
  rate_limit_per_minute: 20,
  max_clients: 10_000,
  unused_client_ttl: 86_400
} as const

/** Limits on `/register`: a flood from one address is refused, stored clients stay bounded. */
export const RegistrationConfig = Schema.Struct({
  /** Dynamic client registration (`/register`) on or off; off, `/register` is 404 and unadvertised. */
  enabled: withDefault(Flag, true),
  /** Registrations per client address per minute; more get 429 with `Retry-After`. */
  rate_limit_per_minute: withDefault(PositiveInt, RegistrationDefaults.rate_limit_per_minute),
  /** Dynamic clients kept; at the cap, the oldest one older than `unused_client_ttl` is evicted. */
  max_clients: withDefault(PositiveInt, RegistrationDefaults.max_clients),
  /** Seconds after which a dynamic client may be evicted to make room. */
  unused_client_ttl: withDefault(Seconds, RegistrationDefaults.unused_client_ttl)
})
export type RegistrationConfig = typeof RegistrationConfig.Type

/** Defaults of `auth.rate_limits`: requests per minute per client address (0 turns a limit off). */
export const RateLimitDefaults = {
  authorize: 300,
  token: 120,
  revoke: 120,
  failed_bearer: 60
} as const

const PerMinute = WholeNumber.pipe(
  Schema.nonNegative({ description: "a number of requests per minute (0 = no limit)" })
)

/**
 * Per-address request limits of the OAuth endpoints; over a limit the answer is 429 with
 * `Retry-After`. `failed_bearer` counts only /mcp requests with an invalid or expired token: at
 * the limit, that address gets 429 before any token lookup until its minute is over.
 */
export const RateLimitsConfig = Schema.Struct({
  authorize: withDefault(PerMinute, RateLimitDefaults.authorize),
  token: withDefault(PerMinute, RateLimitDefaults.token),
  revoke: withDefault(PerMinute, RateLimitDefaults.revoke),
  failed_bearer: withDefault(PerMinute, RateLimitDefaults.failed_bearer)
})
export type RateLimitsConfig = typeof RateLimitsConfig.Type

/** A profile's `auth` section. */
export const AuthConfig = Schema.Struct({
  provider: withDefault(ProviderName, "none" as const),
  /** `issuer` only; `verifier` is refused by the loader (not supported yet). */
  mode: withDefault(AuthMode, "issuer" as const),
  clients: withDefault(Schema.Array(ClientConfig), []),
  github: Schema.optionalWith(GitHubConfig, { exact: true, nullable: true }),
  atlassian: Schema.optionalWith(AtlassianConfig, { exact: true, nullable: true }),
  salesforce: Schema.optionalWith(SalesforceConfig, { exact: true, nullable: true }),
  oidc: Schema.optionalWith(OidcConfig, { exact: true, nullable: true }),
  google: Schema.optionalWith(GoogleConfig, { exact: true, nullable: true }),
  keycloak: Schema.optionalWith(KeycloakConfig, { exact: true, nullable: true }),
  /** Seconds. */
  access_token_ttl: withDefault(PositiveInt, DefaultAccessTokenTtl),
  /** Seconds. */
  refresh_token_ttl: withDefault(PositiveInt, DefaultRefreshTokenTtl),
  /**
   * Seconds after a refresh token's rotation during which its own client may present it again
   * (a retry after a lost answer) and get that rotation's answer again instead of having the
   * grant revoked; 0 turns the grace off.
   */
  refresh_reuse_grace: withDefault(ReuseGraceSeconds, DefaultRefreshReuseGrace),
  /** Absent: OAuth state lives in memory. */
  persistence: Schema.optionalWith(PersistenceConfig, { exact: true, nullable: true }),
  authorization: withDefault(AuthorizationConfig, AuthorizationConfig.make({})),
  registration: withDefault(RegistrationConfig, RegistrationConfig.make({})),
  cimd: withDefault(CimdConfig, CimdConfig.make({})),
  rate_limits: withDefault(RateLimitsConfig, RateLimitsConfig.make({}))
})
export type AuthConfig = typeof AuthConfig.Type

/** `auth` when the user config says nothing for the selected project and profile. */
export const defaultAuthConfig: AuthConfig = AuthConfig.make({})

// ---------------------------------------------------------------------------
// projects, transport, logging
// ---------------------------------------------------------------------------

export const UserProfileConfig = Schema.Struct({
  auth: withDefault(AuthConfig, defaultAuthConfig)
})
export type UserProfileConfig = typeof UserProfileConfig.Type

export const ProjectConfig = Schema.Struct({
  profiles: withDefault(Schema.Record({ key: Schema.String, value: emptyWhenNull(UserProfileConfig) }), {})
})
export type ProjectConfig = typeof ProjectConfig.Type

/** Default of `transport.http.shutdown_timeout`, in seconds. */
export const DefaultShutdownTimeout = 10

/**
 * Defaults of the HTTP limits under `transport.http` (README "Limits"): body size of /mcp,
 * sessions per user, connection count, and Node's header, request and keep-alive timeouts
 * (seconds), which would otherwise be 60 s, 300 s and 5 s with no connection cap.
 */
export const HttpLimitDefaults = {
  max_body_bytes: 4 * 1024 * 1024,
  max_sessions_per_user: 100,
  max_connections: 1000,
  headers_timeout: 10,
  request_timeout: 60,
  keep_alive_timeout: 5
} as const

/** Highest `max_body_bytes`: a body is held in memory and parsed as one string. */
export const MaxBodyBytesCeiling = 256 * 1024 * 1024

/** A browser origin for `cors_origins`: `scheme://host[:port]`, nothing after it. */
export const CorsOrigin = Schema.String.pipe(
  Schema.filter((s) => {
    if (!isHttpUrl(s)) return false
    const url = new URL(s)
    return url.pathname === "/" && /^[a-z]+:\/\/[^/?#]+\/?$/i.test(s) && url.username === "" && url.password === ""
  }, { description: "a browser origin such as https://inspector.example.com (scheme, host and port; no path)" })
)

export const HttpTransportConfig = Schema.Struct({
  host: withDefault(NonEmpty, "127.0.0.1"),
  port: withDefault(WholeNumber.pipe(Schema.between(0, 65535, { description: "a port number (0-65535)" })), 8000),
  /**
   * Scheme of the external URL (`https` behind a TLS-terminating proxy). Absent: `http`, unless
   * `trust_proxy` and the proxy says otherwise; set, it wins over forwarded headers.
   */
  scheme: Schema.optionalWith(Schema.Literal("http", "https"), { exact: true, nullable: true }),
  /** The complete external base URL; wins over scheme, host and port. */
  base_url: Schema.optionalWith(Schema.NullOr(BaseUrl), { default: () => null }),
  /** Trust `X-Forwarded-Proto`/`-Scheme`/`-Host` (BASE) and the last `X-Forwarded-For` entry (rate limits). */
  trust_proxy: withDefault(Flag, false),
  stateless: withDefault(Flag, false),
  /** Seconds shutdown waits for in-flight requests before closing the remaining connections. */
  shutdown_timeout: withDefault(Seconds, DefaultShutdownTimeout),
  /**
   * `Host` header allow-list (DNS rebinding protection): `name`, `name:port`, `*.domain` or
   * `[ipv6]`. Absent: bound to loopback, only loopback names and the base_url host; else any.
   */
  allowed_hosts: Schema.optionalWith(Schema.Array(HostPattern), { exact: true, nullable: true }),
  /** Largest JSON-RPC request body on /mcp, in bytes (the OAuth endpoints take at most 64 KiB). */
  max_body_bytes: withDefault(
    WholeNumber.pipe(Schema.between(1, MaxBodyBytesCeiling, { description: "a number of bytes from 1 to 268435456 (256 MiB)" })),
    HttpLimitDefaults.max_body_bytes
  ),
  /** MCP sessions one principal (user, or client address with auth off) may hold; beyond, its oldest idle one closes. */
  max_sessions_per_user: withDefault(PositiveInt, HttpLimitDefaults.max_sessions_per_user),
  /** Open connections at most; more are closed at once. */
  max_connections: withDefault(PositiveInt, HttpLimitDefaults.max_connections),
  /** Seconds a client has to send a request's headers (also: an idle new connection is closed after it). */
  headers_timeout: withDefault(Seconds, HttpLimitDefaults.headers_timeout),
  /** Seconds a client has to send a whole request (headers and body); responses, SSE streams too, are not limited. */
  request_timeout: withDefault(Seconds, HttpLimitDefaults.request_timeout),
  /** Seconds an idle kept-alive connection stays open after its last response. */
  keep_alive_timeout: withDefault(Seconds, HttpLimitDefaults.keep_alive_timeout),
  /** Browser origins that may call /mcp (CORS, and they pass the Origin check); empty: none. */
  cors_origins: withDefault(Schema.Array(CorsOrigin), [])
})
export type HttpTransportConfig = typeof HttpTransportConfig.Type

export const TransportConfig = Schema.Struct({
  provider: withDefault(Schema.Literal("streamable-http", "stdio"), "streamable-http" as const),
  http: withDefault(HttpTransportConfig, HttpTransportConfig.make({}))
})
export type TransportConfig = typeof TransportConfig.Type

export const LogLevel = Schema.Literal("debug", "info", "warning", "error", "critical")
export type LogLevel = typeof LogLevel.Type

/** Also accepts MXCP's upper-case names (`DEBUG`, `WARNING`, ...) and `warn`. */
const LogLevelInput = Schema.transform(
  Schema.Literal(
    "debug",
    "info",
    "warning",
    "warn",
    "error",
    "critical",
    "DEBUG",
    "INFO",
    "WARNING",
    "WARN",
    "ERROR",
    "CRITICAL"
  ),
  LogLevel,
  {
    strict: true,
    decode: (s) => {
      const lower = s.toLowerCase()
      return lower === "warn" ? "warning" : (lower as LogLevel)
    },
    encode: (l) => l
  }
).annotations({ description: "one of debug, info, warning, error, critical" })

export const LoggingConfig = Schema.Struct({
  level: Schema.optionalWith(LogLevelInput, { exact: true, nullable: true }),
  format: withDefault(Schema.Literal("text", "json"), "text" as const)
})
export type LoggingConfig = typeof LoggingConfig.Type

/** The user config: `~/.mxcp/config.yml`, `MXCP_CONFIG`, or `--config`. */
export const UserConfig = Schema.Struct({
  mxcp: withDefault(ConfigVersion, 1 as const),
  transport: withDefault(TransportConfig, TransportConfig.make({})),
  projects: withDefault(Schema.Record({ key: Schema.String, value: emptyWhenNull(ProjectConfig) }), {}),
  logging: withDefault(LoggingConfig, LoggingConfig.make({}))
})
export type UserConfig = typeof UserConfig.Type

/** Where the user config may carry MXCP keys that are accepted with a warning. */
export const UserIgnoredKeys: ReadonlyArray<IgnoredKeys> = [
  { at: [], keys: NotImplementedTopLevelKeys },
  { at: ["projects", "*", "profiles", "*"], keys: NotImplementedTopLevelKeys },
  { at: ["logging"], keys: ["enabled", "path", "max_bytes", "backup_count"] }
]

/** Display names used in `<Provider> OAuth configuration is incomplete`. */
export const ProviderDisplayName: Record<Exclude<ProviderName, "none">, string> = {
  github: "GitHub",
  atlassian: "Atlassian",
  salesforce: "Salesforce",
  oidc: "OIDC",
  google: "Google",
  keycloak: "Keycloak"
}
