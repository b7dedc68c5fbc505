import { Context, Schema } from "effect"
import type { Effect } from "effect"
import type { CurrentUser } from "../../domain/oauth/Identity.js"

/** JSON-RPC error codes used for MCP protocol-level failures. */
export const JsonRpcCode = {
  InvalidParams: -32602,
  MethodNotFound: -32601,
  InternalError: -32603,
  /** A resource read or prompt refused by the endpoint's policies (server-defined range). */
  PolicyDenied: -32003
} as const

/** A request the client got wrong (unknown tool, bad arguments): becomes a JSON-RPC error. */
export class McpProtocolError extends Schema.TaggedError<McpProtocolError>()("McpProtocolError", {
  code: Schema.Number,
  message: Schema.String,
  /** The JSON-RPC error's `data` (e.g. `{uri}` for an unknown resource). */
  data: Schema.optional(Schema.Unknown)
}) {}

/** Who is calling: the authenticated user, or none when auth is off. */
export interface CallContext {
  readonly user?: CurrentUser | undefined
  /** The HTTP request's headers (for get_request_header() in SQL); absent over stdio. */
  readonly requestHeaders?: Readonly<Record<string, string | ReadonlyArray<string> | undefined>> | undefined
}

export interface ToolInfo {
  readonly name: string
  readonly description: string
  readonly inputSchema: { readonly type: "object"; readonly [k: string]: unknown }
  /** For tools with an `object` return type; their `structuredContent` matches it. */
  readonly outputSchema?: { readonly type: "object"; readonly [k: string]: unknown } | undefined
  readonly annotations?: Readonly<Record<string, unknown>> | undefined
}

export interface ToolResult {
  readonly content: ReadonlyArray<{ readonly type: "text"; readonly text: string }>
  readonly structuredContent?: Readonly<Record<string, unknown>> | undefined
  readonly isError?: boolean | undefined
}

export interface ResourceInfo {
  readonly uri: string
  readonly name: string
  readonly description: string
  readonly mimeType: string
}

export interface ResourceTemplateInfo {
  readonly uriTemplate: string
  readonly name: string
  readonly description: string
  readonly mimeType: string
}

export interface ResourceContents {
  readonly contents: ReadonlyArray<{ readonly uri: string; readonly mimeType: string; readonly text: string }>
}

export interface PromptInfo {
  readonly name: string
  readonly description: string
  readonly arguments: ReadonlyArray<{ readonly name: string; readonly description: string; readonly required: boolean }>
}

export interface PromptResult {
  readonly description: string
  readonly messages: ReadonlyArray<{
    readonly role: "user" | "assistant"
    readonly content: { readonly type: "text"; readonly text: string }
  }>
}

export declare namespace McpEndpoints {
  export interface Shape {
    readonly tools: ReadonlyArray<ToolInfo>
    readonly resources: ReadonlyArray<ResourceInfo>
    readonly resourceTemplates: ReadonlyArray<ResourceTemplateInfo>
    readonly prompts: ReadonlyArray<PromptInfo>
    /** SQL failures and result-shape mismatches are tool results with `isError`, not failures. */
    readonly callTool: (
      name: string,
      args: unknown,
      ctx: CallContext
    ) => Effect.Effect<ToolResult, McpProtocolError>
    readonly readResource: (uri: string, ctx: CallContext) => Effect.Effect<ResourceContents, McpProtocolError>
    readonly getPrompt: (
      name: string,
      args: Readonly<Record<string, string>> | undefined,
      ctx: CallContext
    ) => Effect.Effect<PromptResult, McpProtocolError>
  }
}

/** What the MCP server exposes, independent of any transport or SDK. */
export class McpEndpoints extends Context.Tag("mxcp/McpEndpoints")<McpEndpoints, McpEndpoints.Shape>() {}
