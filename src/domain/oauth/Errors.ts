/**
 * OAuth errors that cross the wire.
 *
 * Each error is a `Schema.TaggedError` carrying a human-readable `description`; its RFC 6749 /
 * RFC 7591 / RFC 6750 `error` code and its HTTP status are fixed per class and exposed as the
 * `errorCode` and `status` getters (on the prototype, so they are not part of the encoded value).
 *
 * On the wire only `{ error, error_description }` appears (`toOAuthErrorBody`): never `_tag`.
 * The HTTP layer adds headers (`WWW-Authenticate`, `Cache-Control: no-store`) and decides between
 * a direct response and an error redirect.
 */
import { Predicate, Schema } from "effect"

/** Every `error` code this server puts on the wire. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "invalid_target"
  | "invalid_redirect_uri"
  | "invalid_client_metadata"
  | "access_denied"
  | "unsupported_response_type"
  | "server_error"
  | "temporarily_unavailable"
  | "insufficient_scope"
  | "invalid_token"

const description = { description: Schema.String }

/** RFC 6749 §5.2: missing, repeated or malformed parameter. 400. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", description) {
  get errorCode(): "invalid_request" {
    return "invalid_request"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 6749 §5.2: client authentication failed (unknown client, wrong secret or method). 401. */
export class InvalidClient extends Schema.TaggedError<InvalidClient>()("InvalidClient", description) {
  get errorCode(): "invalid_client" {
    return "invalid_client"
  }
  get status(): 401 {
    return 401
  }
}

