/**
 * A wire-faithful fake of GitHub's OAuth web flow and the two REST endpoints mxcp uses, served by a
 * real `node:http` server on 127.0.0.1 (port 0).
 *
 * - `GET  /login/oauth/authorize`: checks client_id, redirect_uri, state, code_challenge and
 *   `code_challenge_method=S256`, then "the user approves": 302 to `redirect_uri?code=...&state=...`
 *   (or, in deny mode, `?error=access_denied&error_description=...&error_uri=...&state=...`).
 *   Problems with the request itself get a 400/404 HTML page, as on github.com.
 * - `POST /login/oauth/access_token`: form (or JSON, or query) parameters; checks the client
 *   credentials, the code (single use, 10 min, bound to its redirect_uri) and the PKCE verifier (S256).
 *   Answers JSON when the request's Accept asks for it, form-encoded otherwise; a refused request is
 *   still HTTP 200 with `{error, error_description, error_uri}` (`bad_verification_code`,
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_refresh_token`, ...). Scopes are
 *   comma-separated. In expiring-token mode (GitHub App) the answer carries `expires_in`,
 *   `refresh_token` and `refresh_token_expires_in`, and `grant_type=refresh_token` rotates both tokens.
 * - `GET /api/user`: the profile for a Bearer (or `token`) access token; 401 `Bad credentials` otherwise.
 * - `GET /api/user/emails`: the email list; 404 when an OAuth App token lacks `user`/`user:email`.
 *
 * Tests configure the user, the emails and failure modes per endpoint, read per-endpoint counters,
 * the request log and the tokens issued, and revoke tokens upstream. Use it as a scoped Effect
 * resource (`scopedFakeGitHub`, `FakeGitHubLayer`) or with plain promises (`startFakeGitHub` + `stop`).
 */
import { randomBytes } from "node:crypto"
import type { IncomingHttpHeaders, ServerResponse } from "node:http"
import { Context } from "effect"
import type { Effect, Layer, Scope } from "effect"
import type { GitHubConfig } from "../../../src/domain/config/UserConfig.js"
import { type BaseFailure, fakeLayer, type FakeProvider, fakeServer, htmlPage, randomToken, readBody, revokeIn, s256, scopedFake } from "./FakeServer.js"

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

export interface FakeGitHubUser {
  readonly login: string
  readonly id: number
  readonly name: string | null
  readonly email: string | null
  readonly avatar_url: string
}

export interface FakeGitHubEmail {
  readonly email: string
  readonly primary: boolean
  readonly verified: boolean
  readonly visibility: "public" | "private" | null
}

export type FakeGitHubEndpoint = "authorize" | "token" | "user" | "emails"

/**
 * How an endpoint misbehaves: the failures every fake has (`BaseFailure`), and
 * - `missing_id`: (`user`) the profile without `id`;
 * - `missing_access_token`: (`token`) HTTP 200 JSON without `access_token`.
 */
export type FakeGitHubFailure =
  | BaseFailure
  | { readonly kind: "missing_id" }
  | { readonly kind: "missing_access_token" }

export interface FakeGitHubExpiry {
  /** Seconds; GitHub uses 28800 (8 h). */
  readonly expiresIn?: number
  /** Seconds; GitHub uses 15897600 (~6 months). */
  readonly refreshTokenExpiresIn?: number
}

export interface FakeGitHubOptions {
  /** Default `fake-github-client`. */
  readonly clientId?: string
  /** Default `fake-github-secret`. */
  readonly clientSecret?: string
  /** Overrides of the default profile (octocat). `email: null` exercises the `/user/emails` fallback. */
  readonly user?: Partial<FakeGitHubUser>
  /** Default: a noreply address (verified, not primary) then the primary verified address. */
  readonly emails?: ReadonlyArray<FakeGitHubEmail>
  /** The scope granted, as GitHub reports it (comma-separated). Default: the requested scope, comma-joined. */
  readonly grantedScope?: string
  /** GitHub App tokens that expire (`true` = GitHub's 8 h / ~6 months). Default off (OAuth App tokens). */
  readonly expiringTokens?: boolean | FakeGitHubExpiry
  /** The user denies access at the authorize page. Default false. */
  readonly denyAuthorization?: boolean
  /** Require `code_challenge` + `code_challenge_method=S256` at authorize. Default true. */
  readonly requirePkce?: boolean
  /** The app's registered callback URL; when set, `redirect_uri` must be on its host and under its path. */
  readonly callbackUrl?: string
}

