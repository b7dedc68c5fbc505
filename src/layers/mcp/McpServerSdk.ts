/**
 * The MCP SDK's server (`@modelcontextprotocol/server` 2.x) wired to `McpEndpoints`. One wiring
 * serves both protocol eras: a 2025-11-25 session (after `initialize`) and 2026-07-28 stateless
 * requests (per-request `_meta` envelope, `server/discover`). The SDK owns everything the
 * protocol says (era codecs, envelope checks, `resultType`, caching hints, error codes); this
 * file only maps methods to endpoints.
 *
 * Decisions:
 * - The low-level `Server`, not `McpServer`: tool input schemas come from YAML as JSON Schema and
 *   `McpEndpoints` validates arguments itself (with its own messages); `McpServer` would validate
 *   them a second time.
 * - The SDK validates each request against its era's schema before the handler runs and reports
 *   a mismatch as a plain `Error` (which JSON-RPC would carry as -32603). `EndpointServer` turns
 *   exactly those into -32602 (invalid params), naming the method: every error our own handlers
 *   raise is already a `ProtocolError`, so a plain `Error` can only be the SDK's validation.
 * - Caching hints (2026-07-28, `ttlMs`/`cacheScope`): the lists are fixed for the life of the
 *   process (the catalog is read at start), so clients may keep them a minute; a resource is read
 *   from the database for one user, so `resources/read` is private and not cacheable. Always
 *   `private`: with auth on, what a user sees is that user's.
 * - An unknown resource is -32602 with `data.uri` (2026-07-28 resources), in both eras.
 */
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/server/validators/ajv"
import {
  type CacheHint,
  ProtocolError,
  Server,
  type ServerContext,
  SUPPORTED_PROTOCOL_VERSIONS
} from "@modelcontextprotocol/server"
import { Cause, Effect, Exit, Layer, Option, Runtime } from "effect"
import { currentUserOf, requestHeadersOf } from "../../http/mcp/SdkAuthInfo.js"
import { JsonRpcCode, McpEndpoints, type CallContext, type McpProtocolError } from "../../services/mcp/McpEndpoints.js"
import { McpServerFactory, type ProtocolEra, STATELESS_PROTOCOL_VERSION } from "../../services/mcp/McpServerFactory.js"

export const SERVER_NAME = "mxcp-ts"
export const SERVER_VERSION = "0.1.0"

/** How long a client may keep a list (the catalog does not change while the process runs). */
const LIST_TTL_MS = 60_000

const CACHE_HINTS: Partial<Record<"tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" | "resources/read", CacheHint>> = {
  "tools/list": { ttlMs: LIST_TTL_MS, cacheScope: "private" },
  "prompts/list": { ttlMs: LIST_TTL_MS, cacheScope: "private" },
  "resources/list": { ttlMs: LIST_TTL_MS, cacheScope: "private" },
  "resources/templates/list": { ttlMs: LIST_TTL_MS, cacheScope: "private" },
  "resources/read": { ttlMs: 0, cacheScope: "private" }
}

/** The SDK's `Server` with request-validation failures reported as invalid params (-32602). */
class EndpointServer extends Server {
  protected override _wrapHandler(
    method: string,
    handler: Parameters<Server["_wrapHandler"]>[1]
  ): ReturnType<Server["_wrapHandler"]> {
    const wrapped = super._wrapHandler(method, handler)
    return async (request, ctx) => {
      try {
        return await wrapped(request, ctx)
      } catch (error) {
        if (error instanceof ProtocolError || !(error instanceof Error)) throw error
        throw new ProtocolError(JsonRpcCode.InvalidParams, `Invalid ${method} request: ${error.message.replace(/\s*\n\s*/g, "; ")}`)
      }
    }
  }
}

/** One validator for every instance (the SDK would build one per server otherwise). */
const validator = new AjvJsonSchemaValidator()

/**
 * Wire an SDK server's handlers to McpEndpoints. Each handler runs its Effect on the runtime
 * captured when the layer was built; the client's cancellation interrupts it.
 */
export const makeSdkServer = (
  endpoints: McpEndpoints.Shape,
  runtime: Runtime.Runtime<never>,
  era: ProtocolEra = "legacy"
): Server => {
  const server = new EndpointServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    {
      capabilities: { tools: {}, resources: {}, prompts: {} },
      jsonSchemaValidator: validator,
      cacheHints: CACHE_HINTS,
      // A 2026-07-28 instance must list that revision for the SDK to bind it (and to answer
      // `server/discover`); a 2025 one must not, or `initialize` could settle on it.
      ...(era === "modern" ? { supportedProtocolVersions: [...SUPPORTED_PROTOCOL_VERSIONS, STATELESS_PROTOCOL_VERSION] } : {})
    }
  )
  const run = async <A>(effect: Effect.Effect<A, McpProtocolError>, signal: AbortSignal): Promise<A> => {
    const exit = await Runtime.runPromiseExit(runtime)(effect, { signal })
    if (Exit.isSuccess(exit)) return exit.value
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) throw new ProtocolError(failure.value.code, failure.value.message, failure.value.data)
    if (Cause.isInterruptedOnly(exit.cause)) throw new ProtocolError(JsonRpcCode.InternalError, "Request cancelled")
    // A defect is a bug: log it in full server-side, tell the client only that it failed.
    await Runtime.runPromise(runtime)(Effect.logError("MCP handler defect", exit.cause))
    throw new ProtocolError(JsonRpcCode.InternalError, "Internal error")
  }
  const ctxOf = (ctx: ServerContext): CallContext => ({
    user: currentUserOf(ctx.http?.authInfo),
    requestHeaders: requestHeadersOf(ctx.http?.req)
  })

  // Lists take no parameters we use (no pagination: every list fits one page).
  server.setRequestHandler("tools/list", () => ({ tools: endpoints.tools as Array<never> }))
  server.setRequestHandler("tools/call", (request, ctx) =>
    run(endpoints.callTool(request.params.name, request.params.arguments, ctxOf(ctx)), ctx.mcpReq.signal) as Promise<never>
  )
  server.setRequestHandler("resources/list", () => ({ resources: endpoints.resources as Array<never> }))
  server.setRequestHandler("resources/templates/list", () => ({
    resourceTemplates: endpoints.resourceTemplates as Array<never>
  }))
  server.setRequestHandler("resources/read", (request, ctx) =>
    run(endpoints.readResource(request.params.uri, ctxOf(ctx)), ctx.mcpReq.signal) as Promise<never>
  )
  server.setRequestHandler("prompts/list", () => ({ prompts: endpoints.prompts as Array<never> }))
  server.setRequestHandler("prompts/get", (request, ctx) =>
    run(endpoints.getPrompt(request.params.name, request.params.arguments, ctxOf(ctx)), ctx.mcpReq.signal) as Promise<never>
  )
  return server
}

/** McpServerFactory backed by the MCP TypeScript SDK's low-level `Server`. */
export const McpServerSdk: Layer.Layer<McpServerFactory, never, McpEndpoints> = Layer.effect(
  McpServerFactory,
  Effect.gen(function* () {
    const endpoints = yield* McpEndpoints
    const runtime = yield* Effect.runtime<never>()
    return McpServerFactory.of({ create: (era) => makeSdkServer(endpoints, runtime, era) })
  })
)
