/**
 * The /mcp endpoint: both protocol eras on one URL, chosen by what the client sends.
 *
 * - 2025-11-25 (and earlier): `initialize`, then requests on a protocol session
 *   (`LegacySessions.ts`); with `--stateless`, per request without sessions.
 * - 2026-07-28: stateless requests carrying their protocol version and client capabilities in
 *   `params._meta` (`StatelessRequests.ts`).
 *
 * The era of a request is the SDK's decision (`classifyInboundRequest`, the classifier its own HTTP
 * entry uses), made once the body is read (within `max_body_bytes`) and parsed. Decisions:
 * - A request the classifier refuses goes to the stateless era's entry, which answers the
 *   refusal with the SDK's code and status; except a malformed JSON-RPC message sent with an
 *   `Mcp-Session-Id` (a 2025 session's request), which that session's transport answers, as
 *   it did before 2026-07-28 existed.
 * - A body that is not JSON is a -32700 parse error from us (no era can be read from it).
 */
import type { HttpServerRequest } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import { classifyInboundRequest, type InboundClassificationOutcome } from "@modelcontextprotocol/server"
import { Effect, Runtime } from "effect"
import type { Duration, Scope } from "effect"
import { HttpLimitDefaults } from "../../domain/config/UserConfig.js"
import { type McpCaller, McpServerFactory, STATELESS_PROTOCOL_VERSION } from "../../services/mcp/McpServerFactory.js"
import { type BodyError, closeAfterAnswer, readBody } from "../server/RequestBody.js"
import { jsonRpcError, legacyVersionsOf, makeLegacySessions } from "./LegacySessions.js"
import { makeStatelessRequests } from "./StatelessRequests.js"

/** Largest JSON-RPC request body accepted on /mcp by default (`transport.http.max_body_bytes`). */
export const MAX_MCP_BODY_BYTES = HttpLimitDefaults.max_body_bytes

export interface McpHttpOptions {
  /** Stateless mode: no 2025 sessions; the SDK answers 2025-era requests one by one. */
  readonly stateless: boolean
  /** Sessions idle longer than this are closed. */
  readonly sessionIdleTimeout?: Duration.DurationInput | undefined
  /** At most this many live sessions; initialize beyond it gets 503. */
  readonly maxSessions?: number | undefined
  /**
   * At most this many live sessions per principal (the user; with auth off, the client address).
   * An initialize beyond it closes that principal's least recently used idle session first.
   */
  readonly maxSessionsPerPrincipal?: number | undefined
  /** Largest request body, in bytes (default `MAX_MCP_BODY_BYTES`). */
  readonly maxBodyBytes?: number | undefined
  /** With auth off, sessions are counted per client address: the proxy's `X-Forwarded-For` when trusted. */
  readonly trustProxy?: boolean | undefined
}

/** The JSON-RPC answer to a refused body; the connection closes after it (see `closeAfterAnswer`). */
const bodyRefused = (request: HttpServerRequest.HttpServerRequest, error: BodyError) => {
  if (error._tag === "BodyUnreadable") return Effect.succeed(jsonRpcError(400, -32700, "Parse error: could not read request body"))
  const [status, message] = error._tag === "BodyTooLarge"
    ? [413, `Request body larger than ${error.limit} bytes`]
    : [408, `Request body did not arrive within ${error.seconds} seconds`]
  return Effect.as(
    closeAfterAnswer(request),
    HttpServerResponse.unsafeJson(
      { jsonrpc: "2.0", error: { code: -32600, message }, id: null },
      { status, headers: { connection: "close" } }
    )
  )
}

/** The era's classification of a request (the SDK's classifier, on the parsed body). */
const classify = (request: HttpServerRequest.HttpServerRequest, body: unknown): InboundClassificationOutcome => {
  const version = request.headers["mcp-protocol-version"]
  const method = request.headers["mcp-method"]
  const name = request.headers["mcp-name"]
  return classifyInboundRequest({
    httpMethod: request.method,
    ...(version === undefined ? {} : { protocolVersionHeader: version }),
    ...(method === undefined ? {} : { mcpMethodHeader: method }),
    ...(name === undefined ? {} : { mcpNameHeader: name }),
    ...(body === undefined ? {} : { body })
  })
}

/** Does this request belong to the 2025 sessions (rather than the stateless era's entry)? */
const toSessions = (request: HttpServerRequest.HttpServerRequest, outcome: InboundClassificationOutcome): boolean =>
  outcome.kind === "legacy" ||
  (outcome.kind === "reject" && outcome.rung === "jsonrpc-shape" && request.headers["mcp-session-id"] !== undefined)

/**
 * The /mcp handler. Returns the handler and an effect that closes every live session (used at
 * shutdown).
 */
export const makeMcpHttpHandler = (options: McpHttpOptions) =>
  Effect.gen(function* () {
    const factory = yield* McpServerFactory
    const runtime = yield* Effect.runtime<never>()
    const maxBodyBytes = options.maxBodyBytes ?? MAX_MCP_BODY_BYTES
    const onerror = (error: Error) => {
      Runtime.runFork(runtime)(Effect.logDebug(`MCP request refused: ${error.message}`))
    }
    const stateless = yield* makeStatelessRequests(factory, {
      legacy: options.stateless ? "stateless" : "reject",
      onerror
    })
    const sessions = options.stateless
      ? undefined
      : yield* makeLegacySessions(factory, {
        sessionIdleTimeout: options.sessionIdleTimeout,
        maxSessions: options.maxSessions,
        maxSessionsPerPrincipal: options.maxSessionsPerPrincipal,
        trustProxy: options.trustProxy,
        legacyVersions: legacyVersionsOf([STATELESS_PROTOCOL_VERSION])
      })

    const handle = (request: HttpServerRequest.HttpServerRequest, caller: McpCaller | undefined) =>
      Effect.gen(function* () {
        let body: unknown = undefined
        if (request.method === "POST") {
          const raw = yield* Effect.either(readBody(request, { maxBytes: maxBodyBytes }))
          if (raw._tag === "Left") return yield* bodyRefused(request, raw.left)
          try {
            body = JSON.parse(raw.right.toString("utf8"))
          } catch {
            return jsonRpcError(400, -32700, "Parse error: request body is not valid JSON")
          }
        }
        const outcome = classify(request, body)
        if (sessions !== undefined && toSessions(request, outcome)) return yield* sessions.handle(request, body, caller)
        return yield* stateless.handle(request, outcome, body, caller)
      })

    return {
      handle,
      closeAll: sessions?.closeAll ?? Effect.void,
      sessionCount: () => sessions?.sessionCount() ?? 0
    }
  })

export type McpHttpHandler = Effect.Effect.Success<ReturnType<typeof makeMcpHttpHandler>>
export type McpHttpHandlerRequirements = McpServerFactory | Scope.Scope
