import { Context } from "effect"
import type { AuthInfo, Server } from "@modelcontextprotocol/server"

/**
 * The caller of one MCP request as the bearer check established it (absent: auth off). The SDK
 * hands `authInfo` to every handler (`ctx.http.authInfo`), whose `extra.user` is the `CurrentUser`.
 */
export interface McpCaller {
  readonly authInfo: AuthInfo
  /** Stable id of the user; a session may only be used by the user who created it. */
  readonly principal: string
}

/** The stateless protocol revision (no `initialize`, no sessions) spoken beside the 2025 ones. */
export const STATELESS_PROTOCOL_VERSION = "2026-07-28"

/** `legacy`: the 2025-11-25 family (sessions, `initialize`); `modern`: 2026-07-28 (stateless). */
export type ProtocolEra = "legacy" | "modern"

export declare namespace McpServerFactory {
  export interface Shape {
    /**
     * A fresh SDK server wired to the project's endpoints, for one era (the SDK binds an
     * instance to one): one per 2025-11-25 session or stdio connection, one per 2026-07-28
     * request in flight. Default `legacy`.
     */
    readonly create: (era?: ProtocolEra) => Server
  }
}

/** Builds MCP SDK `Server` instances whose handlers run our Effect endpoints. */
export class McpServerFactory extends Context.Tag("mxcp/McpServerFactory")<McpServerFactory, McpServerFactory.Shape>() {}
