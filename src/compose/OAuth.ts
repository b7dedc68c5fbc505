import { FetchHttpClient } from "@effect/platform"
import { Clock, Duration, Effect, Either, Layer, Schedule } from "effect"
import { ConfigError } from "../domain/config/ConfigError.js"
import { DefaultSweepInterval, ProviderDisplayName } from "../domain/config/UserConfig.js"
import { dcrAllowedScopes, scopesSupported } from "../domain/oauth/Scopes.js"
import { makeBearerGuard } from "../http/mcp/BearerGuard.js"
import { makeOAuthRoutes } from "../http/oauth/OAuthRoutes.js"
import { AppConfig } from "../services/config/AppConfig.js"
import { AuthorizationFlow } from "../services/oauth/AuthorizationFlow.js"
import { BearerAuth } from "../services/oauth/BearerAuth.js"
import { ClientRegistry } from "../services/oauth/ClientRegistry.js"
import { IdentityProvider } from "../services/oauth/IdentityProvider.js"
import { OAuthHttp } from "../services/oauth/OAuthHttp.js"
import { OAuthSettings } from "../services/oauth/OAuthSettings.js"
import { TokenEndpoint } from "../services/oauth/TokenEndpoint.js"
import type { TokenGenerator } from "../services/oauth/TokenGenerator.js"
import { TokenStore } from "../services/oauth/TokenStore.js"
import { ClientRegistryLive, ClientRegistryWithStore } from "../layers/oauth/ClientRegistryLive.js"
import { makeHttpsMetadataFetcher } from "../layers/oauth/ClientMetadataFetcherHttps.js"
import { DynamicClientStoreSql } from "../layers/oauth/store/DynamicClientStoreSql.js"
import { OAuthDatabase, OAuthDatabaseSqlite } from "../layers/oauth/store/OAuthDatabase.js"
import { OAuthDatabasePostgres } from "../layers/oauth/store/OAuthDatabasePostgres.js"
import { RateLimitsPostgres } from "../layers/oauth/store/RateLimitsPostgres.js"
import { RateLimitsMemory } from "../layers/server/RateLimitsMemory.js"
import { RateLimits } from "../services/server/RateLimits.js"
import { StoreHealth } from "../services/oauth/StoreHealth.js"
import { type Persistence, resolvePersistence } from "../domain/config/Persistence.js"
import { AtlassianProvider } from "../layers/oauth/providers/AtlassianProvider.js"
import { GitHubProvider } from "../layers/oauth/providers/GitHubProvider.js"
import { SalesforceProvider } from "../layers/oauth/providers/SalesforceProvider.js"
import { GoogleProvider } from "../layers/oauth/providers/GoogleProvider.js"
import { KeycloakProvider } from "../layers/oauth/providers/KeycloakProvider.js"
import { OidcProvider, oidcSpec } from "../layers/oauth/providers/OidcProvider.js"
import { TokenGeneratorCrypto } from "../layers/oauth/TokenGeneratorCrypto.js"
import { TokenStoreMemory } from "../layers/oauth/store/TokenStoreMemory.js"
import { SqlTokenStoreWith } from "../layers/oauth/store/SqlTokenStore.js"
import { AuthorizationFlowLive } from "../layers/oauth/AuthorizationFlowLive.js"
import { BearerAuthLive } from "../layers/oauth/BearerAuthLive.js"
import { TokenEndpointLive } from "../layers/oauth/TokenEndpointLive.js"

/** How often expired codes, tokens and pending requests are swept (`auth.persistence.sweep_interval`). */
export const SWEEP_INTERVAL = Duration.seconds(DefaultSweepInterval)

/** OAuthSettings from the auth section of the user config. */
export const OAuthSettingsFromConfig = Layer.effect(
  OAuthSettings,
  Effect.map(AppConfig, (config) => {
    const auth = config.auth
    const required = auth.authorization.required_scopes
    return OAuthSettings.of({
      accessTokenTtlMs: auth.access_token_ttl * 1000,
      refreshTokenTtlMs: auth.refresh_token_ttl * 1000,
      refreshReuseGraceMs: auth.refresh_reuse_grace * 1000,
      codeTtlMs: 5 * 60_000,
      requestTtlMs: 10 * 60_000,
      requiredScopes: required,
      scopesSupported: scopesSupported(required, auth.clients.map((c) => c.scopes)),
      providerDisplayName: auth.provider === "none" ? "none" : ProviderDisplayName[auth.provider]
    })
  })
)

