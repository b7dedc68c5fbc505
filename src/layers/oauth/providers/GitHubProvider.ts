/**
 * GitHub as the upstream identity provider (OAuth Apps and GitHub Apps), on `@effect/platform`'s
 * `HttpClient`.
 *
 * Wire format:
 * - authorize: `{auth_url}?client_id&redirect_uri&scope&state&code_challenge&code_challenge_method=S256`.
 * - token exchange and refresh: a form POST to `token_url` with `Accept: application/json`. GitHub
 *   answers HTTP 200 even for a bad code, with `{error, error_description}` in the body; that is a
 *   `rejected` failure (`bad_refresh_token` / `invalid_grant` on refresh: `UpstreamGrantRevoked`).
 *   A form-encoded answer (what GitHub sends without the Accept header) is understood as well.
 *   Granted scopes are comma-separated. GitHub App tokens that expire carry `expires_in`,
 *   `refresh_token` and `refresh_token_expires_in`; the last one is kept in `extra` as
 *   `refresh_token_expires_at` (epoch ms). A refresh answer without a refresh token keeps the old one.
 * - user: `GET {api_url}/user`; when its `email` is null or empty, `GET {api_url}/user/emails` and take
 *   the primary verified address, else the first verified one, else `''`. An emails call the token
 *   may not make (no `user:email` scope: 403/404) gives `''`; an unavailable one fails the login.
 *
 * Failures, timeouts, retries (the GETs only) and logging are `ProviderHttp`'s; a 403 with
 * `x-ratelimit-remaining: 0` counts as rate limited (`unavailable`) like a 429.
 */
import type { HttpClient } from "@effect/platform"
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, type Redacted, Schema } from "effect"
import type { GitHubConfig } from "../../../domain/config/UserConfig.js"
import type { UpstreamTokens, UserProfile } from "../../../domain/oauth/Identity.js"
import { IdentityProvider, type ProviderError } from "../../../services/oauth/IdentityProvider.js"
import {
  type Answer,
  type ApiAnswerRules,
  expiresAfter,
  joinUrl,
  makeProviderHttp,
  nonEmpty,
  optionalNullable,
  parseJsonObject,
  tokenAnswerFields,
  type TokenEndpoint,
  tokensFromAnswer,
  WireSeconds
} from "./ProviderHttp.js"
import { withCapabilities } from "./ProviderCapabilities.js"

const PROVIDER = "github"
const API_VERSION = "2022-11-28"

/** What each API call is called in messages and logs. */
const callName = {
  fetchUser: "user lookup (GET /user)",
  fetchUserEmails: "email lookup (GET /user/emails)"
} as const

// ---------------------------------------------------------------------------
// Wire schemas
// ---------------------------------------------------------------------------

const TokenAnswer = Schema.Struct({
  ...tokenAnswerFields,
  refresh_token_expires_in: optionalNullable(WireSeconds)
})
type TokenAnswer = typeof TokenAnswer.Type

const GitHubUser = Schema.Struct({
  id: Schema.Union(Schema.Number.pipe(Schema.int()), Schema.NonEmptyString),
  login: Schema.NonEmptyString,
  name: optionalNullable(Schema.String),
  email: optionalNullable(Schema.String),
  avatar_url: optionalNullable(Schema.String)
})

const GitHubEmail = Schema.Struct({
  email: Schema.String,
  primary: optionalNullable(Schema.Boolean),
  verified: optionalNullable(Schema.Boolean)
})
const GitHubEmails = Schema.Array(GitHubEmail)

// ---------------------------------------------------------------------------
// Helpers (pure)
// ---------------------------------------------------------------------------

/** A token endpoint answer as key/values: JSON, or form-encoded when GitHub chose that format. */
const parseTokenBody = (answer: Answer): Option.Option<Record<string, unknown>> =>
  answer.contentType.includes("application/x-www-form-urlencoded")
    ? Option.some(Object.fromEntries(new URLSearchParams(answer.text)))
    : parseJsonObject(answer.text)

/** GitHub's primary rate limit answers 403 with `x-ratelimit-remaining: 0`. */
const apiRules: ApiAnswerRules = {
  rateLimited: (answer) => answer.status === 403 && answer.headers["x-ratelimit-remaining"] === "0"
}

/** Picks the address to use from `/user/emails`: primary and verified, else the first verified, else ''. */
export const pickGitHubEmail = (
  emails: ReadonlyArray<{ readonly email: string; readonly primary?: boolean | undefined; readonly verified?: boolean | undefined }>
): string =>
  emails.find((e) => e.primary === true && e.verified === true && e.email !== "")?.email ??
  emails.find((e) => e.verified === true && e.email !== "")?.email ??
  ""

