/**
 * The bridge between our HTTP edge (@effect/platform on Node) and the MCP SDK's web-standard
 * serving (`Request` in, `Response` out), for the /mcp requests that go through the SDK's own
 * transports rather than a direct path.
 *
 * Decisions:
 * - The body was already read (within `max_body_bytes`) and parsed by the handler: the SDK gets
 *   it as `parsedBody` and the `Request` carries none, so nothing reads the stream twice.
 * - The `Request` URL has a fixed origin: the SDK uses it for nothing but its handler context,
 *   and a `Host` header must never reach URL parsing (a malformed one would throw).
 * - The `Request`'s signal aborts when the client goes away before the answer is out: the SDK
 *   then cancels the exchange (and an open SSE stream).
 * - A JSON answer is read whole (so it gets a `Content-Length`). An SSE answer is written straight
 *   to the Node response, headers first (a client waits for them before the first event), until
 *   the SDK ends the stream or the client goes away; the returned response is then empty (the
 *   platform writes nothing once headers are out, and the access log reads the status sent).
 */
import type { HttpServerRequest } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect } from "effect"

const ORIGIN = "http://mcp.localhost"

/** The web-standard view of an /mcp request whose body (if any) was read already. */
export const webRequestOf = (request: HttpServerRequest.HttpServerRequest): Request => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(request.headers)) headers.set(name, value)
  headers.delete("content-length")
  const controller = new AbortController()
  const res = NodeHttpServerRequest.toServerResponse(request)
  res.once("close", () => {
    if (!res.writableFinished) controller.abort()
  })
  const path = request.url.startsWith("/") ? request.url : "/mcp"
  return new Request(`${ORIGIN}${path}`, { method: request.method, headers, signal: controller.signal })
}

const isEventStream = (response: Response): boolean =>
  (response.headers.get("content-type") ?? "").split(";", 1)[0]!.trim().toLowerCase() === "text/event-stream"

/** Write an SSE answer to the Node response as it comes; completes when the stream is over. */
const streamTo = (request: HttpServerRequest.HttpServerRequest, body: ReadableStream<Uint8Array>, response: Response) =>
  Effect.async<void>((resume) => {
    const res = NodeHttpServerRequest.toServerResponse(request)
    const reader = body.getReader()
    let over = false
    const finish = () => {
      if (over) return
      over = true
      reader.cancel().catch(() => undefined)
      if (!res.writableEnded) res.end()
      resume(Effect.void)
    }
    res.once("close", finish)
    const headers: Record<string, string> = {}
    response.headers.forEach((value, name) => {
      headers[name] = value
    })
    res.writeHead(response.status, headers)
    res.flushHeaders()
    const pump = async () => {
      for (;;) {
        const chunk = await reader.read()
        if (chunk.done || over) return
        if (!res.write(chunk.value)) await new Promise<void>((drained) => res.once("drain", drained))
      }
    }
    pump().catch(() => undefined).finally(finish)
    return Effect.sync(finish)
  })

/** The SDK's `Response` as ours: read whole when it is JSON (or empty), streamed when it is SSE. */
export const fromWebResponse = (
  request: HttpServerRequest.HttpServerRequest,
  response: Response
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const body = response.body
  if (body !== null && isEventStream(response)) {
    return Effect.as(streamTo(request, body, response), HttpServerResponse.empty())
  }
  if (body === null) return Effect.succeed(HttpServerResponse.fromWeb(response))
  return Effect.tryPromise(() => response.text()).pipe(
    Effect.orElseSucceed(() => ""),
    Effect.map((text) => {
      const headers: Record<string, string> = {}
      response.headers.forEach((value, name) => {
        if (name !== "content-type" && name !== "content-length") headers[name] = value
      })
      return HttpServerResponse.text(text, {
        status: response.status,
        headers,
        contentType: response.headers.get("content-type") ?? "application/json"
      })
    })
  )
}
