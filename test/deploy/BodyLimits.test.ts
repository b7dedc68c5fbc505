/**
 * Security checklist K1: a body over an endpoint's limit, chunked or announced by Content-Length,
 * is refused with 413 after reading at most the limit, the connection closes, memory stays flat
 * and the process lives. A real server process (auth on, fake GitHub) on loopback; the bodies are
 * streamed over raw TCP from a generator (never built in memory) and the sending stops when the
 * server closes the connection.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { initializeMessage, MCP_ACCEPT, MCP_HEADERS } from "../support/McpRaw.js"
import { login } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"
import { copyExample } from "../support/Project.js"
import { rawRequest, type StreamedAnswer, streamRequest } from "../support/RawHttp.js"
import { startServer } from "../support/ServerProcess.js"

const MiB = 1024 * 1024
/** Past ~512 MiB the old code's string concatenation threw and the process died. */
const HUGE = 600 * MiB
const FORM_LIMIT = 64 * 1024
const MCP_LIMIT = 4 * MiB

const FORM = { "content-type": "application/x-www-form-urlencoded" }
const JSON_TYPE = { "content-type": "application/json" }

interface Endpoint {
  readonly path: string
  readonly headers: () => Record<string, string>
  readonly limit: number
  readonly kind: "oauth" | "mcp"
}

/** A VmRSS-style line of /proc/<pid>/status, in bytes. */
const procStatusBytes = (pid: number, field: "VmRSS" | "VmHWM"): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  if (m === null || m[1] === undefined) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(m[1]) * 1024
}

const expectRefused = (answer: StreamedAnswer, endpoint: Endpoint, what: string) => {
  expect(answer.status, `${what}: ${answer.text}`).toBe(413)
  expect(answer.headers["connection"], what).toBe("close")
  if (endpoint.kind === "oauth") {
    expect(answer.json, what).toEqual({ error: "invalid_request", error_description: expect.stringContaining(String(endpoint.limit)) })
  } else {
    expect(answer.json, what).toMatchObject({ jsonrpc: "2.0", error: { code: -32600, message: expect.any(String) }, id: null })
  }
  expect(answer.closedByServer, `${what}: the server closes the connection`).toBe(true)
}

