import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { interpolate } from "../../src/domain/config/Interpolate.js"
import {
  AtlassianConfig,
  AuthConfig,
  GitHubConfig,
  SalesforceConfig,
  UserConfig
} from "../../src/domain/config/UserConfig.js"
import { parseYaml } from "../../src/layers/config/AppConfigLive.js"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"
import { GitHubExampleUserConfig } from "./helpers.js"

const file = "/home/u/.mxcp/config.yml"

/** Environment for the `${VAR}`s used in authentication.md. */
const docEnv = {
  GITHUB_CLIENT_ID: "gh-id",
  GITHUB_CLIENT_SECRET: "gh-secret",
  ATLASSIAN_CLIENT_ID: "at-id",
  ATLASSIAN_CLIENT_SECRET: "at-secret",
  SALESFORCE_CLIENT_ID: "sf-id",
  SALESFORCE_CLIENT_SECRET: "sf-secret",
  SALESFORCE_SANDBOX_CLIENT_ID: "sfs-id",
  SALESFORCE_SANDBOX_CLIENT_SECRET: "sfs-secret",
  MY_APP_CLIENT_SECRET: "app-secret",
  PROD_CLIENT_ID: "prod-id",
  PROD_CLIENT_SECRET: "prod-secret",
  CLIENT_ID: "client-id"
}

/** YAML text -> interpolated tree -> decoded by `schema`. */
const decodeYaml = <A, I>(schema: Parameters<typeof decodeConfig<A, I>>[0], text: string) =>
  Effect.gen(function*() {
    const tree = yield* parseYaml(file, text)
    return yield* decodeConfig(schema, file, yield* interpolate(tree, docEnv))
  })

const authOf = (user: UserConfig, project: string, profile: string): AuthConfig => {
  const auth = user.projects[project]?.profiles[profile]?.auth
  if (auth === undefined) throw new Error(`no auth for ${project}/${profile}`)
  return auth
}

const secret = (r: Redacted.Redacted<string> | undefined): string | undefined =>
  r === undefined ? undefined : Redacted.value(r)

