import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Cause, Context, Effect, Either } from "effect"
import { AppConfig, type ServeSettings } from "../../services/config/AppConfig.js"
import { baseUrlFor } from "./BaseUrl.js"
import type { McpHttpHandler } from "../mcp/McpHttpHandler.js"
import type { OAuthHttp } from "../../services/oauth/OAuthHttp.js"
import { makeRequestChecks, type RequestChecks } from "./HostChecks.js"
import { bodyLeftUnread, closeAfterAnswer } from "./RequestBody.js"

const notFound = HttpServerResponse.unsafeJson({ error: "not_found", error_description: "No such endpoint" }, { status: 404 })

const hostForbidden = HttpServerResponse.unsafeJson(
  {
    error: "forbidden",
    error_description:
      "The Host header does not name this server (DNS rebinding protection); list the name in transport.http.allowed_hosts"
  },
  { status: 403, headers: { "cache-control": "no-store" } }
)

const originForbidden = HttpServerResponse.unsafeJson(
  {
    jsonrpc: "2.0",
    error: { code: -32000, message: "Forbidden: requests from this Origin are not allowed" },
    id: null
  },
  { status: 403, headers: { "cache-control": "no-store" } }
)

/**
 * The path of a request target (the part before `?`) when it is spelled the one way routes are
 * written, else undefined: origin-form (starts with `/`), no `%` escapes, no `//`, no trailing
 * `/`, no `.`/`..` segments, no `;`, `#` or `\`. The router is case-sensitive and lenient about
 * none of these (see `strictRouting`), so every path rule (the Host and Origin checks, CORS,
 * the bearer guard on /mcp, rate limits per route) sees exactly the path the router routes on:
 * `/MCP`, `//mcp`, `/%6dcp` and `/mcp/` are simply not found.
 */
export const canonicalPath = (url: string): string | undefined => {
  const q = url.indexOf("?")
  const path = q < 0 ? url : url.slice(0, q)
  if (path.charCodeAt(0) !== 47 /* / */) return undefined
  if (path.length > 1 && path.endsWith("/")) return undefined
  if (/[%;#\\]|\/\/|\/\.\.?(?:\/|$)/.test(path)) return undefined
  return path
}

/** Router options matching `canonicalPath`: case matters, and `/mcp/` or `//mcp` is not `/mcp`. */
const strictRouting = { caseSensitive: true, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false } as const

// ---------------------------------------------------------------------------
// CORS on /mcp (security checklist K11); the OAuth endpoints' CORS is in OAuthRoutes.ts
// ---------------------------------------------------------------------------

const MCP_CORS_COMMON = {
  "access-control-expose-headers": "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate",
  vary: "Origin"
}

/** The answer to a CORS preflight on /mcp from a listed origin. */
const mcpPreflight = (origin: string) =>
  HttpServerResponse.empty({
    status: 204,
    headers: {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "GET, POST, DELETE",
      "access-control-allow-headers": "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID",
      "access-control-max-age": "7200",
      vary: "Origin"
    }
  })

/** The 403 to send before routing, or undefined when the request may go on; `path` is canonical. */
const screen = (
  checks: RequestChecks,
  serve: ServeSettings,
  request: HttpServerRequest.HttpServerRequest,
  path: string
): HttpServerResponse.HttpServerResponse | undefined => {
  if (path === "/health") return undefined
  const headers = request.headers
  if (!checks.hostAllowed(headers["host"], serve.trustProxy ? headers["x-forwarded-host"] : undefined)) return hostForbidden
  if (path === "/mcp") {
    const origin = headers["origin"]
    if (origin !== undefined) {
      const port = NodeHttpServerRequest.toIncomingMessage(request).socket.localPort ?? serve.port
      if (!checks.originAllowed(origin, baseUrlFor(serve, headers, port))) return originForbidden
    }
  }
  return undefined
}

/**
 * An answer given before the request's body was read (a 401 on /mcp, a 404, a wrong content
 * type...) closes the connection: else Node would read and discard the rest of the body, however
 * long, to reach the next request on the connection (K1).
 */
const closeWhenBodyUnread = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.flatMap(app, (response) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      response.headers["connection"] !== undefined || !bodyLeftUnread(request)
        ? Effect.succeed(response)
        : Effect.as(closeAfterAnswer(request), HttpServerResponse.setHeader(response, "connection", "close"))))

const healthy = HttpServerResponse.unsafeJson({ status: "ok" }, { headers: { "cache-control": "no-store" } })
const unhealthy = HttpServerResponse.unsafeJson(
  { status: "unavailable", error_description: "The OAuth store does not answer" },
  { status: 503, headers: { "cache-control": "no-store", "retry-after": "5" } }
)

/**
 * `GET /health`: 200 `{"status":"ok"}` when the server can serve, 503 when the OAuth store does
 * not answer (the form for load balancers; `?ready` is the same). `?live` never asks the store:
 * the process answers (for liveness probes, so a database outage restarts nothing).
 */
const health = (oauth: OAuthHttp.Routes | undefined) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const check = oauth?.storeHealthy
    if (check === undefined) return Effect.succeed(healthy)
    const q = request.url.indexOf("?")
    const live = q >= 0 && new URLSearchParams(request.url.slice(q + 1)).has("live")
    return live ? Effect.succeed(healthy) : Effect.map(check, (ok) => (ok ? healthy : unhealthy))
  })

