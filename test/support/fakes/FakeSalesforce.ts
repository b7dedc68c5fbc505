/**
 * A wire-faithful fake of Salesforce's OAuth 2.0 web server flow and its two identity endpoints,
 * served by a real `node:http` server on 127.0.0.1 (port 0). The fake is both the login host
 * (`login.salesforce.com` / `test.salesforce.com`) and the org's instance (`instance_url`).
 *
 * - `GET  /services/oauth2/authorize`: checks `response_type=code`, client_id (unknown: an HTML
 *   error page naming `invalid_client_id`), redirect_uri (exact match with the connected app's
 *   callback URL when one is configured: else an HTML `redirect_uri_mismatch` page), the PKCE
 *   challenge (`code_challenge_method`, when sent, must be S256), then "the user approves": 302 to
 *   `redirect_uri?code=...&state=...` (deny mode: `?error=access_denied&error_description=end-user
 *   denied authorization&state=...`). Codes look like Salesforce's (base64 with `=` padding, so they
 *   must be URL-encoded on the way back).
 * - `POST /services/oauth2/token`: form parameters only (anything else: 400 `unsupported_grant_type`).
 *   Checks the client (`invalid_client_id`, `invalid_client`), the code (single use, 15 min, bound to
 *   its redirect_uri: `invalid_grant`), the PKCE verifier (`invalid_grant` "invalid code verifier").
 *   Success is HTTP 200 JSON `{access_token, refresh_token?, signature, scope, instance_url, id,
 *   token_type: "Bearer", issued_at}` with no `expires_in`. A refresh token is issued only when the
 *   requested scope has `refresh_token` or `offline_access`. `grant_type=refresh_token` answers a new
 *   access token without a new refresh token (unless `rotateRefreshTokens`); a revoked or unknown
 *   refresh token is 400 `{"error":"invalid_grant","error_description":"expired access/refresh token"}`.
 *   `signature` is Salesforce's: base64 HMAC-SHA256 of `id + issued_at` keyed by the client secret.
 * - `GET /id/<orgId>/<userId>` (the identity URL returned as `id`): the user for a Bearer access
 *   token; 401 `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` when the
 *   token is missing, unknown or revoked; 404 `Bad_Id` for another org/user.
 * - `GET /services/oauth2/userinfo`: the OpenID Connect view of the same user; same 401.
 *
 * Tests configure the user, the org and failure modes per endpoint, read per-endpoint counters,
 * the request log and the tokens issued, and revoke tokens upstream. Use it as a scoped Effect
 * resource (`scopedFakeSalesforce`, `FakeSalesforceLayer`) or with plain promises
 * (`startFakeSalesforce` + `stop`).
 */
import { createHmac, randomBytes } from "node:crypto"
import type { IncomingHttpHeaders, ServerResponse } from "node:http"
import { Context } from "effect"
import type { Effect, Layer, Scope } from "effect"
import type { SalesforceConfig } from "../../../src/domain/config/UserConfig.js"
import { type BaseFailure, fakeLayer, type FakeProvider, fakeServer, readBody, revokeIn, s256, scopedFake } from "./FakeServer.js"

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

export interface FakeSalesforceUser {
  /** 18-character user id (`005...`). */
  readonly user_id: string
  readonly username: string
  readonly display_name: string
  readonly nick_name: string
  readonly first_name: string
  readonly last_name: string
  readonly email: string
}

export type FakeSalesforceEndpoint = "authorize" | "token" | "id" | "userinfo"

/**
 * How an endpoint misbehaves: the failures every fake has (`BaseFailure`), and
 * - `malformed_json`: HTTP 200, `Content-Type: application/json`, a truncated JSON body;
 * - `missing_id`: (`id`, `userinfo`) the user without `user_id`;
 * - `missing_access_token`: (`token`) HTTP 200 JSON without `access_token`;
 * - `missing_instance_url`: (`token`) HTTP 200 JSON without `instance_url`.
 */
