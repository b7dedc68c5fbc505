import { Context } from "effect"
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"

/**
 * The caller of one MCP request as the bearer check established it (absent: auth off). The SDK
 * hands `authInfo` to every handler (`extra.authInfo`), whose `extra.user` is the `CurrentUser`.
 */
export interface McpCaller {
  readonly authInfo: AuthInfo
  /** Stable id of the user; a session may only be used by the user who created it. */
  readonly principal: string
}

export declare namespace McpServerFactory {
  export interface Shape {
    /** A fresh SDK server wired to the project's endpoints; one per transport/session. */
    readonly create: () => Server
  }
}

/** Builds MCP SDK `Server` instances whose handlers run our Effect endpoints. */
export class McpServerFactory extends Context.Tag("mxcp/McpServerFactory")<McpServerFactory, McpServerFactory.Shape>() {}
