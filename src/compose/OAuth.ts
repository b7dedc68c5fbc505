import { FetchHttpClient } from "@effect/platform"
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
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
import { DynamicClientStoreSqlite } from "../layers/oauth/store/DynamicClientStoreSqlite.js"
import { OAuthDatabaseSqlite } from "../layers/oauth/store/OAuthDatabase.js"
import { AtlassianProvider } from "../layers/oauth/providers/AtlassianProvider.js"
import { GitHubProvider } from "../layers/oauth/providers/GitHubProvider.js"
import { SalesforceProvider } from "../layers/oauth/providers/SalesforceProvider.js"
import { GoogleProvider } from "../layers/oauth/providers/GoogleProvider.js"
import { KeycloakProvider } from "../layers/oauth/providers/KeycloakProvider.js"
import { OidcProvider, oidcSpec } from "../layers/oauth/providers/OidcProvider.js"
import { TokenGeneratorCrypto } from "../layers/oauth/TokenGeneratorCrypto.js"
import { TokenStoreMemory } from "../layers/oauth/store/TokenStoreMemory.js"
import { TokenStoreSqlite } from "../layers/oauth/store/TokenStoreSqlite.js"
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

/**
 * The SQLite database of `auth.persistence`, opened once per server and shared by the token store
 * and the client registry (one layer value, so the build memoizes it).
 */
export const OAuthDatabaseFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    const persistence = config.auth.persistence
    return persistence === undefined
      ? Layer.fail(
        new ConfigError({ file: config.userFile ?? "user config", key: "auth.persistence", message: "not configured", fix: "" })
      )
      : OAuthDatabaseSqlite({ path: persistence.path, encryptionKey: persistence.encryption_key })
  })
)

/** The token store: in SQLite with `auth.persistence`, else in memory (lost on restart). */
export const TokenStoreFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    config.auth.persistence === undefined ? TokenStoreMemory : TokenStoreSqlite.pipe(Layer.provide(OAuthDatabaseFromConfig))
  )
)

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
          : ClientRegistryWithStore(options, DynamicClientStoreSqlite).pipe(Layer.provide(OAuthDatabaseFromConfig))
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
    const { persistence, registration } = (yield* AppConfig).auth
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
          ([{ router, callbackPath }, guard]) => ({ router, guard, callbackPath })
        ).pipe(Effect.provide(ctx))
    })
  })
).pipe(Layer.provide(OAuthServerFromConfig))

/** OAuthHttp for the configured auth: the whole authorization server, or nothing with `none`. */
export const OAuthHttpFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    config.auth.provider === "none" ? Layer.succeed(OAuthHttp, OAuthHttp.of({ routes: undefined })) : OAuthHttpOn
  )
)
