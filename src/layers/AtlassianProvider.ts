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
 * ```sql
 * -- the sites (cloud ids) the user's token can reach: [{id, url, name, scopes, avatarUrl}]
 * SELECT id AS cloud_id, url, name
 * FROM read_json_auto('https://api.atlassian.com/oauth/token/accessible-resources',
 *   headers = MAP {'Authorization': 'Bearer ' || get_user_external_token()});
 * -- then call a product API through the gateway, e.g. Jira:
 * --   https://api.atlassian.com/ex/jira/{cloud_id}/rest/api/3/project
 * -- or Confluence:
 * --   https://api.atlassian.com/ex/confluence/{cloud_id}/wiki/rest/api/space
 * ```
 *
 * `atlassianAccessibleResourcesUrl(api_url)` builds the first URL for a configured `api_url`.
 *
 * Failures are `ProviderError`s: network errors, timeouts, 5xx and 429 are `unavailable`; an answer
 * that is not JSON or lacks a required field (`access_token`, `account_id`) is `bad_response`; a refusal
 * (4xx, an `error` field) is `rejected`. Each upstream call is bounded by `config.timeout` seconds,
 * retries included. Only the idempotent `GET /me` is retried (twice, short exponential backoff,
 * `unavailable` only); the token POSTs never are (a retried refresh would spend a rotating token twice).
 * Messages and logs name the call that failed and never carry a token, code or secret.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import type { HttpClientError, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Duration, Effect, Either, Layer, Option, ParseResult, Redacted, Schedule, Schema } from "effect"
import type { AtlassianConfig } from "../domain/config/UserConfig.js"
import type { UpstreamTokens, UserProfile } from "../domain/oauth/Identity.js"
import { parseProviderScopes } from "../domain/oauth/Scopes.js"
import { IdentityProvider, ProviderError, UpstreamGrantRevoked } from "../services/IdentityProvider.js"

const PROVIDER = "atlassian"
const USER_AGENT = "mxcp-ts"

/** The `audience` every 3LO authorization request must carry. */
export const ATLASSIAN_AUDIENCE = "api.atlassian.com"

/** Path, under `api_url`, of the sites (cloud ids) a token can reach. */
const ACCESSIBLE_RESOURCES_PATH = "/oauth/token/accessible-resources"

/** GET retries: how many after the first attempt, and the first backoff (doubled each time). */
const GET_RETRIES = 2
const GET_RETRY_BASE = Duration.millis(100)

/** `error` values on a refresh answer that mean the refresh token is dead. */
const REVOKED_REFRESH_ERRORS: ReadonlySet<string> = new Set(["invalid_grant"])

type Operation = "exchangeCode" | "refresh" | "fetchUser"

/** What each operation is called in messages and logs. */
const callName: Record<Operation, string> = {
  exchangeCode: "token exchange (POST token_url)",
  refresh: "token refresh (POST token_url)",
  fetchUser: "user lookup (GET /me)"
}

// ---------------------------------------------------------------------------
// Wire schemas
// ---------------------------------------------------------------------------

const WireSeconds = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(Schema.finite(), Schema.nonNegative())

const optionalNullable = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.optionalWith(schema, { nullable: true })

const TokenAnswer = Schema.Struct({
  access_token: Schema.NonEmptyString,
  token_type: optionalNullable(Schema.String),
  scope: optionalNullable(Schema.String),
  expires_in: optionalNullable(WireSeconds),
  refresh_token: optionalNullable(Schema.String)
})
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

interface Answer {
  readonly status: number
  readonly text: string
}

const providerError = (operation: Operation, kind: ProviderError["kind"], detail: string): ProviderError =>
  new ProviderError({ provider: PROVIDER, operation, kind, message: `Atlassian ${callName[operation]} ${detail}` })

/** Upstream free text for a message: one line, printable, bounded. */
const sanitize = (s: string): string => {
  const oneLine = s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim()
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseJson = (text: string): Option.Option<unknown> =>
  Either.getRight(Either.try(() => JSON.parse(text) as unknown))

const parseJsonObject = (text: string): Option.Option<Record<string, unknown>> => parseJson(text).pipe(Option.filter(isRecord))

const stringField = (body: Record<string, unknown>, key: string): Option.Option<string> => {
  const value = body[key]
  return typeof value === "string" && value !== "" ? Option.some(value) : Option.none()
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
      ? "failed: Atlassian could not be reached (connection refused, reset or DNS failure)"
      : `failed: the request could not be sent (${error.reason})`
  }
  return "failed: the response could not be read"
}

const nonEmpty = (s: string | null | undefined): s is string => s !== undefined && s !== null && s !== ""

