import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js"
import { Clock, Effect, Either } from "effect"
import { validateClientMetadata } from "../domain/oauth/ClientMetadata.js"
import {
  InvalidClientMetadata,
  InvalidRequest,
  type OAuthError,
  TemporarilyUnavailable,
  toOAuthErrorBody
} from "../domain/oauth/Errors.js"
import { mcpResource } from "../domain/oauth/Resource.js"
import { dcrAllowedScopes, formatScopes } from "../domain/oauth/Scopes.js"
import { rawParamsFrom } from "../layers/oauth/Params.js"
import { AppConfig } from "../services/AppConfig.js"
import { AuthorizationFlow, type FlowOutcome, type RawParams } from "../services/AuthorizationFlow.js"
import { BearerAuth } from "../services/BearerAuth.js"
import { ClientRegistry } from "../services/ClientRegistry.js"
import { IdentityProvider } from "../services/IdentityProvider.js"
import { OAuthSettings } from "../services/OAuthSettings.js"
import { TokenEndpoint } from "../services/TokenEndpoint.js"
import { baseUrlFor } from "./BaseUrl.js"
import { renderConsentPage, renderErrorPage } from "./ConsentPage.js"
import type { McpCaller } from "./McpHttpHandler.js"
import { makeRateLimiter } from "./RateLimiter.js"

const MAX_FORM_BYTES = 64 * 1024
const FLOW_COOKIE = "mxcp_flow"

const noStore = { "cache-control": "no-store", pragma: "no-cache" }

