import { HttpRouter, HttpServerRequest, HttpServerResponse, type UrlParams } from "@effect/platform"
import { Clock, Effect, Either, Schema } from "effect"
import { validateClientMetadata } from "../../domain/oauth/ClientMetadata.js"
import {
  InvalidClientMetadata,
  InvalidRequest,
  type OAuthError,
  TemporarilyUnavailable,
  toOAuthErrorBody,
  UnsupportedGrantType
} from "../../domain/oauth/Errors.js"
import {
  AuthorizeRequest,
  CallbackQuery,
  ClientForm,
  ConsentForm,
  RevocationForm,
  TokenGrant
} from "../../domain/oauth/Requests.js"
import { mcpResource } from "../../domain/oauth/Resource.js"
import { dcrAllowedScopes, formatScopes } from "../../domain/oauth/Scopes.js"
import { AppConfig } from "../../services/config/AppConfig.js"
import { AuthorizationFlow, type FlowContext, type FlowOutcome } from "../../services/oauth/AuthorizationFlow.js"
import { ClientRegistry } from "../../services/oauth/ClientRegistry.js"
import { IdentityProvider } from "../../services/oauth/IdentityProvider.js"
import { OAuthSettings } from "../../services/oauth/OAuthSettings.js"
import type { OAuthHttp } from "../../services/oauth/OAuthHttp.js"
import { TokenEndpoint } from "../../services/oauth/TokenEndpoint.js"
import { baseUrlFor } from "../server/BaseUrl.js"
import { renderConsentPage, renderErrorPage } from "./ConsentPage.js"
import { clientCredentials, triesBasic } from "./ClientAuthentication.js"
import { decodeParams, decodeSingle, formParams, queryParams, readText, singleValued } from "./OAuthParams.js"
import { noStore, oauthError, tooManyRequests } from "./OAuthResponses.js"
import { clientAddress } from "../server/ClientAddress.js"
import { type RateLimit, RateLimits } from "../../services/server/RateLimits.js"
import type { StoreError } from "../../services/oauth/TokenStore.js"
import { type BodyTimeout, type BodyTooLarge, closeAfterAnswer } from "../server/RequestBody.js"

const PAGE_HEADERS = {
  ...noStore,
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff"
}

