/**
 * OAuth errors that cross the wire.
 *
 * Each error is a `Schema.TaggedError` carrying a human-readable `description`; its RFC 6749 /
 * RFC 7591 / RFC 6750 `error` code and its HTTP status are fixed per class (`OAuthErrorClass`)
 * and exposed as the `errorCode` and `status` getters (on the prototype, so they are not part of
 * the encoded value).
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

/** The HTTP statuses an OAuth error is shown with. */
export type OAuthErrorStatus = 400 | 401 | 403 | 500 | 503

/**
 * The class of one OAuth error: a `Schema.TaggedError` with a `description` (and `fields`), whose
 * `errorCode` and `status` are fixed for the class. Use as
 * `class InvalidGrant extends OAuthErrorClass<InvalidGrant>()("InvalidGrant", "invalid_grant", 400) {}`.
 */
const OAuthErrorClass = <Self>() =>
<
  Tag extends string,
  Code extends OAuthErrorCode,
  Status extends OAuthErrorStatus,
  Fields extends Schema.Struct.Fields = {}
>(
  tag: Tag,
  errorCode: Code,
  status: Status,
  fields?: Fields
) => {
  const Base = Schema.TaggedError<Self>()(tag, { description: Schema.String, ...(fields ?? ({} as Fields)) })
  Object.defineProperties((Base as unknown as { readonly prototype: object }).prototype, {
    errorCode: { get: () => errorCode, configurable: true },
    status: { get: () => status, configurable: true }
  })
  // The getters above, as members of every instance's type.
  return Base as typeof Base & (new(...args: Array<any>) => { readonly errorCode: Code; readonly status: Status })
}

/** RFC 6749 §5.2: missing, repeated or malformed parameter. 400. */
export class InvalidRequest extends OAuthErrorClass<InvalidRequest>()("InvalidRequest", "invalid_request", 400) {}

/** RFC 6749 §5.2: client authentication failed (unknown client, wrong secret or method). 401. */
export class InvalidClient extends OAuthErrorClass<InvalidClient>()("InvalidClient", "invalid_client", 401) {}

/** RFC 6749 §5.2: code or refresh token invalid, expired, revoked, reused or bound elsewhere. 400. */
export class InvalidGrant extends OAuthErrorClass<InvalidGrant>()("InvalidGrant", "invalid_grant", 400) {}

/** RFC 6749 §5.2: the client may not use this grant type. 400. */
export class UnauthorizedClient extends OAuthErrorClass<UnauthorizedClient>()(
  "UnauthorizedClient",
  "unauthorized_client",
  400
) {}

/** RFC 6749 §5.2: grant type not supported by this server. 400. */
export class UnsupportedGrantType extends OAuthErrorClass<UnsupportedGrantType>()(
  "UnsupportedGrantType",
  "unsupported_grant_type",
  400
) {}

/** RFC 6749 §4.1.2.1 / §5.2: scope unknown, malformed or beyond what the client may have. 400. */
export class InvalidScope extends OAuthErrorClass<InvalidScope>()("InvalidScope", "invalid_scope", 400) {}

/** RFC 8707 §2: `resource` is not this server's protected resource. 400. */
export class InvalidTarget extends OAuthErrorClass<InvalidTarget>()("InvalidTarget", "invalid_target", 400) {}

/** RFC 7591 §3.2.2: one or more redirect URIs are invalid (registration only). 400. */
export class InvalidRedirectUri extends OAuthErrorClass<InvalidRedirectUri>()(
  "InvalidRedirectUri",
  "invalid_redirect_uri",
  400
) {}

/** RFC 7591 §3.2.2: some other registration metadata is invalid or unsupported. 400. */
export class InvalidClientMetadata extends OAuthErrorClass<InvalidClientMetadata>()(
  "InvalidClientMetadata",
  "invalid_client_metadata",
  400
) {}

/** RFC 6749 §4.1.2.1: the user (or the upstream provider) denied the request. 403 when shown directly. */
export class AccessDenied extends OAuthErrorClass<AccessDenied>()("AccessDenied", "access_denied", 403) {}

/** RFC 6749 §4.1.2.1: `response_type` other than `code`. 400. */
export class UnsupportedResponseType extends OAuthErrorClass<UnsupportedResponseType>()(
  "UnsupportedResponseType",
  "unsupported_response_type",
  400
) {}

/** RFC 6749 §4.1.2.1: an unexpected condition (storage or provider failure). 500. */
export class ServerError extends OAuthErrorClass<ServerError>()("ServerError", "server_error", 500) {}

/** RFC 6749 §4.1.2.1: overloaded or in maintenance; also used for upstream timeouts. 503. */
export class TemporarilyUnavailable extends OAuthErrorClass<TemporarilyUnavailable>()(
  "TemporarilyUnavailable",
  "temporarily_unavailable",
  503
) {}

/**
 * The upstream callback's `state` is unknown, expired, already used, or not bound to this browser.
 * Shown directly (never redirected) as `invalid_request`, 400.
 */
export class InvalidState extends OAuthErrorClass<InvalidState>()("InvalidState", "invalid_request", 400) {}

/**
 * RFC 6750 §3.1: the token is valid but lacks a required scope. 403 `insufficient_scope`;
 * `requiredScopes` feeds the `scope="..."` attribute of `WWW-Authenticate`.
 */
export class MissingScope extends OAuthErrorClass<MissingScope>()(
  "MissingScope",
  "insufficient_scope",
  403,
  { requiredScopes: Schema.Array(Schema.String) }
) {}

/** RFC 6750 §3.1: bearer token missing-but-sent, malformed, expired, revoked or foreign. 401. */
export class InvalidToken extends OAuthErrorClass<InvalidToken>()("InvalidToken", "invalid_token", 401) {}

/**
 * A required configuration key is missing (e.g. a provider's `client_secret`). At startup it names
 * the file, key and fix; if it ever reaches a client it is a plain `server_error` (500) and only
 * `description` is shown.
 */
export class ConfigIncomplete extends OAuthErrorClass<ConfigIncomplete>()(
  "ConfigIncomplete",
  "server_error",
  500,
  { file: Schema.String, key: Schema.String, fix: Schema.String }
) {}

const oauthErrorClasses = [
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
] as const

/** Schema of every OAuth error (for `HttpApi` error declarations or decoding in tests). */
export const OAuthError = Schema.Union(...oauthErrorClasses)
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
export const oauthErrorStatus = (e: OAuthError): OAuthErrorStatus => e.status

const oauthErrorTags: ReadonlySet<string> = new Set(oauthErrorClasses.map((c) => c._tag))

/** True for instances of the classes above (checks the `_tag` and the `errorCode` getter). */
export const isOAuthError = (u: unknown): u is OAuthError =>
  Predicate.hasProperty(u, "_tag") &&
  typeof u._tag === "string" &&
  oauthErrorTags.has(u._tag) &&
  Predicate.hasProperty(u, "errorCode") &&
  Predicate.hasProperty(u, "description")