export type FakeSalesforceFailure =
  | BaseFailure
  | { readonly kind: "missing_id" }
  | { readonly kind: "missing_access_token" }
  | { readonly kind: "missing_instance_url" }

export interface FakeSalesforceOptions {
  /** The connected app's consumer key. Default `fake-salesforce-consumer-key`. */
  readonly clientId?: string
  /** The connected app's consumer secret. Default `fake-salesforce-consumer-secret`. */
  readonly clientSecret?: string
  /** 18-character org id (`00D...`). */
  readonly orgId?: string
  /** Overrides of the default user. */
  readonly user?: Partial<FakeSalesforceUser>
  /** The scope granted (space-separated). Default: the requested scope. */
  readonly grantedScope?: string
  /** Leave `id` out of token answers (exercises the userinfo fallback). Default false. */
  readonly omitIdUrl?: boolean
  /** Issue a new refresh token on every refresh (a connected app setting). Default false. */
  readonly rotateRefreshTokens?: boolean
  /** The user denies access at the authorize page. Default false. */
  readonly denyAuthorization?: boolean
  /** Require `code_challenge` at authorize (the connected app's "Require PKCE"). Default true. */
  readonly requirePkce?: boolean
  /** The connected app's callback URLs; when set, `redirect_uri` must equal one of them. */
  readonly callbackUrls?: ReadonlyArray<string>
}

export interface FakeSalesforceRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly headers: IncomingHttpHeaders
  /** Parsed parameters of a form POST body. */
  readonly body: Readonly<Record<string, string>>
}

export interface FakeSalesforceCalls {
  authorize: number
  /** Every POST to the token endpoint. */
  token: number
  tokenExchange: number
  tokenRefresh: number
  /** GETs of the identity URL. */
  id: number
  userinfo: number
}

export interface FakeSalesforceAuthorizeParams {
  readonly redirectUri: string
  readonly state: string
  readonly codeChallenge: string
  readonly scope?: string
  readonly clientId?: string
}

export interface FakeSalesforce
  extends FakeProvider<FakeSalesforceEndpoint, FakeSalesforceFailure, FakeSalesforceCalls, FakeSalesforceRequest, SalesforceConfig, FakeSalesforceAuthorizeParams>
{
  readonly orgId: string
  /** The identity URL of the current user on this fake (`{baseUrl}/id/<orgId>/<userId>`). */
  readonly idUrl: () => string
  /** The URL block a `salesforce:` config needs. */
  readonly config: { readonly auth_url: string; readonly token_url: string }
  /** Every authorization code issued, in order. */
  readonly issuedCodes: ReadonlyArray<string>
  readonly setUser: (user: Partial<FakeSalesforceUser>) => void
  readonly setOmitIdUrl: (omit: boolean) => void
  readonly setRotateRefreshTokens: (rotate: boolean) => void
}

export interface RunningFakeSalesforce extends FakeSalesforce {
  readonly stop: () => Promise<void>
}

// ---------------------------------------------------------------------------
// Wire details
// ---------------------------------------------------------------------------

const DEFAULT_SCOPE = "api refresh_token openid profile email"
const DEFAULT_ORG_ID = "00D5g000004Xb2kEAC"

const defaultUser: FakeSalesforceUser = {
  user_id: "0055g00000Ab1cDAAR",
  username: "astro@example.com.fake",
  display_name: "Astro Nomical",
  nick_name: "astro",
  first_name: "Astro",
  last_name: "Nomical",
  email: "astro@example.com"
}

const tokenErrors = {
  invalid_client_id: "client identifier invalid",
  invalid_client: "invalid client credentials",
  invalid_request: "grant type is missing",
  unsupported_grant_type: "grant type not supported",
  redirect_uri_mismatch: "redirect_uri must match configuration"
} as const
type TokenErrorCode = keyof typeof tokenErrors | "invalid_grant"

const INVALID_SESSION = [{ message: "Session expired or invalid", errorCode: "INVALID_SESSION_ID" }]

/** Salesforce codes are valid for 15 minutes and single use. */
const CODE_TTL_MS = 15 * 60 * 1000

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
  revoked: boolean
}

