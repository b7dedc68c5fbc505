import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { copyExample } from "../support/Project.js"
import { type RunningServer, startServer } from "../support/ServerProcess.js"
import { initializeBody, initializeMessage } from "../support/McpRaw.js"

const connect = async (url: string) => {
  const client = new Client({ name: "mxcp-test", version: "1.0.0" })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
  return client
}

const textOf = (result: unknown): string => {
  const content = (result as { content: Array<{ type: string; text: string }> }).content
  expect(content[0]?.type).toBe("text")
  return content[0]!.text
}

describe("Streamable HTTP transport (real server process, real SDK client, real DuckDB file)", () => {
  let project: ReturnType<typeof copyExample>
  let server: RunningServer
  let client: Client

  beforeAll(async () => {
    project = copyExample()
    server = await startServer(project.dir)
    client = await connect(server.url)
  })
  afterAll(async () => {
    await client?.close()
    await server?.stop()
    project?.cleanup()
  })

  it("answers /health without auth", async () => {
    const res = await fetch(`${server.url}/health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: "ok" })
  })

  it("lists the project's tools plus the SQL tools, with generated input schemas", async () => {
    const { tools } = await client.listTools()
    const names = tools.map((t) => t.name).sort()
    expect(names).toEqual(
      ["count_products", "execute_sql_query", "get_product", "get_table_schema", "list_products", "list_tables", "whoami"].sort()
    )
    const list = tools.find((t) => t.name === "list_products")!
    expect(list.inputSchema.type).toBe("object")
    expect((list.inputSchema.properties as Record<string, { type: string; maximum?: number }>)["limit"]).toMatchObject({
      type: "integer",
      maximum: 100
    })
    expect(list.annotations?.readOnlyHint).toBe(true)
  })

  it("calls an array tool with bound parameters", async () => {
    const result = await client.callTool({ name: "list_products", arguments: { category: "footwear" } })
    expect(result.isError).toBeFalsy()
    const rows = JSON.parse(textOf(result)) as Array<{ name: string; price: number; added: string }>
    expect(rows.map((r) => r.name)).toEqual(["Wool Socks", "Trail Runner Shoes"])
    expect(rows[0]).toMatchObject({ price: 14.5, added: "2023-11-20" })
  })

  it("calls an object tool (structuredContent is the row) and a scalar tool", async () => {
    const one = await client.callTool({ name: "get_product", arguments: { id: 2 } })
    expect(JSON.parse(textOf(one))).toMatchObject({ id: 2, name: "Rain Jacket" })
    expect(one.structuredContent).toMatchObject({ id: 2, name: "Rain Jacket" })
    const count = await client.callTool({ name: "count_products", arguments: {} })
    expect(JSON.parse(textOf(count))).toBe(4)
  })

  it("returns a tool error (not a crash) when an object tool finds no row", async () => {
    const none = await client.callTool({ name: "get_product", arguments: { id: 999 } })
    expect(none.isError).toBe(true)
    expect(textOf(none)).toMatch(/exactly one row/i)
  })

  it("rejects invalid arguments with a JSON-RPC InvalidParams error before any SQL runs", async () => {
    await expect(client.callTool({ name: "list_products", arguments: { limit: 500 } })).rejects.toThrow(/limit/)
    await expect(client.callTool({ name: "get_product", arguments: { id: "two" } })).rejects.toThrow(/id/)
    await expect(client.callTool({ name: "get_product", arguments: {} })).rejects.toThrow(/id/)
    await expect(client.callTool({ name: "no_such_tool", arguments: {} })).rejects.toThrow(/Unknown tool/)
  })

  it("runs the built-in SQL tools", async () => {
    const tables = JSON.parse(textOf(await client.callTool({ name: "list_tables", arguments: {} })))
    expect(tables).toContainEqual({ name: "products", type: "BASE TABLE" })
    const schema = JSON.parse(
      textOf(await client.callTool({ name: "get_table_schema", arguments: { table_name: "products" } }))
    ) as Array<{ name: string; type: string; nullable: boolean }>
    expect(schema[0]).toEqual({ name: "id", type: "INTEGER", nullable: false })
    const q = await client.callTool({ name: "execute_sql_query", arguments: { sql: "SELECT 40 + 2 AS answer" } })
    expect(JSON.parse(textOf(q))).toEqual([{ answer: 42 }])
    const bad = await client.callTool({ name: "execute_sql_query", arguments: { sql: "SELEC nonsense" } })
    expect(bad.isError).toBe(true)
    expect(textOf(bad)).toMatch(/syntax error/i)
  })

  it("user functions return '' with auth off", async () => {
    const who = await client.callTool({ name: "whoami", arguments: {} })
    expect(who.structuredContent).toEqual({ username: "", email: "", provider: "", has_external_token: false })
  })

  it("lists and reads a templated resource", async () => {
    const { resourceTemplates } = await client.listResourceTemplates()
    expect(resourceTemplates.map((r) => r.uriTemplate)).toEqual(["products://{id}"])
    const read = await client.readResource({ uri: "products://4" })
    const content = read.contents[0] as { uri: string; mimeType: string; text: string }
    expect(content.mimeType).toBe("application/json")
    expect(JSON.parse(content.text)).toMatchObject({ id: 4, name: "Headlamp" })
    await expect(client.readResource({ uri: "products://abc" })).rejects.toThrow(/id/)
    await expect(client.readResource({ uri: "nothing://here" })).rejects.toThrow(/not found/i)
  })

  it("lists prompts and renders one with defaults and arguments", async () => {
    const { prompts } = await client.listPrompts()
    expect(prompts[0]).toMatchObject({ name: "product_pitch" })
    const got = await client.getPrompt({ name: "product_pitch", arguments: { product_name: "Headlamp" } })
    expect(got.messages[0]).toEqual({
      role: "user",
      content: { type: "text", text: 'Write a two-sentence friendly pitch for "Headlamp".' }
    })
    await expect(client.getPrompt({ name: "product_pitch", arguments: { product_name: "x", tone: "angry" } })).rejects.toThrow(
      /tone/
    )
  })

  it("serves concurrent calls from several sessions", async () => {
    const clients = await Promise.all([1, 2, 3].map(() => connect(server.url)))
    const results = await Promise.all(
      clients.flatMap((c) => [1, 2, 3, 4, 5].map((id) => c.callTool({ name: "get_product", arguments: { id } })))
    )
    expect(results.map((r) => (r.structuredContent as { id: number }).id)).toEqual(
      [1, 2, 3].flatMap(() => [1, 2, 3, 4, 5])
    )
    await Promise.all(clients.map((c) => c.close()))
  })

  it("answers protocol misuse with JSON-RPC errors, never a 5xx", async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
        body
      })
    const notJson = await post("{nope")
    expect(notJson.status).toBe(400)
    expect(((await notJson.json()) as { error: { code: number } }).error.code).toBe(-32700)
    const noSession = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }))
    expect(noSession.status).toBe(400)
    const unknownSession = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), {
      "mcp-session-id": "does-not-exist"
    })
    expect(unknownSession.status).toBe(404)
    const unknownPath = await fetch(`${server.url}/nope`)
    expect(unknownPath.status).toBe(404)
  })

  it("answers every request shape on a live session as the Streamable HTTP spec says", async () => {
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" }
    const init = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers,
      body: initializeBody("raw", { id: 0 })
    })
    expect(init.status).toBe(200)
    const session = init.headers.get("mcp-session-id")!
    expect(session).toMatch(/.+/)
    await init.text()
    const post = (body: unknown, extra: Record<string, string> = {}, signal?: AbortSignal) =>
      fetch(`${server.url}/mcp`, {
        method: "POST",
        headers: { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18", ...extra },
        body: JSON.stringify(body),
        ...(signal === undefined ? {} : { signal })
      })
    expect((await post({ jsonrpc: "2.0", method: "notifications/initialized" })).status).toBe(202)

    // A single request: JSON answer with the session id.
    const one = await post({ jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "get_product", arguments: { id: 1 } } })
    expect(one.status).toBe(200)
    expect(one.headers.get("content-type")).toMatch(/^application\/json/)
    expect(one.headers.get("mcp-session-id")).toBe(session)
    const answer = (await one.json()) as { id: string; result: { structuredContent: { id: number } } }
    expect(answer.id).toBe("a")
    expect(answer.result.structuredContent.id).toBe(1)

    // A batch: one JSON array with both answers.
    const batch = await post([
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { jsonrpc: "2.0", id: 2, method: "prompts/list" }
    ])
    expect(batch.status).toBe(200)
    const answers = (await batch.json()) as Array<{ id: number; result: unknown }>
    expect(answers.map((a) => a.id).sort()).toEqual([1, 2])

    // Unknown method and bad params: JSON-RPC errors with the request's id.
    const unknown = (await (await post({ jsonrpc: "2.0", id: 3, method: "no/such" })).json()) as { id: number; error: { code: number } }
    expect(unknown).toMatchObject({ id: 3, error: { code: -32601 } })
    for (const [method, params] of [
      ["tools/call", { name: 5 }],
      ["tools/call", undefined],
      ["resources/read", { uri: ["x"] }],
      ["prompts/get", {}],
      ["tools/list", { cursor: 5 }],
      ["resources/list", { cursor: {} }],
      ["resources/templates/list", { cursor: [1] }],
      ["prompts/list", { cursor: false }]
    ] as const) {
      const badParams = await post({ jsonrpc: "2.0", id: 4, method, ...(params === undefined ? {} : { params }) })
      expect(badParams.status).toBe(200)
      const error = ((await badParams.json()) as { id: number; error: { code: number; message: string } })
      expect(error).toMatchObject({ id: 4, error: { code: -32602 } })
      expect(error.error.message).toContain(method)
    }

    // A request the SDK server would not take for one (`_meta` must be an object) is answered
    // at once like any invalid JSON-RPC message, never left waiting for an answer.
    const odd = await post({ jsonrpc: "2.0", id: 8, method: "ping", params: { _meta: 5 } }, {}, AbortSignal.timeout(5_000))
    expect(odd.status).toBe(400)
    expect(((await odd.json()) as { error: { code: number } }).error.code).toBe(-32700)

    // Header rules: unsupported protocol version 400, wrong Accept 406, wrong content type 415.
    expect((await post({ jsonrpc: "2.0", id: 5, method: "tools/list" }, { "mcp-protocol-version": "1999-01-01" })).status).toBe(400)
    expect((await post({ jsonrpc: "2.0", id: 6, method: "tools/list" }, { accept: "application/json" })).status).toBe(406)
    expect((await post({ jsonrpc: "2.0", id: 7, method: "tools/list" }, { "content-type": "text/plain" })).status).toBe(415)
    // Not JSON-RPC at all, and a second initialize on the session: 400.
    expect((await post({ hello: "world" })).status).toBe(400)
    expect(
      (await post(initializeMessage("raw", { id: 8 }))).status
    ).toBe(400)

    // Many concurrent calls on the one session each get their own answer.
    const ids = Array.from({ length: 20 }, (_, i) => i + 100)
    const results = await Promise.all(ids.map(async (id) => {
      const res = await post({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "get_product", arguments: { id: 1 + (id % 5) } } })
      return (await res.json()) as { id: number; result: { structuredContent: { id: number } } }
    }))
    expect(results.map((r) => r.id)).toEqual(ids)
    expect(results.map((r) => r.result.structuredContent.id)).toEqual(ids.map((id) => 1 + (id % 5)))

    const closed = await fetch(`${server.url}/mcp`, { method: "DELETE", headers: { "mcp-session-id": session } })
    expect(closed.status).toBe(200)
    expect((await post({ jsonrpc: "2.0", id: 9, method: "tools/list" })).status).toBe(404)
  })
})

describe("stateless mode and shutdown", () => {
  it("serves tools/call with --stateless and exits 0 on SIGTERM", async () => {
    const project = copyExample()
    const server = await startServer(project.dir, ["--stateless"])
    try {
      const client = await connect(server.url)
      const result = await client.callTool({ name: "get_product", arguments: { id: 1 } })
      expect(result.structuredContent).toMatchObject({ id: 1 })
      expect(client.transport?.sessionId).toBeUndefined()
      await client.close()
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0)
      project.cleanup()
    }
  })
})
