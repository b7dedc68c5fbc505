/**
 * HTTP requests with full control of the headers, over real loopback TCP. `fetch` replaces a
 * `Host` header with the URL's authority, so DNS-rebinding tests (a foreign `Host`) need
 * `node:http`; `host: null` sends no Host header at all.
 */
import * as http from "node:http"

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
        path: `${target.pathname}${target.search}`,
        method: options.method ?? "GET",
        headers,
        setHost: options.host === undefined,
        agent: false
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