export interface FakeGitHubRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly headers: IncomingHttpHeaders
  /** Parsed parameters of a POST body (form or JSON). */
  readonly body: Readonly<Record<string, string>>
}

export interface FakeGitHubCalls {
  authorize: number
  /** Every POST to the token endpoint. */
  token: number
  tokenExchange: number
  tokenRefresh: number
  user: number
  emails: number
}

export interface FakeGitHub
  extends FakeProvider<FakeGitHubEndpoint, FakeGitHubFailure, FakeGitHubCalls, FakeGitHubRequest, GitHubConfig, FakeGitHubAuthorizeParams>
{
  /** The URL block a `github:` config needs. */
  readonly config: { readonly auth_url: string; readonly token_url: string; readonly api_url: string }
  readonly setUser: (user: Partial<FakeGitHubUser>) => void
  readonly setEmails: (emails: ReadonlyArray<FakeGitHubEmail>) => void
  readonly setExpiringTokens: (expiring: boolean | FakeGitHubExpiry) => void
}

export interface FakeGitHubAuthorizeParams {
  readonly redirectUri: string
  readonly state: string
  readonly codeChallenge: string
  readonly scope?: string
  readonly clientId?: string
}

export interface RunningFakeGitHub extends FakeGitHub {
  readonly stop: () => Promise<void>
}

// ---------------------------------------------------------------------------
// Wire details
// ---------------------------------------------------------------------------

const DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
const AUTHZ_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors"

const tokenErrors = {
  bad_verification_code: "The code passed is incorrect or expired.",
  incorrect_client_credentials: "The client_id and/or client_secret passed are incorrect.",
  redirect_uri_mismatch: "The redirect_uri MUST match the registered callback URL for this application.",
  bad_refresh_token: "The refresh token passed is incorrect or expired.",
  unsupported_grant_type: "The grant type is not supported."
} as const
type TokenErrorCode = keyof typeof tokenErrors

const defaultUser: FakeGitHubUser = {
  login: "octocat",
  id: 583231,
  name: "The Octocat",
  email: "octocat@github.com",
  avatar_url: "https://avatars.githubusercontent.com/u/583231?v=4"
}

const defaultEmails: ReadonlyArray<FakeGitHubEmail> = [
  { email: "583231+octocat@users.noreply.github.com", primary: false, verified: true, visibility: null },
  { email: "octocat@github.com", primary: true, verified: true, visibility: "public" }
]

const CODE_TTL_MS = 10 * 60 * 1000
const GITHUB_EXPIRES_IN = 28800
const GITHUB_REFRESH_EXPIRES_IN = 15897600

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
  readonly expiresAt: number | undefined
  revoked: boolean
}

interface StoredRefresh {
  readonly scope: string
  readonly expiresAt: number
  revoked: boolean
  /** The access token issued with it (revoked on rotation). */
  readonly accessToken: string
}

const parseParams = (contentType: string, text: string): Record<string, string> => {
  if (contentType.includes("application/json")) {
    try {
      const parsed: unknown = JSON.parse(text)
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        return Object.fromEntries(
          Object.entries(parsed as Record<string, unknown>).flatMap(([k, v]) =>
            typeof v === "string" || typeof v === "number" ? [[k, String(v)]] : []
          )
        )
      }
    } catch {
      return {}
    }
    return {}
  }
  return Object.fromEntries(new URLSearchParams(text))
}

const commaScope = (scope: string): string =>
  scope
    .split(/[\s,]+/)
    .filter((s) => s !== "")
    .join(",")