interface StoredRefresh {
  readonly scope: string
  revoked: boolean
}

const htmlPage = (title: string, detail = ""): string =>
  `<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1><p>${detail}</p></body></html>`

const isForm = (contentType: string): boolean => contentType.toLowerCase().includes("application/x-www-form-urlencoded")

const grantsRefresh = (scope: string): boolean =>
  scope.split(" ").some((s) => s === "refresh_token" || s === "offline_access")

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/** Start the fake on 127.0.0.1 (a free port). Call `stop()` when done. */
export const startFakeSalesforce = async (options: FakeSalesforceOptions = {}): Promise<RunningFakeSalesforce> => {
  const clientId = options.clientId ?? "fake-salesforce-consumer-key"
  const clientSecret = options.clientSecret ?? "fake-salesforce-consumer-secret"
  const orgId = options.orgId ?? DEFAULT_ORG_ID
  const requirePkce = options.requirePkce ?? true
  let user: FakeSalesforceUser = { ...defaultUser, ...options.user }
  let omitIdUrl = options.omitIdUrl ?? false
  let rotate = options.rotateRefreshTokens ?? false

  const calls: FakeSalesforceCalls = { authorize: 0, token: 0, tokenExchange: 0, tokenRefresh: 0, id: 0, userinfo: 0 }
  const requests: Array<FakeSalesforceRequest> = []
  const issuedAccessTokens: Array<string> = []
  const issuedRefreshTokens: Array<string> = []
  const issuedCodes: Array<string> = []
  const codes = new Map<string, StoredCode>()
  const accessTokens = new Map<string, StoredAccess>()
  const refreshTokens = new Map<string, StoredRefresh>()
  let baseUrl = ""

  const idUrl = (): string => `${baseUrl}/id/${orgId}/${user.user_id}`

  const base = fakeServer<FakeSalesforceEndpoint, FakeSalesforceFailure>({
    name: "Salesforce",
    jsonType: "application/json;charset=UTF-8",
    htmlType: "text/html;charset=UTF-8",
    htmlPage: (title) => htmlPage(title),
    malformed: (endpoint) =>
      endpoint === "token" ? `{"access_token":"${orgId}!AQ4AQtrunc` : `{"user_id":"${user.user_id}","username":"ast`
  }, options)
  const { send, sendJson, takeFailure, misbehave } = base
  const noStore = { "Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private", Pragma: "no-cache" }

  const tokenError = (res: ServerResponse, code: TokenErrorCode, description?: string) =>
    sendJson(res, 400, { error: code, error_description: description ?? (code === "invalid_grant" ? "authentication failure" : tokenErrors[code]) }, noStore)

  /** Issue an access token (and a refresh token when asked to); the answer's fields. */
  const issue = (scope: string, withRefresh: boolean): Record<string, string> => {
    const access = `${orgId}!AQ4AQ${randomBytes(48).toString("base64url")}`
    accessTokens.set(access, { scopes: scope.split(" ").filter((s) => s !== ""), revoked: false })
    issuedAccessTokens.push(access)
    const issuedAt = String(Date.now())
    const id = idUrl()
    const fields: Record<string, string> = { access_token: access }
    if (withRefresh) {
      const refresh = `5Aep861${randomBytes(40).toString("base64url")}`
      refreshTokens.set(refresh, { scope, revoked: false })
      issuedRefreshTokens.push(refresh)
      fields["refresh_token"] = refresh
    }
    fields["signature"] = createHmac("sha256", clientSecret).update(id + issuedAt).digest("base64")
    fields["scope"] = scope
    fields["instance_url"] = baseUrl
    if (!omitIdUrl) fields["id"] = id
    fields["token_type"] = "Bearer"
    fields["issued_at"] = issuedAt
    return fields
  }

  const handleAuthorize = (res: ServerResponse, query: Record<string, string>) => {
    calls.authorize += 1
    if (misbehave(res, takeFailure("authorize"), "authorize")) return
    if (query["client_id"] !== clientId) {
      return send(res, 400, "text/html;charset=UTF-8", htmlPage("OAuth Error", "error=invalid_client_id&error_description=client identifier invalid"))
    }
    const redirectUri = query["redirect_uri"] ?? ""
    let redirect: URL
    try {
      redirect = new URL(redirectUri)
    } catch {
      return send(res, 400, "text/html;charset=UTF-8", htmlPage("OAuth Error", "error=redirect_uri_mismatch&error_description=redirect_uri must match configuration"))
    }
    if (options.callbackUrls !== undefined && !options.callbackUrls.includes(redirectUri)) {
      return send(res, 400, "text/html;charset=UTF-8", htmlPage("OAuth Error", "error=redirect_uri_mismatch&error_description=redirect_uri must match configuration"))
    }
    const state = query["state"]
    const back = (params: Record<string, string>) => {
      for (const [k, v] of Object.entries(params)) redirect.searchParams.set(k, v)
      if (state !== undefined) redirect.searchParams.set("state", state)
      res.writeHead(302, { Location: redirect.toString(), "Content-Length": 0 })
      res.end()
    }
    if (query["response_type"] !== "code") {
      return back({ error: "unsupported_response_type", error_description: "response type not supported" })
    }
    const challenge = query["code_challenge"]
    const method = query["code_challenge_method"]
    if (requirePkce && (challenge === undefined || challenge === "")) {
      return back({ error: "invalid_request", error_description: "missing required code challenge" })
    }
    if (method !== undefined && method !== "S256") {
      return back({ error: "invalid_request", error_description: "invalid code challenge method" })
    }
    if (base.settings.deny) return back({ error: "access_denied", error_description: "end-user denied authorization" })
    // Salesforce codes are standard base64 with padding: `=` must survive URL encoding.
    const code = `aPrx${randomBytes(40).toString("base64")}==`
    codes.set(code, {
      clientId,
      redirectUri,
      scope: query["scope"] ?? DEFAULT_SCOPE,
      codeChallenge: challenge === "" ? undefined : challenge,
      expiresAt: Date.now() + CODE_TTL_MS,
      used: false
    })
    issuedCodes.push(code)
    return back({ code })
  }

  const handleToken = (res: ServerResponse, params: Record<string, string>, formBody: boolean) => {
    calls.token += 1
    const isRefresh = params["grant_type"] === "refresh_token"
    if (isRefresh) calls.tokenRefresh += 1
    else calls.tokenExchange += 1
    const failure = takeFailure("token")
    if (misbehave(res, failure, "token")) return
    if (!formBody) return tokenError(res, "unsupported_grant_type")
    const grantType = params["grant_type"]
    if (grantType === undefined || grantType === "") return tokenError(res, "invalid_request")
    if (grantType !== "authorization_code" && grantType !== "refresh_token") return tokenError(res, "unsupported_grant_type")
    if (params["client_id"] !== clientId) return tokenError(res, "invalid_client_id")
    if (params["client_secret"] !== clientSecret) return tokenError(res, "invalid_client")
    let fields: Record<string, string>
    if (isRefresh) {
      const stored = refreshTokens.get(params["refresh_token"] ?? "")
      if (stored === undefined || stored.revoked) return tokenError(res, "invalid_grant", "expired access/refresh token")
      if (rotate) stored.revoked = true
      fields = issue(stored.scope, rotate)
    } else {
      const code = codes.get(params["code"] ?? "")
      if (code === undefined || code.used || code.clientId !== clientId) {
        return tokenError(res, "invalid_grant", "invalid authorization code")
      }
      if (code.expiresAt <= Date.now()) return tokenError(res, "invalid_grant", "expired authorization code")
      code.used = true
      if (params["redirect_uri"] !== code.redirectUri) return tokenError(res, "redirect_uri_mismatch")
      if (code.codeChallenge !== undefined) {
        const verifier = params["code_verifier"]
        if (verifier === undefined || s256(verifier) !== code.codeChallenge) {
          return tokenError(res, "invalid_grant", "invalid code verifier")
        }
      }
      const scope = base.settings.grantedScope ?? code.scope
      fields = issue(scope, grantsRefresh(scope))
    }
    if (failure?.kind === "missing_access_token") {
      const { access_token: _omitted, ...rest } = fields
      return sendJson(res, 200, rest, noStore)
    }
    if (failure?.kind === "missing_instance_url") {
      const { instance_url: _omitted, ...rest } = fields
      return sendJson(res, 200, rest, noStore)
    }
    return sendJson(res, 200, fields, noStore)
  }

  /** The access token of an identity request, if it is valid; else the 401 has been sent. */
  const authenticate = (res: ServerResponse, headers: IncomingHttpHeaders, query: Record<string, string>): StoredAccess | undefined => {
    const m = /^(?:bearer|oauth)\s+(\S+)$/i.exec(headers["authorization"] ?? "")
    const token = m?.[1] ?? query["oauth_token"]
    const stored = token === undefined ? undefined : accessTokens.get(token)
    if (stored === undefined || stored.revoked) {
      sendJson(res, 401, INVALID_SESSION, { "WWW-Authenticate": 'Bearer error="invalid_token"' })
      return undefined
    }
    return stored
  }

  const photos = () => ({
    picture: `${baseUrl}/profilephoto/005/F`,
    thumbnail: `${baseUrl}/profilephoto/005/T`
  })

  const handleIdentity = (res: ServerResponse, headers: IncomingHttpHeaders, query: Record<string, string>, path: string) => {
    calls.id += 1
    const failure = takeFailure("id")
    if (misbehave(res, failure, "id")) return
    if (authenticate(res, headers, query) === undefined) return
    if (path !== `/id/${orgId}/${user.user_id}`) return send(res, 404, "text/plain;charset=UTF-8", "Bad_Id")
    const full: Record<string, unknown> = {
      id: idUrl(),
      asserted_user: true,
      user_id: user.user_id,
      organization_id: orgId,
      username: user.username,
      nick_name: user.nick_name,
      display_name: user.display_name,
      email: user.email,
      email_verified: true,
      first_name: user.first_name,
      last_name: user.last_name,
      timezone: "Europe/Paris",
      photos: photos(),
      addr_street: null,
      addr_city: null,
      addr_state: null,
      addr_country: "FR",
      addr_zip: null,
      mobile_phone: null,
      mobile_phone_verified: false,
      is_lightning_login_user: false,
      status: { created_date: null, body: null },
      urls: {
        enterprise: `${baseUrl}/services/Soap/c/{version}/${orgId}`,
        rest: `${baseUrl}/services/data/v{version}/`,
        sobjects: `${baseUrl}/services/data/v{version}/sobjects/`,
        query: `${baseUrl}/services/data/v{version}/query/`,
        profile: `${baseUrl}/${user.user_id}`,
        custom_domain: baseUrl
      },
      active: true,
      user_type: "STANDARD",
      language: "en_US",
      locale: "en_US",
      utcOffset: 3600000,
      last_modified_date: "2024-01-01T00:00:00.000+0000",
      is_app_installed: true
    }
    if (failure?.kind === "missing_id") delete full["user_id"]
    return sendJson(res, 200, full)
  }

  const handleUserInfo = (res: ServerResponse, headers: IncomingHttpHeaders, query: Record<string, string>) => {
    calls.userinfo += 1
    const failure = takeFailure("userinfo")
    if (misbehave(res, failure, "userinfo")) return
    if (authenticate(res, headers, query) === undefined) return
    const p = photos()
    const full: Record<string, unknown> = {
      sub: idUrl(),
      user_id: user.user_id,
      organization_id: orgId,
      preferred_username: user.username,
      nickname: user.nick_name,
      name: user.display_name,
      email: user.email,
      email_verified: true,
      given_name: user.first_name,
      family_name: user.last_name,
      zoneinfo: "Europe/Paris",
      photos: p,
      profile: `${baseUrl}/${user.user_id}`,
      picture: p.picture,
      address: { country: "FR" },
      is_salesforce_integration_user: false,
      urls: { rest: `${baseUrl}/services/data/v{version}/`, custom_domain: baseUrl },
      active: true,
      user_type: "STANDARD",
      language: "en_US",
      locale: "en_US",
      utcOffset: 3600000,
      updated_at: "2024-01-01T00:00:00Z",
      is_app_installed: true
    }
    if (failure?.kind === "missing_id") delete full["user_id"]
    return sendJson(res, 200, full)
  }

  baseUrl = await base.listen(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const query = Object.fromEntries(url.searchParams)
    const method = req.method ?? "GET"
    const contentType = req.headers["content-type"] ?? ""
    const text = method === "POST" ? await readBody(req) : ""
    const formBody = method === "POST" && isForm(contentType)
    const body = formBody ? Object.fromEntries(new URLSearchParams(text)) : {}
    requests.push({ method, path: url.pathname, query, headers: req.headers, body })
    if (method === "GET" && url.pathname === "/services/oauth2/authorize") return handleAuthorize(res, query)
    if (method === "POST" && url.pathname === "/services/oauth2/token") return handleToken(res, body, formBody)
    if (method === "GET" && url.pathname.startsWith("/id/")) return handleIdentity(res, req.headers, query, url.pathname)
    if (method === "GET" && url.pathname === "/services/oauth2/userinfo") return handleUserInfo(res, req.headers, query)
    return sendJson(res, 404, [{ errorCode: "NOT_FOUND", message: "The requested resource does not exist" }])
  })
  const config = {
    auth_url: `${baseUrl}/services/oauth2/authorize`,
    token_url: `${baseUrl}/services/oauth2/token`
  } as const

  const authorizeUrl = (params: FakeSalesforceAuthorizeParams): URL => {
    const url = new URL(config.auth_url)
    url.searchParams.set("response_type", "code")
    url.searchParams.set("client_id", params.clientId ?? clientId)
    url.searchParams.set("redirect_uri", params.redirectUri)
    url.searchParams.set("scope", params.scope ?? DEFAULT_SCOPE)
    url.searchParams.set("state", params.state)
    url.searchParams.set("code_challenge", params.codeChallenge)
    url.searchParams.set("code_challenge_method", "S256")
    return url
  }

  const fake: RunningFakeSalesforce = {
    baseUrl,
    clientId,
    clientSecret,
    orgId,
    idUrl,
    config,
    requests,
    issuedAccessTokens,
    issuedRefreshTokens,
    issuedCodes,
    setUser: (u) => {
      user = { ...user, ...u }
    },
    setOmitIdUrl: (o) => {
      omitIdUrl = o
    },
    setRotateRefreshTokens: (r) => {
      rotate = r
    },
    revokeRefreshToken: (token) => revokeIn(refreshTokens, token, (stored) => (stored.revoked = true)),
    revokeAccessToken: (token) => revokeIn(accessTokens, token, (stored) => (stored.revoked = true)),
    ...base.controls<FakeSalesforceCalls, SalesforceConfig, FakeSalesforceAuthorizeParams>({
      calls,
      clientId,
      clientSecret,
      defaults: { scope: DEFAULT_SCOPE, callback_path: "/salesforce/callback" },
      urls: config,
      authorizeUrl
    })
  }
  return fake
}

/** The fake as a scoped resource: started on acquire, stopped when the scope closes. */
export const scopedFakeSalesforce = (options: FakeSalesforceOptions = {}): Effect.Effect<FakeSalesforce, never, Scope.Scope> =>
  scopedFake(startFakeSalesforce)(options)

/** The running fake, for tests that get it from a layer. */
export class FakeSalesforceService extends Context.Tag("test/FakeSalesforce")<FakeSalesforceService, FakeSalesforce>() {}

/** A layer that starts the fake for its lifetime. */
export const FakeSalesforceLayer = (options: FakeSalesforceOptions = {}): Layer.Layer<FakeSalesforceService> =>
  fakeLayer(FakeSalesforceService, scopedFakeSalesforce)(options)
