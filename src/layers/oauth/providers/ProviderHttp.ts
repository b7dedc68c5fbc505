/**
 * What the upstream identity providers (GitHub, Atlassian, Salesforce) share on the wire, on
 * `@effect/platform`'s `HttpClient`: one round trip with the body read, the per-call timeout, bounded
 * retries of idempotent GETs, failure logging, the reading of a token endpoint answer, and small pure
 * helpers for JSON and upstream text. A provider keeps what is its own: URLs, request shapes, wire
 * schemas, and the mapping to `UpstreamTokens` and `UserProfile`.
 *
 * Failures are `ProviderError`s whose message reads `<Provider> <call> <detail>`, e.g.
 * `GitHub user lookup (GET /user) failed: HTTP 500`: network errors, timeouts, 5xx and 429 are
 * `unavailable`; an answer that is not JSON or lacks a required field is `bad_response`; a refusal
 * (an `error` field, 401, other 4xx) is `rejected`. Each call is bounded by the provider's `timeout`
 * seconds, retries included. Only GETs are retried (twice, 100 ms then 200 ms, `unavailable` only);
 * a token POST never is (a retried refresh could spend a rotating refresh token twice). Messages and
 * logs never carry a token, code or secret.
 *
 * One concept: the HTTP every upstream provider shares (token calls, user calls, errors, timeouts).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import type { HttpClientError } from "@effect/platform"
import { Clock, Duration, Effect, Either, Option, ParseResult, Redacted, Schedule, Schema } from "effect"
import { ProviderDisplayName, type ProviderName } from "../../../domain/config/UserConfig.js"
import type { UpstreamTokens } from "../../../domain/oauth/Identity.js"
import { parseProviderScopes } from "../../../domain/oauth/Scopes.js"
import { IdentityProvider, ProviderError, UpstreamGrantRevoked } from "../../../services/oauth/IdentityProvider.js"

const USER_AGENT = "mxcp-ts"

/** GET retries: how many after the first attempt, and the first backoff (doubled each time). */
const GET_RETRIES = 2
const GET_RETRY_BASE = Duration.millis(100)

/** The token endpoint calls every provider makes. */
export type TokenOperation = "exchangeCode" | "refresh"

const tokenCallName: Record<TokenOperation, string> = {
  exchangeCode: "token exchange (POST token_url)",
  refresh: "token refresh (POST token_url)"
}

/** An upstream answer, body read. `contentType` is lower-cased. */
export interface Answer {
  readonly status: number
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

/** The parts of a provider block this module reads. */
export interface ProviderAppConfig {
  readonly client_id?: string | undefined
  readonly client_secret?: Redacted.Redacted<string> | undefined
  readonly auth_url: string
  readonly scope: string
  readonly token_url: string
  readonly callback_path: string
  /** Seconds per upstream call, retries included. */
  readonly timeout: number
}

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/** A wire field that may be absent or `null`. */
export const optionalNullable = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.optionalWith(schema, { nullable: true })

/** Seconds as providers send them: a JSON number, or a string in a form-encoded answer. */
export const WireSeconds = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(Schema.finite(), Schema.nonNegative())

/** The fields of an OAuth 2.0 token answer (RFC 6749 §5.1), for a provider's own `Schema.Struct`. */
export const tokenAnswerFields = {
  access_token: Schema.NonEmptyString,
  token_type: optionalNullable(Schema.String),
  scope: optionalNullable(Schema.String),
  expires_in: optionalNullable(WireSeconds),
  refresh_token: optionalNullable(Schema.String)
}

/** Upstream free text for a message: one line, printable, bounded. */
export const sanitize = (s: string): string => {
  const oneLine = s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim()
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine
}

export const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

export const parseJson = (text: string): Option.Option<unknown> =>
  Either.getRight(Either.try(() => JSON.parse(text) as unknown))

export const parseJsonObject = (text: string): Option.Option<Record<string, unknown>> =>
  parseJson(text).pipe(Option.filter(isRecord))

/** `record[key]` when it is a non-empty string. */
export const stringField = (record: Record<string, unknown>, key: string): Option.Option<string> => {
  const value = record[key]
  return typeof value === "string" && value !== "" ? Option.some(value) : Option.none()
}

export const nonEmpty = (s: string | null | undefined): s is string => s !== undefined && s !== null && s !== ""

export const joinUrl = (base: string, path: string): string => `${base.replace(/\/+$/, "")}${path}`

/** Names of the fields a decode failed on (never their values: they may be tokens). */
export const failedFields = (error: ParseResult.ParseError): string => {
  const paths = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? "(body)" : issue.path.map(String).join(".")
  )
  return Array.from(new Set(paths)).join(", ")
}