/** RFC 6749 §5.2: code or refresh token invalid, expired, revoked, reused or bound elsewhere. 400. */
export class InvalidGrant extends Schema.TaggedError<InvalidGrant>()("InvalidGrant", description) {
  get errorCode(): "invalid_grant" {
    return "invalid_grant"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 6749 §5.2: the client may not use this grant type. 400. */
export class UnauthorizedClient extends Schema.TaggedError<UnauthorizedClient>()("UnauthorizedClient", description) {
  get errorCode(): "unauthorized_client" {
    return "unauthorized_client"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 6749 §5.2: grant type not supported by this server. 400. */
export class UnsupportedGrantType extends Schema.TaggedError<UnsupportedGrantType>()(
  "UnsupportedGrantType",
  description
) {
  get errorCode(): "unsupported_grant_type" {
    return "unsupported_grant_type"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 6749 §4.1.2.1 / §5.2: scope unknown, malformed or beyond what the client may have. 400. */
export class InvalidScope extends Schema.TaggedError<InvalidScope>()("InvalidScope", description) {
  get errorCode(): "invalid_scope" {
    return "invalid_scope"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 8707 §2: `resource` is not this server's protected resource. 400. */
export class InvalidTarget extends Schema.TaggedError<InvalidTarget>()("InvalidTarget", description) {
  get errorCode(): "invalid_target" {
    return "invalid_target"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 7591 §3.2.2: one or more redirect URIs are invalid (registration only). 400. */
export class InvalidRedirectUri extends Schema.TaggedError<InvalidRedirectUri>()("InvalidRedirectUri", description) {
  get errorCode(): "invalid_redirect_uri" {
    return "invalid_redirect_uri"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 7591 §3.2.2: some other registration metadata is invalid or unsupported. 400. */
export class InvalidClientMetadata extends Schema.TaggedError<InvalidClientMetadata>()(
  "InvalidClientMetadata",
  description
) {
  get errorCode(): "invalid_client_metadata" {
    return "invalid_client_metadata"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 6749 §4.1.2.1: the user (or the upstream provider) denied the request. 403 when shown directly. */
export class AccessDenied extends Schema.TaggedError<AccessDenied>()("AccessDenied", description) {
  get errorCode(): "access_denied" {
    return "access_denied"
  }
  get status(): 403 {
    return 403
  }
}

/** RFC 6749 §4.1.2.1: `response_type` other than `code`. 400. */
export class UnsupportedResponseType extends Schema.TaggedError<UnsupportedResponseType>()(
  "UnsupportedResponseType",
  description
) {
  get errorCode(): "unsupported_response_type" {
    return "unsupported_response_type"
  }
  get status(): 400 {
    return 400
  }
}

/** RFC 6749 §4.1.2.1: an unexpected condition (storage or provider failure). 500. */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", description) {
  get errorCode(): "server_error" {
    return "server_error"
  }
  get status(): 500 {
    return 500
  }
}

/** RFC 6749 §4.1.2.1: overloaded or in maintenance; also used for upstream timeouts. 503. */
export class TemporarilyUnavailable extends Schema.TaggedError<TemporarilyUnavailable>()(
  "TemporarilyUnavailable",
  description
) {
  get errorCode(): "temporarily_unavailable" {
    return "temporarily_unavailable"
  }
  get status(): 503 {
    return 503
  }
}

/**
 * The upstream callback's `state` is unknown, expired, already used, or not bound to this browser.
 * Shown directly (never redirected) as `invalid_request`, 400.
 */
export class InvalidState extends Schema.TaggedError<InvalidState>()("InvalidState", description) {
  get errorCode(): "invalid_request" {
    return "invalid_request"
  }
  get status(): 400 {
    return 400
  }
}

/**
 * RFC 6750 §3.1: the token is valid but lacks a required scope. 403 `insufficient_scope`;
 * `requiredScopes` feeds the `scope="..."` attribute of `WWW-Authenticate`.
 */
export class MissingScope extends Schema.TaggedError<MissingScope>()("MissingScope", {
  description: Schema.String,
  requiredScopes: Schema.Array(Schema.String)
}) {
  get errorCode(): "insufficient_scope" {
    return "insufficient_scope"
  }
  get status(): 403 {
    return 403
  }
}

/** RFC 6750 §3.1: bearer token missing-but-sent, malformed, expired, revoked or foreign. 401. */
export class InvalidToken extends Schema.TaggedError<InvalidToken>()("InvalidToken", description) {
  get errorCode(): "invalid_token" {
    return "invalid_token"
  }
  get status(): 401 {
    return 401
  }
}

/**
 * A required configuration key is missing (e.g. a provider's `client_secret`). At startup it names
 * the file, key and fix; if it ever reaches a client it is a plain `server_error` (500) and only
 * `description` is shown.
 */
export class ConfigIncomplete extends Schema.TaggedError<ConfigIncomplete>()("ConfigIncomplete", {
  description: Schema.String,
  file: Schema.String,
  key: Schema.String,
  fix: Schema.String
}) {
  get errorCode(): "server_error" {
    return "server_error"
  }
  get status(): 500 {
    return 500
  }
}

/** Schema of every OAuth error (for `HttpApi` error declarations or decoding in tests). */
export const OAuthError = Schema.Union(
  InvalidRequest,
  InvalidClient,
  InvalidGrant,
  UnauthorizedClient,
  UnsupportedGrantType,
  InvalidScope,
  InvalidTarget,
  InvalidRedirectUri,
  InvalidClientMetadata,
  AccessDenied,
  UnsupportedResponseType,
  ServerError,
  TemporarilyUnavailable,
  InvalidState,
  MissingScope,
  InvalidToken,
  ConfigIncomplete
)
export type OAuthError = typeof OAuthError.Type

/** The RFC 6749 §5.2 JSON body: exactly these two members. */
export interface OAuthErrorBody {
  readonly error: OAuthErrorCode
  readonly error_description: string
}

/** `{ error, error_description }` for the wire; no `_tag`, no other field. */
export const toOAuthErrorBody = (e: OAuthError): OAuthErrorBody => ({
  error: e.errorCode,
  error_description: e.description
})

/** The HTTP status to answer with when the error is shown directly (not redirected). */
export const oauthErrorStatus = (e: OAuthError): 400 | 401 | 403 | 500 | 503 => e.status

const oauthErrorTags: ReadonlySet<string> = new Set([
  "InvalidRequest",
  "InvalidClient",
  "InvalidGrant",
  "UnauthorizedClient",
  "UnsupportedGrantType",
  "InvalidScope",
  "InvalidTarget",
  "InvalidRedirectUri",
  "InvalidClientMetadata",
  "AccessDenied",
  "UnsupportedResponseType",
  "ServerError",
  "TemporarilyUnavailable",
  "InvalidState",
  "MissingScope",
  "InvalidToken",
  "ConfigIncomplete"
])

/** True for instances of the classes above (checks the `_tag` and the `errorCode` getter). */
export const isOAuthError = (u: unknown): u is OAuthError =>
  Predicate.hasProperty(u, "_tag") &&
  typeof u._tag === "string" &&
  oauthErrorTags.has(u._tag) &&
  Predicate.hasProperty(u, "errorCode") &&
  Predicate.hasProperty(u, "description")
