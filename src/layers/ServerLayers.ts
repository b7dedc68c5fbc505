import { Layer } from "effect"
import { HttpServeNode } from "./HttpServeNode.js"
import { OAuthHttpFromConfig } from "./oauth/OAuthLayers.js"
import { McpProjectLive } from "./ProjectLayers.js"

/**
 * The whole HTTP server for a given AppConfig: endpoints, DuckDB, the authorization server when
 * auth is on, and the Node listener. Provide an AppConfig layer and launch it (or read
 * `HttpServer` from it for the bound address).
 */
export const HttpServerLive = HttpServeNode.pipe(Layer.provideMerge(Layer.merge(McpProjectLive, OAuthHttpFromConfig)))
