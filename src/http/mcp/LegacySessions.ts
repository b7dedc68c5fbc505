/**
 * The 2025-11-25 era on /mcp: protocol sessions opened by `initialize`, one SDK server per
 * session over the SDK's web-standard Streamable HTTP transport, each session bound to the user
 * who opened it.
 *
 * Decisions:
 * - Only the user who opened a session may use it; another user's (or an unknown) session id is
 *   404 "Session not found" either way, so a session id never confirms that a session exists.
 * - Caps: at most `maxSessions` live sessions, and `maxSessionsPerPrincipal` per principal (the
 *   user; with auth off, the client address): at the cap, the principal's least recently used
 *   idle session is closed to make room (security checklist K5); when all are busy, 503.
 * - Sessions idle longer than `sessionIdleTimeout` are closed by a sweep every minute.
 * - The direct path: a single JSON-RPC request (not a batch, not initialize) with the headers the
 *   Streamable HTTP spec requires goes straight to the session's SDK server, skipping the
 *   transport's conversion to and from web-standard objects; the SDK server's answer comes back
 *   through the transport's `send`, intercepted by request id. Anything else, every malformed
 *   request included, goes through the SDK transport, which gives the spec's answers.
 */
import { randomUUID } from "node:crypto"
import type { HttpServerRequest } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import type { JSONRPCMessage, JSONRPCRequest, RequestId, Server } from "@modelcontextprotocol/server"
import {
  isInitializeRequest,
  isJSONRPCRequest,
  SUPPORTED_PROTOCOL_VERSIONS,
  WebStandardStreamableHTTPServerTransport
} from "@modelcontextprotocol/server"
import { Clock, Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import { HttpLimitDefaults } from "../../domain/config/UserConfig.js"
import type { McpCaller, McpServerFactory } from "../../services/mcp/McpServerFactory.js"
import { clientAddress } from "../server/ClientAddress.js"
import { requestInfoOf } from "./SdkAuthInfo.js"
import { fromWebResponse, webRequestOf } from "./WebExchange.js"

export interface LegacySessionOptions {
  readonly sessionIdleTimeout?: Duration.DurationInput | undefined
  readonly maxSessions?: number | undefined
  readonly maxSessionsPerPrincipal?: number | undefined
  readonly trustProxy?: boolean | undefined
  /** Protocol versions the 2025 era speaks (the SDK's, without the stateless revisions). */
  readonly legacyVersions: ReadonlyArray<string>
}

interface Session {
  readonly id: string
  readonly transport: WebStandardStreamableHTTPServerTransport
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

export const jsonRpcError = (status: number, code: number, message: string) =>
  HttpServerResponse.unsafeJson({ jsonrpc: "2.0", error: { code, message }, id: null }, { status })

/**
 * Route the SDK server's responses to requests taken by the direct path back to their waiting
 * HTTP request; everything else goes through the SDK transport as usual. Progress and log
 * notifications tied to a direct request are dropped, as the SDK does for JSON responses.
 */
const interceptResponses = (transport: WebStandardStreamableHTTPServerTransport, direct: Session["direct"]): void => {
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
 * request (not a batch, not initialize) with the headers the Streamable HTTP spec requires and
 * a 2025-era protocol version. Anything else goes through the SDK transport.
 */
const directRequest = (
  headers: Readonly<Record<string, string | undefined>>,
  body: unknown,
  legacyVersions: ReadonlyArray<string>
): JSONRPCRequest | undefined => {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined
  const accept = headers["accept"]
  if (accept === undefined || !accept.includes("application/json") || !accept.includes("text/event-stream")) return undefined
  if (!isJsonContentType(headers["content-type"])) return undefined
  const version = headers["mcp-protocol-version"]
  if (version !== undefined && !legacyVersions.includes(version)) return undefined
  return isPlainRequest(body) ? body : undefined
}

/**
 * A JSON-RPC 2.0 request other than `initialize`, by the SDK's own request schema: exactly what
 * the SDK server will treat as a request and answer. Anything it would not (say `params._meta`
 * that is not an object) must not take the direct path, where no answer would ever come.
 */
const isPlainRequest = (body: object): body is JSONRPCRequest =>
  (body as { method?: unknown }).method !== "initialize" && isJSONRPCRequest(body)

const closeSession = (s: Session) =>
  Effect.promise(async () => {
    await s.transport.close().catch(() => undefined)
    await s.server.close().catch(() => undefined)
  })

/** The 2025-11-25 sessions of one /mcp endpoint; `closeAll` closes every live session (shutdown). */
export const makeLegacySessions = (factory: McpServerFactory.Shape, options: LegacySessionOptions) =>
  Effect.gen(function* () {
    const sessions = new Map<string, Session>()
    /** Live sessions by owner, and initializations under way (not yet sessions), for the per-principal cap. */
    const byOwner = new Map<string, Set<Session>>()
    const opening = new Map<string, number>()
    const idleMillis = Duration.toMillis(options.sessionIdleTimeout ?? Duration.minutes(30))
    const maxSessions = options.maxSessions ?? 10_000
    const maxPerOwner = options.maxSessionsPerPrincipal ?? HttpLimitDefaults.max_sessions_per_user
    const trustProxy = options.trustProxy ?? false
    // The SDK's session transport accepts the 2025 versions only: a 2026-07-28 header on a
    // session request is the stateless era's business (and answered by it).
    const supportedVersions = [...options.legacyVersions]

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

    /** Through the SDK transport: the web-standard exchange. */
    const viaTransport = (
      transport: WebStandardStreamableHTTPServerTransport,
      request: HttpServerRequest.HttpServerRequest,
      body: unknown,
      caller: McpCaller | undefined
    ) =>
      Effect.promise(() =>
        transport.handleRequest(webRequestOf(request), {
          ...(body === undefined ? {} : { parsedBody: body }),
          ...(caller === undefined ? {} : { authInfo: caller.authInfo })
        })
      ).pipe(Effect.flatMap((response) => fromWebResponse(request, response)))

    /** A request on an existing session (POST, GET or DELETE with `Mcp-Session-Id`). */
    const onSession = (
      sessionId: string,
      request: HttpServerRequest.HttpServerRequest,
      body: unknown,
      caller: McpCaller | undefined,
      now: number
    ) => {
      const session = sessions.get(sessionId)
      // Another user's session: the same answer as an unknown one.
      if (session === undefined || session.principal !== caller?.principal) {
        return Effect.succeed(jsonRpcError(404, -32001, "Session not found"))
      }
      session.lastSeen = now
      const serve = Effect.gen(function* () {
        const message = request.method === "POST" ? directRequest(request.headers, body, supportedVersions) : undefined
        const onmessage = session.transport.onmessage
        if (message !== undefined && !session.direct.has(message.id) && onmessage !== undefined) {
          const id = message.id
          const response = yield* Effect.async<JSONRPCMessage>((resume) => {
            session.direct.set(id, (answer) => resume(Effect.succeed(answer)))
            onmessage(message, {
              request: requestInfoOf(request.headers),
              ...(caller === undefined ? {} : { authInfo: caller.authInfo })
            })
            return Effect.sync(() => {
              session.direct.delete(id)
            })
          })
          return HttpServerResponse.unsafeJson(response, { headers: { "mcp-session-id": sessionId } })
        }
        return yield* viaTransport(session.transport, request, body, caller)
      })
      // A session with a request under way is never the one closed to make room (a GET stream
      // is not "under way": it lasts as long as the session).
      if (request.method === "GET") return serve
      session.busy++
      return Effect.ensuring(serve, Effect.sync(() => {
        session.busy--
      }))
    }

    /** `initialize` without a session id: a new session, if the caps allow. */
    const open = (request: HttpServerRequest.HttpServerRequest, body: unknown, caller: McpCaller | undefined, now: number) =>
      Effect.gen(function* () {
        const owner = caller === undefined ? `address ${clientAddress(request, trustProxy)}` : `user ${caller.principal}`
        if (!(yield* makeRoomFor(owner))) {
          return jsonRpcError(503, -32000, "Too many open sessions for this user, all of them busy; try again later")
        }
        if (sessions.size >= maxSessions) return jsonRpcError(503, -32000, "Too many open sessions; try again later")
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
        const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
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
        return yield* Effect.gen(function* () {
          yield* Effect.promise(() => server.connect(transport))
          // After connect: the server hands the transport its own version list.
          transport.setSupportedProtocolVersions([...supportedVersions])
          return yield* viaTransport(transport, request, body, caller)
        }).pipe(Effect.ensuring(Effect.sync(settle)))
      })

    /** A 2025-era request: on its session, or an `initialize` that opens one. */
    const handle = (request: HttpServerRequest.HttpServerRequest, body: unknown, caller: McpCaller | undefined) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const sessionId = request.headers["mcp-session-id"]
        if (sessionId !== undefined) return yield* onSession(sessionId, request, body, caller, now)
        const initializing =
          request.method === "POST" &&
          (Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body))
        if (!initializing) return jsonRpcError(400, -32000, "Bad Request: no valid session id; send initialize first")
        return yield* open(request, body, caller, now)
      })

    return { handle, closeAll, sessionCount: () => sessions.size }
  })

export type LegacySessions = Effect.Effect.Success<ReturnType<typeof makeLegacySessions>>
export type LegacySessionsRequirements = Scope.Scope

/** The SDK's 2025-era protocol versions (every supported version that is not a stateless revision). */
export const legacyVersionsOf = (modern: ReadonlyArray<string>): ReadonlyArray<string> =>
  SUPPORTED_PROTOCOL_VERSIONS.filter((v) => !modern.includes(v))
