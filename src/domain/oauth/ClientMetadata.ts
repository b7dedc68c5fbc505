/**
 * RFC 7591 dynamic client registration: the request body and its validation into the normalized
 * metadata we store and echo back.
 *
 * Decisions:
 * - `redirect_uris` is required and non-empty; each must pass `validateRegistrationRedirectUri`.
 *   Any problem with it (missing, wrong type, too many, invalid entry) is `invalid_redirect_uri`;
 *   every other problem is `invalid_client_metadata`.
 * - `grant_types` ⊆ {authorization_code, refresh_token} and must include authorization_code
 *   (default [authorization_code]); `response_types` ⊆ {code} (default [code]). Since the only
 *   response type is `code` and authorization_code is mandatory, the RFC 7591 §2.1 pairing
 *   (authorization_code ⇔ code) always holds.
 * - `token_endpoint_auth_method` ∈ {none, client_secret_post, client_secret_basic}; when absent it
 *   is `client_secret_basic`, RFC 7591 §2's default. MCP clients that want to be public clients
 *   send `none` explicitly (the MCP SDK does); a client that omits it receives a secret and is told
 *   the method in the response.
 * - `client_name`: trimmed, at most 200 characters, no control or bidi-override characters (they
 *   could disguise the name on the consent page). It is escaped when shown.
 * - `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`: https (or loopback http) URLs without userinfo.
 * - `scope`: space-delimited valid scope tokens; normalized (de-duplicated, single spaces).
 * - `application_type` (OpenID Connect registration, required of clients by MCP 2026-07-28 DCR):
 *   `native` or `web`. A `web` client's redirect URIs must be https on a host other than the
 *   loopback (no loopback, no custom scheme: those are how native apps receive codes); `native`
 *   may use them. Absent, nothing more is checked (2025 clients never send it) and it is not echoed.
 * - `null` and `""` values mean "absent" (some clients serialize unset fields that way); unknown
 *   extra fields are ignored and not stored.
 */
import { Either, ParseResult, Schema } from "effect"
import { InvalidClientMetadata, InvalidRedirectUri } from "./Errors.js"
import { validateClientUrl, validateRegistrationRedirectUri } from "./RedirectUri.js"
import { formatScopes, isValidScopeToken, parseScopes } from "./Scopes.js"

/** Most redirect URIs one client may register (keeps stored registrations bounded). */
export const MAX_REDIRECT_URIS = 10

/** Longest `client_name`, in characters (code points). */
export const MAX_CLIENT_NAME_LENGTH = 200

export const GrantType = Schema.Literal("authorization_code", "refresh_token")
export type GrantType = typeof GrantType.Type

export const ResponseType = Schema.Literal("code")
export type ResponseType = typeof ResponseType.Type

export const TokenEndpointAuthMethod = Schema.Literal("none", "client_secret_post", "client_secret_basic")
export type TokenEndpointAuthMethod = typeof TokenEndpointAuthMethod.Type

const OptionalString = Schema.optional(Schema.NullOr(Schema.String))
const OptionalStrings = Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))

/**
 * The registration request as it arrives (RFC 7591 §2), only shape-checked. Unknown members are
 * ignored by decoding (`onExcessProperty` defaults to "ignore").
 */
export const ClientRegistrationRequest = Schema.Struct({
  redirect_uris: OptionalStrings,
  grant_types: OptionalStrings,
  response_types: OptionalStrings,
  token_endpoint_auth_method: OptionalString,
  client_name: OptionalString,
  client_uri: OptionalString,
  logo_uri: OptionalString,
  tos_uri: OptionalString,
  policy_uri: OptionalString,
  scope: OptionalString,
  application_type: OptionalString
})
export type ClientRegistrationRequest = typeof ClientRegistrationRequest.Type

/** The validated, normalized metadata stored for a DCR client and echoed in the 201 response. */
export const RegisteredClientMetadata = Schema.Struct({
  redirect_uris: Schema.NonEmptyArray(Schema.String),
  grant_types: Schema.NonEmptyArray(GrantType),
  response_types: Schema.NonEmptyArray(ResponseType),
  token_endpoint_auth_method: TokenEndpointAuthMethod,
  client_name: Schema.optional(Schema.String),
  client_uri: Schema.optional(Schema.String),
  logo_uri: Schema.optional(Schema.String),
  tos_uri: Schema.optional(Schema.String),
  policy_uri: Schema.optional(Schema.String),
  scope: Schema.optional(Schema.String),
  application_type: Schema.optional(Schema.Literal("native", "web"))
})
export type RegisteredClientMetadata = typeof RegisteredClientMetadata.Type

