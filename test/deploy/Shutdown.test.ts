/**
 * Issue 6, graceful shutdown (interface.md section 1): on SIGTERM the server stops accepting,
 * finishes in-flight requests (at most `transport.http.shutdown_timeout`), closes MCP sessions and
 * their GET streams, closes DuckDB and SQLite, and exits 0. Real processes on loopback.
 *
 * The slow request is deterministic: a tool whose SQL reads a named pipe (FIFO) with
 * `read_text`. The test knows the query is running once it can open the writing end (a
 * non-blocking open for writing succeeds only while a reader has the FIFO open); the query then
 * waits for data until the test writes and closes its end, which it does after the signal.
 */
import { execFileSync } from "node:child_process"
import { closeSync, constants, existsSync, openSync, writeSync } from "node:fs"
import { connect } from "node:net"
import { join } from "node:path"
import { DuckDBInstance } from "@duckdb/node-api"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { login, mcpClient, whoami } from "../support/OAuthFlows.js"
import { startAuthServer, writeProjectFiles } from "../support/OAuthHarness.js"
import { copyExample } from "../support/Project.js"
import { type RunningServer, startServer, waitUntil } from "../support/ServerProcess.js"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"

/** A project copy with a `slow_read` tool reading `<project>/slow.fifo`, a FIFO. */
const projectWithFifo = (transportYaml = "") => {
  const project = copyExample()
  const fifo = join(project.dir, "slow.fifo")
  execFileSync("mkfifo", [fifo])
  writeProjectFiles(project.dir, {
    "tools/slow_read.yml": `mxcp: 1
tool:
  name: slow_read
  description: Test-only tool whose query waits for the test to write its rows into a FIFO.
  return: {type: array}
  source:
    code: |
      SELECT content FROM read_text('${fifo}')
`,
    "user-config.yml": `mxcp: 1\n${transportYaml === "" ? "" : `transport:\n  http:\n${transportYaml}`}`
  })
  return { ...project, fifo, config: join(project.dir, "user-config.yml") }
}

/**
 * Open the FIFO's writing end once DuckDB has opened it for reading (i.e. the query runs). The
 * query ends when this end is written to and closed.
 */
const whenQueryRuns = async (fifo: string): Promise<number> => {
  let fd = -1
  await waitUntil("the slow query to open its FIFO", () => {
    try {
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENXIO") return false
      throw e
    }
  }, 20_000)
  return fd
}

/** Resolves with the error code of a new TCP connection to `url`'s port (or "connected"). */
const connectOutcome = (url: string): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve("connected")
    })
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })

/** A raw TCP connection to the server, connected; `closed` settles when the server closes it. */
const rawConnection = async (url: string) => {
  const socket = connect(Number(new URL(url).port), "127.0.0.1")
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
  socket.on("error", () => undefined)
  return { socket, closed }
}

const connectClient = async (url: string) => {
  const client = new Client({ name: "shutdown-test", version: "1.0.0" })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
  return client
}

const shuttingDown = (server: RunningServer) => () => server.stderr().includes("Shutting down")

