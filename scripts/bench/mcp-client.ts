/**
 * A minimal MCP Streamable HTTP client for the benchmark: plain `node:http` with a keep-alive
 * agent per connection, JSON or SSE responses, and strict checking of the `get_product` result.
 */
import { readFileSync } from "node:fs"
import { Agent, type IncomingHttpHeaders, request } from "node:http"
import { DuckDBInstance } from "@duckdb/node-api"
import type { SessionMode } from "./targets.js"

export const PROTOCOL_VERSION = "2025-06-18"
/** The stateless protocol revision (`modern` mode). */
export const MODERN_PROTOCOL_VERSION = "2026-07-28"
const MODERN_META = {
  "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "mcp-throughput-bench", version: "0.0.0" }
}
const REQUEST_TIMEOUT_MS = 10_000

/** What a correct `get_product` row must contain (fields whose JSON shape is unambiguous). */
export interface ExpectedProduct {
  readonly id: number
  readonly name: string
  readonly category: string
  readonly price: number
  readonly in_stock: boolean
}

/** The first five products, as `setupSql` (the example's `sql/setup.sql`) creates them, on a private in-memory database. */
export const loadExpectedProducts = async (setupSql: string): Promise<ReadonlyArray<ExpectedProduct>> => {
  const db = await DuckDBInstance.create(":memory:")
  const conn = await db.connect()
  try {
    await conn.run(readFileSync(setupSql, "utf8"))
    const reader = await conn.runAndReadAll(
      "SELECT id, name, category, CAST(price AS DOUBLE) AS price, in_stock FROM products ORDER BY id LIMIT 5"
    )
    return reader.getRowObjectsJS().map((r) => ({
      id: Number(r["id"]),
      name: String(r["name"]),
      category: String(r["category"]),
      price: Number(r["price"]),
      in_stock: r["in_stock"] === true
    }))
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

/** A failed request, with a short kind used to group errors in the report. */
export class CallError extends Error {
  constructor(readonly kind: string, message: string) {
    super(message)
  }
}

interface HttpReply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

type Json = Record<string, unknown>

const isRecord = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const httpRequest = (
  agent: Agent,
  url: URL,
  method: "POST" | "DELETE",
  headers: Readonly<Record<string, string>>,
  body: string | undefined
): Promise<HttpReply> =>
  new Promise((resolve, reject) => {
    const req = request(url, { agent, method, headers }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") })
      )
      res.on("error", (e) => reject(new CallError("transport", e.message)))
    })
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new CallError("timeout", `no reply in ${REQUEST_TIMEOUT_MS} ms`)))
    req.on("error", (e) => reject(e instanceof CallError ? e : new CallError("transport", e.message)))
    req.end(body)
  })

/** The `data:` payloads of an SSE body, one per event. */
const sseData = (body: string): Array<string> => {
  const events: Array<string> = []
  let data: Array<string> = []
  for (const line of body.split(/\r?\n/)) {
    if (line === "") {
      if (data.length > 0) events.push(data.join("\n"))
      data = []
    } else if (line.startsWith("data:")) {
      data.push(line.slice(line.startsWith("data: ") ? 6 : 5))
    }
  }
  if (data.length > 0) events.push(data.join("\n"))
  return events
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    throw new CallError("bad response", `not JSON: ${text.slice(0, 200)}`)
  }
}

/** The JSON-RPC messages in a reply, whether it is `application/json` or `text/event-stream`. */
const messagesOf = (reply: HttpReply): Array<unknown> => {
  const type = reply.headers["content-type"] ?? ""
  if (type.startsWith("text/event-stream")) return sseData(reply.body).map(parseJson)
  if (type.startsWith("application/json")) {
    const parsed = parseJson(reply.body)
    return Array.isArray(parsed) ? parsed : [parsed]
  }
  throw new CallError("bad response", `unexpected content-type '${type}'`)
}

/** The `result` of the JSON-RPC response with this id; throws on HTTP or JSON-RPC errors. */
const resultOf = (reply: HttpReply, id: number): Json => {
  if (reply.status < 200 || reply.status > 299) {
    throw new CallError(`http ${reply.status}`, reply.body.slice(0, 300))
  }
  const response = messagesOf(reply).find((m) => isRecord(m) && m["id"] === id)
  if (!isRecord(response)) throw new CallError("bad response", `no JSON-RPC response with id ${id}`)
  const error = response["error"]
  if (isRecord(error)) throw new CallError(`jsonrpc ${String(error["code"])}`, String(error["message"]))
  const result = response["result"]
  if (!isRecord(result)) throw new CallError("bad response", "response has no result object")
  return result
}

