/**
 * The OAuth requests as the services receive them: decoded from a query string or a form body
 * at the HTTP edge (`http/oauth/OAuthParams.ts`), every parameter given at most once, an empty
 * value counting as absent (RFC 6749 3.1). Presence and meaning are checked by the services, in
 * the order the RFCs' error rules ask for.
 */
import { Option, Schema } from "effect"

/** One parameter: a string, absent when missing or empty. */
const Param = Schema.optionalToOptional(Schema.String, Schema.String, {
  decode: Option.filter((value) => value !== ""),
  encode: (value) => value
})

/** `/authorize` (GET query or POST form). */
export const AuthorizeRequest = Schema.Struct({
  response_type: Param,
  client_id: Param,
  redirect_uri: Param,
  scope: Param,
  state: Param,
  code_challenge: Param,
  code_challenge_method: Param,
  resource: Param
})
export type AuthorizeRequest = typeof AuthorizeRequest.Type

/** The consent page's form, posted to `/consent`. */
export const ConsentForm = Schema.Struct({ flow: Param, csrf: Param, decision: Param })
export type ConsentForm = typeof ConsentForm.Type

/** The upstream provider's redirect back to `<callback_path>`. */
export const CallbackQuery = Schema.Struct({ state: Param, code: Param, error: Param })
export type CallbackQuery = typeof CallbackQuery.Type

/** `/token` with `grant_type=authorization_code` (RFC 6749 4.1.3). */
export const AuthorizationCodeGrant = Schema.Struct({
  grant_type: Schema.Literal("authorization_code"),
  code: Param,
  redirect_uri: Param,
  code_verifier: Param,
  resource: Param
})
export type AuthorizationCodeGrant = typeof AuthorizationCodeGrant.Type

/** `/token` with `grant_type=refresh_token` (RFC 6749 6). */
export const RefreshTokenGrant = Schema.Struct({
  grant_type: Schema.Literal("refresh_token"),
  refresh_token: Param,
  scope: Param,
  resource: Param
})
export type RefreshTokenGrant = typeof RefreshTokenGrant.Type

/** The grants `/token` supports, told apart by `grant_type`. */
export const TokenGrant = Schema.Union(AuthorizationCodeGrant, RefreshTokenGrant)
export type TokenGrant = typeof TokenGrant.Type

/** The client fields of a `/token` or `/revoke` form (`client_secret_post`, or a public client's id). */
export const ClientForm = Schema.Struct({ client_id: Param, client_secret: Param })
export type ClientForm = typeof ClientForm.Type

/** `/revoke` (RFC 7009). */
export const RevocationForm = Schema.Struct({ token: Param, token_type_hint: Param })
export type RevocationForm = typeof RevocationForm.Type

/** Who the client says it is and how it proves it (RFC 6749 2.3.1): one method, never two. */
export type ClientCredentials =
  | { readonly method: "none"; readonly clientId: string }
  | { readonly method: "client_secret_post" | "client_secret_basic"; readonly clientId: string; readonly secret: string }

export interface TokenRequest {
  readonly grant: TokenGrant
  readonly client: ClientCredentials
}

export interface RevocationRequest {
  readonly form: RevocationForm
  readonly client: ClientCredentials
}
