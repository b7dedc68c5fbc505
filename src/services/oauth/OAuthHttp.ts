import { Context } from "effect"
import type { Effect } from "effect"
import type { OAuthRouteOptions, OAuthRoutes } from "../../http/oauth/OAuthRoutes.js"

export declare namespace OAuthHttp {
  export interface Shape {
    /** The OAuth routes and /mcp guard, or undefined when auth is `none`. */
    readonly routes: ((options: OAuthRouteOptions) => Effect.Effect<OAuthRoutes>) | undefined
  }
}

/** The authorization server's HTTP surface, if auth is on. */
export class OAuthHttp extends Context.Tag("mxcp/OAuthHttp")<OAuthHttp, OAuthHttp.Shape>() {}