describe("K1 body limits (server process, raw TCP clients)", () => {
  let auth: AuthServer
  let bearer = ""
  let endpoints: ReadonlyArray<Endpoint> = []

  beforeAll(async () => {
    auth = await startAuthServer()
    bearer = (await login(auth.url)).access_token
    const mcpHeaders = () => ({ ...JSON_TYPE, accept: MCP_ACCEPT, authorization: `Bearer ${bearer}` })
    endpoints = [
      { path: "/token", headers: () => FORM, limit: FORM_LIMIT, kind: "oauth" },
      { path: "/revoke", headers: () => FORM, limit: FORM_LIMIT, kind: "oauth" },
      { path: "/consent", headers: () => FORM, limit: FORM_LIMIT, kind: "oauth" },
      { path: "/authorize", headers: () => FORM, limit: FORM_LIMIT, kind: "oauth" },
      { path: "/register", headers: () => JSON_TYPE, limit: FORM_LIMIT, kind: "oauth" },
      { path: "/mcp", headers: mcpHeaders, limit: MCP_LIMIT, kind: "mcp" }
    ]
  })
  afterAll(async () => {
    await auth?.stop()
  })

  const health = async () => (await fetch(`${auth.url}/health`)).status

  it("K1 a ~600 MiB chunked body to each endpoint gets 413 after little of it was sent; the server lives", async () => {
    for (const endpoint of endpoints) {
      const answer = await streamRequest(auth.url, { path: endpoint.path, headers: endpoint.headers(), chunkedBytes: HUGE })
      const what = `POST ${endpoint.path}`
      expectRefused(answer, endpoint, what)
      // The limit plus what the kernel buffers of a stalled connection: far from 600 MiB.
      expect(answer.sentBytes, what).toBeLessThan(endpoint.limit + 64 * MiB)
      expect(await health(), `${what}: /health after`).toBe(200)
    }
    expect(auth.server.proc.exitCode).toBeNull()
  })

  it("K1 a Content-Length over the limit gets 413 at once, before any of the body is sent", async () => {
    for (const endpoint of endpoints) {
      const answer = await streamRequest(auth.url, {
        path: endpoint.path,
        headers: endpoint.headers(),
        contentLength: endpoint.limit + 1
      })
      expectRefused(answer, endpoint, `POST ${endpoint.path} with Content-Length ${endpoint.limit + 1}`)
    }
    const huge = await streamRequest(auth.url, { path: "/token", headers: FORM, contentLength: 700 * MiB })
    expectRefused(huge, endpoints[0]!, "POST /token with Content-Length 700 MiB")
  })

  it("K1 a body at the limit is still read (the limit is not off by one)", async () => {
    const exact = await streamRequest(auth.url, { path: "/token", headers: { ...FORM, connection: "close" }, chunkedBytes: FORM_LIMIT })
    // Read and parsed: the form just lacks a grant type.
    expect(exact.status, exact.text).toBe(400)
    expect(exact.json?.["error"]).toBe("invalid_request")
    expect(exact.json?.["error_description"]).not.toMatch(/larger/)
  })

  it("K1 ten ~600 MiB chunked bodies at once: the server's memory stays flat and it keeps answering", async () => {
    const pid = auth.server.proc.pid!
    const before = procStatusBytes(pid, "VmRSS")
    const paths = ["/token", "/register", "/mcp", "/consent", "/mcp", "/revoke", "/authorize", "/mcp", "/token", "/mcp"]
    const answers = await Promise.all(
      paths.map((path) => {
        const endpoint = endpoints.find((e) => e.path === path)!
        return streamRequest(auth.url, { path, headers: endpoint.headers(), chunkedBytes: HUGE }).then((a) => ({ a, endpoint }))
      })
    )
    for (const { a, endpoint } of answers) expectRefused(a, endpoint, `concurrent POST ${endpoint.path}`)
    // VmHWM is the peak resident size: whatever was held at any moment of the burst.
    const peak = procStatusBytes(pid, "VmHWM")
    expect(peak - before, `peak RSS growth ${Math.round((peak - before) / MiB)} MiB`).toBeLessThan(150 * MiB)
    expect(await health()).toBe(200)
    expect(auth.server.proc.exitCode).toBeNull()
  })

  it("K1 an answer given without reading the body (401 on /mcp) closes the connection instead of reading the rest", async () => {
    const answer = await streamRequest(auth.url, { path: "/mcp", headers: { ...JSON_TYPE, accept: MCP_ACCEPT }, chunkedBytes: HUGE })
    expect(answer.status).toBe(401)
    expect(answer.headers["connection"]).toBe("close")
    expect(answer.closedByServer).toBe(true)
    expect(answer.sentBytes).toBeLessThan(HUGE / 2)
    expect(await health()).toBe(200)
  })
})

describe("K1 transport.http.max_body_bytes (server process, auth none)", () => {
  it("K1 max_body_bytes sets the /mcp limit: one byte over it is 413, at it the request is served", async () => {
    const project = copyExample()
    const config = join(project.dir, "user-config.yml")
    writeFileSync(config, "mxcp: 1\ntransport:\n  http:\n    max_body_bytes: 2048\n")
    const server = await startServer(project.dir, ["--config", config])
    try {
      // An initialize padded (with JSON whitespace) to exactly `size` bytes.
      const padded = (size: number) => {
        const text = JSON.stringify(initializeMessage("k1-limit"))
        return text.slice(0, -1) + " ".repeat(size - Buffer.byteLength(text)) + "}"
      }
      const at = await rawRequest(`${server.url}/mcp`, { method: "POST", headers: MCP_HEADERS, body: padded(2048) })
      expect(at.status, at.text).toBe(200)
      const over = await rawRequest(`${server.url}/mcp`, { method: "POST", headers: MCP_HEADERS, body: padded(2049) })
      expect(over.status).toBe(413)
      expect(over.json).toMatchObject({ jsonrpc: "2.0", error: { code: -32600, message: expect.stringContaining("2048") }, id: null })
      const chunked = await streamRequest(server.url, { path: "/mcp", headers: MCP_HEADERS, chunkedBytes: 4096 })
      expect(chunked.status).toBe(413)
      expect(chunked.closedByServer).toBe(true)
    } finally {
      await server.stop()
      project.cleanup()
    }
  })
})