describe("UserConfig defaults", () => {
  it.effect("an empty user config is all defaults", () =>
    Effect.gen(function*() {
      const user = yield* decodeConfig(UserConfig, file, {})
      expect(user).toEqual({
        mxcp: 1,
        transport: {
          provider: "streamable-http",
          http: {
            host: "127.0.0.1",
            port: 8000,
            base_url: null,
            trust_proxy: false,
            stateless: false,
            shutdown_timeout: 10,
            max_body_bytes: 4194304,
            max_sessions_per_user: 100,
            max_connections: 1000,
            headers_timeout: 10,
            request_timeout: 60,
            keep_alive_timeout: 5,
            cors_origins: []
          }
        },
        projects: {},
        logging: { format: "text" }
      })
    }))

  it.effect("an empty auth block is provider none with the documented defaults", () =>
    Effect.gen(function*() {
      const auth = yield* decodeConfig(AuthConfig, file, {})
      expect(auth).toEqual({
        provider: "none",
        mode: "issuer",
        clients: [],
        access_token_ttl: 3600,
        refresh_token_ttl: 2592000,
        refresh_reuse_grace: 30,
        authorization: { required_scopes: [] },
        registration: { enabled: true, rate_limit_per_minute: 20, max_clients: 10000, unused_client_ttl: 86400 },
        cimd: { enabled: true, allowed_hosts: [], allow_private_addresses: false },
        rate_limits: { authorize: 300, token: 120, revoke: 120, failed_bearer: 60 }
      })
    }))

  it.effect("clients get default redirect URIs, grant types and scopes", () =>
    Effect.gen(function*() {
      const auth = yield* decodeConfig(AuthConfig, file, { clients: [{ client_id: "c", name: "CLI" }] })
      expect(auth.clients[0]).toEqual({
        client_id: "c",
        name: "CLI",
        redirect_uris: ["http://127.0.0.1:49153/oauth/callback", "http://localhost:49153/oauth/callback"],
        grant_types: ["authorization_code"],
        scopes: ["mxcp:access"]
      })
    }))

  it.effect("provider blocks get the documented defaults", () =>
    Effect.gen(function*() {
      const gh = yield* decodeConfig(GitHubConfig, file, {})
      expect(gh).toEqual({
        scope: "user:email",
        callback_path: "/github/callback",
        auth_url: "https://github.com/login/oauth/authorize",
        token_url: "https://github.com/login/oauth/access_token",
        api_url: "https://api.github.com",
        timeout: 10,
        claim_mappings: {}
      })
      const at = yield* decodeConfig(AtlassianConfig, file, {})
      expect(at).toEqual({
        scope: "read:me read:jira-work read:jira-user read:confluence-content.all read:confluence-user offline_access",
        callback_path: "/atlassian/callback",
        auth_url: "https://auth.atlassian.com/authorize",
        token_url: "https://auth.atlassian.com/oauth/token",
        api_url: "https://api.atlassian.com",
        timeout: 10,
        claim_mappings: {}
      })
      const sf = yield* decodeConfig(SalesforceConfig, file, {})
      expect(sf).toEqual({
        scope: "api refresh_token openid profile email",
        callback_path: "/salesforce/callback",
        auth_url: "https://login.salesforce.com/services/oauth2/authorize",
        token_url: "https://login.salesforce.com/services/oauth2/token",
        timeout: 10,
        claim_mappings: {}
      })
    }))

  it.effect("persistence defaults to sqlite at ~/.mxcp/oauth.db (expanded by the loader)", () =>
    Effect.gen(function*() {
      const auth = yield* decodeConfig(AuthConfig, file, { persistence: {} })
      expect(auth.persistence).toEqual({ type: "sqlite", path: "~/.mxcp/oauth.db" })
    }))

  it.effect("accepts numeric and boolean strings (from ${VAR}) and MXCP log levels", () =>
    Effect.gen(function*() {
      const user = yield* decodeConfig(UserConfig, file, {
        transport: { http: { port: "9000", trust_proxy: "true", allowed_hosts: ["a.example"] } },
        logging: { level: "WARNING", format: "json" }
      })
      expect(user.transport.http.port).toBe(9000)
      expect(user.transport.http.trust_proxy).toBe(true)
      expect(user.transport.http.allowed_hosts).toEqual(["a.example"])
      expect(user.logging).toEqual({ level: "warning", format: "json" })
    }))
})

describe("UserConfig secrets", () => {
  it.effect("client_secret and encryption_key decode to Redacted", () =>
    Effect.gen(function*() {
      const key = Buffer.alloc(32, 7).toString("base64")
      const auth = yield* decodeConfig(AuthConfig, file, {
        provider: "github",
        clients: [{ client_id: "c", name: "n", client_secret: "client-s3cret" }],
        github: { client_id: "id", client_secret: "gh-s3cret" },
        persistence: { encryption_key: key }
      })
      const values = [auth.clients[0]?.client_secret, auth.github?.client_secret, auth.persistence?.encryption_key]
      for (const r of values) {
        expect(r).toBeDefined()
        expect(String(r)).not.toMatch(/s3cret|BwcH/)
        expect(JSON.stringify(r)).not.toMatch(/s3cret|BwcH/)
      }
      expect(secret(auth.clients[0]?.client_secret)).toBe("client-s3cret")
      expect(secret(auth.github?.client_secret)).toBe("gh-s3cret")
      expect(secret(auth.persistence?.encryption_key)).toBe(key)
      expect(JSON.stringify(auth)).not.toContain("s3cret")
    }))

  it.effect("a bad encryption_key is rejected without echoing it", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(
        decodeConfig(AuthConfig, file, { persistence: { encryption_key: "too-short-s3cret" } })
      )
      expect(e.key).toBe("persistence.encryption_key")
      expect(e.fix).toBe("expected 32 bytes, base64-encoded")
      expect(e.message).not.toContain("s3cret")
    }))
})

