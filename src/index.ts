/**
 * Embedding API: the service tags and named layers, so another Effect application can build the
 * whole server (or only the catalog + DuckDB) from its own layer graph.
 */
export { ConfigError, formatConfigError } from "./domain/ConfigError.js"
export type * from "./domain/endpoint/Endpoint.js"
export { AppConfig, type ConfigOverrides, type ServeSettings } from "./services/AppConfig.js"
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
  type SqlUser,
  type Truncation
} from "./services/DuckDbSession.js"
export { CatalogError, EndpointCatalog } from "./services/EndpointCatalog.js"
export { McpEndpoints, McpProtocolError, type CallContext } from "./services/McpEndpoints.js"
export { McpServerFactory } from "./services/McpServerFactory.js"
export { AppConfigFromFiles } from "./layers/AppConfigLive.js"
export { DEFAULT_POOL_SIZE, DuckDbSessionMemory, DuckDbSessionNode, serverThreads } from "./layers/DuckDbSessionNode.js"
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

// OAuth: service tags
export { AuthorizationFlow, type FlowContext, type FlowOutcome, type ConsentPageData } from "./services/AuthorizationFlow.js"
export { BearerAuth, type Authenticated } from "./services/BearerAuth.js"
export { ClientRegistry, type Registration, RegistryFull } from "./services/ClientRegistry.js"
export { IdentityProvider, ProviderError, UpstreamGrantRevoked } from "./services/IdentityProvider.js"
export { OAuthHttp } from "./services/OAuthHttp.js"
export { OAuthSettings } from "./services/OAuthSettings.js"
export { TokenEndpoint, type TokenResponse } from "./services/TokenEndpoint.js"
export { TokenGenerator } from "./services/TokenGenerator.js"
export { StoreError, TokenStore } from "./services/TokenStore.js"

// OAuth: layers. In memory, or persisted in SQLite (OAuthDatabaseSqlite + TokenStoreSqlite +
// ClientRegistryWithStore(DynamicClientStoreSqlite)); the *FromConfig layers pick from config.
export { TokenStoreMemory, TokenStoreMemoryWith } from "./layers/TokenStoreMemory.js"
export { TokenStoreSqlite, TokenStoreSqliteWith } from "./layers/TokenStoreSqlite.js"
export { DynamicClientStoreSqlite } from "./layers/DynamicClientStoreSqlite.js"
export { OAuthDatabase, OAuthDatabaseSqlite, type OAuthDatabaseOptions } from "./layers/persistence/OAuthDatabase.js"
export {
  ClientRegistryLive,
  ClientRegistryWithStore,
  DynamicClientStoreMemory,
  type DynamicClientStore,
  type InsertLimits,
  type InsertOutcome
} from "./layers/ClientRegistryLive.js"
export { TokenGeneratorCrypto } from "./layers/TokenGeneratorCrypto.js"
export { GitHubProvider, GitHubProviderNode } from "./layers/providers/GitHubProvider.js"
export { AtlassianProvider, AtlassianProviderNode } from "./layers/providers/AtlassianProvider.js"
export { SalesforceProvider, SalesforceProviderNode } from "./layers/providers/SalesforceProvider.js"
export { AuthorizationFlowLive } from "./layers/oauth/AuthorizationFlowLive.js"
export { BearerAuthLive } from "./layers/oauth/BearerAuthLive.js"
export { TokenEndpointLive } from "./layers/oauth/TokenEndpointLive.js"
export {
  IdentityProviderFromConfig,
  OAuthDatabaseFromConfig,
  OAuthServerFromConfig,
  OAuthSettingsFromConfig,
  TokenStoreFromConfig
} from "./layers/oauth/OAuthLayers.js"
