import { Schema } from "effect"
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

export const ProviderName = Schema.Literal("none", "github", "atlassian", "salesforce")
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

/** Default upstream HTTP timeout, in seconds. */
export const DefaultProviderTimeout = 10

const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: A) =>
  Schema.optionalWith(schema, { default: () => value, nullable: true })

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
  client_id: Schema.optionalWith(Schema.String, { exact: true, nullable: true }),
  client_secret: Schema.optionalWith(Secret, { exact: true, nullable: true }),
  scope: withDefault(Schema.String, d.scope),
  callback_path: withDefault(CallbackPath, d.callback_path),
  auth_url: withDefault(HttpUrl, d.auth_url),
  token_url: withDefault(HttpUrl, d.token_url),
  /** Upstream HTTP timeout in seconds. */
  timeout: withDefault(Seconds, DefaultProviderTimeout)
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

/** OAuth state in SQLite. The loader expands a leading `~` in `path`. */
export const PersistenceConfig = Schema.Struct({
  type: withDefault(Schema.Literal("sqlite"), "sqlite" as const),
  path: withDefault(NonEmpty, DefaultPersistencePath),
  /** Key for upstream tokens at rest; when absent one is generated into `<path>.key`. */
  encryption_key: Schema.optionalWith(EncryptionKey, { exact: true, nullable: true }),
  /** Seconds between sweeps of expired codes, tokens and pending flows (default `DefaultSweepInterval`). */
  sweep_interval: Schema.optionalWith(Seconds, { exact: true, nullable: true })
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

/**
 * `auth.mode` (MXCP): `issuer`, the default, is the only mode here: the server is its own
 * authorization server. (MXCP's `verifier` is refused as not supported; see MxcpKeys.ts.)
 */
export const AuthMode = Schema.Literal("issuer")

/** A profile's `auth` section. */
export const AuthConfig = Schema.Struct({
  mode: Schema.optionalWith(AuthMode, { exact: true, nullable: true }),
  provider: withDefault(ProviderName, "none" as const),
  clients: withDefault(Schema.Array(ClientConfig), []),
  github: Schema.optionalWith(GitHubConfig, { exact: true, nullable: true }),
  atlassian: Schema.optionalWith(AtlassianConfig, { exact: true, nullable: true }),
  salesforce: Schema.optionalWith(SalesforceConfig, { exact: true, nullable: true }),
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
  { at: ["projects", "*", "profiles", "*", "auth"], keys: ["keycloak", "google"] },
  { at: ["logging"], keys: ["enabled", "path", "max_bytes", "backup_count"] }
]

/** Display names used in `<Provider> OAuth configuration is incomplete`. */
export const ProviderDisplayName: Record<Exclude<ProviderName, "none">, string> = {
  github: "GitHub",
  atlassian: "Atlassian",
  salesforce: "Salesforce"
}
