import { createServer, type Server as NodeServer } from "node:http"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Clock, Context, Deferred, Duration, Effect, Exit, Layer, Option } from "effect"
import { ConfigError } from "../../domain/config/ConfigError.js"
import { DefaultShutdownTimeout, HttpLimitDefaults, type HttpTransportConfig } from "../../domain/config/UserConfig.js"
import { logRequest } from "../../http/server/AccessLog.js"
import { baseUrlFor, isWildcardHost } from "../../http/server/BaseUrl.js"
import { makeHttpApp } from "../../http/server/HttpApp.js"
import { makeMcpHttpHandler } from "../../http/mcp/McpHttpHandler.js"
import { AppConfig } from "../../services/config/AppConfig.js"
import { EndpointCatalog } from "../../services/mcp/EndpointCatalog.js"
import { McpServerFactory } from "../../services/mcp/McpServerFactory.js"
import { OAuthHttp } from "../../services/oauth/OAuthHttp.js"
import { RequestLog, type RequestLogEntry } from "../../services/server/RequestLog.js"
import { callbackHostNote, proxyPinWarning, startupSummary } from "./StartupNotes.js"

/** How long shutdown waits for in-flight requests before closing connections, by default. */
export const DRAIN_TIMEOUT = Duration.seconds(DefaultShutdownTimeout)

/**
 * The connection limits of `transport.http` in Node's terms (README "Limits"). Values a config
 * built by hand leaves out get the defaults. Node refuses a headers timeout longer than the
 * request timeout: the request timeout then bounds both.
 */
export const connectionLimitsOf = (http: Partial<HttpTransportConfig>) => {
  const seconds = (value: number | undefined, fallback: number) => Math.max(1, Math.round((value ?? fallback) * 1000))
  const requestTimeout = seconds(http.request_timeout, HttpLimitDefaults.request_timeout)
  const headersTimeout = Math.min(requestTimeout, seconds(http.headers_timeout, HttpLimitDefaults.headers_timeout))
  return {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: seconds(http.keep_alive_timeout, HttpLimitDefaults.keep_alive_timeout),
    // Node checks the two timeouts on this period (its default, 30 s, would add up to 30 s to each).
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(headersTimeout / 5))),
    maxConnections: http.max_connections ?? HttpLimitDefaults.max_connections
  }
}

/** `transport.http.shutdown_timeout` (a config built by hand, without the key, gets the default). */
const drainTimeoutOf = (config: AppConfig.Shape): Duration.Duration => {
  const seconds: number | undefined = config.user.transport.http.shutdown_timeout
  return seconds === undefined ? DRAIN_TIMEOUT : Duration.millis(Math.round(seconds * 1000))
}

/**
 * Serve the HTTP surface on an existing Node server: registers the app, tracks in-flight
 * requests, writes the access log, and at shutdown stops accepting, waits for in-flight requests
 * (at most `transport.http.shutdown_timeout`), closes MCP sessions and then the remaining
 * connections. The layers below (DuckDB, the SQLite store) close after that.
 */