describe("UserConfig errors", () => {
  it.effect("a typo in a provider block names the key", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(decodeConfig(UserConfig, file, {
        projects: { demo: { profiles: { default: { auth: { provider: "github", github: { client_idd: "x" } } } } } }
      }))
      expect(e.key).toBe("projects.demo.profiles.default.auth.github.client_idd")
      expect(e.message).toBe('unknown key "client_idd"')
      expect(e.fix).toContain("client_id, client_secret")
    }))

  it.effect("base_url must be an origin: a path, query, fragment or userinfo is an error naming the key", () =>
    Effect.gen(function*() {
      for (const bad of ["https://mcp.example.com/mxcp", "https://mcp.example.com/?a=1", "https://mcp.example.com/#x", "https://u:p@mcp.example.com", "ftp://mcp.example.com"]) {
        const e = yield* Effect.flip(decodeConfig(UserConfig, file, { transport: { http: { base_url: bad } } }))
        expect(e.key).toBe("transport.http.base_url")
        expect(e.fix).toContain("origin")
      }
      for (const good of ["https://mcp.example.com", "https://mcp.example.com/", "http://127.0.0.1:8000"]) {
        const user = yield* decodeConfig(UserConfig, file, { transport: { http: { base_url: good } } })
        expect(user.transport.http.base_url).toBe(good)
      }
    }))

  it.effect("a wrong type says what was expected", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(decodeConfig(UserConfig, file, { transport: { http: { port: "abc" } } }))
      expect(e).toMatchObject({ key: "transport.http.port", message: 'invalid value "abc"', fix: "expected an integer" })
      const e2 = yield* Effect.flip(decodeConfig(UserConfig, file, { transport: { provider: "sse" } }))
      expect(e2).toMatchObject({ key: "transport.provider", fix: 'expected "streamable-http" or "stdio"' })
      const e3 = yield* Effect.flip(decodeConfig(UserConfig, file, { transport: { http: { base_url: "ftp://x" } } }))
      expect(e3).toMatchObject({
        key: "transport.http.base_url",
        fix: "expected an http(s) origin such as https://mcp.example.com (no path, query or fragment)"
      })
    }))

  it.effect("transport.http.shutdown_timeout: positive seconds (also from a string)", () =>
    Effect.gen(function*() {
      const user = yield* decodeConfig(UserConfig, file, { transport: { http: { shutdown_timeout: "2.5" } } })
      expect(user.transport.http.shutdown_timeout).toBe(2.5)
      const e = yield* Effect.flip(decodeConfig(UserConfig, file, { transport: { http: { shutdown_timeout: 0 } } }))
      expect(e).toMatchObject({ key: "transport.http.shutdown_timeout" })
    }))

  it.effect("an unknown provider and a bad grant type are errors", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(decodeConfig(AuthConfig, file, { provider: "okta" }))
      expect(e).toMatchObject({
        key: "provider",
        fix: 'expected one of "none", "github", "atlassian", "salesforce", "oidc", "google", "keycloak"'
      })
      const e2 = yield* Effect.flip(
        decodeConfig(AuthConfig, file, { clients: [{ client_id: "a", name: "b", grant_types: ["implicit"] }] })
      )
      expect(e2.key).toBe("clients[0].grant_types[0]")
    }))

  it.effect("a client without a name is an error naming the key", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(decodeConfig(AuthConfig, file, { clients: [{ client_id: "a" }] }))
      expect(e).toMatchObject({ key: "clients[0].name", message: 'missing required key "name"' })
    }))
})

// ---------------------------------------------------------------------------
// Every YAML example of authentication.md (verbatim), decoded by the schemas.
// ---------------------------------------------------------------------------