const joinUrl = (base: string, path: string): string => `${base.replace(/\/+$/, "")}${path}`

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
    const http = yield* HttpClient.HttpClient
    const timeoutSeconds = config.timeout
    const timeout = Duration.seconds(timeoutSeconds)
    const clientId = config.client_id ?? ""
    if (clientId === "" || config.client_secret === undefined) {
      yield* Effect.logWarning("Atlassian OAuth configuration is incomplete: client_id or client_secret is missing").pipe(
        Effect.annotateLogs({ provider: PROVIDER })
      )
    }
    const apiUrl = config.api_url

    /** One HTTP round trip, body read included; transport failures are `unavailable`. */
    const send = (operation: Operation, request: HttpClientRequest.HttpClientRequest): Effect.Effect<Answer, ProviderError> =>
      Effect.gen(function* () {
        yield* Effect.logDebug(`Atlassian call: ${callName[operation]}`).pipe(
          Effect.annotateLogs({ provider: PROVIDER, operation })
        )
        const response: HttpClientResponse.HttpClientResponse = yield* http.execute(
          request.pipe(HttpClientRequest.setHeader("User-Agent", USER_AGENT))
        )
        const text = yield* response.text
        return { status: response.status, text }
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
              : Effect.logWarning(`Atlassian ${callName[operation]} failed: the refresh token is no longer valid`).pipe(
                  Effect.annotateLogs({ operation })
                )
          ),
          Effect.annotateLogs({ provider: PROVIDER })
        )

    // -- token endpoint ------------------------------------------------------

    /** A token endpoint POST with a JSON body, as Atlassian requires. */
    const tokenRequest = (
      grantType: "authorization_code" | "refresh_token",
      params: Record<string, string>
    ): HttpClientRequest.HttpClientRequest =>
      HttpClientRequest.post(config.token_url).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUnsafeJson({
          grant_type: grantType,
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
        const body = parseJsonObject(answer.text)
        const errorCode = Option.flatMap(body, (b) => stringField(b, "error"))
        if (Option.isSome(errorCode)) {
          const revokedError = revoked(errorCode.value)
          if (Option.isSome(revokedError)) return yield* Effect.fail(revokedError.value)
          const detail = Option.match(Option.flatMap(body, (b) => stringField(b, "error_description")), {
            onNone: () => "",
            onSome: (d) => ` (${sanitize(d)})`
          })
          const status = answer.status >= 400 ? `HTTP ${answer.status}: ` : ""
          return yield* providerError(operation, "rejected", `was refused: ${status}${sanitize(errorCode.value)}${detail}`)
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
        if (Option.isNone(stringField(body.value, "access_token"))) {
          return yield* providerError(operation, "bad_response", "failed: the response has no access_token")
        }
        return yield* Schema.decodeUnknown(TokenAnswer)(body.value).pipe(
          Effect.mapError((error) =>
            providerError(operation, "bad_response", `failed: malformed field(s) in the response: ${failedFields(error)}`)
          )
        )
      })

    const toTokens = (
      answer: TokenAnswer,
      now: number,
      previous: UpstreamTokens | undefined,
      oldRefresh?: Redacted.Redacted<string>
    ): UpstreamTokens => ({
      accessToken: Redacted.make(answer.access_token),
      // Rotation: the new refresh token replaces the old one, which Atlassian has just disabled.
      refreshToken: nonEmpty(answer.refresh_token) ? Redacted.make(answer.refresh_token) : oldRefresh,
      expiresAt: answer.expires_in === undefined ? undefined : now + Math.round(answer.expires_in * 1000),
      scopes: answer.scope !== undefined ? parseProviderScopes(answer.scope) : (previous?.scopes ?? []),
      extra: { ...previous?.extra, api_url: apiUrl }
    })

    // -- REST API ------------------------------------------------------------

    /** An authenticated GET on the API gateway, retried while `unavailable`, bounded by the timeout. */
    const apiGet = (operation: "fetchUser", path: string, accessToken: Redacted.Redacted<string>): Effect.Effect<unknown, ProviderError> => {
      const request = HttpClientRequest.get(joinUrl(apiUrl, path)).pipe(
        HttpClientRequest.bearerToken(accessToken),
        HttpClientRequest.acceptJson
      )
      const attempt = Effect.gen(function* () {
        const answer = yield* send(operation, request)
        if (answer.status >= 500 || answer.status === 429) {
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

    // -- operations ----------------------------------------------------------

    const authorizeUrl: IdentityProvider.Shape["authorizeUrl"] = ({ codeChallenge, redirectUri, state }) => {
      const url = new URL(config.auth_url)
      url.searchParams.set("audience", ATLASSIAN_AUDIENCE)
      url.searchParams.set("client_id", clientId)
      url.searchParams.set("scope", config.scope)
      url.searchParams.set("redirect_uri", redirectUri)
      url.searchParams.set("state", state)
      url.searchParams.set("response_type", "code")
      url.searchParams.set("prompt", "consent")
      url.searchParams.set("code_challenge", codeChallenge)
      url.searchParams.set("code_challenge_method", "S256")
      return url.toString()
    }

    const exchangeCode = Effect.fn("AtlassianProvider.exchangeCode")(
      function* (params: { readonly code: string; readonly redirectUri: string; readonly codeVerifier: string }) {
        const request = tokenRequest("authorization_code", {
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

    const fetchUser = Effect.fn("AtlassianProvider.fetchUser")(
      function* (tokens: UpstreamTokens) {
        const json = yield* apiGet("fetchUser", "/me", tokens.accessToken)
        if (!isRecord(json)) {
          return yield* providerError("fetchUser", "bad_response", "failed: the response is not a JSON object")
        }
        if (Option.isNone(stringField(json, "account_id"))) {
          return yield* providerError("fetchUser", "bad_response", "failed: the response has no user id (account_id)")
        }
        const me = yield* Schema.decodeUnknown(AtlassianMe)(json).pipe(
          Effect.mapError((error) =>
            providerError("fetchUser", "bad_response", `failed: malformed field(s) in the response: ${failedFields(error)}`)
          )
        )
        return toProfile(me)
      },
      logFailure("fetchUser")
    )

    const refresh = Effect.fn("AtlassianProvider.refresh")(
      function* (refreshToken: Redacted.Redacted<string>, previous: UpstreamTokens) {
        const request = tokenRequest("refresh_token", { refresh_token: Redacted.value(refreshToken) })
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

/** The Atlassian `IdentityProvider`; needs an `HttpClient`. */
export const AtlassianProvider = (config: AtlassianConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  Layer.effect(IdentityProvider, makeAtlassianProvider(config))

/** `AtlassianProvider` on Node's undici `HttpClient` (Node >= 20.18). */
export const AtlassianProviderNode = (config: AtlassianConfig): Layer.Layer<IdentityProvider> =>
  AtlassianProvider(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
