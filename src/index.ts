/**
 * Embedding API: the service tags and named layers, so another Effect application can build the
 * whole server (or only the catalog + DuckDB) from its own layer graph.
 */
export { ConfigError, configErrorLines, formatConfigError, type ConfigProblem } from "./domain/config/ConfigError.js"
export type * from "./domain/mcp/Endpoint.js"
export { AppConfig, type ConfigOverrides, type ServeSettings } from "./services/config/AppConfig.js"
export {
  DuckDbSession,
  SqlError,
  SqlNotAllowed,
  SqlResultTooLarge,
  SqlTimeout,
  type FreeFormOptions,
  type JsonValue,
  type QueryOptions,
  type QueryResult,
  type Row,
  type Truncation
} from "./services/duckdb/DuckDbSession.js"
export type { CurrentUser, CurrentUser as SqlUser } from "./domain/oauth/Identity.js"
export { CatalogError, EndpointCatalog } from "./services/mcp/EndpointCatalog.js"
export { McpEndpoints, McpProtocolError, type CallContext } from "./services/mcp/McpEndpoints.js"
export { McpServerFactory } from "./services/mcp/McpServerFactory.js"
export { AppConfigFromFiles } from "./layers/config/AppConfigLive.js"
export { DEFAULT_POOL_SIZE, DuckDbSessionMemory, DuckDbSessionNode, serverThreads } from "./layers/duckdb/DuckDbSessionNode.js"
export { EndpointCatalogFiles, EndpointCatalogFromDefinitions, loadCatalog } from "./layers/mcp/EndpointCatalogFiles.js"
export { HttpServeNode } from "./layers/server/HttpServeNode.js"
export { McpEndpointsLive } from "./layers/mcp/McpEndpointsLive.js"
export { McpServerSdk } from "./layers/mcp/McpServerSdk.js"
export { DuckDbSessionFromConfig, EndpointCatalogFromConfig, McpProjectLive } from "./compose/Project.js"
export { HttpServerLive } from "./compose/Server.js"
export { serveStdio } from "./layers/server/StdioServe.js"
export { AppConfigFromValues } from "./layers/config/AppConfigLive.js"
export { OAuthHttpFromConfig } from "./compose/OAuth.js"
export { makeHttpApp } from "./http/server/HttpApp.js"
export { makeMcpHttpHandler } from "./http/mcp/McpHttpHandler.js"

// OAuth: service tags
export { AuthorizationFlow, type FlowContext, type FlowOutcome, type ConsentPageData } from "./services/oauth/AuthorizationFlow.js"
export { BearerAuth, type Authenticated } from "./services/oauth/BearerAuth.js"
export { ClientRegistry, type Registration, RegistryFull } from "./services/oauth/ClientRegistry.js"
export { IdentityProvider, ProviderError, UpstreamGrantRevoked } from "./services/oauth/IdentityProvider.js"
export { OAuthHttp } from "./services/oauth/OAuthHttp.js"
export { OAuthSettings } from "./services/oauth/OAuthSettings.js"
export { TokenEndpoint, type TokenResponse } from "./services/oauth/TokenEndpoint.js"
export { TokenGenerator } from "./services/oauth/TokenGenerator.js"
export { StoreError, TokenStore } from "./services/oauth/TokenStore.js"

// OAuth: layers. In memory, or persisted in SQLite (OAuthDatabaseSqlite + TokenStoreSqlite +
// ClientRegistryWithStore(DynamicClientStoreSqlite)); the *FromConfig layers pick from config.
export { TokenStoreMemory, TokenStoreMemoryWith } from "./layers/oauth/store/TokenStoreMemory.js"
export { TokenStoreSqlite, TokenStoreSqliteWith } from "./layers/oauth/store/TokenStoreSqlite.js"
export { DynamicClientStoreSqlite } from "./layers/oauth/store/DynamicClientStoreSqlite.js"
export { OAuthDatabase, OAuthDatabaseSqlite, type OAuthDatabaseOptions } from "./layers/oauth/store/OAuthDatabase.js"
export { ClientRegistryLive, ClientRegistryWithStore } from "./layers/oauth/ClientRegistryLive.js"
export type { DynamicClientStore, InsertLimits, InsertOutcome } from "./layers/oauth/store/DynamicClientStore.js"
export { DynamicClientStoreMemory } from "./layers/oauth/store/DynamicClientStoreMemory.js"
export { TokenGeneratorCrypto } from "./layers/oauth/TokenGeneratorCrypto.js"
export { GitHubProvider, GitHubProviderNode } from "./layers/oauth/providers/GitHubProvider.js"
export { AtlassianProvider, AtlassianProviderNode } from "./layers/oauth/providers/AtlassianProvider.js"
export { SalesforceProvider, SalesforceProviderNode } from "./layers/oauth/providers/SalesforceProvider.js"
export { AuthorizationFlowLive } from "./layers/oauth/AuthorizationFlowLive.js"
export { BearerAuthLive } from "./layers/oauth/BearerAuthLive.js"
export { TokenEndpointLive } from "./layers/oauth/TokenEndpointLive.js"
export {
  IdentityProviderFromConfig,
  OAuthDatabaseFromConfig,
  OAuthServerFromConfig,
  OAuthSettingsFromConfig,
  TokenStoreFromConfig
} from "./compose/OAuth.js"