/** Epoch ms `seconds` after `now`; undefined when the provider gave no lifetime. */
export const expiresAfter = (now: number, seconds: number | undefined): number | undefined =>
  seconds === undefined ? undefined : now + Math.round(seconds * 1000)

/**
 * The parts of `UpstreamTokens` every token answer gives: the access token; the new refresh token,
 * else the one the refresh was made with (an answer without one keeps it); the granted scopes, else
 * the previous ones.
 */
export const tokensFromAnswer = (
  answer: {
    readonly access_token: string
    readonly refresh_token?: string | undefined
    readonly scope?: string | undefined
  },
  previous: UpstreamTokens | undefined,
  oldRefresh: Redacted.Redacted<string> | undefined
): Pick<UpstreamTokens, "accessToken" | "refreshToken" | "scopes"> => ({
  accessToken: Redacted.make(answer.access_token),
  refreshToken: nonEmpty(answer.refresh_token) ? Redacted.make(answer.refresh_token) : oldRefresh,
  scopes: answer.scope !== undefined ? parseProviderScopes(answer.scope) : (previous?.scopes ?? [])
})

// ---------------------------------------------------------------------------
// Reading answers
// ---------------------------------------------------------------------------

/** How a provider's token endpoint answers. */
export interface TokenAnswerRules<A, I> {
  /** The success body; `access_token` is checked before it is decoded. */
  readonly schema: Schema.Schema<A, I>
  /** The body as key/values. Default: a JSON object. */
  readonly parseBody?: (answer: Answer) => Option.Option<Record<string, unknown>>
  /** Name the HTTP status in a refusal (`was refused: HTTP 403: invalid_grant`). Default false. */
  readonly statusInRefusal?: boolean
  /** `error` codes that mean "try again later" (`unavailable`) rather than "no". */
  readonly unavailableErrors?: ReadonlySet<string>
  /** `error` codes on a refresh that mean the refresh token is dead (`UpstreamGrantRevoked`). */
  readonly revokedRefreshErrors: ReadonlySet<string>
}

/** A provider's token endpoint: how it is called, how it answers, what its answer becomes. */
export interface TokenEndpoint<A, I> extends TokenAnswerRules<A, I> {
  readonly encoding: "form" | "json"
  /** Send `grant_type=authorization_code` with the code (GitHub's exchange takes no grant_type). */
  readonly exchangeGrantType: boolean
  /** Why decoded fields are unusable (a `bad_response`), if they are. */
  readonly invalid?: (operation: TokenOperation, fields: A) => string | undefined
  /** The tokens; `previous` and `oldRefresh` (the refresh token sent) only on a refresh. */
  readonly toTokens: (
    fields: A,
    now: number,
    previous: UpstreamTokens | undefined,
    oldRefresh: Redacted.Redacted<string> | undefined
  ) => UpstreamTokens
}

/** How a provider's API answers a GET. */
export interface ApiAnswerRules {
  /** Besides 429, an answer that means "rate limited" (`unavailable`). */
  readonly rateLimited?: (answer: Answer) => boolean
  /** What a 401 means. Default: the access token is not valid. */
  readonly unauthorized?: string
}

/** What makes one provider an `IdentityProvider`, besides what all share. */
export interface ProviderParts<A, I> {
  readonly authorizeParams?: ReadonlyArray<readonly [string, string]>
  readonly fetchUser: IdentityProvider.Shape["fetchUser"]
  readonly tokens: TokenEndpoint<A, I>
}

/** How the app authenticates at the token endpoint. */
export type ClientAuthMethod = "client_secret_post" | "client_secret_basic"