const html = (status: number, body: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8", headers: { ...PAGE_HEADERS, ...headers } })

const FLOW_COOKIE = "mxcp_flow"

/** The cookie that binds a flow to the browser that started it: `__Host-` and Secure behind https. */
const flowCookieName = (base: string) => (base.startsWith("https:") ? `__Host-${FLOW_COOKIE}` : FLOW_COOKIE)

/** `response` setting the binding cookie; its value is a base64url token (minted here, or checked). */
const withFlowCookie = (response: HttpServerResponse.HttpServerResponse, base: string, value: string) =>
  HttpServerResponse.unsafeSetCookie(response, flowCookieName(base), value, {
    path: "/",
    maxAge: "10 minutes",
    httpOnly: true,
    sameSite: "lax",
    secure: base.startsWith("https:")
  })

/**
 * The answer to a body over the limit (413) or too slow (408): RFC 6749 JSON, and the connection
 * closes after it, so the rest of the body is never read.
 */
const bodyRefused = (request: HttpServerRequest.HttpServerRequest, error: BodyTooLarge | BodyTimeout) =>
  Effect.as(
    closeAfterAnswer(request),
    HttpServerResponse.unsafeJson(
      {
        error: "invalid_request",
        error_description: error._tag === "BodyTooLarge"
          ? `The request body is larger than ${error.limit} bytes`
          : `The request body did not arrive within ${error.seconds} seconds`
      },
      { status: error._tag === "BodyTooLarge" ? 413 : 408, headers: { ...noStore, connection: "close" } }
    )
  )

/** Seconds a client has to send the body of an OAuth request (forms and registrations are small). */
const FORM_TIMEOUT_SECONDS = 10

/** A refused `/token` or `/revoke` request; `clientAuth`: the client's authentication failed. */
interface Refusal {
  readonly error: OAuthError
  readonly clientAuth: boolean
}

const refusal = (clientAuth: boolean) => (error: OAuthError): Refusal => ({ error, clientAuth })

/** The grant of a `/token` form, by `grant_type`. */
const tokenGrant = (params: Readonly<Record<string, string>>): Effect.Effect<TokenGrant, OAuthError> => {
  const grantType = params["grant_type"]
  if (grantType === undefined || grantType === "") {
    return Effect.fail(new InvalidRequest({ description: "grant_type is required" }))
  }
  return Effect.mapError(
    Schema.decodeUnknown(TokenGrant)(params),
    () => new UnsupportedGrantType({ description: `grant_type ${grantType.slice(0, 40)} is not supported` })
  )
}

const authorizeParams = decodeParams(AuthorizeRequest)
const consentParams = decodeParams(ConsentForm)
const callbackParams = decodeParams(CallbackQuery)
const clientForm = decodeSingle(ClientForm)
const revocationForm = decodeSingle(RevocationForm)

/** The client's credentials, from the header and the already single-valued form. */
const credentialsOf = (authorization: string | undefined, params: Readonly<Record<string, string>>) =>
  Effect.flatMap(clientForm(params), (form) => Either.match(clientCredentials(authorization, form), {
    onLeft: (error) => Effect.fail<OAuthError>(error),
    onRight: Effect.succeed
  }))

// ---------------------------------------------------------------------------
// CORS (security checklist K11)
// ---------------------------------------------------------------------------

/**
 * Browser-based MCP clients (MCP Inspector's web UI) discover, register and exchange tokens from
 * their own origin: these endpoints answer any origin, without credentials (no cookies are read
 * there; `*` makes browsers refuse to send any).
 */
const PUBLIC_CORS = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "WWW-Authenticate, Retry-After"
}

const withCors = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.map(handler, (response) => HttpServerResponse.setHeaders(response, PUBLIC_CORS))

/** The preflight answer of a public endpoint; MCP-Protocol-Version is what the SDK sends on discovery. */
const corsPreflight = (method: "GET" | "POST") =>
  HttpServerResponse.empty({
    status: 204,
    headers: {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": `${method}, OPTIONS`,
      "access-control-allow-headers": "Authorization, Content-Type, MCP-Protocol-Version",
      "access-control-max-age": "7200"
    }
  })

const MINUTE = 60_000

/**
 * The authorization server's HTTP surface (interface.md section 3). Domain errors become RFC 6749
 * JSON here, and only here (`OAuthResponses.ts`).
 */
