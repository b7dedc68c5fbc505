/**
 * Embedding API: the service tags and named layers, so another Effect application can build the
 * whole server (or only the catalog + DuckDB) from its own layer graph.
 */
export { ConfigError, formatConfigError } from "./domain/ConfigError.js"
export type * from "./domain/endpoint/Endpoint.js"
export { AppConfig, type ConfigOverrides, type ServeSettings } from "./services/AppConfig.js"
export { DuckDbSession, SqlError, SqlTimeout, type QueryOptions, type Row, type SqlUser, type JsonValue } from "./services/DuckDbSession.js"
export { CatalogError, EndpointCatalog } from "./services/EndpointCatalog.js"
export { McpEndpoints, McpProtocolError, type CallContext } from "./services/McpEndpoints.js"
export { McpServerFactory } from "./services/McpServerFactory.js"
export { AppConfigFromFiles } from "./layers/AppConfigLive.js"
export { DuckDbSessionMemory, DuckDbSessionNode } from "./layers/DuckDbSessionNode.js"
export { EndpointCatalogFiles, EndpointCatalogFromDefinitions, loadCatalog } from "./layers/EndpointCatalogFiles.js"
export { HttpServeNode } from "./layers/HttpServeNode.js"
export { McpEndpointsLive } from "./layers/McpEndpointsLive.js"
export { McpServerSdk } from "./layers/McpServerSdk.js"
export { DuckDbSessionFromConfig, EndpointCatalogFromConfig, McpProjectLive } from "./layers/ProjectLayers.js"
export { HttpServerLive } from "./layers/ServerLayers.js"
export { serveStdio } from "./layers/StdioServe.js"
export { AppConfigFromValues } from "./layers/AppConfigLive.js"
export { OAuthHttpFromConfig } from "./layers/oauth/OAuthLayers.js"
export { makeHttpApp } from "./http/HttpApp.js"
export { makeMcpHttpHandler } from "./http/McpHttpHandler.js"
