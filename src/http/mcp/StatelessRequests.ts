/**
 * The 2026-07-28 era on /mcp: stateless requests, each carrying its protocol version and client
 * capabilities in `params._meta` (plus the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name`
 * headers), served by the SDK's HTTP entry (`createMcpHandler`). With `--stateless` the same
 * entry also answers 2025-era requests, statelessly (its legacy fallback).
 *
 * Decisions:
 * - Everything goes through the SDK's entry except one shape, the hot path, which goes to a pooled
 *   SDK server instance directly: a single request that the SDK's own classifier
 *   (`classifyInboundRequest`) routes to the 2026-07-28 era, whose standard headers are all
 *   present and equal to the body's values, for a method our servers serve. For that shape every
 *   step of the entry's ladder before dispatch is settled already: the classifier checked the
 *   envelope and the header/body cross-checks; the header presence check passes (we require more
 *   than it does); no client capability is required for these methods (the SDK's table is
 *   empty for them); the `x-mcp-header` and scope-challenge steps apply only to `McpServer`
 *   instances (ours are the low-level `Server`). What is left, the dispatch itself (era codec,
 *   method registry, envelope, handler, `resultType`, caching hints, error codes), is the SDK
 *   server's, on an instance the SDK bound to 2026-07-28: connected to a
 *   `PerRequestHTTPServerTransport` (a subclass that answers through us instead of building a
 *   `Response`), exactly as the entry connects its per-request instances.
 * - What the entry would spend per request on top (a new server instance, a `Request` and a
 *   `Response`, stream plumbing) is what makes its stateless pattern slow; the pool reuses an
 *   idle instance instead (one request at a time per instance, so JSON-RPC ids never collide).
 * - Any answer the instance gives while the message is being delivered (synchronously: before
 *   any handler can run) is a ladder rejection of the SDK's; the direct path then discards it and
 *   hands the request to the entry, which gives the same rejection with its HTTP status.
 * - A client that goes away mid-request: its instance is closed (the SDK aborts the handler) and
 *   not reused.
 */
import type { HttpServerRequest } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import type {
  AuthInfo,
  JSONRPCMessage,
  JSONRPCRequest,
  McpHttpHandler,
  MessageClassification,
  Server
} from "@modelcontextprotocol/server"
import {
  type InboundClassificationOutcome,
  createMcpHandler,
  isJSONRPCErrorResponse,
  isJSONRPCResultResponse,
  PerRequestHTTPServerTransport
} from "@modelcontextprotocol/server"
import { Effect } from "effect"
import { STATELESS_PROTOCOL_VERSION, type McpCaller, type McpServerFactory } from "../../services/mcp/McpServerFactory.js"
import { requestInfoOf } from "./SdkAuthInfo.js"
import { fromWebResponse, webRequestOf } from "./WebExchange.js"

/** Idle pooled instances kept for reuse; more in flight at once are made and then dropped. */
const MAX_IDLE_INSTANCES = 64

/** Methods the hot path takes: the ones our servers serve, none needing a client capability. */
const DIRECT_METHODS: ReadonlySet<string> = new Set([
  "tools/call",
  "tools/list",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "prompts/list",
  "prompts/get",
  "server/discover"
])

/** Where `Mcp-Name` must come from, per method (the SDK's table for the methods above). */
const NAME_FIELD: Readonly<Record<string, "name" | "uri">> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri"
}

const CLASSIFICATION: MessageClassification = { era: "modern", revision: STATELESS_PROTOCOL_VERSION }

/**
 * The SDK's per-request transport, kept connected to one pooled instance: the SDK binds the
 * instance to 2026-07-28 when it connects, and the instance's answers come back to `deliver`'s
 * caller instead of becoming a `Response`.
 */
class PooledTransport extends PerRequestHTTPServerTransport {
  private answer: ((message: JSONRPCMessage) => void) | undefined = undefined

  constructor() {
    super({ classification: CLASSIFICATION, responseMode: "json" })
  }

  override send(message: JSONRPCMessage): Promise<void> {
    // Notifications tied to the request (progress, log) are dropped, as in the SDK's JSON mode.
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const answer = this.answer
      this.answer = undefined
      answer?.(message)
    }
    return Promise.resolve()
  }

  /**
   * Deliver a request as the SDK's entry does; `true` when an answer came during delivery (a
   * ladder rejection: nothing ran), which is then dropped.
   */
  deliver(
    message: JSONRPCRequest,
    authInfo: AuthInfo | undefined,
    request: Request,
    answer: (message: JSONRPCMessage) => void
  ): boolean {
    let early = false
    this.answer = () => {
      early = true
    }
    this.onmessage?.(message, { classification: CLASSIFICATION, request, ...(authInfo === undefined ? {} : { authInfo }) })
    if (early) return true
    this.answer = answer
    return false
  }
}