/** The HTTP side of one provider's app: its credentials, timeout, calls and their messages. */
export interface ProviderHttp<Op extends string> {
  readonly error: (operation: Op, kind: ProviderError["kind"], detail: string) => ProviderError
  /** `json` decoded by `schema`, or `bad_response` naming the fields that did not fit. */
  readonly decode: <A, I>(operation: Op, schema: Schema.Schema<A, I>, json: unknown) => Effect.Effect<A, ProviderError>
  /** `json` when it is a JSON object, else `bad_response`. */
  readonly jsonObject: (operation: Op, json: unknown) => Effect.Effect<Record<string, unknown>, ProviderError>
  /**
   * The provider. `authorizeUrl` asks `auth_url` for a code with PKCE S256: `authorizeParams` (the
   * provider's own, first), then `client_id`, `redirect_uri`, `scope`, `state`, `code_challenge` and
   * `code_challenge_method`. `fetchUser` as given; `exchangeCode` and `refresh` on `tokens`, the
   * token endpoint (a POST to `token_url` with `Accept: application/json` and the app's credentials,
   * never retried; on a refresh, a dead refresh token is `UpstreamGrantRevoked`). Each operation is a
   * span (`GitHubProvider.fetchUser`) and logs its failure.
   */
  readonly identityProvider: <A, I>(parts: ProviderParts<A, I>) => IdentityProvider.Shape
  /**
   * One token endpoint call at `call.url` as `identityProvider`'s `exchangeCode` and `refresh` make
   * it (never retried, bounded by the timeout, failure logged), up to the decoded fields: for a
   * provider that checks more of the answer (an OIDC ID token) before it makes `UpstreamTokens`.
   */
  readonly tokenAnswer: <A, I>(
    operation: TokenOperation,
    endpoint: TokenEndpoint<A, I>,
    params: Record<string, string>,
    call: { readonly url: string; readonly clientAuth: ClientAuthMethod }
  ) => Effect.Effect<A, ProviderError | UpstreamGrantRevoked>
  /** Logs a failed operation once, at warning level (what every call above does). */
  readonly logFailure: (
    operation: Op
  ) => <A, E extends ProviderError | UpstreamGrantRevoked, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** An idempotent GET read by `read`, retried while `unavailable`, bounded by the timeout. */
  readonly get: <A>(
    operation: Op,
    request: HttpClientRequest.HttpClientRequest,
    read: (answer: Answer) => Effect.Effect<A, ProviderError>
  ) => Effect.Effect<A, ProviderError>
  /** Fails unless an API answer is a 2xx: 5xx and rate limits `unavailable`, 4xx `rejected`. */
  readonly checkApiStatus: (operation: Op, answer: Answer, rules?: ApiAnswerRules) => Effect.Effect<void, ProviderError>
  /** `checkApiStatus`, then the body as JSON (anything else is `bad_response`). */
  readonly apiJson: (operation: Op, answer: Answer, rules?: ApiAnswerRules) => Effect.Effect<unknown, ProviderError>
}

/**
 * The HTTP side of `provider`'s app on whatever `HttpClient` the environment provides. `apiCallName`
 * says what each of its other calls (the token endpoint's have their names) is called in messages and
 * logs; `fetchUser` is the user lookup. Warns once when the app has no credentials.
 */
