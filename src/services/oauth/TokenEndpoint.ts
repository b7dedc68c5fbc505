import { Context } from "effect"
import type { Effect } from "effect"
import type { OAuthError } from "../../domain/oauth/Errors.js"
import type { RevocationRequest, TokenRequest } from "../../domain/oauth/Requests.js"

export interface TokenResponse {
  readonly access_token: string
  readonly token_type: "Bearer"
  readonly expires_in: number
  readonly scope: string
  readonly refresh_token?: string | undefined
}

/** Request facts the endpoints need besides the request itself. */
export interface TokenRequestContext {
  /** External base URL (no trailing slash). */
  readonly base: string
}

export declare namespace TokenEndpoint {
  export interface Shape {
    /**
     * `/token`: `authorization_code` and `refresh_token` grants. The client is authenticated
     * first (`InvalidClient` when that fails), without touching any code or token.
     */
    readonly token: (request: TokenRequest, ctx: TokenRequestContext) => Effect.Effect<TokenResponse, OAuthError>
    /** `/revoke` (RFC 7009): unknown or foreign tokens are a silent success. */
    readonly revoke: (request: RevocationRequest, ctx: TokenRequestContext) => Effect.Effect<void, OAuthError>
  }
}

/** The back-channel endpoints where clients trade codes and refresh tokens. */
export class TokenEndpoint extends Context.Tag("mxcp/TokenEndpoint")<TokenEndpoint, TokenEndpoint.Shape>() {}
