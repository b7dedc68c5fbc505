/**
 * Baseline for the MCP throughput benchmark: the MCP SDK alone, in its documented STATELESS
 * pattern, with no mxcp-ts code at all.
 *
 * For every POST /mcp a new `McpServer` and `StreamableHTTPServerTransport` are created, one
 * tool (`get_product`) is registered, and the request is handed to the transport. The tool runs
 * `SELECT ... FROM products WHERE id = $id` through a prepared statement on a small pool of
 * DuckDB connections (one prepared statement per connection, prepared once at start-up), on an
 * in-memory database seeded with the quickstart's `sql/setup.sql`. DuckDB keeps its own defaults
 * (`threads` = one per core), as an SDK-only server would have them; mxcp-ts sizes `threads` for
 * concurrent requests (`serverThreads`), which is part of what this benchmark compares.
 *
 * Usage: node --import tsx scripts/bench/baseline-server.ts <path/to/setup.sql>
 * Prints `baseline listening on http://127.0.0.1:PORT/mcp` on stderr once ready.
 */
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { DuckDBInstance, type DuckDBPreparedStatement } from "@duckdb/node-api"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { z } from "zod"

const GET_PRODUCT_SQL = "SELECT id, name, category, price, in_stock, added FROM products WHERE id = $id"
/** Same default as mxcp-ts's DuckDB session pool. */
const POOL_SIZE = 4

type Row = Record<string, unknown>

/** A fixed set of prepared statements; a statement is used by one query at a time. */
interface StatementPool {
  readonly withStatement: <A>(use: (stmt: DuckDBPreparedStatement) => Promise<A>) => Promise<A>
}

const makeStatementPool = async (setupSql: string, size: number): Promise<StatementPool> => {
  const instance = await DuckDBInstance.create(":memory:")
  const setup = await instance.connect()
  await setup.run(setupSql)
  const idle: Array<DuckDBPreparedStatement> = []
  for (let i = 0; i < size; i++) {
    const connection = await instance.connect()
    idle.push(await connection.prepare(GET_PRODUCT_SQL))
  }
  const waiters: Array<(stmt: DuckDBPreparedStatement) => void> = []
  const acquire = (): Promise<DuckDBPreparedStatement> => {
    const stmt = idle.pop()
    return stmt !== undefined ? Promise.resolve(stmt) : new Promise((resolve) => waiters.push(resolve))
  }
  const release = (stmt: DuckDBPreparedStatement): void => {
    const next = waiters.shift()
    if (next !== undefined) next(stmt)
    else idle.push(stmt)
  }
  return {
    withStatement: async (use) => {
      const stmt = await acquire()
      try {
        return await use(stmt)
      } finally {
        release(stmt)
      }
    }
  }
}

/** BIGINT → number, DATE/TIMESTAMP → ISO string; everything else is already JSON-safe here. */
const jsonSafe = (value: unknown): unknown => {
  if (typeof value === "bigint") return Number(value)
  if (value instanceof Date) return value.toISOString().slice(0, 10)
  return value
}

const getProduct = (pool: StatementPool, id: number): Promise<Row | undefined> =>
  pool.withStatement(async (stmt) => {
    stmt.bind({ id })
    const reader = await stmt.runAndReadAll()
    const row = reader.getRowObjectsJS()[0]
    if (row === undefined) return undefined
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, jsonSafe(v)]))
  })

const buildMcpServer = (pool: StatementPool): McpServer => {
  const server = new McpServer({ name: "sdk-baseline", version: "0.0.0" })
  server.registerTool(
    "get_product",
    { description: "Get one product by id.", inputSchema: { id: z.number().int() } },
    async ({ id }): Promise<CallToolResult> => {
      const row = await getProduct(pool, id)
      if (row === undefined) return { isError: true, content: [{ type: "text", text: `No product ${id}` }] }
      return { content: [{ type: "text", text: JSON.stringify(row) }], structuredContent: row }
    }
  )
  return server
}

/** The SDK's stateless pattern: a fresh server + transport per request, closed with the response. */
/** Stateless: a new server and transport per request (the SDK's stateless example). */
const handleStateless = async (pool: StatementPool, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const server = buildMcpServer(pool)
  const transport = new StreamableHTTPServerTransport({})
  res.on("close", () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res)
}

/**
 * Stateful: one `McpServer` and transport per session, found by `Mcp-Session-Id` (the SDK's
 * documented session pattern); `initialize` without a session id opens one.
 */
const makeStatefulHandler = (pool: StatementPool) => {
  const sessions = new Map<string, StreamableHTTPServerTransport>()
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const header = req.headers["mcp-session-id"]
    const id = Array.isArray(header) ? header[0] : header
    const existing = id === undefined ? undefined : sessions.get(id)
    if (existing !== undefined) return existing.handleRequest(req, res)
    if (id !== undefined) return sendStatus(res, 404)
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, transport)
      }
    })
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId)
    }
    await buildMcpServer(pool).connect(transport)
    await transport.handleRequest(req, res)
  }
}

const sendStatus = (res: ServerResponse, status: number): void => {
  res.writeHead(status, { "content-type": "text/plain" }).end(`${status}\n`)
}

const main = async (): Promise<void> => {
  const setupPath = process.argv[2]
  if (setupPath === undefined) throw new Error("usage: baseline-server.ts <setup.sql> [--stateful]")
  const stateful = process.argv[3] === "--stateful"
  const pool = await makeStatementPool(readFileSync(setupPath, "utf8"), POOL_SIZE)
  const statefulHandler = makeStatefulHandler(pool)
  const http = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0]
    if (path !== "/mcp") return sendStatus(res, 404)
    if (!stateful && req.method !== "POST") return sendStatus(res, 405)
    const handled = stateful ? statefulHandler(req, res) : handleStateless(pool, req, res)
    handled.catch((e: unknown) => {
      process.stderr.write(`baseline: request failed: ${String(e)}\n`)
      if (!res.headersSent) sendStatus(res, 500)
      else res.end()
    })
  })
  http.keepAliveTimeout = 30_000
  http.listen(0, "127.0.0.1", () => {
    const { port } = http.address() as AddressInfo
    process.stderr.write(`baseline listening on http://127.0.0.1:${port}/mcp\n`)
  })
  const shutdown = (): void => {
    http.close(() => process.exit(0))
    http.closeAllConnections()
  }
  process.once("SIGTERM", shutdown)
  process.once("SIGINT", shutdown)
}

main().catch((e: unknown) => {
  process.stderr.write(`baseline: failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exit(1)
})
