import { HttpMiddleware } from "@effect/platform"
import { Effect, Layer } from "effect"
import { HttpServeNode } from "../layers/server/HttpServeNode.js"
import { tracingEnabled } from "../layers/server/Tracing.js"
import { OAuthHttpFromConfig } from "./OAuth.js"
import { McpProjectLive } from "./Project.js"

/**
 * Per-request HTTP server spans only when someone collects them: with Effect's default tracer
 * nothing is exported, and building each span (URL parsing, header redaction, one attribute per
 * header) is pure cost on every /mcp request. An embedding application that provides its own
 * tracer keeps the spans.
 */
const spansOnlyWithTracer = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapEffect(
    Effect.map(tracingEnabled, (tracing) => tracing ? layer : HttpMiddleware.withTracerDisabledWhen(layer, () => true))
  )

/**
 * The whole HTTP server for a given AppConfig: endpoints, DuckDB, the authorization server when
 * auth is on, and the Node listener. Provide an AppConfig layer and launch it (or read
 * `HttpServer` from it for the bound address).
 */
export const HttpServerLive = spansOnlyWithTracer(HttpServeNode).pipe(
  Layer.provideMerge(Layer.merge(McpProjectLive, OAuthHttpFromConfig))
)
