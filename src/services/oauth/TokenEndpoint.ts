import { Context } from "effect"
import type { Effect } from "effect"
import type { OAuthError } from "../../domain/oauth/Errors.js"
import type { RawParams } from "./AuthorizationFlow.js"

export interface TokenResponse {
  readonly access_token: string
  readonly token_type: "Bearer"
  readonly expires_in: number
  readonly scope: string
  readonly refresh_token?: string | undefined
}

/** How the client authenticated, for error responses (`WWW-Authenticate: Basic` after Basic). */
export interface TokenRequestContext {
  readonly base: string
  /** The raw `Authorization` header, if any. */
  readonly authorization: string | undefined
}

/** A token endpoint error plus whether the client tried HTTP Basic authentication. */
export interface TokenEndpointFailure {
  readonly error: OAuthError
  readonly usedBasic: boolean
}

export declare namespace TokenEndpoint {
  export interface Shape {
    /** `/token`: `authorization_code` and `refresh_token` grants. */
    readonly token: (form: RawParams, ctx: TokenRequestContext) => Effect.Effect<TokenResponse, TokenEndpointFailure>
    /** `/revoke` (RFC 7009): unknown or foreign tokens are a silent success. */
    readonly revoke: (form: RawParams, ctx: TokenRequestContext) => Effect.Effect<void, TokenEndpointFailure>
  }
}

/** The back-channel endpoints where clients trade codes and refresh tokens. */
export class TokenEndpoint extends Context.Tag("mxcp/TokenEndpoint")<TokenEndpoint, TokenEndpoint.Shape>() {}
