import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js"
import { Cause, Effect, Exit, Layer, Option, Runtime } from "effect"
import { z } from "zod"
import { currentUserOf } from "../../http/mcp/SdkAuthInfo.js"
import { JsonRpcCode, McpEndpoints, type CallContext } from "../../services/mcp/McpEndpoints.js"
import { McpServerFactory } from "../../services/mcp/McpServerFactory.js"

export const SERVER_NAME = "mxcp-ts"
export const SERVER_VERSION = "0.1.0"

/** A request schema that fixes only the method; the parameters are checked by the handler. */
const methodOnly = <M extends string>(method: M) =>
  z.looseObject({ method: z.literal(method), params: z.unknown().optional() })

/**
 * Wire an SDK server's low-level handlers to McpEndpoints. Each handler runs its Effect on the
 * runtime captured when the layer was built; the client's cancellation interrupts it.
 */
export const makeSdkServer = (endpoints: McpEndpoints.Shape, runtime: Runtime.Runtime<never>): Server => {
  const server = new Server(
    { name: SERVER_NAME, version: SERVER_VERSION },
    { capabilities: { tools: {}, resources: {}, prompts: {} } }
  )
  const run = async <A>(effect: Effect.Effect<A, { code: number; message: string }>, signal: AbortSignal): Promise<A> => {
    const exit = await Runtime.runPromiseExit(runtime)(effect, { signal })
    if (Exit.isSuccess(exit)) return exit.value
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) throw new McpError(failure.value.code, failure.value.message)
    if (Cause.isInterruptedOnly(exit.cause)) throw new McpError(JsonRpcCode.InternalError, "Request cancelled")
    // A defect is a bug: log it in full server-side, tell the client only that it failed.
    await Runtime.runPromise(runtime)(Effect.logError("MCP handler defect", exit.cause))
    throw new McpError(JsonRpcCode.InternalError, "Internal error")
  }
  const ctxOf = (
    extra: { authInfo?: AuthInfo | undefined; requestInfo?: { headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>> } | undefined }
  ): CallContext => ({ user: currentUserOf(extra.authInfo), requestHeaders: extra.requestInfo?.headers })

  // The SDK parses a request against the schema a handler is registered with before calling it,
  // and reports a mismatch as -32603 (internal error). Requests with parameters are registered
  // with a schema that only fixes the method, and their parameters are checked here (or, for
  // tools/call, by the SDK's own wrapper), so a malformed request is -32602 (invalid params).
  const strictly = <S extends z.ZodType>(schema: S, method: string, request: unknown): z.infer<S> => {
    const parsed = schema.safeParse(request)
    if (!parsed.success) {
      throw new McpError(JsonRpcCode.InvalidParams, `Invalid ${method} request: ${z.prettifyError(parsed.error).replace(/\s*\n\s*/g, "; ")}`)
    }
    return parsed.data
  }

  // List methods take no parameters we use (no pagination: every list fits one page), but a
  // malformed `cursor` or `_meta` is still the client's error.
  server.setRequestHandler(methodOnly("tools/list"), (request) => {
    strictly(ListToolsRequestSchema, "tools/list", request)
    return { tools: endpoints.tools as Array<never> }
  })
  // The SDK's own tools/call wrapper has checked the request against CallToolRequestSchema
  // (answering -32602 when it does not match) before this handler runs.
  server.setRequestHandler(methodOnly("tools/call"), (request, extra) => {
    const { params } = request as unknown as z.infer<typeof CallToolRequestSchema>
    return run(endpoints.callTool(params.name, params.arguments, ctxOf(extra)), extra.signal) as Promise<never>
  })
  server.setRequestHandler(methodOnly("resources/list"), (request) => {
    strictly(ListResourcesRequestSchema, "resources/list", request)
    return { resources: endpoints.resources as Array<never> }
  })
  server.setRequestHandler(methodOnly("resources/templates/list"), (request) => {
    strictly(ListResourceTemplatesRequestSchema, "resources/templates/list", request)
    return { resourceTemplates: endpoints.resourceTemplates as Array<never> }
  })
  server.setRequestHandler(methodOnly("resources/read"), (request, extra) => {
    const { params } = strictly(ReadResourceRequestSchema, "resources/read", request)
    return run(endpoints.readResource(params.uri, ctxOf(extra)), extra.signal) as Promise<never>
  })
  server.setRequestHandler(methodOnly("prompts/list"), (request) => {
    strictly(ListPromptsRequestSchema, "prompts/list", request)
    return { prompts: endpoints.prompts as Array<never> }
  })
  server.setRequestHandler(methodOnly("prompts/get"), (request, extra) => {
    const { params } = strictly(GetPromptRequestSchema, "prompts/get", request)
    return run(endpoints.getPrompt(params.name, params.arguments, ctxOf(extra)), extra.signal) as Promise<never>
  })
  return server
}

/** McpServerFactory backed by the MCP TypeScript SDK's low-level `Server`. */
export const McpServerSdk: Layer.Layer<McpServerFactory, never, McpEndpoints> = Layer.effect(
  McpServerFactory,
  Effect.gen(function* () {
    const endpoints = yield* McpEndpoints
    const runtime = yield* Effect.runtime<never>()
    return McpServerFactory.of({ create: () => makeSdkServer(endpoints, runtime) })
  })
)