/** The row a tool result carries: `structuredContent`, else the JSON in its first text block. */
const rowOf = (result: Json): Json => {
  if (result["isError"] === true) throw new CallError("tool error", JSON.stringify(result["content"]).slice(0, 300))
  const structured = result["structuredContent"]
  if (isRecord(structured)) return structured
  const content = result["content"]
  const first: unknown = Array.isArray(content) ? content[0] : undefined
  if (isRecord(first) && typeof first["text"] === "string") {
    const parsed = parseJson(first["text"])
    if (isRecord(parsed)) return parsed
  }
  throw new CallError("wrong row", "result carries no row object")
}

const checkRow = (row: Json, expected: ExpectedProduct): void => {
  const ok =
    Number(row["id"]) === expected.id &&
    row["name"] === expected.name &&
    row["category"] === expected.category &&
    row["in_stock"] === expected.in_stock &&
    Math.abs(Number(row["price"]) - expected.price) < 1e-9
  if (!ok) throw new CallError("wrong row", `expected ${JSON.stringify(expected)}, got ${JSON.stringify(row)}`)
}

/** One client "connection": its own socket (keep-alive) and, in session mode, its own MCP session. */
export class McpConnection {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 })
  private nextId = 1
  private sessionId: string | undefined
  private protocolVersion = PROTOCOL_VERSION

  constructor(
    private readonly url: URL,
    private readonly extraHeaders: Readonly<Record<string, string>>,
    private readonly mode: SessionMode
  ) {}

  private headers(): Record<string, string> {
    const h: Record<string, string> = {
      ...this.extraHeaders,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": this.protocolVersion
    }
    if (this.sessionId !== undefined) h["mcp-session-id"] = this.sessionId
    return h
  }

  private post(message: Json, extra: Readonly<Record<string, string>> = {}): Promise<HttpReply> {
    return httpRequest(this.agent, this.url, "POST", { ...this.headers(), ...extra }, JSON.stringify(message))
  }

  private async call(method: string, params: Json): Promise<Json> {
    const id = this.nextId++
    if (this.mode !== "modern") return resultOf(await this.post({ jsonrpc: "2.0", id, method, params }), id)
    // 2026-07-28: the envelope in `_meta`, the method (and tool name) repeated in headers.
    const name = typeof params["name"] === "string" ? params["name"] : undefined
    const headers: Record<string, string> = {
      "mcp-protocol-version": MODERN_PROTOCOL_VERSION,
      "mcp-method": method,
      ...(name === undefined ? {} : { "mcp-name": name })
    }
    return resultOf(await this.post({ jsonrpc: "2.0", id, method, params: { ...params, _meta: MODERN_META } }, headers), id)
  }

  /** Session mode: `initialize` + `notifications/initialized`. Stateless mode needs neither. */
  async open(): Promise<void> {
    if (this.mode === "stateless" || this.mode === "modern") return
    const id = this.nextId++
    const reply = await this.post({
      jsonrpc: "2.0",
      id,
      method: "initialize",
      params: {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: "mcp-throughput-bench", version: "0.0.0" }
      }
    })
    const result = resultOf(reply, id)
    const session = reply.headers["mcp-session-id"]
    if (typeof session !== "string") throw new CallError("initialize", "no mcp-session-id header in initialize reply")
    this.sessionId = session
    if (typeof result["protocolVersion"] === "string") this.protocolVersion = result["protocolVersion"]
    const ack = await this.post({ jsonrpc: "2.0", method: "notifications/initialized" })
    if (ack.status !== 202 && ack.status !== 200) throw new CallError(`http ${ack.status}`, "notifications/initialized rejected")
  }

  /** `tools/call get_product {id}`; resolves only if the reply carries the expected row. */
  async getProduct(expected: ExpectedProduct): Promise<void> {
    const result = await this.call("tools/call", { name: "get_product", arguments: { id: expected.id } })
    checkRow(rowOf(result), expected)
  }

  /** End the session (DELETE, best effort) and drop the socket. */
  async close(): Promise<void> {
    if (this.sessionId !== undefined) {
      await httpRequest(this.agent, this.url, "DELETE", this.headers(), undefined).catch(() => undefined)
      this.sessionId = undefined
    }
    this.agent.destroy()
  }
}
