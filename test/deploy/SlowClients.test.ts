/**
 * Security checklist K10: slow or idle clients are cut off by the header, request and keep-alive
 * timeouts, and the number of connections is bounded; a long-lived SSE stream (GET /mcp) is not
 * cut by the request timeout. Real server processes with small configured values (seconds), raw
 * TCP clients that send exactly as slowly as they are told.
 */
import { connect, type Socket } from "node:net"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { UserConfig } from "../../src/domain/config/UserConfig.js"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"
import { connectionLimitsOf } from "../../src/layers/server/HttpServeNode.js"
import { initializeBody, MCP_ACCEPT, MCP_HEADERS } from "../support/McpRaw.js"
import { login } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"
import { copyExample } from "../support/Project.js"
import { rawRequest } from "../support/RawHttp.js"
import { type RunningServer, startServer, waitUntil } from "../support/ServerProcess.js"

interface Dripped {
  /** The server closed the connection before `giveUpMs`. */
  readonly closedByServer: boolean
  /** Everything the server sent. */
  readonly text: string
  readonly elapsedMs: number
}

/**
 * Open a raw connection, send `head`, then one `drip()` piece every `everyMs` (nothing when it
 * returns undefined) until the server closes the connection or `giveUpMs` passes.
 */
const drip = (
  url: string,
  head: string,
  options: { readonly drip?: () => string | undefined; readonly everyMs?: number; readonly giveUpMs: number }
): Promise<Dripped> =>
  new Promise((resolve) => {
    const target = new URL(url)
    const started = Date.now()
    const socket = connect(Number(target.port), target.hostname)
    let text = ""
    let done = false
    let ticker: ReturnType<typeof setInterval> | undefined
    const finish = (closedByServer: boolean) => {
      if (done) return
      done = true
      clearInterval(ticker)
      clearTimeout(giveUp)
      socket.destroy()
      resolve({ closedByServer, text, elapsedMs: Date.now() - started })
    }
    const giveUp = setTimeout(() => finish(false), options.giveUpMs)
    socket.on("connect", () => {
      if (head !== "") socket.write(head)
      const next = options.drip
      if (next !== undefined) {
        ticker = setInterval(() => {
          const piece = next()
          if (piece !== undefined && !socket.destroyed) socket.write(piece)
        }, options.everyMs ?? 200)
      }
    })
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")))
    socket.on("error", () => undefined)
    socket.on("end", () => finish(true))
    socket.on("close", () => finish(true))
  })

const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)

/** Bounds for the small configured values below: long enough for a loaded machine, far below Node's defaults. */
const GIVE_UP_MS = 8000

describe("K10 timeouts (server process with headers_timeout 1, request_timeout 2, keep_alive_timeout 1)", () => {
  let auth: AuthServer
  let bearer = ""

  beforeAll(async () => {
    auth = await startAuthServer({
      transportYaml: "  http:\n    headers_timeout: 1\n    request_timeout: 2\n    keep_alive_timeout: 1"
    })
    bearer = (await login(auth.url)).access_token
  })
  afterAll(async () => {
    await auth?.stop()
  })

  const host = () => new URL(auth.url).host

  it("K10 a client sending its headers slowly is cut off with 408", async () => {
    let n = 0
    const result = await drip(auth.url, "GET /health HTTP/1.1\r\n", { drip: () => `X-Slow-${n++}: x\r\n`, giveUpMs: GIVE_UP_MS })
    expect(result.closedByServer, `still open after ${result.elapsedMs} ms`).toBe(true)
    expect(statusOf(result.text)).toBe(408)
  })

  it("K10 a new connection that never sends a request is closed", async () => {
    const result = await drip(auth.url, "", { giveUpMs: GIVE_UP_MS })
    expect(result.closedByServer, `still open after ${result.elapsedMs} ms`).toBe(true)
  })

  it("K10 an idle kept-alive connection is closed after keep_alive_timeout", async () => {
    const result = await drip(auth.url, `GET /health HTTP/1.1\r\nHost: ${host()}\r\n\r\n`, { giveUpMs: GIVE_UP_MS })
    expect(statusOf(result.text)).toBe(200)
    expect(result.text.toLowerCase()).toContain("connection: keep-alive")
    expect(result.closedByServer, `still open after ${result.elapsedMs} ms`).toBe(true)
  })

  it("K10 a slow body is cut off: /token and /mcp answer 408 and close", async () => {
    const heads = [
      `POST /token HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n`,
      `POST /mcp HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nAccept: ${MCP_ACCEPT}\r\n` +
      `Authorization: Bearer ${bearer}\r\nContent-Length: 1000\r\n\r\n`
    ]
    const results = await Promise.all(heads.map((head) => drip(auth.url, head, { drip: () => "a", giveUpMs: GIVE_UP_MS })))
    for (const [i, result] of results.entries()) {
      expect(result.closedByServer, `${heads[i]!.split(" ")[1]} still open after ${result.elapsedMs} ms`).toBe(true)
      expect(statusOf(result.text), result.text).toBe(408)
    }
    expect((await fetch(`${auth.url}/health`)).status).toBe(200)
  })

  it("K10 an SSE stream (GET /mcp) outlives request_timeout", async () => {
    const headers = { ...MCP_HEADERS, authorization: `Bearer ${bearer}` }
    const init = await rawRequest(`${auth.url}/mcp`, { method: "POST", headers, body: initializeBody("k10-sse") })
    const session = init.headers["mcp-session-id"]
    expect(typeof session).toBe("string")
    const stream = await drip(
      auth.url,
      `GET /mcp HTTP/1.1\r\nHost: ${host()}\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${bearer}\r\n` +
        `Mcp-Session-Id: ${String(session)}\r\nMcp-Protocol-Version: 2025-06-18\r\n\r\n`,
      // More than twice request_timeout (2 s), plus Node's checking period.
      { giveUpMs: 5500 }
    )
    expect(statusOf(stream.text), stream.text).toBe(200)
    expect(stream.text.toLowerCase()).toContain("content-type: text/event-stream")
    expect(stream.closedByServer, `the stream was cut after ${stream.elapsedMs} ms`).toBe(false)
  })
})