/** The upstream provider named by `auth.provider`. */
export const IdentityProviderFromConfig = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const auth = config.auth
    const key = `projects.${config.site.project}.profiles.${config.profile}.auth`
    const http = Layer.provide(FetchHttpClient.layer)
    switch (auth.provider) {
      case "github":
        if (auth.github !== undefined) return GitHubProvider(auth.github).pipe(http)
        break
      case "atlassian":
        if (auth.atlassian !== undefined) return AtlassianProvider(auth.atlassian).pipe(http)
        break
      case "salesforce":
        if (auth.salesforce !== undefined) return SalesforceProvider(auth.salesforce).pipe(http)
        break
      case "oidc":
        if (auth.oidc !== undefined) return OidcProvider(oidcSpec(auth.oidc)).pipe(http)
        break
      case "google":
        if (auth.google !== undefined) return GoogleProvider(auth.google).pipe(http)
        break
      case "keycloak":
        if (auth.keycloak !== undefined) return KeycloakProvider(auth.keycloak).pipe(http)
        break
    }
    return yield* Effect.fail(
      new ConfigError({
        file: config.userFile ?? "user config",
        key: `${key}.${auth.provider}`,
        message: `${auth.provider === "none" ? "OAuth" : ProviderDisplayName[auth.provider]} OAuth configuration is incomplete`,
        fix: `add a ${auth.provider} block with client_id and client_secret`
      })
    )
  })
)

/** `auth.persistence` by type, or undefined (in memory); a block the loader would refuse fails here too. */
const persistenceOf = (config: AppConfig.Shape): Effect.Effect<Persistence | undefined, ConfigError> => {
  const block = config.auth.persistence
  if (block === undefined) return Effect.succeed(undefined)
  const key = `projects.${config.site.project}.profiles.${config.profile}.auth.persistence`
  return Either.match(resolvePersistence(block, config.userFile ?? "user config", key), {
    onLeft: Effect.fail,
    onRight: Effect.succeed
  })
}

/**
 * The database of `auth.persistence` (a SQLite file, or a PostgreSQL schema), opened once per
 * server and shared by the token store, the client registry and (PostgreSQL) the rate limits:
 * one layer value, so the build memoizes it.
 */
export const OAuthDatabaseFromConfig = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const persistence = yield* persistenceOf(config)
    if (persistence === undefined) {
      return Layer.fail(
        new ConfigError({ file: config.userFile ?? "user config", key: "auth.persistence", message: "not configured", fix: "" })
      )
    }
    return persistence.type === "sqlite"
      ? OAuthDatabaseSqlite({ path: persistence.path, encryptionKey: persistence.encryption_key })
      : OAuthDatabasePostgres({
        url: persistence.url,
        encryptionKey: persistence.encryption_key,
        schema: persistence.schema,
        poolSize: persistence.pool_size,
        file: config.userFile ?? "user config"
      })
  })
)

/** The token store: in SQL (SQLite or PostgreSQL) with `auth.persistence`, else in memory (lost on restart). */
export const TokenStoreFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    config.auth.persistence === undefined ? TokenStoreMemory : SqlTokenStoreWith({}).pipe(Layer.provide(OAuthDatabaseFromConfig))
  )
)

/** Rate-limit windows: shared in PostgreSQL (the whole deployment counts together), else in this process's memory. */
export const RateLimitsFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    config.auth.persistence?.type === "postgres" ? RateLimitsPostgres.pipe(Layer.provide(OAuthDatabaseFromConfig)) : RateLimitsMemory
  )
)

