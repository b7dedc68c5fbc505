/**
 * Atlassian Cloud (Jira, Confluence) as the upstream identity provider, through OAuth 2.0 (3LO), on
 * `@effect/platform`'s `HttpClient`.
 *
 * Wire format:
 * - authorize: `{auth_url}?audience=api.atlassian.com&client_id&scope&redirect_uri&state&response_type=code
 *   &prompt=consent&code_challenge&code_challenge_method=S256`.
 * - token exchange and refresh: a POST to `token_url` with a JSON body (`Content-Type: application/json`).
 *   Success is HTTP 200 `{access_token, expires_in, scope, refresh_token?, token_type}`, scopes
 *   space-separated. Refusals are HTTP 4xx with `{error, error_description}`.
 * - refresh tokens (only with the `offline_access` scope) rotate: every refresh answers a new refresh
 *   token and disables the one that was sent. `refresh` therefore returns the new one in
 *   `UpstreamTokens.refreshToken`, and the caller must store it before it forgets the old one (the old
 *   one is dead upstream from this moment). Only an answer without a refresh token keeps the old one.
 *   `invalid_grant` on refresh (Atlassian documents HTTP 403; 400 is accepted too) is
 *   `UpstreamGrantRevoked`: the token was revoked, expired, or already spent.
 * - user: `GET {api_url}/me` with the Bearer token: `{account_id, email, name, picture, nickname, ...}`.
 *   The username is `nickname`, else the local part of `email`, else `account_id`; the display name is
 *   `name`, else the username.
 *
 * Accessible resources (for SQL users). The upstream access token is what `get_user_external_token()`
 * returns in SQL; `UpstreamTokens.extra.api_url` records which API gateway it belongs to (non-secret).
 * Atlassian APIs are addressed per site by its cloud id, which the token itself can look up:
 *
 * ```
 * GET https://api.atlassian.com/oauth/token/accessible-resources
 * Authorization: Bearer <get_user_external_token()>
 *   → [{id, url, name, scopes, avatarUrl}]   (id is the site's cloud id)
 * then, through the gateway, e.g. Jira:   https://api.atlassian.com/ex/jira/{cloud_id}/rest/api/3/project
 *                            Confluence:  https://api.atlassian.com/ex/confluence/{cloud_id}/wiki/rest/api/space
 * ```
 *
 * `atlassianAccessibleResourcesUrl(api_url)` builds the first URL for a configured `api_url`.
 *
 * Failures, timeouts, retries (`GET /me` only: a retried refresh would spend a rotating token twice)
 * and logging are `ProviderHttp`'s; a refusal names its HTTP status (`was refused: HTTP 403: invalid_grant`).
 */
import type { HttpClient } from "@effect/platform"
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Schema } from "effect"
import type { AtlassianConfig } from "../../../domain/config/UserConfig.js"
import type { UpstreamTokens, UserProfile } from "../../../domain/oauth/Identity.js"
import { IdentityProvider, type ProviderError } from "../../../services/oauth/IdentityProvider.js"
import {
  expiresAfter,
  joinUrl,
  makeProviderHttp,
  nonEmpty,
  optionalNullable,
  stringField,
  tokenAnswerFields,
  type TokenEndpoint,
  tokensFromAnswer
} from "./ProviderHttp.js"
import { withCapabilities } from "./ProviderCapabilities.js"

const PROVIDER = "atlassian"

/** The `audience` every 3LO authorization request must carry. */
export const ATLASSIAN_AUDIENCE = "api.atlassian.com"

/** Path, under `api_url`, of the sites (cloud ids) a token can reach. */
const ACCESSIBLE_RESOURCES_PATH = "/oauth/token/accessible-resources"

/** What each API call is called in messages and logs. */
const callName = {
  fetchUser: "user lookup (GET /me)"
} as const

// ---------------------------------------------------------------------------
// Wire schemas
// ---------------------------------------------------------------------------

const TokenAnswer = Schema.Struct(tokenAnswerFields)
type TokenAnswer = typeof TokenAnswer.Type

const AtlassianMe = Schema.Struct({
  account_id: Schema.NonEmptyString,
  email: optionalNullable(Schema.String),
  name: optionalNullable(Schema.String),
  nickname: optionalNullable(Schema.String),
  picture: optionalNullable(Schema.String)
})
type AtlassianMe = typeof AtlassianMe.Type

