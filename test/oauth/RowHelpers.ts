/**
 * MCP-side helpers shared by the security-row tests (McpProtection, SqlUser, Logs): an SDK client
 * that keeps its transport (for the session id), tool calls read as text, and raw /mcp requests.
 * The OAuth client side (login, redeem, refresh, revoke, DCR) is `test/support/OAuthFlows.ts`.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { initializeMessage as initializeMessageFor, MCP_ACCEPT } from "../support/McpRaw.js"

/** A connected MCP SDK client that sends `accessToken` as its Bearer token. */
export const mcpClient = async (base: string, accessToken: string | undefined, name = "row-test") => {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: accessToken === undefined ? {} : { authorization: `Bearer ${accessToken}` } }
  })
  const client = new Client({ name, version: "1.0.0" })
  await client.connect(transport)
  return { client, transport }
}

export interface ToolOutcome {
  readonly isError: boolean
  readonly text: string
  readonly structured: Record<string, unknown> | undefined
}

export const callTool = async (client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> => {
  const result = await client.callTool({ name, arguments: args })
  const content = result.content as ReadonlyArray<{ type: string; text?: string }>
  return {
    isError: result.isError === true,
    text: content.map((c) => c.text ?? "").join("\n"),
    structured: result.structuredContent as Record<string, unknown> | undefined
  }
}

/** The rows `execute_sql_query` returned (throws on a tool error). */
export const sqlRows = async (client: Client, sql: string): Promise<Array<Record<string, unknown>>> => {
  const out = await callTool(client, "execute_sql_query", { sql })
  if (out.isError) throw new Error(`SQL tool error: ${out.text}`)
  return JSON.parse(out.text) as Array<Record<string, unknown>>
}

export const initializeMessage = initializeMessageFor("raw")

export interface RawResult {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** One raw HTTP request to /mcp (redirects not followed); the body read in full with a deadline. */
export const rawMcp = async (
  base: string,
  init: {
    readonly method?: string
    readonly headers?: Record<string, string>
    readonly body?: string
    readonly path?: string
  } = {}
): Promise<RawResult> => {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 3000)
  try {
    const res = await fetch(`${base}${init.path ?? "/mcp"}`, {
      method: init.method ?? "POST",
      headers: { accept: MCP_ACCEPT, ...(init.body === undefined ? {} : { "content-type": "application/json" }), ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
      redirect: "manual",
      signal: controller.signal
    })
    // A GET SSE stream never ends on its own: read what arrives before the deadline.
    let text = ""
    try {
      text = await res.text()
    } catch {
      text = ""
    }
    return { status: res.status, headers: res.headers, text }
  } finally {
    clearTimeout(timer)
  }
}
