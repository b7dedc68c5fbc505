/**
 * Salesforce (production or sandbox, per `auth_url`/`token_url`) as the upstream identity provider,
 * on `@effect/platform`'s `HttpClient`. The OAuth 2.0 web server flow with PKCE.
 *
 * Wire format:
 * - authorize: `{auth_url}?response_type=code&client_id&redirect_uri&scope&state&code_challenge&code_challenge_method=S256`.
 * - token exchange and refresh: a form POST to `token_url`. Success is JSON
 *   `{access_token, refresh_token?, instance_url, id, token_type, issued_at, signature, scope}` with
 *   no `expires_in` (see `SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS`); a refusal is HTTP 400
 *   `{error, error_description}` (`invalid_grant` "expired authorization code", `invalid_client`, ...):
 *   `rejected`, except `invalid_grant` on refresh, which is `UpstreamGrantRevoked`, and
 *   `rate_limit_exceeded`, which is `unavailable`. `instance_url` and the identity URL `id` are kept
 *   in `extra` (a refresh answer updates them when it carries them and keeps them otherwise).
 *   Salesforce does not rotate refresh tokens by default: a refresh answer without one keeps the old one.
 * - user: `GET {id}` (the identity URL, `https://login.salesforce.com/id/<orgId>/<userId>`) with the
 *   Bearer token → `{user_id, username, display_name, email, ...}`. When there is no usable `id`, or it
 *   answers 404 or something that is not JSON, `GET {instance_url}/services/oauth2/userinfo` (OpenID
 *   Connect: `user_id`, `preferred_username`, `name`, `email`) instead. A 401 means the access token
 *   is expired or revoked (`rejected`): the caller refreshes and tries again.
 *
 * Failures, timeouts, retries (the GETs only) and logging are `ProviderHttp`'s; a token answer without
 * a valid `instance_url` (on the code exchange) or a user without `user_id` is `bad_response`.
 */
import type { HttpClient } from "@effect/platform"
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Layer, Option, type Redacted, Schema } from "effect"
import type { SalesforceConfig } from "../../../domain/config/UserConfig.js"
import type { UpstreamTokens, UserProfile } from "../../../domain/oauth/Identity.js"
import { IdentityProvider, type ProviderError } from "../../../services/oauth/IdentityProvider.js"
import {
  type Answer,
  joinUrl,
  makeProviderHttp,
  nonEmpty,
  optionalNullable,
  parseJson,
  tokenAnswerFields,
  type TokenEndpoint,
  tokensFromAnswer
} from "./ProviderHttp.js"
import { withCapabilities } from "./ProviderCapabilities.js"

const PROVIDER = "salesforce"

/**
 * How long a Salesforce access token is assumed to live: 2 hours.
 *
 * Salesforce token responses carry no `expires_in`. An access token is a session id, and a
 * session's timeout is set per org (Setup → Session Settings, 2 hours by default; a connected app
 * may override it). Tokens are therefore treated as expiring 2 hours after they were issued, so
 * the server refreshes them proactively; because an org may use a shorter timeout, a 401 from
 * Salesforce (`INVALID_SESSION_ID`) means "refresh" as well.
 */
export const SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS = 2 * 60 * 60 * 1000

const USERINFO_PATH = "/services/oauth2/userinfo"

/** What each API call is called in messages and logs. */
const callName = {
  fetchUser: "identity lookup (GET id URL)",
  fetchUserInfo: `user info lookup (GET instance_url${USERINFO_PATH})`
} as const

// ---------------------------------------------------------------------------
// Wire schemas
// ---------------------------------------------------------------------------

/** `expires_in` is not sent by Salesforce today; honoured if it ever is. */
const TokenAnswer = Schema.Struct({
  ...tokenAnswerFields,
  instance_url: optionalNullable(Schema.String),
  id: optionalNullable(Schema.String)
})
type TokenAnswer = typeof TokenAnswer.Type

