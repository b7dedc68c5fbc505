import { Context, Schema } from "effect"
import type { Effect, Redacted } from "effect"
import type { UpstreamProviderName, UpstreamTokens, UserProfile } from "../../domain/oauth/Identity.js"

/**
 * An upstream call failed. `kind`: `unavailable` (network, timeout, 5xx: retry later),
 * `bad_response` (malformed or missing fields), `rejected` (the provider said no, e.g. a bad code).
 * `message` says which call failed and never contains a secret.
 */
export class ProviderError extends Schema.TaggedError<ProviderError>()("ProviderError", {
  provider: Schema.String,
  operation: Schema.String,
  kind: Schema.Literal("unavailable", "bad_response", "rejected"),
  message: Schema.String
}) {}

/** The upstream refresh token is no longer valid (`invalid_grant`): the session must end. */
export class UpstreamGrantRevoked extends Schema.TaggedError<UpstreamGrantRevoked>()("UpstreamGrantRevoked", {
  provider: Schema.String
}) {}

export declare namespace IdentityProvider {
  export interface Shape {
    readonly name: UpstreamProviderName
    /** Path on this server the provider redirects back to, e.g. `/github/callback`. */
    readonly callbackPath: string
    /**
     * Resolves what `authorizeUrl` needs that may not be there yet (an OpenID Provider's discovery
     * document); the flow runs it first and answers its failure like a failed login. Absent:
     * nothing to wait for.
     */
    readonly ready?: Effect.Effect<void, ProviderError> | undefined
    /** The provider's authorization URL for one login (after `ready`, when there is one). */
    readonly authorizeUrl: (params: {
      readonly state: string
      readonly redirectUri: string
      readonly codeChallenge: string
    }) => string
    readonly exchangeCode: (params: {
      readonly code: string
      readonly redirectUri: string
      readonly codeVerifier: string
    }) => Effect.Effect<UpstreamTokens, ProviderError>
    readonly fetchUser: (tokens: UpstreamTokens) => Effect.Effect<UserProfile, ProviderError>
    /** Refresh upstream tokens; providers that rotate refresh tokens return the new one. */
    readonly refresh: (
      refreshToken: Redacted.Redacted<string>,
      previous: UpstreamTokens
    ) => Effect.Effect<UpstreamTokens, ProviderError | UpstreamGrantRevoked>
  }
}

/** The upstream OAuth provider users log in through (GitHub, Atlassian, Salesforce, OIDC, Google, Keycloak, test). */
export class IdentityProvider extends Context.Tag("mxcp/IdentityProvider")<IdentityProvider, IdentityProvider.Shape>() {}
