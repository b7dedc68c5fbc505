/**
 * HTTP requests with full control of the headers, over real loopback TCP. `fetch` replaces a
 * `Host` header with the URL's authority, so DNS-rebinding tests (a foreign `Host`) need
 * `node:http`; `host: null` sends no Host header at all.
 */
import * as http from "node:http"
import * as net from "node:net"

/** A body parsed as a JSON object; undefined when it is not one. */
export const jsonObjectOf = (text: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(text)
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export interface RawAnswer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
  /** The parsed JSON body, or undefined when it is not JSON. */
  readonly json: Record<string, unknown> | undefined
}

export interface RawRequest {
  readonly method?: string
  /** `undefined`: the URL's authority, as any client would send; `null`: no Host header. */
  readonly host?: string | null
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
  /** The request target exactly as sent (default: the URL's path and query, which `URL` normalises: `/./a` is `/a`). */
  readonly path?: string
  /** Local address to connect from (e.g. `127.0.0.2`, another loopback client). */
  readonly localAddress?: string
}

export const rawRequest = (url: string, options: RawRequest = {}): Promise<RawAnswer> =>
  new Promise((resolve, reject) => {
    const target = new URL(url)
    const headers: Record<string, string> = { ...options.headers }
    if (typeof options.host === "string") headers["host"] = options.host
    if (options.body !== undefined) headers["content-length"] = String(Buffer.byteLength(options.body))
    const req = http.request(
      {
        hostname: target.hostname,
        port: target.port,
        path: options.path ?? `${target.pathname}${target.search}`,
        method: options.method ?? "GET",
        headers,
        setHost: options.host === undefined,
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: jsonObjectOf(text) })
        })
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end(options.body)
  })

/** A form body for /token and /revoke. */
export const formBody = (params: Readonly<Record<string, string>>): RawRequest => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString()
})

export interface StreamedRequest {
  readonly method?: string
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Body bytes to stream, chunked, generated lazily (one reused 64 KiB buffer) while the server
   * reads: the sending stops when the server closes the connection.
   */
  readonly chunkedBytes?: number
  /** Instead: announce this `Content-Length` and send no body at all. */
  readonly contentLength?: number
  /** Give up (and destroy the connection) after this long; default 20 s. */
  readonly timeoutMs?: number
}

export interface StreamedAnswer {
  /** 0 when no answer came. */
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: Record<string, unknown> | undefined
  /** Bytes of the body (with its chunk framing) handed to the socket before it closed. */
  readonly sentBytes: number
  /** The server closed the connection (false: the timeout ran out first). */
  readonly closedByServer: boolean
}

const CHUNK = Buffer.alloc(64 * 1024, "a")

/** Chunked-encoding frames of `total` bytes, made one at a time. */
function* chunkedFrames(total: number): Generator<Buffer> {
  let left = total
  while (left > 0) {
    const n = Math.min(left, CHUNK.length)
    left -= n
    yield Buffer.from(`${n.toString(16)}\r\n`)
    yield n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n)
    yield Buffer.from("\r\n")
  }
  yield Buffer.from("0\r\n\r\n")
}

/** Status, headers (lower-case names) and body of the first HTTP response in `raw`. */
const parseAnswer = (raw: Buffer): { status: number; headers: Record<string, string>; text: string } => {
  const end = raw.indexOf("\r\n\r\n")
  if (end < 0) return { status: 0, headers: {}, text: "" }
  const [statusLine = "", ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n")
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(":")
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const length = Number(headers["content-length"] ?? "NaN")
  const rest = raw.subarray(end + 4)
  const body = Number.isFinite(length) ? rest.subarray(0, length) : rest
  return { status: Number(statusLine.split(" ")[1] ?? 0), headers, text: body.toString("utf8") }
}

/**
 * One request over a raw TCP connection whose body is streamed (chunked) or only announced
 * (`Content-Length`), the way an attacker would send it. Write errors (the server stopping to
 * read, resetting) are expected and ignored: what counts is the answer read back and whether the
 * server closed the connection.
 */
export const streamRequest = (url: string, request: StreamedRequest): Promise<StreamedAnswer> =>
  new Promise((resolve) => {
    const target = new URL(url)
    const socket = net.connect(Number(target.port), target.hostname)
    const received: Array<Buffer> = []
    let receivedBytes = 0
    let sentBytes = 0
    let closed = false
    const frames = request.contentLength === undefined ? chunkedFrames(request.chunkedBytes ?? 0) : undefined
    const timer = setTimeout(() => {
      finish(false)
      socket.destroy()
    }, request.timeoutMs ?? 20_000)
    const finish = (byServer: boolean) => {
      if (closed) return
      closed = true
      clearTimeout(timer)
      const answer = parseAnswer(Buffer.concat(received))
      resolve({ ...answer, json: jsonObjectOf(answer.text), sentBytes, closedByServer: byServer })
    }
    const pump = () => {
      if (frames === undefined) return
      while (!closed && !socket.destroyed) {
        const next = frames.next()
        if (next.done === true) return
        sentBytes += next.value.length
        if (!socket.write(next.value)) {
          socket.once("drain", pump)
          return
        }
      }
    }
    socket.on("connect", () => {
      const head = [
        `${request.method ?? "POST"} ${request.path} HTTP/1.1`,
        `Host: ${target.host}`,
        ...Object.entries(request.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
        request.contentLength === undefined ? "Transfer-Encoding: chunked" : `Content-Length: ${request.contentLength}`,
        "",
        ""
      ].join("\r\n")
      socket.write(head)
      pump()
    })
    socket.on("data", (d: Buffer) => {
      // Keep the first 64 KiB: enough for any answer here.
      if (receivedBytes < 65_536) received.push(d)
      receivedBytes += d.length
    })
    socket.on("error", () => undefined)
    // The server's FIN (it closed its side after answering) or its reset: closed by the server.
    socket.on("end", () => {
      finish(true)
      socket.destroy()
    })
    socket.on("close", () => finish(true))
  })
