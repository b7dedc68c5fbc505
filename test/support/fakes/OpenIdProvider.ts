/**
 * A real OpenID Provider for the tests: `oidc-provider` (the certified Node implementation) on
 * 127.0.0.1 (a free port), in this process. It has one app client for this server (confidential,
 * loopback redirect URIs with any port, RFC 8252), one public client for MCP clients of verifier
 * mode, a test account, RS256 keys the test owns (so it can rotate them and sign tokens of its
 * own), a login and consent that approve at once, and, around it, what the provider fakes have:
 * counters per endpoint, failure modes, and rewrites of its answers (an ID token swapped for one
 * the test signed).
 *
 * Layouts: `default` (the provider's own routes under `/op`), `keycloak` (under
 * `/realms/{realm}`, with Keycloak's `/protocol/openid-connect/auth|token|userinfo|certs|...`
 * paths), `google` (the default routes, with the Google preset's `auth_url`/`token_url` keys).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { createHash, randomBytes } from "node:crypto"
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose"
import Provider from "oidc-provider"

export type IdPLayout = "default" | "keycloak" | "google"

export type IdPEndpoint = "discovery" | "jwks" | "token" | "userinfo" | "introspection" | "authorization"

export type IdPFailure =
  | { readonly kind: "status"; readonly status: number; readonly body?: string }
  | { readonly kind: "hang" }
  | { readonly kind: "drop" }
  | { readonly kind: "malformed_json" }
  | { readonly kind: "missing_access_token" }
  | { readonly kind: "missing_id" }

export interface OpenIdProviderOptions {
  readonly layout?: IdPLayout
  /** The realm of the keycloak layout (default `test`). */
  readonly realm?: string
  /** Claims of the test account (merged over the default Alice). */
  readonly account?: Readonly<Record<string, unknown>>
  /** Access token lifetime in seconds (default 3600). */
  readonly accessTokenTtl?: number
  /** Access tokens for a resource indicator: JWT (RFC 9068), or opaque (introspection). Default jwt. */
  readonly resourceFormat?: (resource: string) => "jwt" | "opaque"
  /** Rewrite the discovery document before it is served. */
  readonly discovery?: (doc: Record<string, unknown>) => Record<string, unknown>
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly endpoint: IdPEndpoint | "other"
  readonly query: URLSearchParams
  /** The client authenticated with HTTP Basic. */
  readonly basicAuth: boolean
}

/** One RS256 key pair of the provider (the private JWK is the test's to sign with). */
export interface IdPKey {
  readonly kid: string
  readonly privateJwk: JWK
}