describe("authentication.md examples", () => {
  it.effect("Disable Authentication", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `
projects:
  my_project:
    profiles:
      dev:
        auth:
          provider: none
`
      )
      expect(authOf(user, "my_project", "dev").provider).toBe("none")
    }))

  it.effect("GitHub OAuth", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(UserConfig, GitHubExampleUserConfig)
      const auth = authOf(user, "my_project", "dev")
      expect(auth.provider).toBe("github")
      expect(auth.github?.client_id).toBe("gh-id")
      expect(secret(auth.github?.client_secret)).toBe("gh-secret")
      expect(auth.github?.api_url).toBe("https://api.github.com")
      expect(auth.clients[0]?.redirect_uris).toEqual(["http://localhost:8000/github/callback"])
      expect(auth.clients[0]?.grant_types).toEqual(["authorization_code"])
    }))

  it.effect("Atlassian OAuth", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `
projects:
  my_project:
    profiles:
      production:
        auth:
          provider: atlassian
          clients:
            - client_id: "\${ATLASSIAN_CLIENT_ID}"
              client_secret: "\${ATLASSIAN_CLIENT_SECRET}"
              name: "My MXCP Application"
              redirect_uris:
                - "https://your-domain.com/atlassian/callback"
              scopes:
                - "mxcp:access"
          atlassian:
            client_id: "\${ATLASSIAN_CLIENT_ID}"
            client_secret: "\${ATLASSIAN_CLIENT_SECRET}"
            scope: "read:me read:jira-work read:jira-user read:confluence-content.all read:confluence-user offline_access"
            callback_path: "/atlassian/callback"
            auth_url: "https://auth.atlassian.com/authorize"
            token_url: "https://auth.atlassian.com/oauth/token"
`
      )
      const auth = authOf(user, "my_project", "production")
      expect(auth.atlassian?.client_id).toBe("at-id")
      expect(auth.atlassian?.token_url).toBe("https://auth.atlassian.com/oauth/token")
      expect(auth.atlassian?.api_url).toBe("https://api.atlassian.com")
    }))

  it.effect("Salesforce OAuth", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `
projects:
  my_project:
    profiles:
      production:
        auth:
          provider: salesforce
          clients:
            - client_id: "\${SALESFORCE_CLIENT_ID}"
              client_secret: "\${SALESFORCE_CLIENT_SECRET}"
              name: "My MXCP Application"
              redirect_uris:
                - "https://your-domain.com/salesforce/callback"
              scopes:
                - "mxcp:access"
          salesforce:
            client_id: "\${SALESFORCE_CLIENT_ID}"
            client_secret: "\${SALESFORCE_CLIENT_SECRET}"
            scope: "api refresh_token openid profile email"
            callback_path: "/salesforce/callback"
            auth_url: "https://login.salesforce.com/services/oauth2/authorize"
            token_url: "https://login.salesforce.com/services/oauth2/token"
`
      )
      const auth = authOf(user, "my_project", "production")
      expect(auth.salesforce?.client_id).toBe("sf-id")
      expect(secret(auth.salesforce?.client_secret)).toBe("sf-secret")
    }))

  it.effect("Salesforce sandbox block", () =>
    Effect.gen(function*() {
      const auth = yield* decodeYaml(
        AuthConfig,
        `
salesforce:
  client_id: "\${SALESFORCE_SANDBOX_CLIENT_ID}"
  client_secret: "\${SALESFORCE_SANDBOX_CLIENT_SECRET}"
  # Use sandbox URLs for development
  auth_url: "https://test.salesforce.com/services/oauth2/authorize"
  token_url: "https://test.salesforce.com/services/oauth2/token"
  scope: "api refresh_token openid profile email"
  callback_path: "/salesforce/callback"
`
      )
      expect(auth.salesforce?.auth_url).toBe("https://test.salesforce.com/services/oauth2/authorize")
      expect(auth.salesforce?.client_id).toBe("sfs-id")
    }))

  it.effect("Pre-registered clients (the elided github block is empty)", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `
projects:
  my_project:
    profiles:
      dev:
        auth:
          provider: github
          
          # Pre-registered OAuth clients
          clients:
            # MCP CLI client (public client)
            - client_id: "aa27466a-fd71-4c2a-9ecf-8b5db5d34384"
              name: "MCP CLI Development Client"
              redirect_uris:
                - "http://127.0.0.1:49153/oauth/callback"
                - "http://localhost:49153/oauth/callback"
              scopes:
                - "mxcp:access"
            
            # Custom application (confidential client)
            - client_id: "my-custom-app-client-id"
              client_secret: "\${MY_APP_CLIENT_SECRET}"
              name: "My Custom Application"
              redirect_uris:
                - "https://myapp.example.com/oauth/callback"
              grant_types:
                - "authorization_code"
                - "refresh_token"
              scopes:
                - "mxcp:access"
                - "mxcp:admin"
          
          github:
            # ... GitHub configuration
`
      )
      const auth = authOf(user, "my_project", "dev")
      expect(auth.clients).toHaveLength(2)
      expect(auth.clients[0]?.client_secret).toBeUndefined()
      expect(secret(auth.clients[1]?.client_secret)).toBe("app-secret")
      expect(auth.clients[1]?.grant_types).toEqual(["authorization_code", "refresh_token"])
      expect(auth.clients[1]?.scopes).toEqual(["mxcp:access", "mxcp:admin"])
      expect(auth.github).toBeUndefined()
    }))

  it.effect("OAuth State Persistence", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `
projects:
  my_project:
    profiles:
      production:
        auth:
          provider: github
          
          # OAuth state persistence configuration
          persistence:
            type: sqlite
            path: "/var/lib/mxcp/oauth.db"  # Optional, defaults to ~/.mxcp/oauth.db
          
          clients:
            - client_id: "\${GITHUB_CLIENT_ID}"
              client_secret: "\${GITHUB_CLIENT_SECRET}"
              name: "Production Application"
              redirect_uris:
                - "https://myapp.example.com/oauth/callback"
`
      )
      expect(authOf(user, "my_project", "production").persistence).toEqual({
        type: "sqlite",
        path: "/var/lib/mxcp/oauth.db"
      })
    }))

  it.effect("Example Production Setup", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `
# ~/.mxcp/config.yml
projects:
  my_project:
    profiles:
      production:
        auth:
          provider: github
          
          persistence:
            type: sqlite
            path: "/var/lib/mxcp/oauth.db"
          
          clients:
            - client_id: "\${GITHUB_CLIENT_ID}"
              client_secret: "\${GITHUB_CLIENT_SECRET}"
              name: "Production Application"
              redirect_uris:
                - "https://myapp.example.com/oauth/callback"
              scopes:
                - "mxcp:access"
          
          github:
            client_id: "\${GITHUB_CLIENT_ID}"
            client_secret: "\${GITHUB_CLIENT_SECRET}"
            scope: "user:email"
            # ... other GitHub config
`
      )
      expect(authOf(user, "my_project", "production").github?.callback_path).toBe("/github/callback")
    }))

  it.effect("Production Recommendations", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `
projects:
  my_project:
    profiles:
      prod:
        auth:
          provider: github
          
          persistence:
            type: sqlite
            path: "/var/lib/mxcp/oauth.db"
          
          clients:
            - client_id: "\${PROD_CLIENT_ID}"
              client_secret: "\${PROD_CLIENT_SECRET}"
              name: "Production Application"
              redirect_uris:
                - "https://myapp.example.com/oauth/callback"
              scopes:
                - "mxcp:access"
          
          github:
            client_id: "\${GITHUB_CLIENT_ID}"
            client_secret: "\${GITHUB_CLIENT_SECRET}"
            # ... other GitHub config
`
      )
      const auth = authOf(user, "my_project", "prod")
      expect(auth.clients[0]?.client_id).toBe("prod-id")
      expect(auth.github?.scope).toBe("user:email")
    }))

  it.effect("Authorization Configuration (with the elided client fields filled in)", () =>
    Effect.gen(function*() {
      // The page elides the client's fields ("# ... client config"); `name` is required.
      const user = yield* decodeYaml(
        UserConfig,
        `
projects:
  my_project:
    profiles:
      dev:
        auth:
          provider: github
          
          # Authorization configuration
          authorization:
            required_scopes:
              - "mxcp:access"  # Require this scope for all endpoint access
              - "mxcp:admin"   # Also require admin scope
          
          clients:
            - client_id: "\${CLIENT_ID}"
              name: "Client"
              # ... client config
`
      )
      expect(authOf(user, "my_project", "dev").authorization.required_scopes).toEqual(["mxcp:access", "mxcp:admin"])
    }))

  it.effect("authorization blocks", () =>
    Effect.gen(function*() {
      const blocks = [
        ["# Authentication only (no scope requirements)\nauthorization:\n  required_scopes: []\n", []],
        ["# Require basic access scope\nauthorization:\n  required_scopes:\n    - \"mxcp:access\"\n", ["mxcp:access"]],
        [
          "# Require multiple scopes (user must have ALL listed scopes)\nauthorization:\n  required_scopes:\n    - \"mxcp:access\"\n    - \"mxcp:admin\"\n    - \"mxcp:write\"\n",
          ["mxcp:access", "mxcp:admin", "mxcp:write"]
        ]
      ] as const
      for (const [text, scopes] of blocks) {
        const auth = yield* decodeYaml(AuthConfig, text)
        expect(auth.authorization.required_scopes).toEqual(scopes)
      }
    }))

  it.effect("Reverse proxy transport options", () =>
    Effect.gen(function*() {
      const scheme = yield* decodeYaml(
        UserConfig,
        `
transport:
  provider: streamable-http
  http:
    port: 8000
    host: "0.0.0.0"
    scheme: "https"  # Force HTTPS for all generated URLs
`
      )
      expect(scheme.transport.http).toMatchObject({ port: 8000, host: "0.0.0.0", scheme: "https" })
      const proxy = yield* decodeYaml(
        UserConfig,
        `
transport:
  provider: streamable-http
  http:
    port: 8000
    host: "0.0.0.0"
    trust_proxy: true  # Trust X-Forwarded-Proto and X-Forwarded-Scheme headers
`
      )
      expect(proxy.transport.http.trust_proxy).toBe(true)
      const base = yield* decodeYaml(
        UserConfig,
        `
transport:
  provider: streamable-http
  http:
    base_url: "https://api.example.com"  # Complete external URL
`
      )
      expect(base.transport.http.base_url).toBe("https://api.example.com")
    }))

  it.effect("OAuth Client Configuration (auth block)", () =>
    Effect.gen(function*() {
      const text = `
auth:
  provider: github
  clients:
    - client_id: "\${PROD_CLIENT_ID}"
      client_secret: "\${PROD_CLIENT_SECRET}"
      name: "Production Application"
      redirect_uris:
        - "https://api.example.com/github/callback"  # HTTPS callback
      scopes:
        - "mxcp:access"
`
      const tree = yield* parseYaml(file, text)
      const inner = (yield* interpolate(tree, docEnv)) as { auth: unknown }
      const auth = yield* decodeConfig(AuthConfig, file, inner.auth)
      expect(auth.clients[0]?.redirect_uris).toEqual(["https://api.example.com/github/callback"])
    }))
})