/** The fields mxcp reads from the identity URL and from userinfo (the rest is ignored). */
const SalesforceUser = Schema.Struct({
  user_id: Schema.NonEmptyString,
  /** Identity URL. */
  username: optionalNullable(Schema.String),
  display_name: optionalNullable(Schema.String),
  photos: optionalNullable(Schema.Struct({ picture: optionalNullable(Schema.String), thumbnail: optionalNullable(Schema.String) })),
  /** userinfo (OpenID Connect). */
  preferred_username: optionalNullable(Schema.String),
  name: optionalNullable(Schema.String),
  picture: optionalNullable(Schema.String),
  /** Both. */
  email: optionalNullable(Schema.String)
})
type SalesforceUser = typeof SalesforceUser.Type

// ---------------------------------------------------------------------------
// Helpers (pure)
// ---------------------------------------------------------------------------

/** What a user GET produced, when it was not a failure. */
type GetOutcome =
  | { readonly _tag: "Json"; readonly json: unknown }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "NotJson" }

/** `s` when it is an absolute http(s) URL. */
const httpUrl = (s: string | null | undefined): Option.Option<string> => {
  if (!nonEmpty(s)) return Option.none()
  return Either.getRight(Either.try(() => new URL(s))).pipe(
    Option.filter((url) => url.protocol === "https:" || url.protocol === "http:"),
    Option.as(s)
  )
}

const firstNonEmpty = (...values: ReadonlyArray<string | null | undefined>): string | undefined => values.find(nonEmpty)

/** A `UserProfile` from an identity URL or userinfo answer. */
const toProfile = (user: SalesforceUser): UserProfile => {
  const username = firstNonEmpty(user.username, user.preferred_username, user.email) ?? user.user_id
  return {
    provider: PROVIDER,
    id: user.user_id,
    username,
    name: firstNonEmpty(user.display_name, user.name) ?? username,
    email: nonEmpty(user.email) ? user.email : "",
    avatarUrl: firstNonEmpty(user.photos?.picture, user.picture)
  }
}

/** `instance_url` and the identity URL `id` go to `extra` (a refresh without them keeps the old ones). */
const toTokens = (
  answer: TokenAnswer,
  now: number,
  previous: UpstreamTokens | undefined,
  oldRefresh: Redacted.Redacted<string> | undefined
): UpstreamTokens => {
  const extra: Record<string, string> = { ...previous?.extra }
  const instanceUrl = httpUrl(answer.instance_url)
  if (Option.isSome(instanceUrl)) extra["instance_url"] = instanceUrl.value
  const idUrl = httpUrl(answer.id)
  if (Option.isSome(idUrl)) extra["id"] = idUrl.value
  const lifetimeMs = answer.expires_in === undefined ? SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS : Math.round(answer.expires_in * 1000)
  return { ...tokensFromAnswer(answer, previous, oldRefresh), expiresAt: now + lifetimeMs, extra }
}

/**
 * A form POST. Refusals are HTTP 400 JSON; `invalid_grant` on a refresh is a dead refresh token
 * (revoked, expired, app uninstalled); `rate_limit_exceeded` and the like mean "try again later". The
 * code exchange must say where the org lives (`instance_url`); a refresh answer may leave it out (kept).
 */
const tokenEndpoint: TokenEndpoint<TokenAnswer, typeof TokenAnswer.Encoded> = {
  encoding: "form",
  exchangeGrantType: true,
  schema: TokenAnswer,
  unavailableErrors: new Set(["rate_limit_exceeded", "server_error", "temporarily_unavailable"]),
  revokedRefreshErrors: new Set(["invalid_grant"]),
  invalid: (operation, fields) =>
    (nonEmpty(fields.instance_url) ? Option.isNone(httpUrl(fields.instance_url)) : operation === "exchangeCode")
      ? "the response has no valid instance_url"
      : undefined,
  toTokens
}

// ---------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------

