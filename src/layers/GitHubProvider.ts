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
 * Failures are `ProviderError`s: network errors, timeouts, 5xx and 429 are `unavailable`; an answer
 * that is not JSON or lacks a required field is `bad_response`; a refusal (an `error` field, 401, other
 * 4xx) is `rejected`. Each upstream call is bounded by `config.timeout` seconds, retries included. Only
 * the idempotent GETs are retried (twice, short exponential backoff, `unavailable` only); the token POST
 * never is. Messages and logs name the call that failed and never carry a token, code or secret.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import type { HttpClientError, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Duration, Effect, Either, Layer, Option, ParseResult, Redacted, Schedule, Schema } from "effect"
import type { GitHubConfig } from "../domain/config/UserConfig.js"
import type { UpstreamTokens, UserProfile } from "../domain/oauth/Identity.js"
import { parseProviderScopes } from "../domain/oauth/Scopes.js"
import { IdentityProvider, ProviderError, UpstreamGrantRevoked } from "../services/IdentityProvider.js"

const PROVIDER = "github"
const USER_AGENT = "mxcp-ts"
const API_VERSION = "2022-11-28"

/** GET retries: how many after the first attempt, and the first backoff (doubled each time). */
const GET_RETRIES = 2
const GET_RETRY_BASE = Duration.millis(100)

/** `error` values on a refresh answer that mean the refresh token is dead. */
const REVOKED_REFRESH_ERRORS: ReadonlySet<string> = new Set(["bad_refresh_token", "invalid_grant"])

type Operation = "exchangeCode" | "refresh" | "fetchUser" | "fetchUserEmails"

/** What each operation is called in messages and logs. */
const callName: Record<Operation, string> = {
  exchangeCode: "token exchange (POST token_url)",
  refresh: "token refresh (POST token_url)",
  fetchUser: "user lookup (GET /user)",
  fetchUserEmails: "email lookup (GET /user/emails)"
}

// ---------------------------------------------------------------------------
// Wire schemas
// ---------------------------------------------------------------------------

/** Seconds as GitHub sends them: a JSON number, or a string in a form-encoded answer. */
const WireSeconds = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(Schema.finite(), Schema.nonNegative())

const optionalNullable = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.optionalWith(schema, { nullable: true })