// ---------------------------------------------------------------------------
// Helpers (pure)
// ---------------------------------------------------------------------------

/**
 * A JSON POST. Refusals are 4xx JSON; `invalid_grant` on a refresh is a dead (revoked, expired or
 * spent) refresh token. Rotation: a new refresh token replaces the old one, which Atlassian has just
 * disabled. `extra.api_url` records which API gateway (`apiUrl`) the access token belongs to.
 */
const tokenEndpoint = (apiUrl: string): TokenEndpoint<TokenAnswer, typeof TokenAnswer.Encoded> => ({
  encoding: "json",
  exchangeGrantType: true,
  schema: TokenAnswer,
  statusInRefusal: true,
  revokedRefreshErrors: new Set(["invalid_grant"]),
  toTokens: (answer, now, previous, oldRefresh) => ({
    ...tokensFromAnswer(answer, previous, oldRefresh),
    expiresAt: expiresAfter(now, answer.expires_in),
    extra: { ...previous?.extra, api_url: apiUrl }
  })
})

/** `GET` this URL with the user's Bearer token to list the sites (cloud ids) the token can reach. */
export const atlassianAccessibleResourcesUrl = (apiUrl: string): string => joinUrl(apiUrl, ACCESSIBLE_RESOURCES_PATH)

/** The username: `nickname`, else the local part of `email`, else `account_id`. */
export const atlassianUsername = (me: {
  readonly account_id: string
  readonly nickname?: string | null | undefined
  readonly email?: string | null | undefined
}): string => {
  if (nonEmpty(me.nickname)) return me.nickname
  const at = nonEmpty(me.email) ? me.email.lastIndexOf("@") : -1
  const local = nonEmpty(me.email) ? (at >= 0 ? me.email.slice(0, at) : me.email) : ""
  return local !== "" ? local : me.account_id
}

const toProfile = (me: AtlassianMe): UserProfile => {
  const username = atlassianUsername(me)
  return {
    provider: PROVIDER,
    id: me.account_id,
    username,
    name: nonEmpty(me.name) ? me.name : username,
    email: nonEmpty(me.email) ? me.email : "",
    avatarUrl: nonEmpty(me.picture) ? me.picture : undefined
  }
}

// ---------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------

/** The Atlassian `IdentityProvider` on whatever `HttpClient` the environment provides. */
export const makeAtlassianProvider = (
  config: AtlassianConfig
): Effect.Effect<IdentityProvider.Shape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* makeProviderHttp(PROVIDER, config, callName)
    const apiUrl = config.api_url

    // -- operations ----------------------------------------------------------

    const fetchUser = (tokens: UpstreamTokens): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        const request = HttpClientRequest.get(joinUrl(apiUrl, "/me")).pipe(
          HttpClientRequest.bearerToken(tokens.accessToken),
          HttpClientRequest.acceptJson
        )
        const json = yield* http.get("fetchUser", request, (answer) => http.apiJson("fetchUser", answer)).pipe(
          Effect.flatMap((json) => http.jsonObject("fetchUser", json))
        )
        if (Option.isNone(stringField(json, "account_id"))) {
          return yield* http.error("fetchUser", "bad_response", "failed: the response has no user id (account_id)")
        }
        const profile = toProfile(yield* http.decode("fetchUser", AtlassianMe, json))
        return yield* withCapabilities(profile, config.claim_mappings, json, tokens.scopes)
      })

    return http.identityProvider({
      authorizeParams: [
        ["audience", ATLASSIAN_AUDIENCE],
        ["response_type", "code"],
        ["prompt", "consent"]
      ],
      fetchUser,
      tokens: tokenEndpoint(apiUrl)
    })
  })

/** The Atlassian `IdentityProvider`; needs an `HttpClient`. */
export const AtlassianProvider = (config: AtlassianConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  Layer.effect(IdentityProvider, makeAtlassianProvider(config))

/** `AtlassianProvider` on Node's undici `HttpClient` (Node >= 20.18). */
export const AtlassianProviderNode = (config: AtlassianConfig): Layer.Layer<IdentityProvider> =>
  AtlassianProvider(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
