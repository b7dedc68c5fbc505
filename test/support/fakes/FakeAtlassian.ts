/**
 * A wire-faithful fake of Atlassian's OAuth 2.0 (3LO) authorization server and the two API gateway
 * endpoints mxcp uses, served by a real `node:http` server on 127.0.0.1 (port 0).
 *
 * - `GET  /authorize`: requires `audience=api.atlassian.com`, `client_id`, `scope`, `redirect_uri`,
 *   `state`, `response_type=code` and `prompt=consent`; a `code_challenge` (optional unless
 *   `requirePkce`) needs `code_challenge_method=S256`. Then "the user consents": 302 to
 *   `redirect_uri?code=...&state=...` (deny mode: `?error=access_denied&error_description=...&state=...`).
 *   A bad request itself gets a 400 HTML page.
 * - `POST /oauth/token`: a JSON body only (`Content-Type: application/json`; anything else is 415, an
 *   unparsable body 400, both `{error, error_description}`). `authorization_code`: checks the client
 *   credentials (401 `access_denied`), the code (single use, 10 min, bound to its client and
 *   redirect_uri) and the PKCE verifier (S256) when a challenge was given (403 `invalid_grant`).
 *   `refresh_token`: rotating refresh tokens: each refresh answers a new access token and a new
 *   refresh token and disables the one sent; an unknown, revoked or already used refresh token is
 *   `invalid_grant` "Unknown or invalid refresh token." (HTTP 403 as Atlassian documents it, or
 *   `refreshErrorStatus`). Answers `{access_token, expires_in, scope, token_type, refresh_token?}`,
 *   scopes space-separated; a refresh token is issued only when the scope has `offline_access`.
 * - `GET /api/me`: the user's profile for a Bearer access token; 401 `{code, message}` otherwise.
 * - `GET /api/oauth/token/accessible-resources`: the sites the token reaches, `[{id, url, name, scopes,
 *   avatarUrl}]`.
 *
 * Tests configure the user, the sites and failure modes per endpoint, read per-endpoint counters,
 * the request log and the tokens issued, and revoke tokens upstream. Use it as a scoped Effect
 * resource (`scopedFakeAtlassian`, `FakeAtlassianLayer`) or with promises (`startFakeAtlassian` + `stop`).
 */
import { randomUUID } from "node:crypto"
import type { IncomingHttpHeaders, ServerResponse } from "node:http"
import { Context } from "effect"
import type { Effect, Layer, Scope } from "effect"
import type { AtlassianConfig } from "../../../src/domain/config/UserConfig.js"
import { type BaseFailure, fakeLayer, type FakeProvider, fakeServer, htmlPage, randomToken, readBody, revokeIn, s256, scopedFake } from "./FakeServer.js"

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/** The `/me` profile. `null` fields are left out of the answer. */
export interface FakeAtlassianUser {
  readonly account_id: string
  readonly account_type: string
  readonly account_status: string
  readonly email: string | null
  readonly email_verified: boolean
  readonly name: string | null
  readonly nickname: string | null
  readonly picture: string | null
  readonly locale: string
  readonly zoneinfo: string
}

/** One entry of `accessible-resources`: `id` is the site's cloud id. */
export interface FakeAtlassianResource {
  readonly id: string
  readonly url: string
  readonly name: string
  readonly scopes: ReadonlyArray<string>
  readonly avatarUrl: string
}

export type FakeAtlassianEndpoint = "authorize" | "token" | "me" | "resources"

/**
 * How an endpoint misbehaves: the failures every fake has (`BaseFailure`), and
 * - `missing_id`: (`me`) the profile without `account_id`;
 * - `missing_access_token`: (`token`) HTTP 200 JSON without `access_token`;
 * - `missing_refresh_token`: (`token`) a normal answer, but without `refresh_token`.
 */
export type FakeAtlassianFailure =
  | BaseFailure
  | { readonly kind: "missing_id" }
  | { readonly kind: "missing_access_token" }
  | { readonly kind: "missing_refresh_token" }

