import type { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Context } from "effect"
import type { Effect, Either } from "effect"
import type { McpCaller } from "../mcp/McpServerFactory.js"

export declare namespace OAuthHttp {
  export interface RouteOptions {
    /** The port the server is bound to (for BASE when no base_url is set). */
    readonly boundPort: () => number
    /** /register requests per client address per minute. */
    readonly registrationsPerMinute?: number | undefined
  }

  export interface Routes {
    /** The authorization server's endpoints: metadata, /register, /authorize, /consent, the callback, /token, /revoke. */
    readonly router: HttpRouter.HttpRouter
    /** The bearer check of one /mcp request: the caller, or the answer to send (401, 403, 429). */
    readonly guard: (
      request: HttpServerRequest.HttpServerRequest
    ) => Effect.Effect<Either.Either<McpCaller, HttpServerResponse.HttpServerResponse>>
    /** Where the upstream provider redirects back to. */
    readonly callbackPath: string
    /**
     * Whether the OAuth store answers (`/health`): always true in memory; one short round trip to
     * SQLite or PostgreSQL, shared by the health checks of the next second.
     */
    readonly storeHealthy?: Effect.Effect<boolean> | undefined
  }

  export interface Shape {
    /** The OAuth routes and the /mcp guard, or undefined when auth is `none`. */
    readonly routes: ((options: RouteOptions) => Effect.Effect<Routes>) | undefined
  }
}

/** The authorization server's HTTP surface, if auth is on. */
export class OAuthHttp extends Context.Tag("mxcp/OAuthHttp")<OAuthHttp, OAuthHttp.Shape>() {}