interface Pooled {
  readonly server: Server
  readonly transport: PooledTransport
}

const headerIs = (headers: Readonly<Record<string, string | undefined>>, name: string, value: string): boolean =>
  headers[name] === value

const isJsonContentType = (value: string | undefined): boolean =>
  value !== undefined && value.split(";", 1)[0]!.trim().toLowerCase() === "application/json"

/** The hot-path request in `outcome`, or undefined when the request must go through the entry. */
const directMessage = (
  outcome: InboundClassificationOutcome,
  headers: Readonly<Record<string, string | undefined>>
): JSONRPCRequest | undefined => {
  if (outcome.kind !== "modern" || outcome.messageKind !== "request") return undefined
  if (outcome.classification.revision !== STATELESS_PROTOCOL_VERSION) return undefined
  const message = outcome.message
  if (!DIRECT_METHODS.has(message.method)) return undefined
  if (!isJsonContentType(headers["content-type"])) return undefined
  if (!headerIs(headers, "mcp-protocol-version", STATELESS_PROTOCOL_VERSION)) return undefined
  if (!headerIs(headers, "mcp-method", message.method)) return undefined
  const field = NAME_FIELD[message.method]
  if (field !== undefined) {
    const value = (message.params as Record<string, unknown> | undefined)?.[field]
    if (typeof value !== "string" || !headerIs(headers, "mcp-name", value)) return undefined
  }
  return message
}

export interface StatelessOptions {
  /** `reject`: 2025-era requests are the sessions' (never reach here); `stateless`: the SDK serves them per request. */
  readonly legacy: "reject" | "stateless"
  /** Errors the SDK reports on rejected or failed requests (for the debug log). */
  readonly onerror: (error: Error) => void
}

/** The 2026-07-28 requests of one /mcp endpoint (and, with `legacy: "stateless"`, the 2025 ones too). */
export const makeStatelessRequests = (factory: McpServerFactory.Shape, options: StatelessOptions) =>
  Effect.gen(function* () {
    const entry: McpHttpHandler = createMcpHandler(
      ({ era }) => factory.create(era),
      { legacy: options.legacy, onerror: options.onerror }
    )
    yield* Effect.addFinalizer(() => Effect.promise(() => entry.close().catch(() => undefined)))

    const idle: Array<Pooled> = []
    const acquire = Effect.suspend(() => {
      const ready = idle.pop()
      if (ready !== undefined) return Effect.succeed(ready)
      const server = factory.create("modern")
      const transport = new PooledTransport()
      return Effect.as(Effect.promise(() => server.connect(transport)), { server, transport })
    })
    const release = (pooled: Pooled) => {
      if (idle.length < MAX_IDLE_INSTANCES) idle.push(pooled)
      else void pooled.server.close().catch(() => undefined)
    }
    const discard = (pooled: Pooled) => Effect.promise(() => pooled.server.close().catch(() => undefined))

    /** Through the SDK's entry: the web-standard exchange. */
    const viaEntry = (request: HttpServerRequest.HttpServerRequest, body: unknown, caller: McpCaller | undefined) =>
      Effect.promise(() =>
        entry.fetch(webRequestOf(request), {
          ...(body === undefined ? {} : { parsedBody: body }),
          ...(caller === undefined ? {} : { authInfo: caller.authInfo })
        })
      ).pipe(Effect.flatMap((response) => fromWebResponse(request, response)))

    /** The hot path; `undefined` when the instance rejected the request during delivery. */
    const direct = (message: JSONRPCRequest, caller: McpCaller | undefined, request: Request) =>
      Effect.flatMap(acquire, (pooled) =>
        Effect.async<JSONRPCMessage | undefined>((resume) => {
          let answered = false
          const rejected = pooled.transport.deliver(message, caller?.authInfo, request, (answer) => {
            answered = true
            release(pooled)
            resume(Effect.succeed(answer))
          })
          if (rejected) {
            answered = true
            release(pooled)
            resume(Effect.succeed(undefined))
          }
          // Interrupted (the client went away): the SDK aborts the handler when its instance closes.
          return answered ? Effect.void : discard(pooled)
        })
      )

    const handle = (
      request: HttpServerRequest.HttpServerRequest,
      outcome: InboundClassificationOutcome | undefined,
      body: unknown,
      caller: McpCaller | undefined
    ) =>
      Effect.gen(function* () {
        const message = outcome === undefined ? undefined : directMessage(outcome, request.headers)
        if (message !== undefined) {
          const answer = yield* direct(message, caller, requestInfoOf(request.headers))
          if (answer !== undefined) return HttpServerResponse.unsafeJson(answer)
        }
        return yield* viaEntry(request, body, caller)
      })

    return { handle }
  })