export const makeProviderHttp = <Op extends string>(
  kind: Exclude<ProviderName, "none">,
  config: ProviderAppConfig,
  apiCallName: Readonly<Record<"fetchUser" | Op, string>>,
  options: {
    /** The provider's name in errors, logs and `UserProfile.provider` (an OIDC `provider_name`); default `kind`. */
    readonly name?: string | undefined
    /** Its name in messages; default `kind`'s display name. */
    readonly display?: string | undefined
  } = {}
): Effect.Effect<ProviderHttp<TokenOperation | "fetchUser" | Op>, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    type Operation = TokenOperation | "fetchUser" | Op
    const callName: Readonly<Record<Operation, string>> = { ...tokenCallName, ...apiCallName }
    const http = yield* HttpClient.HttpClient
    const provider = options.name ?? kind
    const display = options.display ?? ProviderDisplayName[kind]
    /** Span prefix: `GitHubProvider.exchangeCode`. */
    const span = `${display}Provider`
    const timeout = Duration.seconds(config.timeout)
    const clientId = config.client_id ?? ""
    if (clientId === "" || config.client_secret === undefined) {
      yield* Effect.logWarning(`${display} OAuth configuration is incomplete: client_id or client_secret is missing`).pipe(
        Effect.annotateLogs({ provider })
      )
    }

    const error = (operation: Operation, kind: ProviderError["kind"], detail: string): ProviderError =>
      new ProviderError({ provider, operation, kind, message: `${display} ${callName[operation]} ${detail}` })

    const describeTransportError = (e: HttpClientError.HttpClientError): string => {
      if (e._tag === "RequestError") {
        return e.reason === "Transport"
          ? `failed: ${display} could not be reached (connection refused, reset or DNS failure)`
          : `failed: the request could not be sent (${e.reason})`
      }
      return "failed: the response could not be read"
    }

    /** One round trip, body read; transport failures are `unavailable`. Not bounded: see `withTimeout`. */
    const send = (operation: Operation, request: HttpClientRequest.HttpClientRequest): Effect.Effect<Answer, ProviderError> =>
      Effect.gen(function* () {
        yield* Effect.logDebug(`${display} call: ${callName[operation]}`).pipe(Effect.annotateLogs({ provider, operation }))
        const response = yield* http.execute(request.pipe(HttpClientRequest.setHeader("User-Agent", USER_AGENT)))
        const text = yield* response.text
        return {
          status: response.status,
          contentType: (response.headers["content-type"] ?? "").toLowerCase(),
          headers: response.headers,
          text
        }
      }).pipe(Effect.mapError((e) => error(operation, "unavailable", describeTransportError(e))))

    const withTimeout = <A, E>(operation: Operation, effect: Effect.Effect<A, E>): Effect.Effect<A, E | ProviderError> =>
      effect.pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => error(operation, "unavailable", `timed out after ${config.timeout}s`)
        })
      )

    /** Logs a failed operation once, at warning level, annotated with the provider. */
    const logFailure =
      (operation: Operation) =>
      <A, E extends ProviderError | UpstreamGrantRevoked, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        effect.pipe(
          Effect.tapError((e) =>
            e._tag === "ProviderError"
              ? Effect.logWarning(e.message).pipe(Effect.annotateLogs({ operation: e.operation, kind: e.kind }))
              : Effect.logWarning(`${display} ${callName[operation]} failed: the refresh token is no longer valid`).pipe(
                  Effect.annotateLogs({ operation })
                )
          ),
          Effect.annotateLogs({ provider })
        )

    const decode = <A, I>(operation: Operation, schema: Schema.Schema<A, I>, json: unknown): Effect.Effect<A, ProviderError> =>
      Schema.decodeUnknown(schema)(json).pipe(
        Effect.mapError((e) => error(operation, "bad_response", `failed: malformed field(s) in the response: ${failedFields(e)}`))
      )

    const jsonObject = (operation: Operation, json: unknown): Effect.Effect<Record<string, unknown>, ProviderError> =>
      isRecord(json) ? Effect.succeed(json) : Effect.fail(error(operation, "bad_response", "failed: the response is not a JSON object"))

    // -- token endpoint ------------------------------------------------------

    /**
     * A POST to `url` (default `token_url`) with `params` and the app's credentials: in the body
     * (`client_secret_post`), or as HTTP Basic (`client_secret_basic`, RFC 6749 2.3.1: both parts
     * form-encoded first) with only `client_id` in the body.
     */
    const tokenRequest = (
      encoding: "form" | "json",
      params: Record<string, string>,
      clientAuth: ClientAuthMethod = "client_secret_post",
      url: string = config.token_url
    ): HttpClientRequest.HttpClientRequest => {
      const secret = config.client_secret === undefined ? "" : Redacted.value(config.client_secret)
      const request = HttpClientRequest.post(url).pipe(HttpClientRequest.acceptJson)
      if (clientAuth === "client_secret_basic") {
        const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")
        return request.pipe(
          HttpClientRequest.setHeader("Authorization", `Basic ${basic}`),
          HttpClientRequest.bodyUrlParams({ ...params, client_id: clientId })
        )
      }
      const body = { ...params, client_id: clientId, client_secret: secret }
      return request.pipe(encoding === "form" ? HttpClientRequest.bodyUrlParams(body) : HttpClientRequest.bodyUnsafeJson(body))
    }

    /**
     * A token endpoint answer: its fields, or why not. `revoked` turns an `error` code into a failure
     * of its own (on a refresh: the grant is gone); other codes are `rejected` or `unavailable`.
     */
    const readTokenAnswer = <A, I, E>(
      operation: TokenOperation,
      answer: Answer,
      rules: TokenAnswerRules<A, I>,
      revoked: (errorCode: string) => Option.Option<E>
    ): Effect.Effect<A, ProviderError | E> =>
      Effect.gen(function* () {
        if (answer.status >= 500 || answer.status === 429) {
          return yield* error(operation, "unavailable", `failed: HTTP ${answer.status}`)
        }
        const body = rules.parseBody === undefined ? parseJsonObject(answer.text) : rules.parseBody(answer)
        const errorCode = Option.flatMap(body, (b) => stringField(b, "error"))
        if (Option.isSome(errorCode)) {
          const revokedError = revoked(errorCode.value)
          if (Option.isSome(revokedError)) return yield* Effect.fail(revokedError.value)
          const detail = Option.flatMap(body, (b) => stringField(b, "error_description")).pipe(
            Option.match({ onNone: () => "", onSome: (d) => ` (${sanitize(d)})` })
          )
          const status = rules.statusInRefusal === true && answer.status >= 400 ? `HTTP ${answer.status}: ` : ""
          const kind = rules.unavailableErrors?.has(errorCode.value) === true ? "unavailable" : "rejected"
          return yield* error(operation, kind, `was refused: ${status}${sanitize(errorCode.value)}${detail}`)
        }
        if (answer.status >= 400) {
          return yield* error(operation, "rejected", `was refused: HTTP ${answer.status}`)
        }
        if (answer.status < 200 || answer.status >= 300) {
          return yield* error(operation, "bad_response", `failed: unexpected HTTP ${answer.status}`)
        }
        if (Option.isNone(body)) {
          return yield* error(operation, "bad_response", "failed: the response is not a JSON object")
        }
        if (Option.isNone(stringField(body.value, "access_token"))) {
          return yield* error(operation, "bad_response", "failed: the response has no access_token")
        }
        return yield* decode(operation, rules.schema, body.value)
      })

    const usable =
      <A>(operation: TokenOperation, invalid: ((operation: TokenOperation, fields: A) => string | undefined) | undefined) =>
      (fields: A): Effect.Effect<A, ProviderError> => {
        const reason = invalid?.(operation, fields)
        return reason === undefined ? Effect.succeed(fields) : Effect.fail(error(operation, "bad_response", `failed: ${reason}`))
      }

    const tokenGrants = <A, I>(endpoint: TokenEndpoint<A, I>): Pick<IdentityProvider.Shape, "exchangeCode" | "refresh"> => {
      const exchangeCode = Effect.fn(`${span}.exchangeCode`)(
        function* (params: { readonly code: string; readonly redirectUri: string; readonly codeVerifier: string }) {
          const request = tokenRequest(endpoint.encoding, {
            ...(endpoint.exchangeGrantType ? { grant_type: "authorization_code" } : {}),
            code: params.code,
            redirect_uri: params.redirectUri,
            code_verifier: params.codeVerifier
          })
          const answer = yield* withTimeout("exchangeCode", send("exchangeCode", request))
          const fields = yield* readTokenAnswer("exchangeCode", answer, endpoint, () => Option.none<never>()).pipe(
            Effect.flatMap(usable("exchangeCode", endpoint.invalid))
          )
          return endpoint.toTokens(fields, yield* Clock.currentTimeMillis, undefined, undefined)
        },
        logFailure("exchangeCode")
      )
      const refresh = Effect.fn(`${span}.refresh`)(
        function* (refreshToken: Redacted.Redacted<string>, previous: UpstreamTokens) {
          const request = tokenRequest(endpoint.encoding, { grant_type: "refresh_token", refresh_token: Redacted.value(refreshToken) })
          const answer = yield* withTimeout("refresh", send("refresh", request))
          const fields = yield* readTokenAnswer("refresh", answer, endpoint, (errorCode) =>
            endpoint.revokedRefreshErrors.has(errorCode) ? Option.some(new UpstreamGrantRevoked({ provider })) : Option.none()
          ).pipe(Effect.flatMap(usable("refresh", endpoint.invalid)))
          return endpoint.toTokens(fields, yield* Clock.currentTimeMillis, previous, refreshToken)
        },
        logFailure("refresh")
      )
      return { exchangeCode, refresh }
    }

    const tokenAnswer = <A, I>(
      operation: TokenOperation,
      endpoint: TokenEndpoint<A, I>,
      params: Record<string, string>,
      call: { readonly url: string; readonly clientAuth: ClientAuthMethod }
    ): Effect.Effect<A, ProviderError | UpstreamGrantRevoked> =>
      Effect.gen(function* () {
        const answer = yield* withTimeout(operation, send(operation, tokenRequest(endpoint.encoding, params, call.clientAuth, call.url)))
        return yield* readTokenAnswer(operation, answer, endpoint, (errorCode) =>
          operation === "refresh" && endpoint.revokedRefreshErrors.has(errorCode)
            ? Option.some(new UpstreamGrantRevoked({ provider }))
            : Option.none()
        ).pipe(Effect.flatMap(usable(operation, endpoint.invalid)))
      }).pipe(logFailure(operation))

    const identityProvider = <A, I>(parts: ProviderParts<A, I>): IdentityProvider.Shape =>
      IdentityProvider.of({
        name: provider,
        callbackPath: config.callback_path,
        authorizeUrl: ({ codeChallenge, redirectUri, state }) => {
          const url = new URL(config.auth_url)
          const params: ReadonlyArray<readonly [string, string]> = [
            ...(parts.authorizeParams ?? []),
            ["client_id", clientId],
            ["redirect_uri", redirectUri],
            ["scope", config.scope],
            ["state", state],
            ["code_challenge", codeChallenge],
            ["code_challenge_method", "S256"]
          ]
          for (const [key, value] of params) url.searchParams.set(key, value)
          return url.toString()
        },
        fetchUser: (tokens) =>
          parts.fetchUser(tokens).pipe(logFailure("fetchUser"), Effect.withSpan(`${span}.fetchUser`)),
        ...tokenGrants(parts.tokens)
      })

    // -- API GETs ------------------------------------------------------------

    const get = <A>(
      operation: Operation,
      request: HttpClientRequest.HttpClientRequest,
      read: (answer: Answer) => Effect.Effect<A, ProviderError>
    ): Effect.Effect<A, ProviderError> =>
      withTimeout(
        operation,
        send(operation, request).pipe(
          Effect.flatMap(read),
          Effect.tapError((e) =>
            e.kind === "unavailable"
              ? Effect.logDebug(`${e.message}; retrying if attempts remain`).pipe(Effect.annotateLogs({ provider, operation }))
              : Effect.void
          ),
          Effect.retry({
            schedule: Schedule.exponential(GET_RETRY_BASE),
            times: GET_RETRIES,
            while: (e) => e.kind === "unavailable"
          })
        )
      )

    const checkApiStatus = (operation: Operation, answer: Answer, rules: ApiAnswerRules = {}): Effect.Effect<void, ProviderError> => {
      if (answer.status >= 500 || answer.status === 429 || rules.rateLimited?.(answer) === true) {
        return Effect.fail(error(operation, "unavailable", `failed: HTTP ${answer.status}`))
      }
      if (answer.status === 401) {
        return Effect.fail(
          error(operation, "rejected", `was refused: ${rules.unauthorized ?? "the access token is not valid (HTTP 401)"}`)
        )
      }
      if (answer.status >= 400) return Effect.fail(error(operation, "rejected", `was refused: HTTP ${answer.status}`))
      if (answer.status < 200 || answer.status >= 300) {
        return Effect.fail(error(operation, "bad_response", `failed: unexpected HTTP ${answer.status}`))
      }
      return Effect.void
    }

    const apiJson = (operation: Operation, answer: Answer, rules?: ApiAnswerRules): Effect.Effect<unknown, ProviderError> =>
      checkApiStatus(operation, answer, rules).pipe(
        Effect.zipRight(
          Option.match(parseJson(answer.text), {
            onNone: () => Effect.fail(error(operation, "bad_response", "failed: the response is not JSON")),
            onSome: Effect.succeed
          })
        )
      )

    return {
      error,
      decode,
      jsonObject,
      identityProvider,
      tokenAnswer,
      logFailure: (operation) => logFailure(operation),
      get,
      checkApiStatus,
      apiJson
    }
  })