export interface RunningOpenIdProvider {
  readonly layout: IdPLayout
  /** The provider's issuer (what the discovery document names). */
  readonly issuer: string
  readonly baseUrl: string
  readonly configUrl: string
  /** The app client this server uses. */
  readonly clientId: string
  readonly clientSecret: string
  /** The public client for MCP clients (verifier mode). */
  readonly publicClientId: string
  /** The config keys of this layout's provider block (`config_url`, or `server_url` and `realm`, ...). */
  readonly config: Readonly<Record<string, string>>
  readonly calls: Record<IdPEndpoint, number>
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly resetCounters: () => void
  readonly account: Readonly<Record<string, unknown>>
  /** The signing key (first in the key set), and every key published. */
  readonly signingKey: () => IdPKey
  readonly publishedKeys: () => ReadonlyArray<IdPKey>
  /** A new signing key: published first, the previous ones still published (a rotation mid-run). */
  readonly rotateKeys: () => Promise<IdPKey>
  /** Sign `claims` as a JWT with `key` (default: the signing key), header additions in `header`. */
  readonly sign: (claims: Record<string, unknown>, options?: { readonly key?: IdPKey; readonly header?: Record<string, unknown> }) => Promise<string>
  /** A key pair the provider does not publish (for tokens the provider never signed). */
  readonly strangerKey: () => Promise<IdPKey>
  /** Make an endpoint misbehave for the next `times` calls (default: until `clearFailures`). */
  readonly fail: (endpoint: IdPEndpoint, failure: IdPFailure, times?: number) => void
  readonly clearFailures: () => void
  /** Rewrite the next token endpoint answer(s) (JSON body in, JSON body out). */
  readonly rewriteToken: (rewrite: (body: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>, times?: number) => void
  /**
   * A user's access token from the real provider (authorization code flow of the public client,
   * login and consent approved): for `resource` (RFC 8707) when given.
   */
  readonly userAccessToken: (options?: { readonly resource?: string; readonly scope?: string }) => Promise<{
    readonly access_token: string
    readonly refresh_token?: string
    readonly expires_in: number
  }>
  /** Every grant and its tokens gone, as when the user removes the app at the IdP. */
  readonly revokeAllGrants: () => void
  /** RFC 7009 revocation at the provider, as the client the token was issued to. */
  readonly revoke: (token: string, client?: "public" | "app") => Promise<number>
  /** Drive an authorize URL through login and consent: the redirect back to the client. */
  readonly authorize: (url: string) => Promise<URL>
  readonly stop: () => Promise<void>
}

/** The default test account. */
export const ALICE: Readonly<Record<string, unknown>> = {
  sub: "alice-sub-0001",
  preferred_username: "alice",
  email: "alice@example.com",
  email_verified: true,
  name: "Alice Example",
  groups: ["admins", "finance-team"],
  "https://example.com/roles": ["billing-manager", "viewer"],
  realm_access: { roles: ["report-viewer", "offline_access"] },
  department: "finance operations"
}

const KEYCLOAK_ROUTES = {
  authorization: "/protocol/openid-connect/auth",
  token: "/protocol/openid-connect/token",
  userinfo: "/protocol/openid-connect/userinfo",
  jwks: "/protocol/openid-connect/certs",
  introspection: "/protocol/openid-connect/token/introspect",
  revocation: "/protocol/openid-connect/revoke",
  end_session: "/protocol/openid-connect/logout"
}

const DEFAULT_ROUTES = {
  authorization: "/auth",
  token: "/token",
  userinfo: "/me",
  jwks: "/jwks",
  introspection: "/token/introspection",
  revocation: "/token/revocation",
  end_session: "/session/end"
}

const newKey = async (): Promise<IdPKey> => {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true })
  const kid = `k-${randomBytes(6).toString("hex")}`
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" } }
}

/** oidc-provider's storage, shared by the provider instances of one run (a key rotation builds a new one). */
const makeAdapter = () => {
  const store = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>()
  const live = (key: string) => {
    const entry = store.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      store.delete(key)
      return undefined
    }
    return entry.payload
  }
  /** Forget every grant and the tokens issued under it (the user revoked the app at the IdP). */
  const revokeAll = () => {
    for (const key of [...store.keys()]) {
      if (/^(Grant|RefreshToken|AccessToken):/.test(key)) store.delete(key)
    }
  }
  const Adapter = class Adapter {
    constructor(readonly model: string) {}
    key(id: string) {
      return `${this.model}:${id}`
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
      store.set(this.key(id), { payload, expiresAt: expiresIn === undefined ? Number.POSITIVE_INFINITY : Date.now() + expiresIn * 1000 })
    }
    async find(id: string) {
      return live(this.key(id))
    }
    async findByUid(uid: string) {
      for (const [key, entry] of store) if (key.startsWith(`${this.model}:`) && entry.payload["uid"] === uid) return live(key)
      return undefined
    }
    async findByUserCode(userCode: string) {
      for (const [key, entry] of store) if (key.startsWith(`${this.model}:`) && entry.payload["userCode"] === userCode) return live(key)
      return undefined
    }
    async consume(id: string) {
      const payload = live(this.key(id))
      if (payload !== undefined) payload["consumed"] = Math.floor(Date.now() / 1000)
    }
    async destroy(id: string) {
      store.delete(this.key(id))
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, entry] of store) if (entry.payload["grantId"] === grantId) store.delete(key)
    }
  }
  return { Adapter, revokeAll }
}

/**
 * Let `res` be written by someone else, then hand its body to `transform` before it leaves: the
 * status and headers stay, the length is recomputed.
 */
