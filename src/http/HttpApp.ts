import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Either } from "effect"
import type { McpHttpHandler } from "./McpHttpHandler.js"
import type { OAuthRoutes } from "./OAuthRoutes.js"

const notFound = HttpServerResponse.unsafeJson({ error: "not_found", error_description: "No such endpoint" }, { status: 404 })

/**
 * The HTTP surface (interface.md section 3): `/health`, `/mcp`, and with auth on the OAuth
 * endpoints, with every /mcp request (POST, GET and DELETE alike) behind the bearer guard.
 * Unknown paths get a JSON 404; nothing here ever answers with a stack trace.
 */
export const makeHttpApp = (mcp: McpHttpHandler, oauth: OAuthRoutes | undefined) => {
  const mcpRoute = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    oauth === undefined
      ? mcp.handle(request, undefined)
      : Effect.flatMap(oauth.guard(request), Either.match({
        onLeft: Effect.succeed,
        onRight: (caller) => mcp.handle(request, caller)
      })))
  const base = HttpRouter.empty.pipe(
    HttpRouter.get("/health", HttpServerResponse.unsafeJson({ status: "ok" })),
    HttpRouter.all("/mcp", mcpRoute)
  )
  const router = oauth === undefined ? base : HttpRouter.concat(base, oauth.router)
  return router.pipe(
    Effect.catchTag("RouteNotFound", () => Effect.succeed(notFound)),
    Effect.catchAllCause((cause) =>
      // The client went away mid-request (e.g. closing an SSE stream): nobody to answer, nothing to report.
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : Effect.logError("Unhandled HTTP error", cause).pipe(
          Effect.as(
            HttpServerResponse.unsafeJson({ error: "server_error", error_description: "Internal error" }, { status: 500 })
          )
        )
    )
  )
}
