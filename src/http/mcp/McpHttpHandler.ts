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
import { HttpLimitDefaults } from "../../domain/config/UserConfig.js"
import { type McpCaller, McpServerFactory } from "../../services/mcp/McpServerFactory.js"
import { clientAddress } from "../server/ClientAddress.js"
import { type BodyError, closeAfterAnswer, readBody } from "../server/RequestBody.js"

/** Largest JSON-RPC request body accepted on /mcp by default (`transport.http.max_body_bytes`). */
export const MAX_MCP_BODY_BYTES = HttpLimitDefaults.max_body_bytes

export interface McpHttpOptions {
  /** Stateless mode: a new server and transport per request, no session ids. */
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

interface Session {
  readonly id: string
  readonly transport: StreamableHTTPServerTransport
  readonly server: Server
  readonly principal: string | undefined
  /** Whom the session counts against for `maxSessionsPerPrincipal` (the principal, or the client address). */
  readonly owner: string
  /** Requests taken by the direct path, waiting for the SDK server's response, by JSON-RPC id. */
  readonly direct: Map<RequestId, (response: JSONRPCMessage) => void>
  lastSeen: number
  /** POST and DELETE requests of this session being handled now (a GET stream does not count). */
  busy: number
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
    /** Live sessions by owner, and initializations under way (not yet sessions), for the per-principal cap. */
    const byOwner = new Map<string, Set<Session>>()
    const opening = new Map<string, number>()
    const idleMillis = Duration.toMillis(options.sessionIdleTimeout ?? Duration.minutes(30))
    const maxSessions = options.maxSessions ?? 10_000
    const maxPerOwner = options.maxSessionsPerPrincipal ?? HttpLimitDefaults.max_sessions_per_user
    const maxBodyBytes = options.maxBodyBytes ?? MAX_MCP_BODY_BYTES
    const trustProxy = options.trustProxy ?? false

    const remember = (s: Session) => {
      sessions.set(s.id, s)
      const own = byOwner.get(s.owner)
      if (own === undefined) byOwner.set(s.owner, new Set([s]))
      else own.add(s)
    }
    /** Drop a session from the books (idempotent); closing it is the caller's business. */
    const forget = (s: Session) => {
      if (sessions.get(s.id) === s) sessions.delete(s.id)
      const own = byOwner.get(s.owner)
      if (own !== undefined && own.delete(s) && own.size === 0) byOwner.delete(s.owner)
    }
    const changeOpening = (owner: string, by: number) => {
      const n = (opening.get(owner) ?? 0) + by
      if (n <= 0) opening.delete(owner)
      else opening.set(owner, n)
    }

    const closeAll = Effect.suspend(() => {
      const all = [...sessions.values()]
      sessions.clear()
      byOwner.clear()
      return Effect.forEach(all, closeSession, { concurrency: "unbounded", discard: true })
    })
    yield* Effect.addFinalizer(() => closeAll)

    // Sweep idle sessions so abandoned clients do not hold memory forever.
    yield* Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const s of [...sessions.values()]) {
        if (now - s.lastSeen > idleMillis) {
          forget(s)
          yield* closeSession(s)
        }
      }
    }).pipe(Effect.repeat(Schedule.spaced(Duration.minutes(1))), Effect.forkScoped)

    /**
     * Room for one more session of `owner` (security checklist K5): under the cap, yes; at it, the
     * owner's least recently used session with no request under way is closed to make room; when
     * every one of them is busy, no.
     */
    const makeRoomFor = (owner: string) =>
      Effect.suspend(() => {
        const own = byOwner.get(owner)
        if ((own?.size ?? 0) + (opening.get(owner) ?? 0) < maxPerOwner) return Effect.succeed(true)
        let oldest: Session | undefined
        for (const s of own ?? []) {
          if (s.busy === 0 && (oldest === undefined || s.lastSeen < oldest.lastSeen)) oldest = s
        }
        if (oldest === undefined) return Effect.succeed(false)
        const evicted = oldest
        forget(evicted)
        return Effect.logInfo("Closed the least recently used MCP session of a principal at its session cap").pipe(
          Effect.annotateLogs({ sessions_per_user: maxPerOwner }),
          Effect.zipRight(closeSession(evicted)),
          Effect.as(true)
        )
      })

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
          const raw = yield* Effect.either(readBody(request, { maxBytes: maxBodyBytes }))
          if (raw._tag === "Left") return yield* bodyRefused(request, raw.left)
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
          const serve = Effect.gen(function* () {
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
          })
          // A session with a request under way is never the one closed to make room (a GET stream
          // is not "under way": it lasts as long as the session).
          if (request.method === "GET") return yield* serve
          session.busy++
          return yield* Effect.ensuring(serve, Effect.sync(() => {
            session.busy--
          }))
        }

        const initializing =
          request.method === "POST" &&
          (Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body))
        if (!initializing) {
          return jsonRpcError(400, -32000, "Bad Request: no valid session id; send initialize first")
        }
        const owner = caller === undefined ? `address ${clientAddress(request, trustProxy)}` : `user ${caller.principal}`
        if (!(yield* makeRoomFor(owner))) {
          return jsonRpcError(503, -32000, "Too many open sessions for this user, all of them busy; try again later")
        }
        if (sessions.size >= maxSessions) {
          return jsonRpcError(503, -32000, "Too many open sessions; try again later")
        }
        const server = factory.create()
        const direct: Session["direct"] = new Map()
        let session: Session | undefined
        // Counted in `opening` until the SDK has accepted the initialize (then it is a session).
        let opened = false
        const settle = () => {
          if (!opened) {
            opened = true
            changeOpening(owner, -1)
          }
        }
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          // Plain JSON answers to POSTs: cheaper than opening an SSE stream per request, and
          // our handlers send no progress notifications mid-request. Server-initiated messages
          // still flow over the session's GET stream.
          enableJsonResponse: true,
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            session = { id, transport, server, principal: caller?.principal, owner, direct, lastSeen: now, busy: 0 }
            remember(session)
            settle()
          }
        })
        interceptResponses(transport, direct)
        transport.onclose = () => {
          if (session !== undefined) forget(session)
        }
        changeOpening(owner, 1)
        yield* Effect.gen(function* () {
          yield* Effect.promise(() => server.connect(transport))
          yield* Effect.promise(() => transport.handleRequest(req, res, body))
          yield* responseDone(res)
        }).pipe(Effect.ensuring(Effect.sync(settle)))
        return HttpServerResponse.empty()
      })

    return { handle, closeAll, sessionCount: () => sessions.size }
  })

export type McpHttpHandler = Effect.Effect.Success<ReturnType<typeof makeMcpHttpHandler>>
export type McpHttpHandlerRequirements = McpServerFactory | Scope.Scope