const TokenAnswer = Schema.Struct({
  access_token: Schema.NonEmptyString,
  token_type: optionalNullable(Schema.String),
  scope: optionalNullable(Schema.String),
  expires_in: optionalNullable(WireSeconds),
  refresh_token: optionalNullable(Schema.String),
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

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

const providerError = (operation: Operation, kind: ProviderError["kind"], detail: string): ProviderError =>
  new ProviderError({ provider: PROVIDER, operation, kind, message: `GitHub ${callName[operation]} ${detail}` })

/** Upstream free text for a message: one line, printable, bounded. */
const sanitize = (s: string): string => {
  const oneLine = s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim()
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseJson = (text: string): Option.Option<unknown> =>
  Either.getRight(Either.try(() => JSON.parse(text) as unknown))

/** A token endpoint answer as key/values: JSON, or form-encoded when GitHub chose that format. */
const parseTokenBody = (answer: Answer): Option.Option<Record<string, unknown>> => {
  if (answer.contentType.includes("application/x-www-form-urlencoded")) {
    return Option.some(Object.fromEntries(new URLSearchParams(answer.text)))
  }
  return parseJson(answer.text).pipe(Option.filter(isRecord))
}

/** Names of the fields a decode failed on (never their values: they may be tokens). */
const failedFields = (error: ParseResult.ParseError): string => {
  const paths = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? "(body)" : issue.path.map(String).join(".")
  )
  return Array.from(new Set(paths)).join(", ")
}

const describeTransportError = (error: HttpClientError.HttpClientError): string => {
  if (error._tag === "RequestError") {
    return error.reason === "Transport"
      ? "failed: GitHub could not be reached (connection refused, reset or DNS failure)"
      : `failed: the request could not be sent (${error.reason})`
  }
  return "failed: the response could not be read"
}

const nonEmpty = (s: string | undefined): s is string => s !== undefined && s !== ""

const joinUrl = (base: string, path: string): string => `${base.replace(/\/+$/, "")}${path}`

const isRateLimited = (answer: Answer): boolean =>
  answer.status === 429 || (answer.status === 403 && answer.headers["x-ratelimit-remaining"] === "0")

/** Picks the address to use from `/user/emails`: primary and verified, else the first verified, else ''. */
export const pickGitHubEmail = (
  emails: ReadonlyArray<{ readonly email: string; readonly primary?: boolean | undefined; readonly verified?: boolean | undefined }>
): string =>
  emails.find((e) => e.primary === true && e.verified === true && e.email !== "")?.email ??
  emails.find((e) => e.verified === true && e.email !== "")?.email ??
  ""

// ---------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------

/** The GitHub `IdentityProvider` on whatever `HttpClient` the environment provides. */
export const makeGitHubProvider = (
  config: GitHubConfig
): Effect.Effect<IdentityProvider.Shape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const timeoutSeconds = config.timeout
    const timeout = Duration.seconds(timeoutSeconds)
    const clientId = config.client_id ?? ""
    if (clientId === "" || config.client_secret === undefined) {
      yield* Effect.logWarning("GitHub OAuth configuration is incomplete: client_id or client_secret is missing").pipe(
        Effect.annotateLogs({ provider: PROVIDER })
      )
    }
    const apiUrl = config.api_url

    /** One HTTP round trip, body read included; transport failures are `unavailable`. */
    const send = (operation: Operation, request: HttpClientRequest.HttpClientRequest): Effect.Effect<Answer, ProviderError> =>
      Effect.gen(function* () {
        yield* Effect.logDebug(`GitHub call: ${callName[operation]}`).pipe(
          Effect.annotateLogs({ provider: PROVIDER, operation })
        )
        const response: HttpClientResponse.HttpClientResponse = yield* http.execute(
          request.pipe(HttpClientRequest.setHeader("User-Agent", USER_AGENT))
        )
        const text = yield* response.text
        return {
          status: response.status,
          contentType: (response.headers["content-type"] ?? "").toLowerCase(),
          headers: response.headers,
          text
        }
      }).pipe(Effect.mapError((error) => providerError(operation, "unavailable", describeTransportError(error))))

    const withTimeout = <A, E>(operation: Operation, effect: Effect.Effect<A, E>): Effect.Effect<A, E | ProviderError> =>
      effect.pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => providerError(operation, "unavailable", `timed out after ${timeoutSeconds}s`)
        })
      )

    const logFailure =
      (operation: Operation) =>
      <A, E extends ProviderError | UpstreamGrantRevoked, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        effect.pipe(
          Effect.tapError((error) =>
            error._tag === "ProviderError"
              ? Effect.logWarning(error.message).pipe(Effect.annotateLogs({ operation: error.operation, kind: error.kind }))
              : Effect.logWarning(`GitHub ${callName[operation]} failed: the refresh token is no longer valid`).pipe(
                  Effect.annotateLogs({ operation })
                )
          ),
          Effect.annotateLogs({ provider: PROVIDER })
        )

    // -- token endpoint ------------------------------------------------------

    const tokenRequest = (params: Record<string, string>): HttpClientRequest.HttpClientRequest =>
      HttpClientRequest.post(config.token_url).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUrlParams({
          client_id: clientId,
          client_secret: config.client_secret === undefined ? "" : Redacted.value(config.client_secret),
          ...params
        })
      )

    /**
     * Interprets a token endpoint answer: tokens, or why not. `revoked` turns an `error` code into a
     * failure of its own (refresh: the grant is gone); other codes are `rejected`.
     */
    const readTokenAnswer = <E>(
      operation: "exchangeCode" | "refresh",
      answer: Answer,
      revoked: (errorCode: string) => Option.Option<E>
    ): Effect.Effect<TokenAnswer, ProviderError | E> =>
      Effect.gen(function* () {
        if (answer.status >= 500 || answer.status === 429) {
          return yield* providerError(operation, "unavailable", `failed: HTTP ${answer.status}`)
        }
        const body = parseTokenBody(answer)
        const errorCode = Option.flatMap(body, (b) =>
          typeof b["error"] === "string" && b["error"] !== "" ? Option.some(b["error"]) : Option.none()
        )
        if (Option.isSome(errorCode)) {
          const revokedError = revoked(errorCode.value)
          if (Option.isSome(revokedError)) return yield* Effect.fail(revokedError.value)
          const description = Option.flatMap(body, (b) =>
            typeof b["error_description"] === "string" && b["error_description"] !== ""
              ? Option.some(sanitize(b["error_description"]))
              : Option.none()
          )
          const detail = Option.match(description, { onNone: () => "", onSome: (d) => ` (${d})` })
          return yield* providerError(operation, "rejected", `was refused: ${sanitize(errorCode.value)}${detail}`)
        }
        if (answer.status >= 400) {
          return yield* providerError(operation, "rejected", `was refused: HTTP ${answer.status}`)
        }
        if (answer.status < 200 || answer.status >= 300) {
          return yield* providerError(operation, "bad_response", `failed: unexpected HTTP ${answer.status}`)
        }
        if (Option.isNone(body)) {
          return yield* providerError(operation, "bad_response", "failed: the response is not a JSON object")
        }
        if (!nonEmpty(typeof body.value["access_token"] === "string" ? body.value["access_token"] : undefined)) {
          return yield* providerError(operation, "bad_response", "failed: the response has no access_token")
        }
        return yield* Schema.decodeUnknown(TokenAnswer)(body.value).pipe(
          Effect.mapError((error) =>
            providerError(operation, "bad_response", `failed: malformed field(s) in the response: ${failedFields(error)}`)
          )
        )
      })

    const toTokens = (answer: TokenAnswer, now: number, previous: UpstreamTokens | undefined, oldRefresh?: Redacted.Redacted<string>): UpstreamTokens => {
      const extra: Record<string, string> = { ...previous?.extra }
      delete extra["refresh_token_expires_at"]
      if (answer.refresh_token_expires_in !== undefined) {
        extra["refresh_token_expires_at"] = String(now + Math.round(answer.refresh_token_expires_in * 1000))
      }
      return {
        accessToken: Redacted.make(answer.access_token),
        refreshToken: nonEmpty(answer.refresh_token) ? Redacted.make(answer.refresh_token) : oldRefresh,
        expiresAt: answer.expires_in === undefined ? undefined : now + Math.round(answer.expires_in * 1000),
        scopes: answer.scope !== undefined ? parseProviderScopes(answer.scope) : (previous?.scopes ?? []),
        extra
      }
    }

    // -- REST API ------------------------------------------------------------

    /** An authenticated GET on the REST API, retried while `unavailable`, bounded by the timeout. */
    const apiGet = (
      operation: "fetchUser" | "fetchUserEmails",
      path: string,
      accessToken: Redacted.Redacted<string>
    ): Effect.Effect<unknown, ProviderError> => {
      const request = HttpClientRequest.get(joinUrl(apiUrl, path)).pipe(
        HttpClientRequest.bearerToken(accessToken),
        HttpClientRequest.accept("application/vnd.github+json"),
        HttpClientRequest.setHeader("X-GitHub-Api-Version", API_VERSION)
      )
      const attempt = Effect.gen(function* () {
        const answer = yield* send(operation, request)
        if (answer.status >= 500 || isRateLimited(answer)) {
          return yield* providerError(operation, "unavailable", `failed: HTTP ${answer.status}`)
        }
        if (answer.status === 401) {
          return yield* providerError(operation, "rejected", "was refused: the access token is not valid (HTTP 401)")
        }
        if (answer.status >= 400) {
          return yield* providerError(operation, "rejected", `was refused: HTTP ${answer.status}`)
        }
        if (answer.status < 200 || answer.status >= 300) {
          return yield* providerError(operation, "bad_response", `failed: unexpected HTTP ${answer.status}`)
        }
        return yield* Option.match(parseJson(answer.text), {
          onNone: () => Effect.fail(providerError(operation, "bad_response", "failed: the response is not JSON")),
          onSome: Effect.succeed
        })
      })
      return withTimeout(
        operation,
        attempt.pipe(
          Effect.tapError((error) =>
            error.kind === "unavailable"
              ? Effect.logDebug(`${error.message}; retrying if attempts remain`).pipe(
                  Effect.annotateLogs({ provider: PROVIDER, operation })
                )
              : Effect.void
          ),
          Effect.retry({
            schedule: Schedule.exponential(GET_RETRY_BASE),
            times: GET_RETRIES,
            while: (error) => error.kind === "unavailable"
          })
        )
      )
    }

    const fetchEmail = (accessToken: Redacted.Redacted<string>): Effect.Effect<string, ProviderError> =>
      apiGet("fetchUserEmails", "/user/emails", accessToken).pipe(
        Effect.flatMap((json) =>
          Schema.decodeUnknown(GitHubEmails)(json).pipe(
            Effect.mapError(() => providerError("fetchUserEmails", "bad_response", "failed: the response is not a list of emails"))
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

    const authorizeUrl: IdentityProvider.Shape["authorizeUrl"] = ({ codeChallenge, redirectUri, state }) => {
      const url = new URL(config.auth_url)
      url.searchParams.set("client_id", clientId)
      url.searchParams.set("redirect_uri", redirectUri)
      url.searchParams.set("scope", config.scope)
      url.searchParams.set("state", state)
      url.searchParams.set("code_challenge", codeChallenge)
      url.searchParams.set("code_challenge_method", "S256")
      return url.toString()
    }

    const exchangeCode = Effect.fn("GitHubProvider.exchangeCode")(
      function* (params: { readonly code: string; readonly redirectUri: string; readonly codeVerifier: string }) {
        const request = tokenRequest({
          code: params.code,
          redirect_uri: params.redirectUri,
          code_verifier: params.codeVerifier
        })
        const answer = yield* withTimeout("exchangeCode", send("exchangeCode", request))
        const fields = yield* readTokenAnswer("exchangeCode", answer, () => Option.none<never>())
        const now = yield* Clock.currentTimeMillis
        return toTokens(fields, now, undefined)
      },
      logFailure("exchangeCode")
    )

    const fetchUser = Effect.fn("GitHubProvider.fetchUser")(
      function* (tokens: UpstreamTokens) {
        const json = yield* apiGet("fetchUser", "/user", tokens.accessToken)
        if (!isRecord(json)) {
          return yield* providerError("fetchUser", "bad_response", "failed: the response is not a JSON object")
        }
        if (json["id"] === undefined || json["id"] === null) {
          return yield* providerError("fetchUser", "bad_response", "failed: the response has no user id")
        }
        const user = yield* Schema.decodeUnknown(GitHubUser)(json).pipe(
          Effect.mapError((error) =>
            providerError("fetchUser", "bad_response", `failed: malformed field(s) in the response: ${failedFields(error)}`)
          )
        )
        const email = nonEmpty(user.email) ? user.email : yield* fetchEmail(tokens.accessToken)
        const profile: UserProfile = {
          provider: PROVIDER,
          id: String(user.id),
          username: user.login,
          name: nonEmpty(user.name) ? user.name : user.login,
          email,
          avatarUrl: nonEmpty(user.avatar_url) ? user.avatar_url : undefined
        }
        return profile
      },
      logFailure("fetchUser")
    )

    const refresh = Effect.fn("GitHubProvider.refresh")(
      function* (refreshToken: Redacted.Redacted<string>, previous: UpstreamTokens) {
        const request = tokenRequest({ grant_type: "refresh_token", refresh_token: Redacted.value(refreshToken) })
        const answer = yield* withTimeout("refresh", send("refresh", request))
        const fields = yield* readTokenAnswer("refresh", answer, (errorCode) =>
          REVOKED_REFRESH_ERRORS.has(errorCode) ? Option.some(new UpstreamGrantRevoked({ provider: PROVIDER })) : Option.none()
        )
        const now = yield* Clock.currentTimeMillis
        return toTokens(fields, now, previous, refreshToken)
      },
      logFailure("refresh")
    )

    return IdentityProvider.of({
      name: PROVIDER,
      callbackPath: config.callback_path,
      authorizeUrl,
      exchangeCode,
      fetchUser,
      refresh
    })
  })

/** The GitHub `IdentityProvider`; needs an `HttpClient`. */
export const GitHubProvider = (config: GitHubConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  Layer.effect(IdentityProvider, makeGitHubProvider(config))

/** `GitHubProvider` on Node's undici `HttpClient` (Node >= 20.18). */
export const GitHubProviderNode = (config: GitHubConfig): Layer.Layer<IdentityProvider> =>
  GitHubProvider(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
