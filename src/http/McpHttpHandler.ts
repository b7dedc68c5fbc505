import { randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import type { JSONRPCMessage, JSONRPCRequest, RequestId } from "@modelcontextprotocol/sdk/types.js"
import { isInitializeRequest, isJSONRPCRequest, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js"
import { Clock, Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import { McpServerFactory } from "../services/McpServerFactory.js"

/** Largest JSON-RPC request body accepted on /mcp. */
export const MAX_MCP_BODY_BYTES = 4 * 1024 * 1024

export interface McpHttpOptions {
  /** Stateless mode: a new server and transport per request, no session ids. */
  readonly stateless: boolean
  /** Sessions idle longer than this are closed. */
  readonly sessionIdleTimeout?: Duration.DurationInput | undefined
  /** At most this many live sessions; initialize beyond it gets 503. */
  readonly maxSessions?: number | undefined
}

/** The caller of one /mcp request, as established by the bearer check (absent: auth off). */
export interface McpCaller {
  readonly authInfo: AuthInfo
  /** Stable id of the user; a session may only be used by the user who created it. */
  readonly principal: string
}

interface Session {
  readonly transport: StreamableHTTPServerTransport
  readonly server: Server
  readonly principal: string | undefined
  /** Requests taken by the direct path, waiting for the SDK server's response, by JSON-RPC id. */
  readonly direct: Map<RequestId, (response: JSONRPCMessage) => void>
  lastSeen: number
}

/**
 * Route the SDK server's responses to requests taken by the direct path (see `directRequest`)
 * back to their waiting HTTP request; everything else goes through the SDK transport as usual.
 * Progress and log notifications tied to a direct request are dropped, as the SDK does for
 * JSON responses.
 */
const interceptResponses = (transport: StreamableHTTPServerTransport, direct: Session["direct"]): void => {
  const sdkSend = transport.send.bind(transport)
  transport.send = (message, options) => {
    if (direct.size > 0) {
      const id = "id" in message && !("method" in message) ? message.id : options?.relatedRequestId
      if (id !== undefined) {
        const waiting = direct.get(id)
        if (waiting !== undefined) {
          if (!("method" in message)) {
            direct.delete(id)
            waiting(message)
          }
          return Promise.resolve()
        }
      }
    }
    return sdkSend(message, options)
  }
}

const isJsonContentType = (value: string | undefined): boolean =>
  value !== undefined && value.split(";", 1)[0]!.trim().toLowerCase() === "application/json"

/**
 * The one request shape that carries almost all traffic on a live session: a single JSON-RPC
 * request (not a batch, not initialize) with the headers the Streamable HTTP spec requires.
 * Only that shape takes the direct path; anything else, including every malformed request, goes
 * through the SDK transport, which gives the spec's error answers.
 */
const directRequest = (
  headers: Readonly<Record<string, string | undefined>>,
  body: unknown
): JSONRPCRequest | undefined => {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined
  const accept = headers["accept"]
  if (accept === undefined || !accept.includes("application/json") || !accept.includes("text/event-stream")) return undefined
  if (!isJsonContentType(headers["content-type"])) return undefined
  const version = headers["mcp-protocol-version"]
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined
  return isPlainRequest(body) ? body : undefined
}

/**
 * A JSON-RPC 2.0 request other than `initialize`, by the SDK's own request schema: exactly what
 * the SDK server will treat as a request and answer. Anything it would not (say `params._meta`
 * that is not an object) must not take the direct path, where no answer would ever come.
 */
const isPlainRequest = (body: object): body is JSONRPCRequest =>
  (body as { method?: unknown }).method !== "initialize" && isJSONRPCRequest(body)

const jsonRpcError = (status: number, code: number, message: string) =>
  HttpServerResponse.unsafeJson({ jsonrpc: "2.0", error: { code, message }, id: null }, { status })

class BodyTooLarge extends Error {}

/** Read the request body ourselves (the SDK wants it parsed), bounded in size. */
const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_MCP_BODY_BYTES) {
        reject(new BodyTooLarge())
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })

/** Completes when the SDK has finished writing the response (or the client went away). */
const responseDone = (res: ServerResponse) =>
  Effect.async<void>((resume) => {
    if (res.writableEnded || res.destroyed) return resume(Effect.void)
    const done = () => resume(Effect.void)
    res.once("close", done)
    res.once("finish", done)
    return Effect.sync(() => {
      res.off("close", done)
      res.off("finish", done)
    })
  })

const closeSession = (s: Session) =>
  Effect.promise(async () => {
    await s.transport.close().catch(() => undefined)
    await s.server.close().catch(() => undefined)
  })

/**
 * The /mcp endpoint: MCP Streamable HTTP through the SDK's Node transport. Stateful by default
 * (one SDK server per session, bound to the user who created it), stateless on request.
 * Returns the handler and an effect that closes every live session (used at shutdown).
 */
export const makeMcpHttpHandler = (options: McpHttpOptions) =>
  Effect.gen(function* () {
    const factory = yield* McpServerFactory
    const sessions = new Map<string, Session>()
    const idleMillis = Duration.toMillis(options.sessionIdleTimeout ?? Duration.minutes(30))
    const maxSessions = options.maxSessions ?? 10_000

    const closeAll = Effect.suspend(() => {
      const all = [...sessions.values()]
      sessions.clear()
      return Effect.forEach(all, closeSession, { concurrency: "unbounded", discard: true })
    })
    yield* Effect.addFinalizer(() => closeAll)

    // Sweep idle sessions so abandoned clients do not hold memory forever.
    yield* Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const [id, s] of sessions) {
        if (now - s.lastSeen > idleMillis) {
          sessions.delete(id)
          yield* closeSession(s)
        }
      }
    }).pipe(Effect.repeat(Schedule.spaced(Duration.minutes(1))), Effect.forkScoped)

    const handle = (request: HttpServerRequest.HttpServerRequest, caller: McpCaller | undefined) =>
      Effect.gen(function* () {
        const req = NodeHttpServerRequest.toIncomingMessage(request) as IncomingMessage & { auth?: AuthInfo }
        const res = NodeHttpServerRequest.toServerResponse(request)
        // A response the client closed (e.g. an SSE stream it stopped reading) is over for us too:
        // mark it ended, so nothing writes a second status line after the SDK's.
        res.once("close", () => {
          if (!res.writableEnded) res.end()
        })
        if (caller !== undefined) req.auth = caller.authInfo

        let body: unknown = undefined
        if (request.method === "POST") {
          const raw = yield* Effect.tryPromise({ try: () => readBody(req), catch: (e) => e instanceof BodyTooLarge })
            .pipe(Effect.either)
          if (raw._tag === "Left") {
            return raw.left
              ? jsonRpcError(413, -32600, `Request body larger than ${MAX_MCP_BODY_BYTES} bytes`)
              : jsonRpcError(400, -32700, "Parse error: could not read request body")
          }
          try {
            body = JSON.parse(raw.right.toString("utf8"))
          } catch {
            return jsonRpcError(400, -32700, "Parse error: request body is not valid JSON")
          }
        }

        if (options.stateless) {
          const server = factory.create()
          const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
          yield* Effect.promise(() => server.connect(transport))
          yield* Effect.promise(() => transport.handleRequest(req, res, body))
          yield* responseDone(res)
          yield* Effect.promise(async () => {
            await transport.close().catch(() => undefined)
            await server.close().catch(() => undefined)
          })
          return HttpServerResponse.empty()
        }

        const now = yield* Clock.currentTimeMillis
        const sessionId = request.headers["mcp-session-id"]
        if (sessionId !== undefined) {
          const session = sessions.get(sessionId)
          if (session === undefined) return jsonRpcError(404, -32001, "Session not found")
          if (session.principal !== caller?.principal) {
            // Same answer as an unknown session: never confirm another user's session exists.
            return jsonRpcError(404, -32001, "Session not found")
          }
          session.lastSeen = now
          const message = request.method === "POST" ? directRequest(request.headers, body) : undefined
          if (message !== undefined && !session.direct.has(message.id)) {
            // Straight to the session's SDK server, skipping the transport's conversion to and
            // from web-standard Request/Response objects; the answer is the same JSON body.
            const onmessage = session.transport.onmessage
            if (onmessage !== undefined) {
              const id = message.id
              const response = yield* Effect.async<JSONRPCMessage>((resume) => {
                session.direct.set(id, (answer) => resume(Effect.succeed(answer)))
                onmessage(message, {
                  ...(caller === undefined ? {} : { authInfo: caller.authInfo }),
                  requestInfo: { headers: request.headers as Record<string, string> }
                })
                return Effect.sync(() => {
                  session.direct.delete(id)
                })
              })
              return HttpServerResponse.unsafeJson(response, { headers: { "mcp-session-id": sessionId } })
            }
          }
          yield* Effect.promise(() => session.transport.handleRequest(req, res, body))
          yield* responseDone(res)
          return HttpServerResponse.empty()
        }

        const initializing =
          request.method === "POST" &&
          (Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body))
        if (!initializing) {
          return jsonRpcError(400, -32000, "Bad Request: no valid session id; send initialize first")
        }
        if (sessions.size >= maxSessions) {
          return jsonRpcError(503, -32000, "Too many open sessions; try again later")
        }
        const server = factory.create()
        const direct: Session["direct"] = new Map()
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          // Plain JSON answers to POSTs: cheaper than opening an SSE stream per request, and
          // our handlers send no progress notifications mid-request. Server-initiated messages
          // still flow over the session's GET stream.
          enableJsonResponse: true,
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            sessions.set(id, { transport, server, principal: caller?.principal, direct, lastSeen: now })
          }
        })
        interceptResponses(transport, direct)
        transport.onclose = () => {
          if (transport.sessionId !== undefined) sessions.delete(transport.sessionId)
        }
        yield* Effect.promise(() => server.connect(transport))
        yield* Effect.promise(() => transport.handleRequest(req, res, body))
        yield* responseDone(res)
        return HttpServerResponse.empty()
      })

    return { handle, closeAll, sessionCount: () => sessions.size }
  })

export type McpHttpHandler = Effect.Effect.Success<ReturnType<typeof makeMcpHttpHandler>>
export type McpHttpHandlerRequirements = McpServerFactory | Scope.Scope