type RegistrationError = InvalidRedirectUri | InvalidClientMetadata

const metadataError = (description: string): InvalidClientMetadata => new InvalidClientMetadata({ description })
const redirectError = (description: string): InvalidRedirectUri => new InvalidRedirectUri({ description })

/** `null`, `undefined` and blank strings are all "absent". */
const present = (s: string | null | undefined): string | undefined =>
  s === null || s === undefined || s.trim() === "" ? undefined : s

// C0, DEL, C1, bidi embeddings/overrides/isolates, line/paragraph separators, zero-width joiners and BOM.
const forbiddenNameChars = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/

const decodeRequest = (input: unknown): Either.Either<ClientRegistrationRequest, RegistrationError> =>
  Either.mapLeft(Schema.decodeUnknownEither(ClientRegistrationRequest)(input), (error) => {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
    const field = issue?.path[0]
    if (field === undefined) return metadataError("the registration request must be a JSON object")
    if (field === "redirect_uris") return redirectError("redirect_uris must be an array of strings")
    return metadataError(`${String(field)} has the wrong type`)
  })

const checkRedirectUris = (
  uris: ReadonlyArray<string> | null | undefined
): Either.Either<readonly [string, ...Array<string>], InvalidRedirectUri> => {
  if (uris === null || uris === undefined || uris.length === 0) {
    return Either.left(redirectError("redirect_uris is required and must not be empty"))
  }
  if (uris.length > MAX_REDIRECT_URIS) {
    return Either.left(redirectError(`at most ${MAX_REDIRECT_URIS} redirect_uris may be registered`))
  }
  for (const [i, uri] of uris.entries()) {
    const checked = validateRegistrationRedirectUri(uri)
    if (Either.isLeft(checked)) return Either.left(redirectError(`redirect_uris[${i}] ${checked.left}`))
  }
  const [first, ...rest] = Array.from(new Set(uris))
  return first === undefined ? Either.left(redirectError("redirect_uris must not be empty")) : Either.right([first, ...rest])
}

const checkGrantTypes = (
  values: ReadonlyArray<string> | null | undefined
): Either.Either<readonly [GrantType, ...Array<GrantType>], InvalidClientMetadata> => {
  if (values === null || values === undefined) return Either.right(["authorization_code"])
  if (values.length === 0) return Either.left(metadataError("grant_types must not be empty"))
  if (!values.every(Schema.is(GrantType))) {
    return Either.left(metadataError("grant_types may contain only authorization_code and refresh_token"))
  }
  if (!values.includes("authorization_code")) {
    return Either.left(metadataError("grant_types must include authorization_code"))
  }
  const order: ReadonlyArray<GrantType> = ["authorization_code", "refresh_token"]
  return Either.right(["authorization_code", ...order.filter((g) => g !== "authorization_code" && values.includes(g))])
}

const checkResponseTypes = (
  values: ReadonlyArray<string> | null | undefined
): Either.Either<readonly [ResponseType], InvalidClientMetadata> => {
  if (values === null || values === undefined) return Either.right(["code"])
  if (values.length === 0) return Either.left(metadataError("response_types must not be empty"))
  if (!values.every((v) => v === "code")) return Either.left(metadataError("response_types may contain only code"))
  return Either.right(["code"])
}

const checkAuthMethod = (
  value: string | null | undefined
): Either.Either<TokenEndpointAuthMethod, InvalidClientMetadata> => {
  const v = present(value)
  if (v === undefined) return Either.right("client_secret_basic")
  return Schema.is(TokenEndpointAuthMethod)(v)
    ? Either.right(v)
    : Either.left(
      metadataError("token_endpoint_auth_method must be none, client_secret_post or client_secret_basic")
    )
}

const checkClientName = (value: string | null | undefined): Either.Either<string | undefined, InvalidClientMetadata> => {
  const v = present(value)?.trim()
  if (v === undefined) return Either.right(undefined)
  if (forbiddenNameChars.test(v)) return Either.left(metadataError("client_name contains control characters"))
  if (Array.from(v).length > MAX_CLIENT_NAME_LENGTH) {
    return Either.left(metadataError(`client_name is longer than ${MAX_CLIENT_NAME_LENGTH} characters`))
  }
  return Either.right(v)
}