describe("K10 the OAuth body deadline (server process, default request_timeout)", () => {
  let auth: AuthServer

  beforeAll(async () => {
    auth = await startAuthServer()
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("K10 a form body that has not arrived within 10 s gets 408 invalid_request, well before request_timeout (60 s)", async () => {
    const head = `POST /token HTTP/1.1\r\nHost: ${new URL(auth.url).host}\r\n` +
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    const result = await drip(auth.url, head, { drip: () => "a", everyMs: 500, giveUpMs: 20_000 })
    expect(result.closedByServer, `still open after ${result.elapsedMs} ms`).toBe(true)
    expect(statusOf(result.text)).toBe(408)
    const body = result.text.slice(result.text.indexOf("\r\n\r\n") + 4)
    expect(JSON.parse(body)).toEqual({ error: "invalid_request", error_description: expect.stringContaining("10 seconds") })
    expect(result.text.toLowerCase()).toContain("connection: close")
  }, 30_000)
})

describe("K10 max_connections (server process, auth none, max_connections 3)", () => {
  let project: ReturnType<typeof copyExample>
  let server: RunningServer

  beforeAll(async () => {
    project = copyExample()
    const config = join(project.dir, "user-config.yml")
    writeFileSync(config, "mxcp: 1\ntransport:\n  http:\n    max_connections: 3\n    headers_timeout: 30\n")
    server = await startServer(project.dir, ["--config", config])
  })
  afterAll(async () => {
    await server?.stop()
    project?.cleanup()
  })

  const openIdle = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const target = new URL(server.url)
      const s = connect(Number(target.port), target.hostname, () => resolve(s))
      s.on("error", reject)
    })

  const health = () => rawRequest(`${server.url}/health`).then((r) => r.status, () => 0)

  it("K10 connections beyond max_connections are refused; a freed slot takes a new one", async () => {
    const held = [await openIdle(), await openIdle(), await openIdle()]
    try {
      // Give the server a moment to have accepted all three.
      await new Promise((r) => setTimeout(r, 200))
      // The fourth is closed at once, without an answer.
      const refused = await drip(server.url, `GET /health HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\n\r\n`, { giveUpMs: GIVE_UP_MS })
      expect(refused.closedByServer).toBe(true)
      expect(refused.text).toBe("")
      expect(await health()).toBe(0)
      held.pop()!.destroy()
      await waitUntil("a slot to free up", async () => (await health()) === 200, 5000)
    } finally {
      for (const s of held) s.destroy()
    }
  })
})

describe("K10 the transport.http limit keys", () => {
  it.effect("K10 defaults: headers 10 s, request 60 s, keep-alive 5 s, 1000 connections; seconds may be fractions or strings", () =>
    Effect.gen(function* () {
      const defaults = yield* decodeConfig(UserConfig, "config.yml", {})
      expect(connectionLimitsOf(defaults.transport.http)).toEqual({
        headersTimeout: 10_000,
        requestTimeout: 60_000,
        keepAliveTimeout: 5000,
        connectionsCheckingInterval: 1000,
        maxConnections: 1000
      })
      const set = yield* decodeConfig(UserConfig, "config.yml", {
        transport: { http: { headers_timeout: "0.5", request_timeout: 3, keep_alive_timeout: 2.5, max_connections: "50" } }
      })
      expect(connectionLimitsOf(set.transport.http)).toEqual({
        headersTimeout: 500,
        requestTimeout: 3000,
        keepAliveTimeout: 2500,
        connectionsCheckingInterval: 100,
        maxConnections: 50
      })
      // Node refuses a headers timeout longer than the request timeout: the request timeout bounds both.
      expect(connectionLimitsOf({ headers_timeout: 30, request_timeout: 5 })).toMatchObject({ headersTimeout: 5000, requestTimeout: 5000 })
    }))

  it.effect("K10 a bad value names its key and what is expected", () =>
    Effect.gen(function* () {
      const cases = [
        ["headers_timeout", 0],
        ["request_timeout", -1],
        ["keep_alive_timeout", "soon"],
        ["max_connections", 0],
        ["max_connections", 1.5],
        ["max_sessions_per_user", 0],
        ["max_body_bytes", 0],
        ["max_body_bytes", 1024 * 1024 * 1024]
      ] as const
      for (const [key, value] of cases) {
        const e = yield* Effect.flip(decodeConfig(UserConfig, "config.yml", { transport: { http: { [key]: value } } }))
        expect(e.key, `${key}: ${value}`).toBe(`transport.http.${key}`)
        expect(e.fix, `${key}: ${value}`).toMatch(/^expected /)
      }
      const typo = yield* Effect.flip(decodeConfig(UserConfig, "config.yml", { transport: { http: { max_conections: 5 } } }))
      expect(typo.message).toContain("max_conections")
    }))
})
