/**
 * The bearer check in front of every /mcp request (POST, GET and DELETE alike): our opaque
 * access token, for this server's resource, with the required scopes. Answers 401 (with the
 * `WWW-Authenticate` challenge pointing at the protected resource metadata), 403 for a missing
 * scope, 429 for an address that sent too many invalid tokens, and 503 with a JSON-RPC error when
 * the token store does not answer (the token may be fine: the client retries). The caller it lets
 * through is named on the request's access-log line.
 */
import type { HttpServerRequest } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Either, Option } from "effect"
import { toOAuthErrorBody } from "../../domain/oauth/Errors.js"
import { mcpResource } from "../../domain/oauth/Resource.js"
import { challengeScopes, formatScopes } from "../../domain/oauth/Scopes.js"
import { AppConfig } from "../../services/config/AppConfig.js"
import type { McpCaller } from "../../services/mcp/McpServerFactory.js"
import { BearerAuth } from "../../services/oauth/BearerAuth.js"
import type { OAuthHttp } from "../../services/oauth/OAuthHttp.js"
import { RequestLog } from "../../services/server/RequestLog.js"
import { noStore, tooManyRequests } from "../oauth/OAuthResponses.js"
import { baseUrlFor } from "../server/BaseUrl.js"
import { clientAddress } from "../server/ClientAddress.js"
import { RateLimits } from "../../services/server/RateLimits.js"
import { authInfoOf } from "./SdkAuthInfo.js"

const MINUTE = 60_000

/** The token store did not answer: 503 with a JSON-RPC error (interface.md 4b). */
const storeUnavailable = HttpServerResponse.unsafeJson(
  {
    jsonrpc: "2.0",
    error: { code: -32000, message: "The authorization server is temporarily unavailable; retry shortly" },
    id: null
  },
  { status: 503, headers: { ...noStore, "retry-after": "5" } }
)

export const makeBearerGuard = (options: OAuthHttp.RouteOptions) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const bearer = yield* BearerAuth
    const failedBearerLimiter = yield* (yield* RateLimits).make("failed_bearer", {
      limit: config.auth.rate_limits.failed_bearer,
      windowMs: MINUTE
    })
    const trustProxy = config.serve.trustProxy
    const challengeScope = formatScopes(challengeScopes(config.auth.authorization.required_scopes))

    // `BASE/mcp` as a URL for the SDK's AuthInfo; BASE is the same for nearly every request.
    let lastResource: { readonly base: string; readonly url: URL } | undefined
    const resourceUrl = (base: string): URL => {
      if (lastResource?.base !== base) lastResource = { base, url: new URL(mcpResource(base)) }
      return lastResource.url
    }

    /** Check the bearer token of an /mcp request; the caller's identity, or the 401/403 to send. */
    const guard = (
      request: HttpServerRequest.HttpServerRequest
    ): Effect.Effect<Either.Either<McpCaller, HttpServerResponse.HttpServerResponse>> =>
      Effect.gen(function* () {
        // An address that sent too many invalid tokens waits out its minute before any lookup.
        // Nothing is counted yet on the usual path: skip the address and clock entirely.
        let address: string | undefined
        if (!failedBearerLimiter.idle()) {
          address = clientAddress(request, trustProxy)
          const wait = failedBearerLimiter.blocked(address, yield* Clock.currentTimeMillis)
          if (wait !== undefined) {
            return Either.left<HttpServerResponse.HttpServerResponse>(tooManyRequests(wait, "requests with an invalid token"))
          }
        }
        const base = baseUrlFor(config.serve, request.headers, options.boundPort())
        const metadata = `resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`
        // 2026-07-28: a 401 names the scopes to ask for (never offline_access) beside the metadata.
        const scope = `scope="${challengeScope}"`
        const result = yield* Effect.either(bearer.authenticate(request.headers["authorization"], base))
        if (Either.isLeft(result)) {
          const e = result.left
          if (e._tag === "Unavailable") return Either.left<HttpServerResponse.HttpServerResponse>(storeUnavailable)
          if (e._tag === "InvalidToken") {
            // Over the limit (counted by every instance when the store is shared): 429 instead of 401.
            const counted = failedBearerLimiter.hit(address ?? clientAddress(request, trustProxy), yield* Clock.currentTimeMillis)
            const wait = yield* counted.pipe(
              Effect.catchTag("StoreError", (failure) =>
                Effect.as(Effect.logWarning(`Rate-limit store failure in ${failure.operation}`), undefined))
            )
            if (wait !== undefined) {
              return Either.left<HttpServerResponse.HttpServerResponse>(tooManyRequests(wait, "requests with an invalid token"))
            }
          }
          const body = e._tag === "NoToken"
            ? { error: "invalid_request", error_description: "Authentication required" }
            : toOAuthErrorBody(e)
          const challenge = e._tag === "NoToken"
            ? `Bearer ${metadata}, ${scope}`
            : e._tag === "MissingScope"
            ? `Bearer error="insufficient_scope", scope="${formatScopes(e.requiredScopes)}", ${metadata}`
            : `Bearer error="invalid_token", error_description="${e.description.replace(/"/g, "'")}", ${metadata}, ${scope}`
          return Either.left<HttpServerResponse.HttpServerResponse>(
            HttpServerResponse.unsafeJson(body, {
              status: e._tag === "MissingScope" ? 403 : 401,
              headers: { "www-authenticate": challenge, ...noStore }
            })
          )
        }
        const auth = result.right
        // Who made this request (interface.md section 7): on the request's access-log line when
        // the HTTP server keeps one, else on a line of its own.
        const entry = yield* Effect.serviceOption(RequestLog)
        if (Option.isSome(entry)) {
          entry.value.user = auth.user.username
          entry.value.provider = auth.user.provider
          entry.value.userId = auth.user.id
          entry.value.name = auth.user.name
          entry.value.email = auth.user.email
        } else {
          yield* Effect.logInfo("Authenticated MCP request").pipe(
            Effect.annotateLogs({
              username: auth.user.username,
              user_id: auth.user.id,
              provider: auth.user.provider,
              name: auth.user.name,
              email: auth.user.email
            })
          )
        }
        return Either.right({ authInfo: authInfoOf(auth, resourceUrl(base)), principal: auth.principal } satisfies McpCaller)
      })

    return guard
  })