const serveOn = (server: NodeServer) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const http: Partial<HttpTransportConfig> = config.user.transport.http
      const mcp = yield* makeMcpHttpHandler({
        stateless: config.serve.stateless,
        maxBodyBytes: http.max_body_bytes,
        maxSessionsPerPrincipal: http.max_sessions_per_user,
        trustProxy: config.serve.trustProxy
      })
      const auth = yield* OAuthHttp
      // The port never changes once listening (asked per request for BASE): remember it.
      let knownPort: number | undefined
      const boundPort = () => {
        if (knownPort !== undefined) return knownPort
        const address = server.address()
        if (typeof address === "object" && address !== null) knownPort = address.port
        return knownPort ?? config.serve.port
      }
      const oauth = auth.routes === undefined ? undefined : yield* auth.routes({ boundPort })
      const app = makeHttpApp(mcp, oauth)
      const trustProxy = config.serve.trustProxy
      const drainTimeout = drainTimeoutOf(config)
      let inFlight = 0
      let idle: Deferred.Deferred<void> | undefined
      let draining = false
      // A request is in flight (shutdown waits for it) until its Node response closes, i.e.
      // until the answer was handed to the connection or the client went away: the handler
      // finishing is not enough (the answer may still be queued, e.g. behind a pipelined one).
      const settled = () => {
        inFlight--
        if (inFlight === 0 && idle !== undefined) Deferred.unsafeDone(idle, Exit.void)
      }
      // Every request: counted while in flight, and one access-log line when its handler ends.
      // MCP GET streams are not counted: they only end when their session closes, which
      // shutdown does right after the drain.
      const tracked = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        if (!(request.method === "GET" && request.url.startsWith("/mcp"))) {
          inFlight++
          NodeHttpServerRequest.toServerResponse(request).once("close", settled)
        }
        const entry: RequestLogEntry = { user: undefined, provider: undefined }
        return Effect.acquireUseRelease(
          Clock.currentTimeNanos,
          () => (draining ? Effect.succeed(shuttingDown()) : Effect.provideService(app, RequestLog, entry)),
          (start, exit) =>
            Effect.flatMap(Clock.currentTimeNanos, (now) => logRequest(request, exit, entry, now - start, trustProxy))
        )
      })
      yield* HttpServer.serveEffect(tracked)
      // Added after `serveEffect`, so it runs before that one's finalizer detaches the app: a
      // request arriving during the drain on a connection that was already open gets a 503.
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          draining = true
          yield* Effect.logInfo("Shutting down: draining in-flight requests").pipe(
            Effect.annotateLogs({ in_flight: inFlight, timeout_s: Duration.toSeconds(drainTimeout) })
          )
          server.close()
          if (inFlight > 0) {
            const d = yield* Deferred.make<void>()
            idle = d
            // Finalizers are uninterruptible: the wait must opt back in for the timeout to win.
            const drained = inFlight === 0
              ? Option.some(undefined)
              : yield* Deferred.await(d).pipe(Effect.interruptible, Effect.timeout(drainTimeout), Effect.option)
            if (Option.isNone(drained)) {
              yield* Effect.logWarning(`Shutdown timeout: closing ${inFlight} unfinished request(s)`)
            }
          }
          yield* Effect.logDebug("Closing MCP sessions")
          yield* mcp.closeAll
          server.closeAllConnections()
          yield* Effect.logDebug("HTTP server closed")
        })
      )
      const address = yield* HttpServer.addressFormattedWith((a) => Effect.succeed(a))
      const catalog = yield* Effect.serviceOption(EndpointCatalog)
      yield* Effect.logInfo(`MCP server listening on ${address}/mcp (${startupSummary(config, catalog)})`)
      const pinWarning = proxyPinWarning(config)
      if (pinWarning !== undefined) yield* Effect.logWarning(pinWarning)
      if (oauth !== undefined) {
        const callbackNote = callbackHostNote(config, boundPort())
        if (callbackNote !== undefined) yield* Effect.logInfo(callbackNote)
        const base = baseUrlFor(config.serve, {}, boundPort())
        yield* Effect.logInfo(`OAuth issuer ${base}; register ${base}${oauth.callbackPath} as the provider's callback URL`)
        if (isInsecureBase(base)) {
          yield* Effect.logWarning(
            `WARNING: the base URL ${base} uses plain http on a non-loopback host. OAuth needs https in production: ` +
              "set transport.http.base_url to an https URL (or scheme: https behind a TLS proxy)"
          )
        }
        if (config.serve.baseUrl === null && isWildcardHost(config.serve.host)) {
          yield* Effect.logWarning(
            `WARNING: listening on all interfaces (host ${config.serve.host}) without transport.http.base_url: ` +
              `OAuth URLs use ${base}${config.serve.trustProxy ? " unless the proxy sends X-Forwarded-Host" : ""}, ` +
              "which other machines cannot reach. Set transport.http.base_url to the URL clients use " +
              "(e.g. https://mcp.example.com)"
          )
        }
      }
    })
  )

/** The answer to a request that arrives while the server drains (its connection then closes). */
const shuttingDown = () =>
  HttpServerResponse.unsafeJson(
    { error: "temporarily_unavailable", error_description: "The server is shutting down" },
    { status: 503, headers: { connection: "close", "retry-after": "5" } }
  )

/** True for an http base URL whose host is not loopback (tokens would cross the network in clear). */
export const isInsecureBase = (base: string): boolean => {
  const m = /^http:\/\/(\[[^\]]+\]|[^/:]+)/i.exec(base)
  if (m === null || m[1] === undefined) return false
  const host = m[1].toLowerCase()
  return !(host === "localhost" || host === "[::1]" || host.startsWith("127."))
}

/** The HTTP transport on Node: listens on the configured host and port. */
export const HttpServeNode: Layer.Layer<
  HttpServer.HttpServer,
  ConfigError,
  AppConfig | McpServerFactory | OAuthHttp
> = Layer.unwrapScoped(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const limits = connectionLimitsOf(config.user.transport.http)
    const server = createServer({
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      keepAliveTimeout: limits.keepAliveTimeout,
      connectionsCheckingInterval: limits.connectionsCheckingInterval
    })
    server.maxConnections = limits.maxConnections
    const { host, port } = config.serve
    const listen = NodeHttpServer.layer(() => server, { host, port }).pipe(
      Layer.mapError(
        (e) =>
          new ConfigError({
            file: config.userFile ?? "command line",
            key: "transport.http.port",
            message: `Cannot listen on ${host}:${port}: ${describeListenError(e.cause)}`,
            fix: "choose another port with --port or stop the process using it"
          })
      )
    )
    return serveOn(server).pipe(Layer.provideMerge(listen), Layer.map((ctx) => Context.make(HttpServer.HttpServer, Context.get(ctx, HttpServer.HttpServer))))
  })
)

const describeListenError = (cause: unknown): string => {
  const code = (cause as { code?: unknown } | null)?.code
  if (code === "EADDRINUSE") return "address already in use"
  if (code === "EACCES") return "permission denied"
  if (code === "EADDRNOTAVAIL") return "address not available on this machine"
  return cause instanceof Error ? cause.message : String(cause)
}