export interface FakeAtlassianOptions {
  /** Default `fake-atlassian-client`. */
  readonly clientId?: string
  /** Default `fake-atlassian-secret`. */
  readonly clientSecret?: string
  /** Overrides of the default profile. `nickname: null` exercises the email local-part fallback. */
  readonly user?: Partial<FakeAtlassianUser>
  /** Default: one Jira site. */
  readonly resources?: ReadonlyArray<FakeAtlassianResource>
  /** The scope granted (space-separated). Default: the requested scope. */
  readonly grantedScope?: string
  /** Access token lifetime in seconds. Default 3600. */
  readonly expiresIn?: number
  /** The user denies consent. Default false. */
  readonly denyAuthorization?: boolean
  /** Require `code_challenge` at authorize. Default false (checked when given). */
  readonly requirePkce?: boolean
  /** The app's registered callback URL; when set, `redirect_uri` must equal it exactly. */
  readonly callbackUrl?: string
  /** HTTP status of `invalid_grant` on refresh. Default 403 (what Atlassian documents). */
  readonly refreshErrorStatus?: 400 | 403
}

export interface FakeAtlassianRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly headers: IncomingHttpHeaders
  /** String and number fields of a JSON object body (empty for anything else). */
  readonly body: Readonly<Record<string, string>>
  /** The body as received. */
  readonly rawBody: string
}

export interface FakeAtlassianCalls {
  authorize: number
  /** Every POST to the token endpoint. */
  token: number
  tokenExchange: number
  tokenRefresh: number
  me: number
  resources: number
}

export interface FakeAtlassian
  extends FakeProvider<FakeAtlassianEndpoint, FakeAtlassianFailure, FakeAtlassianCalls, FakeAtlassianRequest, AtlassianConfig, FakeAtlassianAuthorizeParams>
{
  /** The URL block an `atlassian:` config needs. */
  readonly config: { readonly auth_url: string; readonly token_url: string; readonly api_url: string }
  readonly setUser: (user: Partial<FakeAtlassianUser>) => void
  readonly setResources: (resources: ReadonlyArray<FakeAtlassianResource>) => void
  /** Whether a refresh token would still be accepted. */
  readonly isRefreshTokenActive: (token: string) => boolean
}

export interface FakeAtlassianAuthorizeParams {
  readonly redirectUri: string
  readonly state: string
  readonly codeChallenge?: string
  /** Default `read:me offline_access`. */
  readonly scope?: string
  readonly clientId?: string
}

export interface RunningFakeAtlassian extends FakeAtlassian {
  readonly stop: () => Promise<void>
}

// ---------------------------------------------------------------------------
// Wire details
// ---------------------------------------------------------------------------

const AUDIENCE = "api.atlassian.com"
const DEFAULT_SCOPE = "read:me offline_access"

const defaultUser: FakeAtlassianUser = {
  account_id: "712020:1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
  account_type: "atlassian",
  account_status: "active",
  email: "ada.lovelace@example.com",
  email_verified: true,
  name: "Ada Lovelace",
  nickname: "ada",
  picture: "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/712020/ada/128",
  locale: "en-US",
  zoneinfo: "Europe/London"
}

const defaultResources: ReadonlyArray<FakeAtlassianResource> = [
  {
    id: "11223344-a1b2-3b33-c444-def123456789",
    url: "https://example-team.atlassian.net",
    name: "example-team",
    scopes: ["read:jira-work", "read:jira-user"],
    avatarUrl: "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"
  }
]

const CODE_TTL_MS = 10 * 60 * 1000
const DEFAULT_EXPIRES_IN = 3600

interface StoredCode {
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: string
  readonly codeChallenge: string | undefined
  readonly expiresAt: number
  used: boolean
}

interface StoredAccess {
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: number
  revoked: boolean
}

interface StoredRefresh {
  readonly scope: string
  /** Disabled by rotation (used once) or revoked by the test. */
  active: boolean
}