// Each test runs its own server process: run them side by side.
describe.concurrent("graceful shutdown (server processes)", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("a request in flight at %s completes with 200, new connections are refused, then exit 0", async (signal) => {
    const project = projectWithFifo("    shutdown_timeout: 25\n")
    const server = await startServer(project.dir, ["--config", project.config])
    let fd = -1
    try {
      const client = await connectClient(server.url)
      const slow = client.callTool({ name: "slow_read", arguments: {} })
      fd = await whenQueryRuns(project.fifo)
      server.proc.kill(signal)
      await waitUntil("the shutdown to start", shuttingDown(server))
      expect(await connectOutcome(server.url)).toBe("ECONNREFUSED")
      // The process is still there, waiting for the query.
      expect(server.proc.exitCode).toBeNull()
      writeSync(fd, "rows after the signal")
      closeSync(fd)
      fd = -1
      const result = await slow
      expect(result.isError).toBeFalsy()
      expect(JSON.parse((result.content as Array<{ text: string }>)[0]!.text)).toEqual([{ content: "rows after the signal" }])
      expect(await server.exited).toBe(0)
      // The tools/call was answered with 200 (access log), after the shutdown began.
      const log = server.stderr()
      const answered = log.lastIndexOf('message="POST /mcp 200"')
      expect(answered).toBeGreaterThan(log.indexOf("Shutting down"))
    } finally {
      if (fd >= 0) closeSync(fd)
      await server.stop("SIGKILL")
      project.cleanup()
    }
  })

  it("a request arriving during the drain on a connection that was already open gets 503 and Connection: close", async () => {
    const project = projectWithFifo()
    const server = await startServer(project.dir, ["--config", project.config])
    try {
      const { socket, closed } = await rawConnection(server.url)
      let received = ""
      socket.on("data", (d: Buffer) => (received += d.toString()))
      // Request 1 is in flight at the signal (its body is incomplete), so the connection is busy.
      const body = initializeBody("pipelined", { protocolVersion: "2025-03-26" })
      socket.write(
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
          `accept: application/json, text/event-stream\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`
      )
      await waitUntil("request 1 to be in flight", () => fetch(`${server.url}/health`).then((r) => r.status === 200, () => false))
      server.proc.kill("SIGTERM")
      await waitUntil("the shutdown to start", shuttingDown(server))
      // The rest of request 1, and request 2 pipelined behind it on the same connection.
      socket.write(`${body.slice(10)}GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      await closed
      const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])
      expect(statuses).toEqual(["200", "503"])
      expect(received).toContain('"error":"temporarily_unavailable"')
      expect(received.slice(received.indexOf("HTTP/1.1 503")).toLowerCase()).toContain("connection: close")
      expect(await server.exited).toBe(0)
    } finally {
      await server.stop("SIGKILL")
      project.cleanup()
    }
  })

  it("an open GET /mcp stream does not hold shutdown: the stream ends and the process exits 0 at once", async () => {
    // A long drain timeout: only the stream could make shutdown wait that long.
    const project = projectWithFifo("    shutdown_timeout: 30\n")
    const server = await startServer(project.dir, ["--config", project.config])
    try {
      const init = await fetch(`${server.url}/mcp`, {
        method: "POST",
        headers: MCP_HEADERS,
        body: initializeBody("sse", { protocolVersion: "2025-03-26" })
      })
      expect(init.status).toBe(200)
      await init.text()
      const session = init.headers.get("mcp-session-id")!
      const headers = { ...MCP_HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-03-26" }
      const initialized = await fetch(`${server.url}/mcp`, {
        method: "POST",
        headers,
        body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })
      })
      expect(initialized.status).toBe(202)
      const stream = await fetch(`${server.url}/mcp`, { method: "GET", headers: { ...headers, accept: "text/event-stream" } })
      expect(stream.status).toBe(200)
      expect(stream.headers.get("content-type")).toContain("text/event-stream")
      const reader = stream.body!.getReader()
      const ended = (async () => {
        for (;;) {
          const chunk = await reader.read().catch(() => ({ done: true }))
          if (chunk.done) return "ended"
        }
      })()
      const started = Date.now()
      server.proc.kill("SIGTERM")
      expect(await server.exited).toBe(0)
      expect(Date.now() - started).toBeLessThan(8_000)
      expect(await ended).toBe("ended")
    } finally {
      await server.stop("SIGKILL")
      project.cleanup()
    }
  })

  it("transport.http.shutdown_timeout bounds the wait for a request that never finishes; exit 0", async () => {
    const project = projectWithFifo("    shutdown_timeout: 1\n")
    const server = await startServer(project.dir, ["--config", project.config])
    try {
      // A POST /mcp whose body never completes: in flight (the handler waits for the body) forever.
      const { socket, closed } = await rawConnection(server.url)
      socket.write(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
          "accept: application/json, text/event-stream\r\ncontent-length: 1000\r\n\r\n{\"jsonrpc\":"
      )
      await waitUntil("the request to be in flight", () =>
        fetch(`${server.url}/health`).then((r) => r.status === 200, () => false))
      const started = Date.now()
      server.proc.kill("SIGTERM")
      expect(await server.exited).toBe(0)
      const took = Date.now() - started
      expect(took).toBeGreaterThanOrEqual(900)
      expect(took).toBeLessThan(8_000)
      await closed
      expect(server.stderr()).toMatch(/in_flight=1 timeout_s=1/)
      expect(server.stderr()).toContain("Shutdown timeout: closing 1 unfinished request(s)")
    } finally {
      await server.stop("SIGKILL")
      project.cleanup()
    }
  })

  it("DuckDB and the SQLite OAuth store are closed cleanly at exit (no WAL left, files usable by another process)", async () => {
    const auth = await startAuthServer({ persistence: true })
    try {
      const tokens = await login(auth.url)
      const client = await mcpClient(auth.url, tokens.access_token)
      expect((await whoami(client)).username).toBe("octocat")
      await client.close()
      const sqlite = auth.persistencePath!
      const duckdb = join(auth.projectDir, "data", "quickstart.duckdb")
      // While running, both databases have uncheckpointed writes in their WAL files.
      expect(existsSync(`${sqlite}-wal`)).toBe(true)
      expect(existsSync(`${duckdb}.wal`)).toBe(true)
      expect(await auth.server.stop("SIGTERM")).toBe(0)
      expect(existsSync(`${sqlite}-wal`)).toBe(false)
      expect(existsSync(`${duckdb}.wal`)).toBe(false)
      // Another process can open both read-write.
      const check = Effect.gen(function* () {
        const sql = yield* SqliteClient.SqliteClient
        return yield* sql<{ integrity_check: string }>`PRAGMA integrity_check`
      }).pipe(Effect.provide(SqliteClient.layer({ filename: sqlite })), Effect.scoped)
      expect(await Effect.runPromise(check)).toEqual([{ integrity_check: "ok" }])
      const instance = await DuckDBInstance.create(duckdb)
      try {
        const connection = await instance.connect()
        const reader = await connection.runAndReadAll("SELECT count(*)::INTEGER AS n FROM products")
        expect(reader.getRowObjects()).toEqual([{ n: 5 }])
        connection.closeSync()
      } finally {
        instance.closeSync()
      }
    } finally {
      await auth.stop()
    }
  })
})
