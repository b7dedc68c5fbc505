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
 * Failures are `ProviderError`s: network errors, timeouts, 5xx and 429 are `unavailable`; an answer
 * that is not JSON or lacks a required field (`access_token`, `instance_url`, the user id) is
 * `bad_response`; a refusal (an `error` field, 401, other 4xx) is `rejected`. Each upstream call is
 * bounded by `config.timeout` seconds, retries included. Only the idempotent GETs are retried (twice,
 * short exponential backoff, `unavailable` only); the token POST never is. Messages and logs name the
 * call that failed and never carry a token, code or secret.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import type { HttpClientError, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Duration, Effect, Either, Layer, Option, ParseResult, Redacted, Schedule, Schema } from "effect"
import type { SalesforceConfig } from "../domain/config/UserConfig.js"
import type { UpstreamTokens, UserProfile } from "../domain/oauth/Identity.js"
import { parseProviderScopes } from "../domain/oauth/Scopes.js"
import { IdentityProvider, ProviderError, UpstreamGrantRevoked } from "../services/IdentityProvider.js"

const PROVIDER = "salesforce"
const USER_AGENT = "mxcp-ts"

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

/** GET retries: how many after the first attempt, and the first backoff (doubled each time). */
const GET_RETRIES = 2
const GET_RETRY_BASE = Duration.millis(100)

/** `error` on a refresh answer that means the refresh token is dead (revoked, expired, app uninstalled). */
const REVOKED_REFRESH_ERRORS: ReadonlySet<string> = new Set(["invalid_grant"])

/** `error` values that mean "try again later" rather than "no". */
const UNAVAILABLE_ERRORS: ReadonlySet<string> = new Set(["rate_limit_exceeded", "server_error", "temporarily_unavailable"])

const USERINFO_PATH = "/services/oauth2/userinfo"

type Operation = "exchangeCode" | "refresh" | "fetchUser" | "fetchUserInfo"

/** What each operation is called in messages and logs. */
const callName: Record<Operation, string> = {
  exchangeCode: "token exchange (POST token_url)",
  refresh: "token refresh (POST token_url)",
  fetchUser: "identity lookup (GET id URL)",
  fetchUserInfo: `user info lookup (GET instance_url${USERINFO_PATH})`
}

// ---------------------------------------------------------------------------
// Wire schemas
// ---------------------------------------------------------------------------

const WireSeconds = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(Schema.finite(), Schema.nonNegative())

const optionalNullable = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.optionalWith(schema, { nullable: true })

const TokenAnswer = Schema.Struct({
  access_token: Schema.NonEmptyString,
  refresh_token: optionalNullable(Schema.String),
  instance_url: optionalNullable(Schema.String),
  id: optionalNullable(Schema.String),
  token_type: optionalNullable(Schema.String),
  scope: optionalNullable(Schema.String),
  /** Not sent by Salesforce today; honoured if it ever is. */
  expires_in: optionalNullable(WireSeconds)
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

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly text: string
}

/** What an API GET produced, when it was not a failure. */
type GetOutcome =
  | { readonly _tag: "Json"; readonly json: unknown }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "NotJson" }

const providerError = (operation: Operation, kind: ProviderError["kind"], detail: string): ProviderError =>
  new ProviderError({ provider: PROVIDER, operation, kind, message: `Salesforce ${callName[operation]} ${detail}` })

/** Upstream free text for a message: one line, printable, bounded. */
const sanitize = (s: string): string => {
  const oneLine = s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim()
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseJson = (text: string): Option.Option<unknown> =>
  Either.getRight(Either.try(() => JSON.parse(text) as unknown))

const stringField = (record: Record<string, unknown>, key: string): Option.Option<string> => {
  const value = record[key]
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
      ? "failed: Salesforce could not be reached (connection refused, reset or DNS failure)"
      : `failed: the request could not be sent (${error.reason})`
  }
  return "failed: the response could not be read"
}

const nonEmpty = (s: string | null | undefined): s is string => s !== undefined && s !== null && s !== ""

/** `s` when it is an absolute http(s) URL. */
const httpUrl = (s: string | null | undefined): Option.Option<string> => {
  if (!nonEmpty(s)) return Option.none()
  return Either.getRight(Either.try(() => new URL(s))).pipe(
    Option.filter((url) => url.protocol === "https:" || url.protocol === "http:"),
    Option.as(s)
  )
}

const joinUrl = (base: string, path: string): string => `${base.replace(/\/+$/, "")}${path}`

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

// ---------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------