const rewriteBody = (res: ServerResponse, transform: (body: string) => Promise<string>): void => {
  const setHeader = res.setHeader.bind(res)
  const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse
  const chunks: Array<Buffer> = []
  res.setHeader = ((name: string, value: number | string | ReadonlyArray<string>) =>
    name.toLowerCase() === "content-length" ? res : setHeader(name, value)) as typeof res.setHeader
  res.write = ((chunk: unknown) => {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)))
    return true
  }) as typeof res.write
  res.end = ((chunk?: unknown) => {
    if (chunk !== undefined && chunk !== null && typeof chunk !== "function") {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)))
    }
    void transform(Buffer.concat(chunks).toString("utf8")).then((body) => {
      setHeader("content-length", Buffer.byteLength(body))
      end(body)
    })
    return res
  }) as typeof res.end
}

const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url")

export const startOpenIdProvider = async (options: OpenIdProviderOptions = {}): Promise<RunningOpenIdProvider> => {
  const layout = options.layout ?? "default"
  const realm = options.realm ?? "test"
  const prefix = layout === "keycloak" ? `/realms/${realm}` : "/op"
  const routes = layout === "keycloak" ? KEYCLOAK_ROUTES : DEFAULT_ROUTES
  const account = { ...ALICE, ...options.account }
  const clientId = "mxcp-app"
  const clientSecret = `app-secret-${randomBytes(12).toString("hex")}`
  const publicClientId = "mcp-public-client"
  const calls: Record<IdPEndpoint, number> = { discovery: 0, jwks: 0, token: 0, userinfo: 0, introspection: 0, authorization: 0 }
  const requests: Array<RecordedRequest> = []
  const failures = new Map<IdPEndpoint, { failure: IdPFailure; remaining: number }>()
  const rewrites: Array<{ rewrite: (body: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>; remaining: number }> = []
  const { Adapter, revokeAll } = makeAdapter()
  let keys: Array<IdPKey> = [await newKey()]

  const server = createServer()
  const sockets = new Set<import("node:net").Socket>()
  server.on("connection", (s) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const issuer = `${baseUrl}${prefix}`

  const build = () =>
    new Provider(issuer, {
      adapter: Adapter as never,
      jwks: { keys: keys.map((k) => k.privateJwk) as never },
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          application_type: "native",
          redirect_uris: ["http://127.0.0.1/oidc/callback", "http://127.0.0.1/google/callback", "http://127.0.0.1/keycloak/callback", "http://127.0.0.1/callback"],
          grant_types: ["authorization_code", "refresh_token", "client_credentials"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_basic"
        },
        {
          client_id: publicClientId,
          application_type: "native",
          token_endpoint_auth_method: "none",
          redirect_uris: ["http://127.0.0.1/callback"],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"]
        }
      ],
      findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ ...account, sub: id }) }),
      claims: {
        openid: ["sub"],
        profile: ["preferred_username", "name"],
        email: ["email", "email_verified"],
        groups: ["groups", "https://example.com/roles", "realm_access", "department"]
      },
      scopes: ["openid", "offline_access", "profile", "email", "groups", "mxcp:access", "mxcp:extra"],
      routes,
      features: {
        devInteractions: { enabled: false },
        introspection: { enabled: true },
        revocation: { enabled: true },
        clientCredentials: { enabled: true },
        registration: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => undefined,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string) => ({
            scope: "mxcp:access mxcp:extra",
            audience: resource,
            accessTokenTTL: options.accessTokenTtl ?? 3600,
            accessTokenFormat: options.resourceFormat?.(resource) ?? "jwt",
            jwt: { sign: { alg: "RS256" } }
          })
        }
      },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${prefix}/interaction/${interaction.uid}` },
      issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed: (t: string) => boolean }) =>
        client.grantTypeAllowed("refresh_token"),
      pkce: { required: () => false },
      cookies: { keys: ["test-cookie-key"] },
      ttl: {
        AccessToken: () => options.accessTokenTtl ?? 3600,
        AuthorizationCode: 120,
        ClientCredentials: 600,
        IdToken: 3600,
        Interaction: 600,
        Session: 3600,
        Grant: 86_400,
        RefreshToken: 86_400
      },
      clientBasedCORS: () => true
    } as never)
  let provider = build()
  let handler = provider.callback()

  const endpointOf = (path: string): IdPEndpoint | "other" => {
    const local = path.startsWith(prefix) ? path.slice(prefix.length) : path
    if (local === "/.well-known/openid-configuration" || local === "/.well-known/oauth-authorization-server") return "discovery"
    if (local === routes.jwks) return "jwks"
    if (local === routes.token) return "token"
    if (local === routes.userinfo) return "userinfo"
    if (local === routes.introspection) return "introspection"
    if (local === routes.authorization) return "authorization"
    return "other"
  }

  const takeFailure = (endpoint: IdPEndpoint): IdPFailure | undefined => {
    const armed = failures.get(endpoint)
    if (armed === undefined) return undefined
    armed.remaining -= 1
    if (armed.remaining <= 0) failures.delete(endpoint)
    return armed.failure
  }

  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) })
    res.end(body)
  }

  /** Login and consent, approved at once for the test account. */
  const interaction = async (req: IncomingMessage, res: ServerResponse) => {
    const details = await provider.interactionDetails(req, res)
    let result: Record<string, unknown>
    if (details.prompt.name === "login") {
      result = { login: { accountId: String(account["sub"]) } }
    } else {
      const grant = details.grantId !== undefined
        ? (await provider.Grant.find(details.grantId))!
        : new provider.Grant({ accountId: String(details.session?.accountId), clientId: String(details.params["client_id"]) })
      const missing = details.prompt.details as {
        missingOIDCScope?: Array<string>
        missingOIDCClaims?: Array<string>
        missingResourceScopes?: Record<string, Array<string>>
      }
      if (missing.missingOIDCScope !== undefined) grant.addOIDCScope(missing.missingOIDCScope.join(" "))
      if (missing.missingOIDCClaims !== undefined) grant.addOIDCClaims(missing.missingOIDCClaims)
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(" "))
      result = { consent: { grantId: await grant.save() } }
    }
    const to = await provider.interactionResult(req, res, result, { mergeWithLastSubmission: true })
    res.writeHead(302, { location: to, "content-length": 0 })
    res.end()
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const path = (req.url ?? "/").split("?")[0] ?? "/"
      const endpoint = endpointOf(path)
      const query = new URL(req.url ?? "/", baseUrl).searchParams
      requests.push({ method: req.method ?? "GET", path, endpoint, query, basicAuth: (req.headers["authorization"] ?? "").startsWith("Basic ") })
      if (endpoint !== "other") calls[endpoint] += 1
      if (path !== prefix && !path.startsWith(`${prefix}/`)) return send(res, 404, "text/html", "<html><body>Not Found</body></html>")
      if (path.startsWith(`${prefix}/interaction/`)) return interaction(req, res)
      const failure = endpoint === "other" ? undefined : takeFailure(endpoint)
      switch (failure?.kind) {
        case "status":
          return send(res, failure.status, "text/html", failure.body ?? `<html><body>Error ${failure.status}</body></html>`)
        case "hang":
          return
        case "drop":
          res.socket?.destroy()
          return
        case "malformed_json":
          rewriteBody(res, async (text) => text.slice(0, Math.max(1, Math.floor(text.length / 2))))
          break
        case "missing_access_token":
          rewriteBody(res, async (text) => {
            const json = JSON.parse(text) as Record<string, unknown>
            delete json["access_token"]
            return JSON.stringify(json)
          })
          break
        case "missing_id":
          rewriteBody(res, async (text) => {
            const json = JSON.parse(text) as Record<string, unknown>
            delete json["sub"]
            return JSON.stringify(json)
          })
          break
        default:
          if (endpoint === "token" && rewrites.length > 0) {
            const next = rewrites[0]!
            next.remaining -= 1
            if (next.remaining <= 0) rewrites.shift()
            rewriteBody(res, async (text) => {
              const json = JSON.parse(text) as Record<string, unknown>
              return JSON.stringify(json["error"] === undefined ? await next.rewrite(json) : json)
            })
          } else if (endpoint === "discovery" && options.discovery !== undefined) {
            const change = options.discovery
            rewriteBody(res, async (text) => JSON.stringify(change(JSON.parse(text) as Record<string, unknown>)))
          }
      }
      // oidc-provider is mounted at its issuer's path, as an Express app would mount it.
      const mounted = req as IncomingMessage & { originalUrl?: string }
      mounted.originalUrl = req.url ?? "/"
      req.url = (req.url ?? "/").slice(prefix.length) || "/"
      handler(req, res)
    })().catch(() => {
      if (!res.headersSent) send(res, 500, "text/plain", "test OpenID Provider error")
      else res.destroy()
    })
  })

  const config: Readonly<Record<string, string>> = layout === "keycloak"
    ? { server_url: baseUrl, realm }
    : layout === "google"
    ? {
      config_url: `${issuer}/.well-known/openid-configuration`,
      auth_url: `${issuer}${routes.authorization}`,
      token_url: `${issuer}${routes.token}`
    }
    : { config_url: `${issuer}/.well-known/openid-configuration` }

  /** Follow `url` through the provider (login, consent) until it redirects elsewhere. */
  const authorize = async (url: string): Promise<URL> => {
    const jar = new Map<string, string>()
    let current = url
    for (let hop = 0; hop < 12; hop++) {
      const headers: Record<string, string> = {}
      if (jar.size > 0) headers["cookie"] = [...jar].map(([k, v]) => `${k}=${v}`).join("; ")
      const res = await fetch(current, { headers, redirect: "manual" })
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(";")
        const eq = pair?.indexOf("=") ?? -1
        if (pair !== undefined && eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1))
      }
      const location = res.headers.get("location")
      await res.arrayBuffer()
      if (location === null) throw new Error(`the OpenID Provider answered ${res.status} at ${current} without a redirect`)
      const next = new URL(location, current)
      if (!next.toString().startsWith(baseUrl)) return next
      current = next.toString()
    }
    throw new Error("too many redirects at the OpenID Provider")
  }

  const tokenUrl = `${issuer}${routes.token}`

  return {
    layout,
    issuer,
    baseUrl,
    configUrl: `${issuer}/.well-known/openid-configuration`,
    clientId,
    clientSecret,
    publicClientId,
    config,
    calls,
    requests,
    resetCounters: () => {
      for (const key of Object.keys(calls) as Array<IdPEndpoint>) calls[key] = 0
    },
    account,
    signingKey: () => keys[0]!,
    publishedKeys: () => keys,
    rotateKeys: async () => {
      const key = await newKey()
      keys = [key, ...keys]
      provider = build()
      handler = provider.callback()
      return key
    },
    sign: async (claims, signOptions = {}) => {
      const key = signOptions.key ?? keys[0]!
      const { importJWK } = await import("jose")
      const privateKey = await importJWK(key.privateJwk, "RS256")
      return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: key.kid, ...signOptions.header }).sign(privateKey)
    },
    strangerKey: newKey,
    fail: (endpoint, failure, times = Number.POSITIVE_INFINITY) => {
      failures.set(endpoint, { failure, remaining: times })
    },
    clearFailures: () => failures.clear(),
    rewriteToken: (rewrite, times = 1) => {
      rewrites.push({ rewrite, remaining: times })
    },
    userAccessToken: async (tokenOptions = {}) => {
      const verifier = randomBytes(32).toString("base64url")
      const redirectUri = "http://127.0.0.1:49999/callback"
      const params = new URLSearchParams({
        client_id: publicClientId,
        response_type: "code",
        redirect_uri: redirectUri,
        scope: tokenOptions.scope ?? "openid profile email groups offline_access mxcp:access",
        state: "st",
        code_challenge: s256(verifier),
        code_challenge_method: "S256",
        prompt: "consent"
      })
      if (tokenOptions.resource !== undefined) params.set("resource", tokenOptions.resource)
      const back = await authorize(`${issuer}${routes.authorization}?${params}`)
      const code = back.searchParams.get("code")
      if (code === null) throw new Error(`no code from the OpenID Provider: ${back.toString()}`)
      const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier, client_id: publicClientId })
      if (tokenOptions.resource !== undefined) form.set("resource", tokenOptions.resource)
      const res = await fetch(tokenUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form })
      const json = (await res.json()) as { access_token?: string; refresh_token?: string; expires_in: number; error?: string }
      if (json.access_token === undefined) throw new Error(`no access token from the OpenID Provider: ${JSON.stringify(json)}`)
      return json as { access_token: string; refresh_token?: string; expires_in: number }
    },
    revokeAllGrants: revokeAll,
    revoke: async (token, client = "public") => {
      const form = new URLSearchParams({ token })
      const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" }
      if (client === "public") form.set("client_id", publicClientId)
      else headers["authorization"] = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`
      const res = await fetch(`${issuer}${routes.revocation}`, { method: "POST", headers, body: form })
      await res.arrayBuffer()
      return res.status
    },
    authorize,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}