/** The JSON object of a body, or undefined when it is not one. */
const parseJsonObject = (text: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(text)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

const stringFields = (obj: Record<string, unknown> | undefined): Record<string, string> =>
  obj === undefined
    ? {}
    : Object.fromEntries(
        Object.entries(obj).flatMap(([k, v]) => (typeof v === "string" || typeof v === "number" ? [[k, String(v)]] : []))
      )

const isJson = (contentType: string | undefined): boolean => /^application\/json\b/i.test(contentType ?? "")

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/** Start the fake on 127.0.0.1 (a free port). Call `stop()` when done. */
export const startFakeAtlassian = async (options: FakeAtlassianOptions = {}): Promise<RunningFakeAtlassian> => {
  const clientId = options.clientId ?? "fake-atlassian-client"
  const clientSecret = options.clientSecret ?? "fake-atlassian-secret"
  const requirePkce = options.requirePkce ?? false
  const expiresIn = options.expiresIn ?? DEFAULT_EXPIRES_IN
  const refreshErrorStatus = options.refreshErrorStatus ?? 403
  let user: FakeAtlassianUser = { ...defaultUser, ...options.user }
  let resources: ReadonlyArray<FakeAtlassianResource> = options.resources ?? defaultResources

  const calls: FakeAtlassianCalls = { authorize: 0, token: 0, tokenExchange: 0, tokenRefresh: 0, me: 0, resources: 0 }
  const requests: Array<FakeAtlassianRequest> = []
  const issuedAccessTokens: Array<string> = []
  const issuedRefreshTokens: Array<string> = []
  const codes = new Map<string, StoredCode>()
  const accessTokens = new Map<string, StoredAccess>()
  const refreshTokens = new Map<string, StoredRefresh>()
  const base = fakeServer<FakeAtlassianEndpoint, FakeAtlassianFailure>({
    name: "Atlassian",
    jsonType: "application/json; charset=utf-8",
    htmlType: "text/html; charset=utf-8",
    htmlPage,
    headers: { "Cache-Control": "no-store" },
    malformed: (endpoint) => (endpoint === "token" ? '{"access_token": "eyJhbGciOiJSUzI1NiIs' : '{"account_id": "712020:1a2b')
  }, options)
  const { sendJson, sendHtml, takeFailure, misbehave } = base
  const oauthError = (res: ServerResponse, status: number, error: string, description: string) =>
    sendJson(res, status, { error, error_description: description })

  /** Issue an access token (and a refresh token when `offline_access` was granted); the answer's fields. */
  const issue = (scope: string): Record<string, string | number> => {
    const access = randomToken("atlat_", 32)
    const scopes = scope.split(" ").filter((s) => s !== "")
    accessTokens.set(access, { scopes, expiresAt: Date.now() + expiresIn * 1000, revoked: false })
    issuedAccessTokens.push(access)
    const fields: Record<string, string | number> = { access_token: access, expires_in: expiresIn, token_type: "Bearer", scope }
    if (scopes.includes("offline_access")) {
      const refresh = randomToken("atlrt_", 48)
      refreshTokens.set(refresh, { scope, active: true })
      issuedRefreshTokens.push(refresh)
      fields["refresh_token"] = refresh
    }
    return fields
  }

  const handleAuthorize = (res: ServerResponse, query: Record<string, string>) => {
    calls.authorize += 1
    if (misbehave(res, takeFailure("authorize"), "authorize")) return
    if (query["audience"] !== AUDIENCE) return sendHtml(res, 400, "Invalid audience: expected api.atlassian.com")
    const reqClientId = query["client_id"]
    if (reqClientId === undefined || reqClientId !== clientId) return sendHtml(res, 400, "Invalid client_id")
    if (query["response_type"] !== "code") return sendHtml(res, 400, "Unsupported response_type")
    if (query["prompt"] !== "consent") return sendHtml(res, 400, "prompt must be consent")
    const scope = query["scope"] ?? ""
    if (scope.trim() === "") return sendHtml(res, 400, "scope is required")
    const redirectUri = query["redirect_uri"]
    if (redirectUri === undefined || redirectUri === "") return sendHtml(res, 400, "redirect_uri is required")
    let redirect: URL
    try {
      redirect = new URL(redirectUri)
    } catch {
      return sendHtml(res, 400, "redirect_uri is not a URL")
    }
    if (options.callbackUrl !== undefined && options.callbackUrl !== redirectUri) {
      return sendHtml(res, 400, "redirect_uri does not match the app's callback URL")
    }
    const state = query["state"]
    if (state === undefined || state === "") return sendHtml(res, 400, "state is required")
    const challenge = query["code_challenge"]
    if (requirePkce && (challenge === undefined || challenge === "")) return sendHtml(res, 400, "code_challenge is required")
    if (challenge !== undefined && query["code_challenge_method"] !== "S256") {
      return sendHtml(res, 400, "code_challenge_method must be S256")
    }
    if (base.settings.deny) {
      redirect.searchParams.set("error", "access_denied")
      redirect.searchParams.set("error_description", "User did not authorize the request")
      redirect.searchParams.set("state", state)
    } else {
      const code = randomToken("", 24)
      codes.set(code, {
        clientId: reqClientId,
        redirectUri,
        scope,
        codeChallenge: challenge,
        expiresAt: Date.now() + CODE_TTL_MS,
        used: false
      })
      redirect.searchParams.set("code", code)
      redirect.searchParams.set("state", state)
    }
    res.writeHead(302, { Location: redirect.toString(), "Content-Length": 0 })
    res.end()
  }

  const handleToken = (res: ServerResponse, headers: IncomingHttpHeaders, rawBody: string) => {
    calls.token += 1
    const parsed = isJson(headers["content-type"]) ? parseJsonObject(rawBody) : undefined
    const params = stringFields(parsed)
    const isRefresh = params["grant_type"] === "refresh_token"
    if (isRefresh) calls.tokenRefresh += 1
    else calls.tokenExchange += 1
    const failure = takeFailure("token")
    if (misbehave(res, failure, "token")) return
    if (!isJson(headers["content-type"])) {
      return oauthError(res, 415, "invalid_request", "Content-Type must be application/json")
    }
    if (parsed === undefined) return oauthError(res, 400, "invalid_request", "The request body is not a JSON object")
    const grantType = params["grant_type"]
    if (grantType !== "authorization_code" && grantType !== "refresh_token") {
      return oauthError(res, 400, "unsupported_grant_type", "Unsupported grant type")
    }
    if (params["client_id"] !== clientId || params["client_secret"] !== clientSecret) {
      return oauthError(res, 401, "access_denied", "Unauthorized")
    }
    let fields: Record<string, string | number>
    if (isRefresh) {
      const presented = params["refresh_token"] ?? ""
      const stored = refreshTokens.get(presented)
      if (stored === undefined || !stored.active) {
        return oauthError(res, refreshErrorStatus, "invalid_grant", "Unknown or invalid refresh token.")
      }
      // Rotation: the refresh token just used is disabled; a new pair is issued.
      stored.active = false
      fields = issue(stored.scope)
    } else {
      const code = codes.get(params["code"] ?? "")
      if (code === undefined || code.used || code.expiresAt <= Date.now() || code.clientId !== clientId) {
        return oauthError(res, 403, "invalid_grant", "Invalid authorization code")
      }
      code.used = true
      if (params["redirect_uri"] !== code.redirectUri) {
        return oauthError(res, 403, "invalid_grant", "redirect_uri does not match the authorization request")
      }
      if (code.codeChallenge !== undefined) {
        const verifier = params["code_verifier"]
        if (verifier === undefined || s256(verifier) !== code.codeChallenge) {
          return oauthError(res, 403, "invalid_grant", "Invalid code_verifier")
        }
      }
      fields = issue(base.settings.grantedScope ?? code.scope)
    }
    if (failure?.kind === "missing_access_token") {
      const { access_token: _omitted, ...rest } = fields
      return sendJson(res, 200, rest)
    }
    if (failure?.kind === "missing_refresh_token") {
      const { refresh_token: _omitted, ...rest } = fields
      return sendJson(res, 200, rest)
    }
    return sendJson(res, 200, fields)
  }

  /** The access token of an API request, if it is valid (else a 401 has been sent). */
  const authenticate = (res: ServerResponse, headers: IncomingHttpHeaders): StoredAccess | undefined => {
    const m = /^bearer\s+(\S+)$/i.exec(headers["authorization"] ?? "")
    const stored = m?.[1] === undefined ? undefined : accessTokens.get(m[1])
    if (stored === undefined || stored.revoked || stored.expiresAt <= Date.now()) {
      sendJson(res, 401, { code: 401, message: "Unauthorized" })
      return undefined
    }
    return stored
  }

  const handleMe = (res: ServerResponse, headers: IncomingHttpHeaders) => {
    calls.me += 1
    const failure = takeFailure("me")
    if (misbehave(res, failure, "me")) return
    if (authenticate(res, headers) === undefined) return
    const full: Record<string, unknown> = Object.fromEntries(Object.entries(user).filter(([, v]) => v !== null))
    full["last_updated"] = "2024-05-01T10:00:00.000Z"
    if (failure?.kind === "missing_id") delete full["account_id"]
    return sendJson(res, 200, full)
  }

  const handleResources = (res: ServerResponse, headers: IncomingHttpHeaders) => {
    calls.resources += 1
    if (misbehave(res, takeFailure("resources"), "resources")) return
    if (authenticate(res, headers) === undefined) return
    return sendJson(res, 200, resources)
  }

  const baseUrl = await base.listen(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const query = Object.fromEntries(url.searchParams)
    const method = req.method ?? "GET"
    const rawBody = method === "POST" ? await readBody(req) : ""
    const body = method === "POST" && isJson(req.headers["content-type"]) ? stringFields(parseJsonObject(rawBody)) : {}
    requests.push({ method, path: url.pathname, query, headers: req.headers, body, rawBody })
    if (method === "GET" && url.pathname === "/authorize") return handleAuthorize(res, query)
    if (method === "POST" && url.pathname === "/oauth/token") return handleToken(res, req.headers, rawBody)
    if (method === "GET" && url.pathname === "/api/me") return handleMe(res, req.headers)
    if (method === "GET" && url.pathname === "/api/oauth/token/accessible-resources") return handleResources(res, req.headers)
    return sendJson(res, 404, { code: 404, message: "Not Found" })
  })
  const config = {
    auth_url: `${baseUrl}/authorize`,
    token_url: `${baseUrl}/oauth/token`,
    api_url: `${baseUrl}/api`
  } as const

  const authorizeUrl = (params: FakeAtlassianAuthorizeParams): URL => {
    const url = new URL(config.auth_url)
    url.searchParams.set("audience", AUDIENCE)
    url.searchParams.set("client_id", params.clientId ?? clientId)
    url.searchParams.set("scope", params.scope ?? DEFAULT_SCOPE)
    url.searchParams.set("redirect_uri", params.redirectUri)
    url.searchParams.set("state", params.state)
    url.searchParams.set("response_type", "code")
    url.searchParams.set("prompt", "consent")
    if (params.codeChallenge !== undefined) {
      url.searchParams.set("code_challenge", params.codeChallenge)
      url.searchParams.set("code_challenge_method", "S256")
    }
    return url
  }

  const fake: RunningFakeAtlassian = {
    baseUrl,
    clientId,
    clientSecret,
    config,
    requests,
    issuedAccessTokens,
    issuedRefreshTokens,
    setUser: (u) => {
      user = { ...user, ...u }
    },
    setResources: (r) => {
      resources = r
    },
    revokeRefreshToken: (token) => revokeIn(refreshTokens, token, (stored) => (stored.active = false)),
    revokeAccessToken: (token) => revokeIn(accessTokens, token, (stored) => (stored.revoked = true)),
    isRefreshTokenActive: (token) => refreshTokens.get(token)?.active === true,
    ...base.controls<FakeAtlassianCalls, AtlassianConfig, FakeAtlassianAuthorizeParams>({
      calls,
      clientId,
      clientSecret,
      defaults: { scope: DEFAULT_SCOPE, callback_path: "/atlassian/callback" },
      urls: config,
      authorizeUrl
    })
  }
  return fake
}

/** A fresh site for `setResources`/`resources`: a cloud id (UUID) and its URL. */
export const fakeAtlassianResource = (name: string, scopes: ReadonlyArray<string> = ["read:jira-work"]): FakeAtlassianResource => ({
  id: randomUUID(),
  url: `https://${name}.atlassian.net`,
  name,
  scopes,
  avatarUrl: "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/site.png"
})

/** The fake as a scoped resource: started on acquire, stopped when the scope closes. */
export const scopedFakeAtlassian = (options: FakeAtlassianOptions = {}): Effect.Effect<FakeAtlassian, never, Scope.Scope> =>
  scopedFake(startFakeAtlassian)(options)

/** The running fake, for tests that get it from a layer. */
export class FakeAtlassianService extends Context.Tag("test/FakeAtlassian")<FakeAtlassianService, FakeAtlassian>() {}

/** A layer that starts the fake for its lifetime. */
export const FakeAtlassianLayer = (options: FakeAtlassianOptions = {}): Layer.Layer<FakeAtlassianService> =>
  fakeLayer(FakeAtlassianService, scopedFakeAtlassian)(options)