describe("UserConfig auth.registration (A6)", () => {
  it.effect("defaults to 20 registrations a minute, 10 000 clients, a 24 h unused-client TTL", () =>
    Effect.gen(function*() {
      const auth = yield* decodeConfig(AuthConfig, file, { registration: {} })
      expect(auth.registration).toEqual({ enabled: true, rate_limit_per_minute: 20, max_clients: 10000, unused_client_ttl: 86400 })
      const nulls = yield* decodeConfig(AuthConfig, file, { registration: null })
      expect(nulls.registration).toEqual(auth.registration)
    }))

  it.effect("takes the three limits from YAML, numeric strings from ${VAR} included", () =>
    Effect.gen(function*() {
      const user = yield* decodeYaml(
        UserConfig,
        `projects:
  demo:
    profiles:
      default:
        auth:
          provider: github
          registration:
            rate_limit_per_minute: 5
            max_clients: "300"
            unused_client_ttl: 3600
`
      )
      expect(authOf(user, "demo", "default").registration).toEqual({
        enabled: true,
        rate_limit_per_minute: 5,
        max_clients: 300,
        unused_client_ttl: 3600
      })
    }))

  it.effect("a typo under registration is an unknown key that lists the known ones", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(decodeConfig(UserConfig, file, {
        projects: { demo: { profiles: { default: { auth: { registration: { rate_limit: 5 } } } } } }
      }))
      expect(e.key).toBe("projects.demo.profiles.default.auth.registration.rate_limit")
      expect(e.message).toBe('unknown key "rate_limit"')
      expect(e.fix).toContain("rate_limit_per_minute, max_clients, unused_client_ttl")
    }))

  it.effect("zero, negative or fractional limits are refused", () =>
    Effect.gen(function*() {
      for (const registration of [{ rate_limit_per_minute: 0 }, { max_clients: -1 }, { max_clients: 1.5 }, { unused_client_ttl: 0 }]) {
        const e = yield* Effect.flip(decodeConfig(AuthConfig, file, { registration }))
        expect(e.key).toBe(`registration.${Object.keys(registration)[0]}`)
      }
    }))
})
