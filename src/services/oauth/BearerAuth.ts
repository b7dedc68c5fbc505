import { Context } from "effect"
import type { Effect } from "effect"
import type { InvalidToken, MissingScope } from "../../domain/oauth/Errors.js"
import type { CurrentUser } from "../../domain/oauth/Identity.js"

export interface Authenticated {
  /** Who made the request: what the endpoints and SQL see (upstream token refreshed if needed). */
  readonly user: CurrentUser
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  /** Stable id of the user: an MCP session is only usable by the principal that created it. */
  readonly principal: string
  readonly expiresAt: number
}

/** No bearer token was presented at all (401 without `error=`). */
export interface NoToken {
  readonly _tag: "NoToken"
}

/**
 * The token could not be checked: the store did not answer (PostgreSQL down or unreachable).
 * Answered 503 (never 401: the token may well be valid), the client retries.
 */
export interface Unavailable {
  readonly _tag: "Unavailable"
}

export declare namespace BearerAuth {
  export interface Shape {
    /** Validate the `Authorization` header of one /mcp request against `base`'s resource. */
    readonly authenticate: (
      authorization: string | undefined,
      base: string
    ) => Effect.Effect<Authenticated, NoToken | InvalidToken | MissingScope | Unavailable>
  }
}

/** Bearer protection of /mcp: our opaque access tokens only, never an upstream token. */
export class BearerAuth extends Context.Tag("mxcp/BearerAuth")<BearerAuth, BearerAuth.Shape>() {}