/** Whether the store answers, for `/health`: a 2 s ping, shared by the checks of the next second. */
export const StoreHealthFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    config.auth.persistence === undefined
      ? Layer.succeed(StoreHealth, StoreHealth.of({ healthy: Effect.succeed(true) }))
      : Layer.effect(
        StoreHealth,
        Effect.gen(function* () {
          const db = yield* OAuthDatabase
          const healthy = yield* Effect.cachedWithTTL(
            db.ping.pipe(
              Effect.timeout(HEALTH_TIMEOUT),
              Effect.as(true),
              Effect.catchAll((e) => Effect.as(Effect.logWarning(`Health check: the OAuth store does not answer (${e.message})`), false))
            ),
            Duration.seconds(1)
          )
          return StoreHealth.of({ healthy })
        })
      ).pipe(Layer.provide(OAuthDatabaseFromConfig))
  )
)

const HEALTH_TIMEOUT = Duration.seconds(2)

/** The authorization server's services, from config. */
export const OAuthServerFromConfig = Layer.mergeAll(AuthorizationFlowLive, TokenEndpointLive, BearerAuthLive).pipe(
  Layer.provideMerge(
    Layer.unwrapEffect(
      Effect.map(AppConfig, (config): Layer.Layer<ClientRegistry, ConfigError, AppConfig | TokenGenerator | TokenStore> => {
        const { cimd, authorization, clients } = config.auth
        const required = authorization.required_scopes
        const supported = scopesSupported(required, clients.map((c) => c.scopes))
        const options = {
          clients: config.auth.clients,
          metadataDocuments: cimd.enabled
            ? {
              fetcher: makeHttpsMetadataFetcher({ allowPrivateAddresses: cimd.allow_private_addresses }),
              allowedHosts: cimd.allowed_hosts,
              allowedScopes: (scope: string | undefined) => dcrAllowedScopes(scope, supported, required)
            }
            : undefined,
          maxDynamicClients: config.auth.registration.max_clients,
          unusedClientTtlMs: config.auth.registration.unused_client_ttl * 1000
        }
        return config.auth.persistence === undefined
          ? ClientRegistryLive(options)
          : ClientRegistryWithStore(options, DynamicClientStoreSql).pipe(Layer.provide(OAuthDatabaseFromConfig))
      })
    )
  ),
  Layer.provideMerge(Layer.mergeAll(TokenStoreFromConfig, IdentityProviderFromConfig, TokenGeneratorCrypto, OAuthSettingsFromConfig))
)

const OAuthHttpOn = Layer.scoped(
  OAuthHttp,
  Effect.gen(function* () {
    const ctx = yield* Effect.context<
      AppConfig | AuthorizationFlow | TokenEndpoint | BearerAuth | ClientRegistry | OAuthSettings | IdentityProvider
    >()
    const store = yield* TokenStore
    const config = yield* AppConfig
    const { persistence, registration } = config.auth
    const rateLimits = yield* RateLimits
    const storeHealthy = (yield* StoreHealth).healthy
    yield* Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* store.sweep(now)
    }).pipe(
      Effect.catchAll((e) => Effect.logWarning(`Token store sweep failed: ${e.message}`)),
      Effect.repeat(Schedule.spaced(Duration.seconds(persistence?.sweep_interval ?? DefaultSweepInterval))),
      Effect.forkScoped
    )
    return OAuthHttp.of({
      routes: (options) =>
        Effect.map(
          Effect.all([
            makeOAuthRoutes({
              ...options,
              registrationsPerMinute: options.registrationsPerMinute ?? registration.rate_limit_per_minute
            }),
            makeBearerGuard(options)
          ]),
          ([{ router, callbackPath }, guard]) => ({ router, guard, callbackPath, storeHealthy })
        ).pipe(Effect.provide(ctx), Effect.provideService(RateLimits, rateLimits))
    })
  })
).pipe(Layer.provide(Layer.mergeAll(OAuthServerFromConfig, RateLimitsFromConfig, StoreHealthFromConfig)))

/** OAuthHttp for the configured auth: the whole authorization server, or nothing with `none`. */
export const OAuthHttpFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    config.auth.provider === "none" ? Layer.succeed(OAuthHttp, OAuthHttp.of({ routes: undefined })) : OAuthHttpOn
  )
)