/** The Salesforce `IdentityProvider` on whatever `HttpClient` the environment provides. */
export const makeSalesforceProvider = (
  config: SalesforceConfig
): Effect.Effect<IdentityProvider.Shape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* makeProviderHttp(PROVIDER, config, callName)

    // -- user lookups --------------------------------------------------------

    /** 404 and a 2xx that is not JSON are outcomes (the identity URL falls back on them). */
    const readUserAnswer =
      (operation: "fetchUser" | "fetchUserInfo") =>
      (answer: Answer): Effect.Effect<GetOutcome, ProviderError> =>
        answer.status === 404
          ? Effect.succeed({ _tag: "NotFound" } as const)
          : http
              .checkApiStatus(operation, answer, {
                unauthorized: "the access token is expired or not valid (HTTP 401); refresh it"
              })
              .pipe(
                Effect.as(
                  Option.match(parseJson(answer.text), {
                    onNone: (): GetOutcome => ({ _tag: "NotJson" }),
                    onSome: (json): GetOutcome => ({ _tag: "Json", json })
                  })
                )
              )

    /** An authenticated GET, retried while `unavailable`, bounded by the timeout. */
    const apiGet = (
      operation: "fetchUser" | "fetchUserInfo",
      url: string,
      accessToken: Redacted.Redacted<string>
    ): Effect.Effect<GetOutcome, ProviderError> =>
      http.get(
        operation,
        HttpClientRequest.get(url).pipe(HttpClientRequest.bearerToken(accessToken), HttpClientRequest.acceptJson),
        readUserAnswer(operation)
      )

    const decodeUser = (
      operation: "fetchUser" | "fetchUserInfo",
      json: unknown,
      tokens: UpstreamTokens
    ): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        const record = yield* http.jsonObject(operation, json)
        if (record["user_id"] === undefined || record["user_id"] === null || record["user_id"] === "") {
          return yield* http.error(operation, "bad_response", "failed: the response has no user id (user_id)")
        }
        const profile = toProfile(yield* http.decode(operation, SalesforceUser, record))
        return yield* withCapabilities(profile, config.claim_mappings, record, tokens.scopes)
      })

    /** The OpenID Connect userinfo endpoint of the user's instance. */
    const fetchUserInfo = (tokens: UpstreamTokens): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        const instanceUrl = httpUrl(tokens.extra["instance_url"])
        if (Option.isNone(instanceUrl)) {
          return yield* http.error("fetchUserInfo", "bad_response", "failed: no identity URL and no instance_url to ask")
        }
        const outcome = yield* apiGet("fetchUserInfo", joinUrl(instanceUrl.value, USERINFO_PATH), tokens.accessToken)
        switch (outcome._tag) {
          case "NotFound":
            return yield* http.error("fetchUserInfo", "rejected", "was refused: HTTP 404")
          case "NotJson":
            return yield* http.error("fetchUserInfo", "bad_response", "failed: the response is not JSON")
          case "Json":
            return yield* decodeUser("fetchUserInfo", outcome.json, tokens)
        }
      })

    // -- operations ----------------------------------------------------------

    const fetchUser = (tokens: UpstreamTokens): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        const idUrl = httpUrl(tokens.extra["id"])
        if (Option.isNone(idUrl)) {
          yield* Effect.logDebug("Salesforce tokens carry no identity URL; asking userinfo").pipe(
            Effect.annotateLogs({ operation: "fetchUser" })
          )
          return yield* fetchUserInfo(tokens)
        }
        const outcome = yield* apiGet("fetchUser", idUrl.value, tokens.accessToken)
        if (outcome._tag === "Json") return yield* decodeUser("fetchUser", outcome.json, tokens)
        yield* Effect.logInfo(
          `Salesforce ${callName.fetchUser} ${outcome._tag === "NotFound" ? "answered HTTP 404" : "answered something that is not JSON"}; falling back to userinfo`
        ).pipe(Effect.annotateLogs({ operation: "fetchUser" }))
        return yield* fetchUserInfo(tokens)
      })

    return http.identityProvider({ authorizeParams: [["response_type", "code"]], fetchUser, tokens: tokenEndpoint })
  })

/** The Salesforce `IdentityProvider`; needs an `HttpClient`. */
export const SalesforceProvider = (config: SalesforceConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  Layer.effect(IdentityProvider, makeSalesforceProvider(config))

/** `SalesforceProvider` on Node's undici `HttpClient` (Node >= 20.18). */
export const SalesforceProviderNode = (config: SalesforceConfig): Layer.Layer<IdentityProvider> =>
  SalesforceProvider(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