const checkUrl = (
  field: string,
  value: string | null | undefined
): Either.Either<string | undefined, InvalidClientMetadata> => {
  const v = present(value)
  if (v === undefined) return Either.right(undefined)
  return Either.mapBoth(validateClientUrl(v), { onLeft: (reason) => metadataError(`${field} ${reason}`), onRight: (u) => u })
}

const checkScope = (value: string | null | undefined): Either.Either<string | undefined, InvalidClientMetadata> => {
  const scopes = parseScopes(present(value))
  if (scopes.length === 0) return Either.right(undefined)
  return scopes.every(isValidScopeToken)
    ? Either.right(formatScopes(scopes))
    : Either.left(metadataError("scope is malformed"))
}

const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "[::1]"

const checkApplicationType = (
  value: string | null | undefined,
  redirectUris: ReadonlyArray<string>
): Either.Either<"native" | "web" | undefined, RegistrationError> => {
  const v = present(value)
  if (v === undefined) return Either.right(undefined)
  if (v !== "native" && v !== "web") return Either.left(metadataError("application_type must be native or web"))
  if (v === "web") {
    for (const [i, uri] of redirectUris.entries()) {
      let url: URL | undefined
      try {
        url = new URL(uri)
      } catch {
        url = undefined
      }
      if (url === undefined || url.protocol !== "https:" || isLoopbackHost(url.hostname.toLowerCase())) {
        return Either.left(
          redirectError(`redirect_uris[${i}] must be an https URL on a non-loopback host for application_type web (use native for loopback or custom schemes)`)
        )
      }
    }
  }
  return Either.right(v)
}

/**
 * Validates a registration request body (already parsed JSON) into the metadata to store.
 * Redirect URI problems → `invalid_redirect_uri`; everything else → `invalid_client_metadata`.
 */
export const validateClientMetadata = (
  input: unknown
): Either.Either<RegisteredClientMetadata, RegistrationError> =>
  Either.gen(function*() {
    const req = yield* decodeRequest(input)
    const redirect_uris = yield* checkRedirectUris(req.redirect_uris)
    const grant_types = yield* checkGrantTypes(req.grant_types)
    const response_types = yield* checkResponseTypes(req.response_types)
    if (grant_types.includes("authorization_code") !== response_types.includes("code")) {
      return yield* Either.left(metadataError("grant_types authorization_code requires response_types code"))
    }
    const token_endpoint_auth_method = yield* checkAuthMethod(req.token_endpoint_auth_method)
    const client_name = yield* checkClientName(req.client_name)
    const client_uri = yield* checkUrl("client_uri", req.client_uri)
    const logo_uri = yield* checkUrl("logo_uri", req.logo_uri)
    const tos_uri = yield* checkUrl("tos_uri", req.tos_uri)
    const policy_uri = yield* checkUrl("policy_uri", req.policy_uri)
    const scope = yield* checkScope(req.scope)
    const application_type = yield* checkApplicationType(req.application_type, redirect_uris)
    const metadata: RegisteredClientMetadata = {
      redirect_uris,
      grant_types,
      response_types,
      token_endpoint_auth_method,
      ...(client_name === undefined ? {} : { client_name }),
      ...(client_uri === undefined ? {} : { client_uri }),
      ...(logo_uri === undefined ? {} : { logo_uri }),
      ...(tos_uri === undefined ? {} : { tos_uri }),
      ...(policy_uri === undefined ? {} : { policy_uri }),
      ...(scope === undefined ? {} : { scope }),
      ...(application_type === undefined ? {} : { application_type })
    }
    return metadata
  })

/** A public client (no secret): authenticates at /token only with PKCE. */
export const isPublicClient = (metadata: Pick<RegisteredClientMetadata, "token_endpoint_auth_method">): boolean =>
  metadata.token_endpoint_auth_method === "none"

/** Whether refresh tokens are issued to this client. */
export const allowsRefreshToken = (metadata: Pick<RegisteredClientMetadata, "grant_types">): boolean =>
  metadata.grant_types.includes("refresh_token")
