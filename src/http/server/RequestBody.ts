/**
 * Reading a request body with a size limit and an optional deadline (security checklist K1, K10).
 *
 * Why not `request.text` with `HttpIncomingMessage.withMaxBodySize`: the platform counts the bytes
 * (it fails with a `RequestError` of reason "Decode" wrapping `Error("maxBytes exceeded")`), but
 * its clean-up destroys the Node request, and destroying an `IncomingMessage` destroys its socket:
 * the client never gets an answer, only a connection reset. Here the reading stops at the limit
 * (the socket is paused: the rest stays in the kernel's buffers and is never read), the handler
 * answers 413 with `Connection: close`, and `closeAfterAnswer` closes the connection once that
 * answer is out.
 */
import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Data, Effect } from "effect"

/** The body is larger than the endpoint accepts (by `Content-Length`, or counted while reading). */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {}

/** The whole body did not arrive within the endpoint's deadline. */
export class BodyTimeout extends Data.TaggedError("BodyTimeout")<{ readonly seconds: number }> {}

/** The client went away, or sent a body the HTTP parser refused, while it was being read. */
export class BodyUnreadable extends Data.TaggedError("BodyUnreadable")<{}> {}

export type BodyError = BodyTooLarge | BodyTimeout | BodyUnreadable

export interface BodyLimits {
  /** Most bytes accepted; one more and the reading stops. */
  readonly maxBytes: number
  /** Milliseconds from now until the whole body must have arrived; absent: no deadline of our own. */
  readonly timeoutMs?: number | undefined
}

/** The declared `Content-Length` when it is a plain number, else undefined (chunked, absent, bogus). */
const declaredLength = (value: string | undefined): number | undefined =>
  value !== undefined && /^\s*\d+\s*$/.test(value) ? Number(value) : undefined

/**
 * The request body as bytes, at most `limits.maxBytes` of them. A `Content-Length` over the limit
 * fails at once, before anything is read. On `BodyTooLarge` and `BodyTimeout` the request stays
 * paused: answer (413 / 408, with `Connection: close`) and call `closeAfterAnswer`.
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  limits: BodyLimits
): Effect.Effect<Buffer, BodyError> => {
  const { maxBytes } = limits
  const length = declaredLength(request.headers["content-length"])
  if (length !== undefined && length > maxBytes) return Effect.fail(new BodyTooLarge({ limit: maxBytes }))
  const req = NodeHttpServerRequest.toIncomingMessage(request)
  if (req.complete && req.readableEnded) return Effect.succeed(Buffer.alloc(0))
  return Effect.async<Buffer, BodyError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const stop = () => {
      req.off("data", onData)
      req.off("end", onEnd)
      req.off("error", onError)
      req.off("aborted", onError)
      if (timer !== undefined) clearTimeout(timer)
      // Keep the socket from reading on: what the client still sends is never taken in.
      req.pause()
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        stop()
        chunks.length = 0
        resume(Effect.fail(new BodyTooLarge({ limit: maxBytes })))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
    }
    const onError = () => {
      stop()
      resume(Effect.fail(new BodyUnreadable()))
    }
    if (limits.timeoutMs !== undefined) {
      const ms = limits.timeoutMs
      timer = setTimeout(() => {
        stop()
        chunks.length = 0
        resume(Effect.fail(new BodyTimeout({ seconds: ms / 1000 })))
      }, ms)
    }
    req.on("data", onData)
    req.once("end", onEnd)
    req.once("error", onError)
    req.once("aborted", onError)
    return Effect.sync(stop)
  })
}

/** How long a connection stays half-closed after its closing answer before it is destroyed. */
const LINGER_MS = 2000

/**
 * Close the request's connection once the answer is out, without reading what the client still
 * sends. The answer must carry `Connection: close`.
 *
 * Destroying the socket at once (what Node does after such an answer) while the client is still
 * sending makes the kernel reset the connection, and a reset can discard the answer before the
 * client read it. So the connection lingers instead: our side is closed (FIN after the answer),
 * reading stays paused (the rest of the body stays in the kernel's buffers, never in memory), and
 * the socket is destroyed after `LINGER_MS`, giving the client time to read the answer.
 */
export const closeAfterAnswer = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<void> =>
  Effect.sync(() => {
    const req = NodeHttpServerRequest.toIncomingMessage(request)
    const res = NodeHttpServerRequest.toServerResponse(request)
    const socket = req.socket
    let lingering = false
    const linger = () => {
      if (lingering || socket.destroyed) return
      lingering = true
      req.pause()
      socket.pause()
      if (socket.writable) socket.end()
      const timer = setTimeout(() => socket.destroy(), LINGER_MS)
      timer.unref()
      socket.once("close", () => clearTimeout(timer))
    }
    // Node ends a `Connection: close` connection with `socket.destroySoon()` once the answer is
    // written; this connection lingers instead. Should Node ever not call it, the "finish"
    // listener below starts the linger all the same.
    Object.assign(socket, { destroySoon: linger })
    res.once("finish", () => setImmediate(linger))
    // A client that never reads our answer does not hold the connection either.
    res.once("close", () => {
      if (!res.writableFinished) socket.destroy()
    })
  })

/**
 * True when the request announced a body (`Content-Length` > 0 or `Transfer-Encoding`) that has not
 * been received completely: answering it without reading should close the connection (else Node
 * reads and discards the rest to reach the next request on the connection).
 */
export const bodyLeftUnread = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const headers = request.headers
  const announced = headers["transfer-encoding"] !== undefined || (declaredLength(headers["content-length"]) ?? 0) > 0
  if (!announced) return false
  return !NodeHttpServerRequest.toIncomingMessage(request).complete
}