export const makeOAuthRoutes = (options: OAuthHttp.RouteOptions) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const flow = yield* AuthorizationFlow
    const tokenEndpoint = yield* TokenEndpoint
    const clients = yield* ClientRegistry
    const settings = yield* OAuthSettings
    const provider = yield* IdentityProvider
    const rateLimits = yield* RateLimits
    const registerLimiter = yield* rateLimits.make("register", { limit: options.registrationsPerMinute ?? 20, windowMs: MINUTE })
    const limits = config.auth.rate_limits
    const authorizeLimiter = yield* rateLimits.make("authorize", { limit: limits.authorize, windowMs: MINUTE })
    const tokenLimiter = yield* rateLimits.make("token", { limit: limits.token, windowMs: MINUTE })
    const revokeLimiter = yield* rateLimits.make("revoke", { limit: limits.revoke, windowMs: MINUTE })
    const trustProxy = config.serve.trustProxy
    // The server-wide request timeout bounds every request; an OAuth body gets at most 10 s of it.
    const requestTimeout: number | undefined = config.user.transport.http.request_timeout
    const formTimeoutMs = Math.round(Math.min(FORM_TIMEOUT_SECONDS, requestTimeout ?? FORM_TIMEOUT_SECONDS) * 1000)

    /** Counts this request against `limiter`; the seconds to wait when over the limit. */
    const overLimit = (limiter: RateLimit, request: HttpServerRequest.HttpServerRequest) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => limiter.hit(clientAddress(request, trustProxy), now))

    /** The shared rate-limit store could not count the request: 503, like any store failure. */
    const storeDown = (e: StoreError) =>
      Effect.as(
        Effect.logError(`Rate-limit store failure in ${e.operation}`),
        new TemporarilyUnavailable({ description: "The authorization server is temporarily unavailable" })
      )

    const baseOf = (request: HttpServerRequest.HttpServerRequest) =>
      baseUrlFor(config.serve, request.headers, options.boundPort())

    const authServerMetadata = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const base = baseOf(request)
      return HttpServerResponse.unsafeJson({
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        ...(config.auth.registration.enabled ? { registration_endpoint: `${base}/register` } : {}),
        revocation_endpoint: `${base}/revoke`,
        scopes_supported: settings.scopesSupported,
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["none", "client_secret_post", "client_secret_basic"],
        revocation_endpoint_auth_methods_supported: ["none", "client_secret_post", "client_secret_basic"],
        authorization_response_iss_parameter_supported: true,
        ...(config.auth.cimd.enabled ? { client_id_metadata_document_supported: true } : {})
      })
    })

    const protectedResourceMetadata = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const base = baseOf(request)
      return HttpServerResponse.unsafeJson({
        resource: mcpResource(base),
        authorization_servers: [base],
        scopes_supported: settings.scopesSupported,
        bearer_methods_supported: ["header"],
        resource_name: config.site.project
      })
    })

    const register = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!config.auth.registration.enabled) {
        return HttpServerResponse.unsafeJson(
          {
            error: "invalid_request",
            error_description: "Dynamic client registration is turned off on this server; use a pre-registered client or a client ID metadata document"
          },
          { status: 404, headers: { "cache-control": "no-store" } }
        )
      }
      const wait = yield* overLimit(registerLimiter, request)
      if (wait !== undefined) return tooManyRequests(wait, "registrations")
      const type = (request.headers["content-type"] ?? "").toLowerCase()
      if (!type.startsWith("application/json")) {
        return oauthError(new InvalidClientMetadata({ description: "The body must be application/json" }))
      }
      const read = yield* Effect.either(readText(request, formTimeoutMs))
      if (Either.isLeft(read)) {
        const e = read.left
        return e._tag === "InvalidRequest"
          ? oauthError(new InvalidClientMetadata({ description: e.description }))
          : yield* bodyRefused(request, e)
      }
      const text = read.right
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        return oauthError(new InvalidClientMetadata({ description: "The body is not valid JSON" }))
      }
      const metadata = validateClientMetadata(body)
      if (Either.isLeft(metadata)) return oauthError(metadata.left)
      const allowed = dcrAllowedScopes(metadata.right.scope, settings.scopesSupported, settings.requiredScopes)
      const registration = yield* clients.register(metadata.right, allowed).pipe(Effect.either)
      if (Either.isLeft(registration)) {
        const failure = registration.left
        if (failure._tag === "RegistryFull") {
          // RFC 7591 registers no code for this; temporarily_unavailable (RFC 6749) says it best.
          return oauthError(
            new TemporarilyUnavailable({
              description: `Too many registered clients; retry after ${failure.retryAfterSeconds} seconds`
            }),
            { "retry-after": String(failure.retryAfterSeconds) }
          )
        }
        yield* Effect.logError(`Token store failure in ${failure.operation}`)
        return oauthError(new TemporarilyUnavailable({ description: "Registration is temporarily unavailable" }))
      }
      const { client, clientSecret, issuedAt } = registration.right
      yield* Effect.logInfo("Client registered").pipe(Effect.annotateLogs({ client_id: client.clientId }))
      const m = metadata.right
      return HttpServerResponse.unsafeJson(
        {
          client_id: client.clientId,
          ...(clientSecret === undefined ? {} : { client_secret: clientSecret, client_secret_expires_at: 0 }),
          client_id_issued_at: Math.floor(issuedAt / 1000),
          client_name: client.name,
          redirect_uris: m.redirect_uris,
          grant_types: m.grant_types,
          response_types: m.response_types,
          token_endpoint_auth_method: m.token_endpoint_auth_method,
          scope: formatScopes(client.scopes),
          ...(m.client_uri === undefined ? {} : { client_uri: m.client_uri }),
          ...(m.logo_uri === undefined ? {} : { logo_uri: m.logo_uri }),
          ...(m.application_type === undefined ? {} : { application_type: m.application_type })
        },
        { status: 201, headers: noStore }
      )
    }).pipe(Effect.catchTag("StoreError", (e) => Effect.map(storeDown(e), (error) => oauthError(error))))

    const respond = (outcome: FlowOutcome, base: string, request: HttpServerRequest.HttpServerRequest) => {
      switch (outcome._tag) {
        case "DirectError": {
          const wantsHtml = (request.headers["accept"] ?? "").includes("text/html")
          if (!wantsHtml) return oauthError(outcome.error)
          const body = toOAuthErrorBody(outcome.error)
          return html(outcome.error.status, renderErrorPage("Authorization failed", `${body.error}: ${body.error_description}`))
        }
        case "Redirect": {
          const redirect = HttpServerResponse.empty({ status: 302, headers: { ...noStore, location: outcome.location } })
          return outcome.bindingCookie === undefined ? redirect : withFlowCookie(redirect, base, outcome.bindingCookie)
        }
        case "ConsentPage":
          return withFlowCookie(html(200, renderConsentPage(outcome.page)), base, outcome.bindingCookie)
      }
    }

    /** A step of the browser flow: its parameters decoded from the query or the form, then `run`. */
    const flowRoute = <A>(
      decode: (params: UrlParams.UrlParams) => Effect.Effect<A, InvalidRequest>,
      run: (request: A, ctx: FlowContext) => Effect.Effect<FlowOutcome>,
      source: "query" | "form",
      limiter?: RateLimit
    ) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const wait = limiter === undefined ? undefined : yield* overLimit(limiter, request)
        if (wait !== undefined) {
          const limited = tooManyRequests(wait, "authorization requests")
          if (!(request.headers["accept"] ?? "").includes("text/html")) return limited
          const page = renderErrorPage("Too many requests", `Too many authorization requests from this address; retry after ${wait} seconds.`)
          return html(429, page, { "retry-after": String(wait) })
        }
        const base = baseOf(request)
        const params = source === "query" ? Either.right(queryParams(request)) : yield* Effect.either(formParams(request, formTimeoutMs))
        if (Either.isLeft(params)) {
          const e = params.left
          return e._tag === "InvalidRequest" ? respond({ _tag: "DirectError", error: e }, base, request) : yield* bodyRefused(request, e)
        }
        const decoded = yield* Effect.either(decode(params.right))
        if (Either.isLeft(decoded)) return respond({ _tag: "DirectError", error: decoded.left }, base, request)
        const outcome = yield* run(decoded.right, { base, bindingCookie: request.cookies[flowCookieName(base)] })
        return respond(outcome, base, request)
      }).pipe(
        Effect.catchTag("StoreError", (e) =>
          Effect.flatMap(storeDown(e), (error) =>
            Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
              respond({ _tag: "DirectError", error }, baseOf(request), request))))
      )

    /** `/token`: the grant, then the client's credentials, then the token endpoint. */
    const token = (params: UrlParams.UrlParams, authorization: string | undefined, base: string) =>
      Effect.gen(function* () {
        const single = yield* Effect.mapError(singleValued(params), refusal(false))
        const grant = yield* Effect.mapError(tokenGrant(single), refusal(false))
        const client = yield* Effect.mapError(credentialsOf(authorization, single), refusal(true))
        const body = yield* tokenEndpoint.token({ grant, client }, { base }).pipe(
          Effect.mapError((error) => refusal(error._tag === "InvalidClient")(error))
        )
        return HttpServerResponse.unsafeJson(body, { headers: noStore })
      })

    /** `/revoke`: the client's credentials, then the token to revoke. */
    const revoke = (params: UrlParams.UrlParams, authorization: string | undefined, base: string) =>
      Effect.gen(function* () {
        const single = yield* Effect.mapError(singleValued(params), refusal(false))
        const client = yield* Effect.mapError(credentialsOf(authorization, single), refusal(true))
        const form = yield* Effect.mapError(revocationForm(single), refusal(false))
        yield* tokenEndpoint.revoke({ form, client }, { base }).pipe(
          Effect.mapError((error) => refusal(error._tag === "InvalidClient")(error))
        )
        return HttpServerResponse.empty({ status: 200, headers: noStore })
      })

    const tokenRoute = (kind: "token" | "revoke") =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const wait = yield* overLimit(kind === "token" ? tokenLimiter : revokeLimiter, request)
        if (wait !== undefined) return tooManyRequests(wait, kind === "token" ? "token requests" : "revocation requests")
        const base = baseOf(request)
        const form = yield* Effect.either(formParams(request, formTimeoutMs))
        if (Either.isLeft(form)) return form.left._tag === "InvalidRequest" ? oauthError(form.left) : yield* bodyRefused(request, form.left)
        const authorization = request.headers["authorization"]
        // RFC 6749 5.2: a client that tried HTTP Basic and failed to authenticate gets the challenge.
        const challenge = triesBasic(authorization) ? { "www-authenticate": 'Basic realm="mxcp"' } : {}
        return yield* (kind === "token" ? token : revoke)(form.right, authorization, base).pipe(
          Effect.catchAll((f) => Effect.succeed(oauthError(f.error, f.clientAuth ? challenge : {})))
        )
      }).pipe(Effect.catchTag("StoreError", (e) => Effect.map(storeDown(e), (error) => oauthError(error))))

    // Metadata, /register, /token and /revoke answer browsers of any origin (K11); /authorize,
    // /consent and the callback are navigations of the user's own browser and never do.
    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/.well-known/oauth-authorization-server", withCors(authServerMetadata)),
      HttpRouter.options("/.well-known/oauth-authorization-server", corsPreflight("GET")),
      HttpRouter.get("/.well-known/oauth-protected-resource", withCors(protectedResourceMetadata)),
      HttpRouter.options("/.well-known/oauth-protected-resource", corsPreflight("GET")),
      HttpRouter.get("/.well-known/oauth-protected-resource/mcp", withCors(protectedResourceMetadata)),
      HttpRouter.options("/.well-known/oauth-protected-resource/mcp", corsPreflight("GET")),
      HttpRouter.post("/register", withCors(register)),
      HttpRouter.options("/register", corsPreflight("POST")),
      HttpRouter.get("/authorize", flowRoute(authorizeParams, flow.authorize, "query", authorizeLimiter)),
      HttpRouter.post("/authorize", flowRoute(authorizeParams, flow.authorize, "form", authorizeLimiter)),
      HttpRouter.post("/consent", flowRoute(consentParams, flow.consent, "form")),
      HttpRouter.get(provider.callbackPath as HttpRouter.PathInput, flowRoute(callbackParams, flow.callback, "query")),
      HttpRouter.post("/token", withCors(tokenRoute("token"))),
      HttpRouter.options("/token", corsPreflight("POST")),
      HttpRouter.post("/revoke", withCors(tokenRoute("revoke"))),
      HttpRouter.options("/revoke", corsPreflight("POST"))
    )
    return { router, callbackPath: provider.callbackPath }
  })

export type OAuthRoutes = Effect.Effect.Success<ReturnType<typeof makeOAuthRoutes>>
