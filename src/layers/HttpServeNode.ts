import { createServer, type Server as NodeServer } from "node:http"
import { HttpServer, HttpServerRequest } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Deferred, Duration, Effect, Layer } from "effect"
import { ConfigError } from "../domain/ConfigError.js"
import { baseUrlFor } from "../http/BaseUrl.js"
import { makeHttpApp } from "../http/HttpApp.js"
import { makeMcpHttpHandler } from "../http/McpHttpHandler.js"
import { AppConfig } from "../services/AppConfig.js"
import { McpServerFactory } from "../services/McpServerFactory.js"
import { OAuthHttp } from "../services/OAuthHttp.js"

/** How long shutdown waits for in-flight requests before closing connections. */
export const DRAIN_TIMEOUT = Duration.seconds(10)

/**
 * Serve the HTTP surface on an existing Node server: registers the app, tracks in-flight
 * requests, and at shutdown stops accepting, waits for in-flight requests (bounded), closes MCP
 * sessions and then the remaining connections.
 */
const serveOn = (server: NodeServer) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const mcp = yield* makeMcpHttpHandler({ stateless: config.serve.stateless })
      const auth = yield* OAuthHttp
      const boundPort = () => {
        const address = server.address()
        return typeof address === "object" && address !== null ? address.port : config.serve.port
      }
      const oauth = auth.routes === undefined ? undefined : yield* auth.routes({ boundPort })
      const app = makeHttpApp(mcp, oauth)
      let inFlight = 0
      let idle: Deferred.Deferred<void> | undefined
      // In-flight work that shutdown waits for. MCP GET streams are excluded: they only end
      // when their session closes, which shutdown does right after the drain.
      const tracked = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        request.method === "GET" && request.url.startsWith("/mcp")
          ? app
          : Effect.acquireUseRelease(
            Effect.sync(() => {
              inFlight++
            }),
            () => app,
            () =>
              Effect.suspend(() => {
                inFlight--
                return inFlight === 0 && idle !== undefined ? Deferred.succeed(idle, undefined) : Effect.void
              })
          ))
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Effect.logInfo("Shutting down: draining in-flight requests")
          server.close()
          yield* Effect.logDebug(`In-flight requests: ${inFlight}`)
          if (inFlight > 0) {
            const d = yield* Deferred.make<void>()
            idle = d
            // MCP GET streams stay open until their session closes, so cap the wait.
            // Finalizers are uninterruptible: the wait must opt back in for the timeout to win.
            yield* Deferred.await(d).pipe(Effect.interruptible, Effect.timeout(DRAIN_TIMEOUT), Effect.ignore)
          }
          yield* Effect.logDebug("Closing MCP sessions")
          yield* mcp.closeAll
          server.closeAllConnections()
          yield* Effect.logDebug("HTTP server closed")
        })
      )
      yield* HttpServer.serveEffect(tracked)
      const address = yield* HttpServer.addressFormattedWith((a) => Effect.succeed(a))
      yield* Effect.logInfo(`MCP server listening on ${address}/mcp`)
      if (oauth !== undefined) {
        const base = baseUrlFor(config.serve, {}, boundPort())
        yield* Effect.logInfo(`OAuth issuer ${base}; register ${base}${oauth.callbackPath} as the provider's callback URL`)
        if (isInsecureBase(base)) {
          yield* Effect.logWarning(
            `WARNING: the base URL ${base} uses plain http on a non-loopback host. OAuth needs https in production: ` +
              "set transport.http.base_url to an https URL (or scheme: https behind a TLS proxy)"
          )
        }
      }
    })
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
    const server = createServer()
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