const sample = (value: string | undefined) => (value === undefined ? "(none)" : value.slice(0, 100))

/**
 * The HTTP surface (interface.md section 3): `/health`, `/mcp`, and with auth on the OAuth
 * endpoints, with every /mcp request (POST, GET and DELETE alike) behind the bearer guard.
 * Before routing: a path not spelled canonically is not found (`canonicalPath`, K9), then the
 * Host and Origin checks (`makeRequestChecks`) refuse DNS-rebinding and cross-site browser
 * requests with 403, and /mcp gets its CORS headers for the `cors_origins` (K11). Unknown paths
 * get a JSON 404; an answer given without reading the request's body closes the connection (K1);
 * nothing here ever answers with a stack trace. Reads `AppConfig` (transport settings) from the
 * serving context.
 */
export const makeHttpApp = (mcp: McpHttpHandler, oauth: OAuthHttp.Routes | undefined) => {
  const mcpRoute = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    oauth === undefined
      ? mcp.handle(request, undefined)
      : Effect.flatMap(oauth.guard(request), Either.match({
        onLeft: Effect.succeed,
        onRight: (caller) => mcp.handle(request, caller)
      })))
  const base = HttpRouter.empty.pipe(
    HttpRouter.get("/health", health(oauth)),
    HttpRouter.all("/mcp", mcpRoute)
  )
  const router = HttpRouter.withRouterConfig(oauth === undefined ? base : HttpRouter.concat(base, oauth.router), strictRouting)
  // Built once per config (the first request), then reused.
  let refusals = 0
  let cached: { readonly config: AppConfig.Shape; readonly checks: RequestChecks } | undefined
  const checksFor = (config: AppConfig.Shape): RequestChecks => {
    if (cached?.config !== config) {
      const http = config.user.transport.http
      const corsOrigins: ReadonlyArray<string> | undefined = http.cors_origins
      cached = { config, checks: makeRequestChecks(config.serve, http.allowed_hosts, corsOrigins) }
    }
    return cached.checks
  }
  const screened = Effect.contextWithEffect((ctx: Context.Context<AppConfig | HttpServerRequest.HttpServerRequest>) => {
    const config = Context.get(ctx, AppConfig)
    const request = Context.get(ctx, HttpServerRequest.HttpServerRequest)
    const path = canonicalPath(request.url)
    if (path === undefined) return Effect.succeed(notFound)
    const checks = checksFor(config)
    const denied = screen(checks, config.serve, request, path)
    if (denied === undefined) {
      if (path !== "/mcp" || !checks.corsEnabled) return router
      const origin = request.headers["origin"]
      const allowed = origin === undefined ? undefined : checks.corsOrigin(origin)
      // Headers go on the Node response: the SDK writes most /mcp answers to it directly.
      const res = NodeHttpServerRequest.toServerResponse(request)
      if (allowed === undefined) {
        res.setHeader("vary", "Origin")
        return router
      }
      // A listed browser origin: its preflight is answered here (a preflight carries no token).
      if (request.method === "OPTIONS") return Effect.succeed(mcpPreflight(allowed))
      res.setHeader("access-control-allow-origin", allowed)
      for (const [name, value] of Object.entries(MCP_CORS_COMMON)) res.setHeader(name, value)
      return router
    }
    // Warn about the first few (a misconfigured proxy shows up at once), then only at debug level.
    refusals++
    const log = refusals <= 10 ? Effect.logWarning : Effect.logDebug
    const message = denied === hostForbidden
      ? `Refused a request whose Host is not this server's (DNS rebinding protection)${
        config.serve.trustProxy ? "; behind a proxy, set transport.http.base_url or allowed_hosts to the public name" : ""
      }`
      : "Refused an /mcp request from a browser page of another origin"
    return log(message).pipe(
      Effect.annotateLogs(denied === hostForbidden ? { host: sample(request.headers["host"]) } : { origin: sample(request.headers["origin"]) }),
      Effect.as(denied)
    )
  })
  return screened.pipe(
    Effect.catchTag("RouteNotFound", () => Effect.succeed(notFound)),
    closeWhenBodyUnread,
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