/** The Salesforce `IdentityProvider` on whatever `HttpClient` the environment provides. */
export const makeSalesforceProvider = (
  config: SalesforceConfig
): Effect.Effect<IdentityProvider.Shape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const timeoutSeconds = config.timeout
    const timeout = Duration.seconds(timeoutSeconds)
    const clientId = config.client_id ?? ""
    if (clientId === "" || config.client_secret === undefined) {
      yield* Effect.logWarning("Salesforce OAuth configuration is incomplete: client_id or client_secret is missing").pipe(
        Effect.annotateLogs({ provider: PROVIDER })
      )
    }

    /** One HTTP round trip, body read included; transport failures are `unavailable`. */
    const send = (operation: Operation, request: HttpClientRequest.HttpClientRequest): Effect.Effect<Answer, ProviderError> =>
      Effect.gen(function* () {
        yield* Effect.logDebug(`Salesforce call: ${callName[operation]}`).pipe(
          Effect.annotateLogs({ provider: PROVIDER, operation })
        )
        const response: HttpClientResponse.HttpClientResponse = yield* http.execute(
          request.pipe(HttpClientRequest.setHeader("User-Agent", USER_AGENT))
        )
        const text = yield* response.text
        return { status: response.status, contentType: (response.headers["content-type"] ?? "").toLowerCase(), text }
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
              : Effect.logWarning(`Salesforce ${callName[operation]} failed: the refresh token is no longer valid`).pipe(
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
          ...params,
          client_id: clientId,
          client_secret: config.client_secret === undefined ? "" : Redacted.value(config.client_secret)
        })
      )

    /**
     * Interprets a token endpoint answer: its fields, or why not. `revoked` turns an `error` code into
     * a failure of its own (refresh: the grant is gone); other codes are `rejected`.
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
        const body = parseJson(answer.text).pipe(Option.filter(isRecord))
        const errorCode = Option.flatMap(body, (b) => stringField(b, "error"))
        if (Option.isSome(errorCode)) {
          const revokedError = revoked(errorCode.value)
          if (Option.isSome(revokedError)) return yield* Effect.fail(revokedError.value)
          const detail = Option.flatMap(body, (b) => stringField(b, "error_description")).pipe(
            Option.match({ onNone: () => "", onSome: (d) => ` (${sanitize(d)})` })
          )
          const kind = UNAVAILABLE_ERRORS.has(errorCode.value) ? "unavailable" : "rejected"
          return yield* providerError(operation, kind, `was refused: ${sanitize(errorCode.value)}${detail}`)
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
        const fields = yield* Schema.decodeUnknown(TokenAnswer)(body.value).pipe(
          Effect.mapError((error) =>
            providerError(operation, "bad_response", `failed: malformed field(s) in the response: ${failedFields(error)}`)
          )
        )
        // The code exchange must say where the org lives; a refresh answer may leave it out (kept).
        if (nonEmpty(fields.instance_url) ? Option.isNone(httpUrl(fields.instance_url)) : operation === "exchangeCode") {
          return yield* providerError(operation, "bad_response", "failed: the response has no valid instance_url")
        }
        return fields
      })

    const toTokens = (
      answer: TokenAnswer,
      now: number,
      previous: UpstreamTokens | undefined,
      oldRefresh?: Redacted.Redacted<string>
    ): UpstreamTokens => {
      const extra: Record<string, string> = { ...previous?.extra }
      const instanceUrl = httpUrl(answer.instance_url)
      if (Option.isSome(instanceUrl)) extra["instance_url"] = instanceUrl.value
      const idUrl = httpUrl(answer.id)
      if (Option.isSome(idUrl)) extra["id"] = idUrl.value
      const lifetimeMs =
        answer.expires_in === undefined ? SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS : Math.round(answer.expires_in * 1000)
      return {
        accessToken: Redacted.make(answer.access_token),
        refreshToken: nonEmpty(answer.refresh_token) ? Redacted.make(answer.refresh_token) : oldRefresh,
        expiresAt: now + lifetimeMs,
        scopes: answer.scope !== undefined ? parseProviderScopes(answer.scope) : (previous?.scopes ?? []),
        extra
      }
    }

    // -- user lookups --------------------------------------------------------

    /**
     * An authenticated GET, retried while `unavailable`, bounded by the timeout. 404 and a 2xx that
     * is not JSON are outcomes (the identity URL falls back on them); other statuses are failures.
     */
    const apiGet = (
      operation: "fetchUser" | "fetchUserInfo",
      url: string,
      accessToken: Redacted.Redacted<string>
    ): Effect.Effect<GetOutcome, ProviderError> => {
      const request = HttpClientRequest.get(url).pipe(HttpClientRequest.bearerToken(accessToken), HttpClientRequest.acceptJson)
      const attempt = Effect.gen(function* () {
        const answer = yield* send(operation, request)
        if (answer.status >= 500 || answer.status === 429) {
          return yield* providerError(operation, "unavailable", `failed: HTTP ${answer.status}`)
        }
        if (answer.status === 401) {
          return yield* providerError(
            operation,
            "rejected",
            "was refused: the access token is expired or not valid (HTTP 401); refresh it"
          )
        }
        if (answer.status === 404) return { _tag: "NotFound" } as const
        if (answer.status >= 400) {
          return yield* providerError(operation, "rejected", `was refused: HTTP ${answer.status}`)
        }
        if (answer.status < 200 || answer.status >= 300) {
          return yield* providerError(operation, "bad_response", `failed: unexpected HTTP ${answer.status}`)
        }
        return Option.match(parseJson(answer.text), {
          onNone: (): GetOutcome => ({ _tag: "NotJson" }),
          onSome: (json): GetOutcome => ({ _tag: "Json", json })
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

    const decodeUser = (operation: "fetchUser" | "fetchUserInfo", json: unknown): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        if (!isRecord(json)) {
          return yield* providerError(operation, "bad_response", "failed: the response is not a JSON object")
        }
        if (json["user_id"] === undefined || json["user_id"] === null || json["user_id"] === "") {
          return yield* providerError(operation, "bad_response", "failed: the response has no user id (user_id)")
        }
        const user = yield* Schema.decodeUnknown(SalesforceUser)(json).pipe(
          Effect.mapError((error) =>
            providerError(operation, "bad_response", `failed: malformed field(s) in the response: ${failedFields(error)}`)
          )
        )
        return toProfile(user)
      })

    /** The OpenID Connect userinfo endpoint of the user's instance. */
    const fetchUserInfo = (tokens: UpstreamTokens): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        const instanceUrl = httpUrl(tokens.extra["instance_url"])
        if (Option.isNone(instanceUrl)) {
          return yield* providerError("fetchUserInfo", "bad_response", "failed: no identity URL and no instance_url to ask")
        }
        const outcome = yield* apiGet("fetchUserInfo", joinUrl(instanceUrl.value, USERINFO_PATH), tokens.accessToken)
        switch (outcome._tag) {
          case "NotFound":
            return yield* providerError("fetchUserInfo", "rejected", "was refused: HTTP 404")
          case "NotJson":
            return yield* providerError("fetchUserInfo", "bad_response", "failed: the response is not JSON")
          case "Json":
            return yield* decodeUser("fetchUserInfo", outcome.json)
        }
      })

    // -- operations ----------------------------------------------------------

    const authorizeUrl: IdentityProvider.Shape["authorizeUrl"] = ({ codeChallenge, redirectUri, state }) => {
      const url = new URL(config.auth_url)
      url.searchParams.set("response_type", "code")
      url.searchParams.set("client_id", clientId)
      url.searchParams.set("redirect_uri", redirectUri)
      url.searchParams.set("scope", config.scope)
      url.searchParams.set("state", state)
      url.searchParams.set("code_challenge", codeChallenge)
      url.searchParams.set("code_challenge_method", "S256")
      return url.toString()
    }

    const exchangeCode = Effect.fn("SalesforceProvider.exchangeCode")(
      function* (params: { readonly code: string; readonly redirectUri: string; readonly codeVerifier: string }) {
        const request = tokenRequest({
          grant_type: "authorization_code",
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

    const fetchUser = Effect.fn("SalesforceProvider.fetchUser")(
      function* (tokens: UpstreamTokens) {
        const idUrl = httpUrl(tokens.extra["id"])
        if (Option.isNone(idUrl)) {
          yield* Effect.logDebug("Salesforce tokens carry no identity URL; asking userinfo").pipe(
            Effect.annotateLogs({ operation: "fetchUser" })
          )
          return yield* fetchUserInfo(tokens)
        }
        const outcome = yield* apiGet("fetchUser", idUrl.value, tokens.accessToken)
        if (outcome._tag === "Json") return yield* decodeUser("fetchUser", outcome.json)
        yield* Effect.logInfo(
          `Salesforce ${callName.fetchUser} ${outcome._tag === "NotFound" ? "answered HTTP 404" : "answered something that is not JSON"}; falling back to userinfo`
        ).pipe(Effect.annotateLogs({ operation: "fetchUser" }))
        return yield* fetchUserInfo(tokens)
      },
      logFailure("fetchUser")
    )

    const refresh = Effect.fn("SalesforceProvider.refresh")(
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

/** The Salesforce `IdentityProvider`; needs an `HttpClient`. */
export const SalesforceProvider = (config: SalesforceConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  Layer.effect(IdentityProvider, makeSalesforceProvider(config))

/** `SalesforceProvider` on Node's undici `HttpClient` (Node >= 20.18). */
export const SalesforceProviderNode = (config: SalesforceConfig): Layer.Layer<IdentityProvider> =>
  SalesforceProvider(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