/** GitHub's rule: same host and port, and the path is the callback path or below it. */
const redirectAllowed = (callbackUrl: string, redirectUri: string): boolean => {
  try {
    const cb = new URL(callbackUrl)
    const r = new URL(redirectUri)
    const base = cb.pathname.endsWith("/") ? cb.pathname : `${cb.pathname}/`
    return r.host === cb.host && r.protocol === cb.protocol && (r.pathname === cb.pathname || r.pathname.startsWith(base))
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/** Start the fake on 127.0.0.1 (a free port). Call `stop()` when done. */
export const startFakeGitHub = async (options: FakeGitHubOptions = {}): Promise<RunningFakeGitHub> => {
  const clientId = options.clientId ?? "fake-github-client"
  const clientSecret = options.clientSecret ?? "fake-github-secret"
  const requirePkce = options.requirePkce ?? true
  let user: FakeGitHubUser = { ...defaultUser, ...options.user }
  let emails: ReadonlyArray<FakeGitHubEmail> = options.emails ?? defaultEmails
  let expiring: boolean | FakeGitHubExpiry = options.expiringTokens ?? false

  const calls: FakeGitHubCalls = { authorize: 0, token: 0, tokenExchange: 0, tokenRefresh: 0, user: 0, emails: 0 }
  const requests: Array<FakeGitHubRequest> = []
  const issuedAccessTokens: Array<string> = []
  const issuedRefreshTokens: Array<string> = []
  const codes = new Map<string, StoredCode>()
  const accessTokens = new Map<string, StoredAccess>()
  const refreshTokens = new Map<string, StoredRefresh>()
  const base = fakeServer<FakeGitHubEndpoint, FakeGitHubFailure>({
    name: "GitHub",
    jsonType: "application/json; charset=utf-8",
    htmlType: "text/html; charset=utf-8",
    htmlPage,
    malformed: (endpoint) => (endpoint === "token" ? '{"access_token": "gho_trunc' : '{"login": "octocat", "id": 5832')
  }, options)
  const { send, sendJson, takeFailure, misbehave } = base

  const expiry = (): FakeGitHubExpiry | undefined =>
    expiring === false ? undefined : expiring === true ? {} : expiring

  /** Issue an access token (and, in expiring mode, a refresh token); the answer's fields. */
  const issue = (scope: string): Record<string, string | number> => {
    const exp = expiry()
    const access = randomToken(exp === undefined ? "gho_" : "ghu_", 27)
    const expiresIn = exp?.expiresIn ?? GITHUB_EXPIRES_IN
    const scopes = scope.split(",").filter((s) => s !== "")
    accessTokens.set(access, {
      scopes,
      expiresAt: exp === undefined ? undefined : Date.now() + expiresIn * 1000,
      revoked: false
    })
    issuedAccessTokens.push(access)
    if (exp === undefined) return { access_token: access, token_type: "bearer", scope }
    const refresh = randomToken("ghr_", 56)
    const refreshExpiresIn = exp.refreshTokenExpiresIn ?? GITHUB_REFRESH_EXPIRES_IN
    refreshTokens.set(refresh, { scope, expiresAt: Date.now() + refreshExpiresIn * 1000, revoked: false, accessToken: access })
    issuedRefreshTokens.push(refresh)
    return {
      access_token: access,
      expires_in: expiresIn,
      refresh_token: refresh,
      refresh_token_expires_in: refreshExpiresIn,
      scope,
      token_type: "bearer"
    }
  }

  const wantsJson = (headers: IncomingHttpHeaders): boolean => (headers["accept"] ?? "").includes("application/json")

  const tokenAnswer = (res: ServerResponse, headers: IncomingHttpHeaders, fields: Record<string, string | number>) => {
    if (wantsJson(headers)) return sendJson(res, 200, fields)
    const form = new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)]))
    return send(res, 200, "application/x-www-form-urlencoded; charset=utf-8", form.toString())
  }
  const tokenError = (res: ServerResponse, headers: IncomingHttpHeaders, code: TokenErrorCode) =>
    tokenAnswer(res, headers, { error: code, error_description: tokenErrors[code], error_uri: `${DOCS}#${code.replace(/_/g, "-")}` })

  const handleAuthorize = (res: ServerResponse, query: Record<string, string>) => {
    calls.authorize += 1
    if (misbehave(res, takeFailure("authorize"), "authorize")) return
    const reqClientId = query["client_id"]
    if (reqClientId === undefined || reqClientId !== clientId) return send(res, 404, "text/html; charset=utf-8", htmlPage("Not Found"))
    const redirectUri = query["redirect_uri"]
    if (redirectUri === undefined || redirectUri === "") {
      return send(res, 400, "text/html; charset=utf-8", htmlPage("redirect_uri is required"))
    }
    let redirect: URL
    try {
      redirect = new URL(redirectUri)
    } catch {
      return send(res, 400, "text/html; charset=utf-8", htmlPage("redirect_uri is not a URL"))
    }
    if (options.callbackUrl !== undefined && !redirectAllowed(options.callbackUrl, redirectUri)) {
      return send(res, 400, "text/html; charset=utf-8", htmlPage("The redirect_uri is not associated with this application."))
    }
    const state = query["state"]
    if (state === undefined || state === "") return send(res, 400, "text/html; charset=utf-8", htmlPage("state is required"))
    const challenge = query["code_challenge"]
    const method = query["code_challenge_method"]
    if (requirePkce && (challenge === undefined || challenge === "")) {
      return send(res, 400, "text/html; charset=utf-8", htmlPage("code_challenge is required"))
    }
    if (challenge !== undefined && method !== "S256") {
      return send(res, 400, "text/html; charset=utf-8", htmlPage("code_challenge_method must be S256"))
    }
    if (base.settings.deny) {
      redirect.searchParams.set("error", "access_denied")
      redirect.searchParams.set("error_description", "The user has denied your application access.")
      redirect.searchParams.set("error_uri", `${AUTHZ_DOCS}/#access-denied`)
      redirect.searchParams.set("state", state)
    } else {
      const code = randomBytes(10).toString("hex")
      codes.set(code, {
        clientId: reqClientId,
        redirectUri,
        scope: query["scope"] ?? "",
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

  const handleToken = (res: ServerResponse, headers: IncomingHttpHeaders, params: Record<string, string>) => {
    calls.token += 1
    const isRefresh = params["grant_type"] === "refresh_token"
    if (isRefresh) calls.tokenRefresh += 1
    else calls.tokenExchange += 1
    const failure = takeFailure("token")
    if (misbehave(res, failure, "token")) return
    if (params["client_id"] !== clientId || params["client_secret"] !== clientSecret) {
      return tokenError(res, headers, "incorrect_client_credentials")
    }
    let fields: Record<string, string | number>
    if (isRefresh) {
      const stored = refreshTokens.get(params["refresh_token"] ?? "")
      if (stored === undefined || stored.revoked || stored.expiresAt <= Date.now()) {
        return tokenError(res, headers, "bad_refresh_token")
      }
      // Rotation: the refresh token and the access token issued with it stop working.
      stored.revoked = true
      const oldAccess = accessTokens.get(stored.accessToken)
      if (oldAccess !== undefined) oldAccess.revoked = true
      fields = issue(stored.scope)
    } else {
      const grantType = params["grant_type"]
      if (grantType !== undefined && grantType !== "authorization_code") {
        return tokenError(res, headers, "unsupported_grant_type")
      }
      const code = codes.get(params["code"] ?? "")
      if (code === undefined || code.used || code.expiresAt <= Date.now() || code.clientId !== clientId) {
        return tokenError(res, headers, "bad_verification_code")
      }
      code.used = true
      const redirectUri = params["redirect_uri"]
      if (redirectUri !== undefined && redirectUri !== code.redirectUri) {
        return tokenError(res, headers, "redirect_uri_mismatch")
      }
      if (code.codeChallenge !== undefined) {
        const verifier = params["code_verifier"]
        if (verifier === undefined || s256(verifier) !== code.codeChallenge) {
          return tokenError(res, headers, "bad_verification_code")
        }
      }
      fields = issue(base.settings.grantedScope ?? commaScope(code.scope))
    }
    if (failure?.kind === "missing_access_token") {
      const { access_token: _omitted, ...rest } = fields
      return tokenAnswer(res, headers, rest)
    }
    return tokenAnswer(res, headers, fields)
  }

  /** The access token of an API request, if it is valid. */
  const authenticate = (res: ServerResponse, headers: IncomingHttpHeaders): StoredAccess | undefined => {
    const auth = headers["authorization"] ?? ""
    const m = /^(?:bearer|token)\s+(\S+)$/i.exec(auth)
    if (m === null || m[1] === undefined) {
      sendJson(res, 401, { message: "Requires authentication", documentation_url: "https://docs.github.com/rest", status: "401" })
      return undefined
    }
    const stored = accessTokens.get(m[1])
    if (stored === undefined || stored.revoked || (stored.expiresAt !== undefined && stored.expiresAt <= Date.now())) {
      sendJson(res, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest", status: "401" })
      return undefined
    }
    return stored
  }

  const apiHeaders = (token: StoredAccess): Record<string, string> => ({
    "X-OAuth-Scopes": token.scopes.join(", "),
    "X-GitHub-Media-Type": "github.v3; format=json",
    "X-RateLimit-Limit": "5000",
    "X-RateLimit-Remaining": "4999"
  })

  const handleUser = (res: ServerResponse, headers: IncomingHttpHeaders) => {
    calls.user += 1
    const failure = takeFailure("user")
    if (misbehave(res, failure, "user")) return
    const token = authenticate(res, headers)
    if (token === undefined) return
    const full = {
      login: user.login,
      id: user.id,
      node_id: `MDQ6VXNlcj${user.id}`,
      avatar_url: user.avatar_url,
      html_url: `https://github.com/${user.login}`,
      type: "User",
      site_admin: false,
      name: user.name,
      company: null,
      blog: "",
      location: null,
      email: user.email,
      bio: null,
      public_repos: 8,
      followers: 20,
      following: 0,
      created_at: "2011-01-25T18:44:36Z",
      updated_at: "2024-01-01T00:00:00Z"
    }
    if (failure?.kind === "missing_id") {
      const { id: _omitted, ...rest } = full
      return sendJson(res, 200, rest, apiHeaders(token))
    }
    return sendJson(res, 200, full, apiHeaders(token))
  }

  const handleEmails = (res: ServerResponse, headers: IncomingHttpHeaders) => {
    calls.emails += 1
    if (misbehave(res, takeFailure("emails"), "emails")) return
    const token = authenticate(res, headers)
    if (token === undefined) return
    if (token.scopes.length > 0 && !token.scopes.some((s) => s === "user" || s === "user:email")) {
      return sendJson(res, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" })
    }
    return sendJson(res, 200, emails, apiHeaders(token))
  }

  const baseUrl = await base.listen(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const query = Object.fromEntries(url.searchParams)
    const method = req.method ?? "GET"
    const text = method === "POST" ? await readBody(req) : ""
    const body = method === "POST" ? parseParams(req.headers["content-type"] ?? "", text) : {}
    requests.push({ method, path: url.pathname, query, headers: req.headers, body })
    if (method === "GET" && url.pathname === "/login/oauth/authorize") return handleAuthorize(res, query)
    if (method === "POST" && url.pathname === "/login/oauth/access_token") {
      return handleToken(res, req.headers, { ...query, ...body })
    }
    if (method === "GET" && url.pathname === "/api/user") return handleUser(res, req.headers)
    if (method === "GET" && url.pathname === "/api/user/emails") return handleEmails(res, req.headers)
    return sendJson(res, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" })
  })
  const config = {
    auth_url: `${baseUrl}/login/oauth/authorize`,
    token_url: `${baseUrl}/login/oauth/access_token`,
    api_url: `${baseUrl}/api`
  } as const

  const authorizeUrl = (params: FakeGitHubAuthorizeParams): URL => {
    const url = new URL(config.auth_url)
    url.searchParams.set("client_id", params.clientId ?? clientId)
    url.searchParams.set("redirect_uri", params.redirectUri)
    url.searchParams.set("scope", params.scope ?? "user:email")
    url.searchParams.set("state", params.state)
    url.searchParams.set("code_challenge", params.codeChallenge)
    url.searchParams.set("code_challenge_method", "S256")
    return url
  }

  const fake: RunningFakeGitHub = {
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
    setEmails: (e) => {
      emails = e
    },
    setExpiringTokens: (e) => {
      expiring = e
    },
    revokeRefreshToken: (token) => revokeIn(refreshTokens, token, (stored) => (stored.revoked = true)),
    revokeAccessToken: (token) => revokeIn(accessTokens, token, (stored) => (stored.revoked = true)),
    ...base.controls<FakeGitHubCalls, GitHubConfig, FakeGitHubAuthorizeParams>({
      calls,
      clientId,
      clientSecret,
      defaults: { scope: "user:email", callback_path: "/github/callback" },
      urls: config,
      authorizeUrl
    })
  }
  return fake
}

/** The fake as a scoped resource: started on acquire, stopped when the scope closes. */
export const scopedFakeGitHub = (options: FakeGitHubOptions = {}): Effect.Effect<FakeGitHub, never, Scope.Scope> =>
  scopedFake(startFakeGitHub)(options)

/** The running fake, for tests that get it from a layer. */
export class FakeGitHubService extends Context.Tag("test/FakeGitHub")<FakeGitHubService, FakeGitHub>() {}

/** A layer that starts the fake for its lifetime. */
export const FakeGitHubLayer = (options: FakeGitHubOptions = {}): Layer.Layer<FakeGitHubService> =>
  fakeLayer(FakeGitHubService, scopedFakeGitHub)(options)