const toTokens = (
  answer: TokenAnswer,
  now: number,
  previous: UpstreamTokens | undefined,
  oldRefresh: Redacted.Redacted<string> | undefined
): UpstreamTokens => {
  const extra: Record<string, string> = { ...previous?.extra }
  delete extra["refresh_token_expires_at"]
  const refreshExpiresAt = expiresAfter(now, answer.refresh_token_expires_in)
  if (refreshExpiresAt !== undefined) extra["refresh_token_expires_at"] = String(refreshExpiresAt)
  return { ...tokensFromAnswer(answer, previous, oldRefresh), expiresAt: expiresAfter(now, answer.expires_in), extra }
}

/**
 * A form POST; the code exchange takes no grant_type. Refusals are HTTP 200 with an `error` field;
 * `bad_refresh_token` (or `invalid_grant`) on a refresh is a dead refresh token.
 */
const tokenEndpoint: TokenEndpoint<TokenAnswer, typeof TokenAnswer.Encoded> = {
  encoding: "form",
  exchangeGrantType: false,
  schema: TokenAnswer,
  parseBody: parseTokenBody,
  revokedRefreshErrors: new Set(["bad_refresh_token", "invalid_grant"]),
  toTokens
}

// ---------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------

/** The GitHub `IdentityProvider` on whatever `HttpClient` the environment provides. */
export const makeGitHubProvider = (
  config: GitHubConfig
): Effect.Effect<IdentityProvider.Shape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* makeProviderHttp(PROVIDER, config, callName)

    /** An authenticated GET on the REST API, retried while `unavailable`, bounded by the timeout. */
    const apiGet = (
      operation: "fetchUser" | "fetchUserEmails",
      path: string,
      accessToken: Redacted.Redacted<string>
    ): Effect.Effect<unknown, ProviderError> => {
      const request = HttpClientRequest.get(joinUrl(config.api_url, path)).pipe(
        HttpClientRequest.bearerToken(accessToken),
        HttpClientRequest.accept("application/vnd.github+json"),
        HttpClientRequest.setHeader("X-GitHub-Api-Version", API_VERSION)
      )
      return http.get(operation, request, (answer) => http.apiJson(operation, answer, apiRules))
    }

    const fetchEmail = (accessToken: Redacted.Redacted<string>): Effect.Effect<string, ProviderError> =>
      apiGet("fetchUserEmails", "/user/emails", accessToken).pipe(
        Effect.flatMap((json) =>
          Schema.decodeUnknown(GitHubEmails)(json).pipe(
            Effect.mapError(() => http.error("fetchUserEmails", "bad_response", "failed: the response is not a list of emails"))
          )
        ),
        Effect.map(pickGitHubEmail),
        Effect.catchIf(
          (error) => error.kind === "rejected",
          (error) =>
            Effect.logWarning(`${error.message}; continuing without an email`).pipe(
              Effect.annotateLogs({ provider: PROVIDER, operation: error.operation, kind: error.kind }),
              Effect.as("")
            )
        )
      )

    // -- operations ----------------------------------------------------------

    const fetchUser = (tokens: UpstreamTokens): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        const json = yield* apiGet("fetchUser", "/user", tokens.accessToken).pipe(
          Effect.flatMap((json) => http.jsonObject("fetchUser", json))
        )
        if (json["id"] === undefined || json["id"] === null) {
          return yield* http.error("fetchUser", "bad_response", "failed: the response has no user id")
        }
        const user = yield* http.decode("fetchUser", GitHubUser, json)
        const email = nonEmpty(user.email) ? user.email : yield* fetchEmail(tokens.accessToken)
        const profile: UserProfile = {
          provider: PROVIDER,
          id: String(user.id),
          username: user.login,
          name: nonEmpty(user.name) ? user.name : user.login,
          email,
          avatarUrl: nonEmpty(user.avatar_url) ? user.avatar_url : undefined
        }
        return yield* withCapabilities(profile, config.claim_mappings, json, tokens.scopes)
      })

    return http.identityProvider({ fetchUser, tokens: tokenEndpoint })
  })

/** The GitHub `IdentityProvider`; needs an `HttpClient`. */
export const GitHubProvider = (config: GitHubConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  Layer.effect(IdentityProvider, makeGitHubProvider(config))

/** `GitHubProvider` on Node's undici `HttpClient` (Node >= 20.18). */
export const GitHubProviderNode = (config: GitHubConfig): Layer.Layer<IdentityProvider> =>
  GitHubProvider(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
