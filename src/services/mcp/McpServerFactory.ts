import { Context } from "effect"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"

export declare namespace McpServerFactory {
  export interface Shape {
    /** A fresh SDK server wired to the project's endpoints; one per transport/session. */
    readonly create: () => Server
  }
}

/** Builds MCP SDK `Server` instances whose handlers run our Effect endpoints. */
export class McpServerFactory extends Context.Tag("mxcp/McpServerFactory")<McpServerFactory, McpServerFactory.Shape>() {}