export const oauthError = (error: OAuthError, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(toOAuthErrorBody(error), { status: error.status, headers: { ...noStore, ...headers } })

const PAGE_HEADERS = {
  ...noStore,
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff"
}

const html = (status: number, body: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8", headers: { ...PAGE_HEADERS, ...headers } })

const cookieName = (base: string) => (base.startsWith("https:") ? `__Host-${FLOW_COOKIE}` : FLOW_COOKIE)

const setCookieHeader = (base: string, value: string) => {
  const secure = base.startsWith("https:")
  return `${cookieName(base)}=${value}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`
}

const readCookie = (header: string | undefined, name: string): string | undefined => {
  if (header === undefined) return undefined
  for (const part of header.split(";")) {
    const eq = part.indexOf("=")
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** The body of a form POST, size-bounded; anything else is an `invalid_request`. */
const readForm = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const type = request.headers["content-type"] ?? ""
    if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      return yield* Effect.fail(new InvalidRequest({ description: "The body must be application/x-www-form-urlencoded" }))
    }
    const length = Number(request.headers["content-length"] ?? "0")
    if (length > MAX_FORM_BYTES) return yield* Effect.fail(new InvalidRequest({ description: "The request body is too large" }))
    const text = yield* request.text.pipe(
      Effect.mapError(() => new InvalidRequest({ description: "The request body could not be read" }))
    )
    if (text.length > MAX_FORM_BYTES) return yield* Effect.fail(new InvalidRequest({ description: "The request body is too large" }))
    return rawParamsFrom(new URLSearchParams(text))
  })

const queryOf = (request: HttpServerRequest.HttpServerRequest): RawParams => {
  const q = request.url.indexOf("?")
  return rawParamsFrom(new URLSearchParams(q < 0 ? "" : request.url.slice(q + 1)))
}

const clientAddress = (request: HttpServerRequest.HttpServerRequest): string =>
  NodeHttpServerRequest.toIncomingMessage(request).socket.remoteAddress ?? "unknown"

export interface OAuthRouteOptions {
  /** The port the server is bound to (for BASE when no base_url is set). */
  readonly boundPort: () => number
  /** /register requests per client address per minute. */
  readonly registrationsPerMinute?: number | undefined
}

/**
 * The authorization server's HTTP surface (interface.md section 3) and the bearer guard for
 * /mcp. Domain errors become RFC 6749 JSON here, and only here.
 */
export const makeOAuthRoutes = (options: OAuthRouteOptions) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const flow = yield* AuthorizationFlow
    const tokenEndpoint = yield* TokenEndpoint
    const bearer = yield* BearerAuth
    const clients = yield* ClientRegistry
    const settings = yield* OAuthSettings
    const provider = yield* IdentityProvider
    const registerLimiter = makeRateLimiter({ limit: options.registrationsPerMinute ?? 20, windowMs: 60_000 })

    const baseOf = (request: HttpServerRequest.HttpServerRequest) =>
      baseUrlFor(config.serve, request.headers, options.boundPort())

    const prmUrl = (base: string) => `${base}/.well-known/oauth-protected-resource/mcp`

    const authServerMetadata = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const base = baseOf(request)
      return HttpServerResponse.unsafeJson({
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        registration_endpoint: `${base}/register`,
        revocation_endpoint: `${base}/revoke`,
        scopes_supported: settings.scopesSupported,
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["none", "client_secret_post", "client_secret_basic"],
        revocation_endpoint_auth_methods_supported: ["none", "client_secret_post", "client_secret_basic"],
        authorization_response_iss_parameter_supported: true
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
      const now = yield* Clock.currentTimeMillis
      const wait = registerLimiter.hit(clientAddress(request), now)
      if (wait !== undefined) {
        return HttpServerResponse.unsafeJson(
          { error: "slow_down", error_description: "Too many registrations from this address; try again later" },
          { status: 429, headers: { ...noStore, "retry-after": String(wait) } }
        )
      }
      const type = (request.headers["content-type"] ?? "").toLowerCase()
      if (!type.startsWith("application/json")) {
        return oauthError(new InvalidClientMetadata({ description: "The body must be application/json" }))
      }
      const text = yield* request.text.pipe(Effect.orElseSucceed(() => ""))
      if (text.length > MAX_FORM_BYTES) return oauthError(new InvalidClientMetadata({ description: "The body is too large" }))
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
        yield* Effect.logError(`Token store failure in ${registration.left.operation}`)
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
          ...(m.logo_uri === undefined ? {} : { logo_uri: m.logo_uri })
        },
        { status: 201, headers: noStore }
      )
    })

    const respond = (outcome: FlowOutcome, base: string, request: HttpServerRequest.HttpServerRequest) => {
      switch (outcome._tag) {
        case "DirectError": {
          const wantsHtml = (request.headers["accept"] ?? "").includes("text/html")
          if (!wantsHtml) return oauthError(outcome.error)
          const body = toOAuthErrorBody(outcome.error)
          return html(outcome.error.status, renderErrorPage("Authorization failed", `${body.error}: ${body.error_description}`))
        }
        case "Redirect":
          return HttpServerResponse.empty({
            status: 302,
            headers: {
              ...noStore,
              location: outcome.location,
              ...(outcome.bindingCookie === undefined ? {} : { "set-cookie": setCookieHeader(base, outcome.bindingCookie) })
            }
          })
        case "ConsentPage":
          return html(200, renderConsentPage(outcome.page), { "set-cookie": setCookieHeader(base, outcome.bindingCookie) })
      }
    }

    const flowRoute = (
      run: (params: RawParams, ctx: { base: string; bindingCookie: string | undefined }) => Effect.Effect<FlowOutcome>,
      source: "query" | "form"
    ) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const base = baseOf(request)
        const params = source === "query" ? Either.right(queryOf(request)) : yield* Effect.either(readForm(request))
        if (Either.isLeft(params)) return respond({ _tag: "DirectError", error: params.left }, base, request)
        const bindingCookie = readCookie(request.headers["cookie"], cookieName(base))
        const outcome = yield* run(params.right, { base, bindingCookie })
        return respond(outcome, base, request)
      })

    const tokenRoute = (kind: "token" | "revoke") =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const base = baseOf(request)
        const form = yield* Effect.either(readForm(request))
        if (Either.isLeft(form)) return oauthError(form.left)
        const ctx = { base, authorization: request.headers["authorization"] }
        if (kind === "revoke") {
          return yield* tokenEndpoint.revoke(form.right, ctx).pipe(
            Effect.as(HttpServerResponse.empty({ status: 200, headers: noStore })),
            Effect.catchAll((f) => Effect.succeed(oauthError(f.error, basicChallenge(f.usedBasic))))
          )
        }
        return yield* tokenEndpoint.token(form.right, ctx).pipe(
          Effect.map((body) => HttpServerResponse.unsafeJson(body, { headers: noStore })),
          Effect.catchAll((f) => Effect.succeed(oauthError(f.error, basicChallenge(f.usedBasic))))
        )
      })

    const basicChallenge = (usedBasic: boolean): Record<string, string> =>
      usedBasic ? { "www-authenticate": 'Basic realm="mxcp"' } : {}

    /** Check the bearer token of an /mcp request; the caller's identity, or the 401/403 to send. */
    const guard = (
      request: HttpServerRequest.HttpServerRequest
    ): Effect.Effect<Either.Either<McpCaller, HttpServerResponse.HttpServerResponse>> =>
      Effect.gen(function* () {
        const base = baseOf(request)
        const metadata = `resource_metadata="${prmUrl(base)}"`
        const result = yield* Effect.either(bearer.authenticate(request.headers["authorization"], base))
        if (Either.isLeft(result)) {
          const e = result.left
          const body = e._tag === "NoToken"
            ? { error: "invalid_request", error_description: "Authentication required" }
            : toOAuthErrorBody(e)
          const challenge = e._tag === "NoToken"
            ? `Bearer ${metadata}`
            : e._tag === "MissingScope"
            ? `Bearer error="insufficient_scope", scope="${formatScopes(e.requiredScopes)}", ${metadata}`
            : `Bearer error="invalid_token", error_description="${e.description.replace(/"/g, "'")}", ${metadata}`
          return Either.left<HttpServerResponse.HttpServerResponse>(
            HttpServerResponse.unsafeJson(body, {
              status: e._tag === "MissingScope" ? 403 : 401,
              headers: { "www-authenticate": challenge, ...noStore }
            })
          )
        }
        const auth = result.right
        yield* Effect.logInfo("Authenticated MCP request").pipe(
          Effect.annotateLogs({
            username: auth.user.username,
            user_id: auth.user.id,
            provider: auth.user.provider,
            name: auth.user.name,
            email: auth.user.email
          })
        )
        const authInfo: AuthInfo = {
          // The SDK wants the token string; it is never logged or sent anywhere by us.
          token: "[bearer]",
          clientId: auth.clientId,
          scopes: [...auth.scopes],
          expiresAt: Math.floor(auth.expiresAt / 1000),
          resource: new URL(mcpResource(base)),
          extra: { user: auth.sqlUser }
        }
        return Either.right({ authInfo, principal: auth.principal } satisfies McpCaller)
      })

    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/.well-known/oauth-authorization-server", authServerMetadata),
      HttpRouter.get("/.well-known/oauth-protected-resource", protectedResourceMetadata),
      HttpRouter.get("/.well-known/oauth-protected-resource/mcp", protectedResourceMetadata),
      HttpRouter.post("/register", register),
      HttpRouter.get("/authorize", flowRoute(flow.authorize, "query")),
      HttpRouter.post("/authorize", flowRoute(flow.authorize, "form")),
      HttpRouter.post("/consent", flowRoute(flow.consent, "form")),
      HttpRouter.get(provider.callbackPath as HttpRouter.PathInput, flowRoute(flow.callback, "query")),
      HttpRouter.post("/token", tokenRoute("token")),
      HttpRouter.post("/revoke", tokenRoute("revoke"))
    )
    return { router, guard, callbackPath: provider.callbackPath }
  })

export type OAuthRoutes = Effect.Effect.Success<ReturnType<typeof makeOAuthRoutes>>
