import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { MODERN_VERSION, modernClient, modernTransport } from "../support/ModernClient.js"
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio"
import { copyExample, mainJs } from "../support/Project.js"
import { isolatedEnv } from "../support/ServerProcess.js"
import { type RunningServer, startServer } from "../support/ServerProcess.js"

const META = {
  "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
  "io.modelcontextprotocol/clientCapabilities": {}
}

/** One raw 2026-07-28 request: the standard headers from the body unless `headers` overrides them. */
const post = async (url: string, method: string, params: Record<string, unknown>, headers: Record<string, string> = {}, id: number | string = 1) => {
  const name = typeof params["name"] === "string" ? params["name"] : typeof params["uri"] === "string" ? params["uri"] : undefined
  const res = await fetch(`${url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_VERSION,
      "mcp-method": method,
      ...(name === undefined ? {} : { "mcp-name": name }),
      ...headers
    },
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: META } })
  })
  return { status: res.status, body: (await res.json()) as { id: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } } }
}

describe("2026-07-28 beside 2025-11-25 on /mcp (server process, auth off, no extra flag)", () => {
  let project: ReturnType<typeof copyExample>
  let server: RunningServer
  beforeAll(async () => {
    project = copyExample()
    server = await startServer(project.dir)
  })
  afterAll(async () => {
    await server?.stop()
    project?.cleanup()
  })

  it("JSON-RPC error messages carry no 'MCP error -326xx:' prefix, in either era (the 2025 session and 2026-07-28)", async () => {
    // 2026-07-28, stateless
    const modern = await post(server.url, "tools/call", { name: "no_such_tool", arguments: {} })
    expect(modern.body.error?.code).toBe(-32602)
    expect(modern.body.error?.message).toBe("Unknown tool: no_such_tool")
    // 2025-11-25, on a session
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" }
    const init = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } })
    })
    const session = init.headers.get("mcp-session-id")!
    await init.text()
    const onSession = { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" }
    await (await fetch(`${server.url}/mcp`, { method: "POST", headers: onSession, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })).text()
    const res = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: onSession,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "no_such_tool", arguments: {} } })
    })
    const text = await res.text()
    const json = JSON.parse(text.startsWith("{") ? text : text.split("\n").find((l) => l.startsWith("data: "))!.slice(6)) as {
      error?: { code: number; message: string }
    }
    expect(json.error?.code).toBe(-32602)
    expect(json.error?.message).toBe("Unknown tool: no_such_tool")
    expect(text).not.toContain("MCP error")
  })

  it("I15 the SDK v2 client pinned to 2026-07-28 lists and calls tools (same answers as a 2025 session) and gets a prompt", async () => {
    const client = modernClient()
    await client.connect(modernTransport(new URL(`${server.url}/mcp`)))
    expect(client.getProtocolEra()).toBe("modern")
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name)).toContain("list_products")
    const call = await client.callTool({ name: "count_products", arguments: {} })
    expect(call.isError).toBeFalsy()
    const legacy = new LegacyClient({ name: "old", version: "1" })
    await legacy.connect(new LegacyTransport(new URL(`${server.url}/mcp`)))
    const legacyCall = await legacy.callTool({ name: "count_products", arguments: {} })
    // Same tool, same answer, either era.
    expect(call.content).toEqual(legacyCall.content)
    const { resources, resourceTemplates } = { ...(await client.listResources()), ...(await client.listResourceTemplates()) }
    expect(resources.length + resourceTemplates.length).toBeGreaterThan(0)
    const { prompts } = await client.listPrompts()
    expect(prompts.length).toBeGreaterThan(0)
    const prompt = await client.getPrompt({ name: prompts[0]!.name, arguments: Object.fromEntries((prompts[0]!.arguments ?? []).filter((a) => a.required).map((a) => [a.name, "x"])) })
    expect(prompt.messages.length).toBeGreaterThan(0)
    await legacy.close()
    await client.close()
  })

  it("I15 server/discover, resultType and caching hints on list results", async () => {
    const discover = await post(server.url, "server/discover", {})
    expect(discover.status).toBe(200)
    expect(discover.body.result?.["supportedVersions"]).toContain(MODERN_VERSION)
    expect(discover.body.result?.["resultType"]).toBe("complete")
    const list = await post(server.url, "tools/list", {})
    expect(list.body.result?.["resultType"]).toBe("complete")
    expect(list.body.result?.["ttlMs"]).toBe(60_000)
    expect(list.body.result?.["cacheScope"]).toBe("private")
  })

  it("I15 methods the era removed are 404 with -32601 and the request's id", async () => {
    for (const method of ["initialize", "logging/setLevel", "no/such"]) {
      const res = await post(server.url, method, {}, {}, `id-${method}`)
      expect(res.status).toBe(404)
      expect(res.body.error?.code).toBe(-32601)
      expect(res.body.id).toBe(`id-${method}`)
    }
  })

  it("I15 a header that disagrees with the body is a -32020 family error carrying the id", async () => {
    const res = await post(server.url, "tools/list", {}, { "mcp-method": "prompts/list" }, 77)
    expect(res.status).toBe(400)
    expect(res.body.error?.code).toBeLessThanOrEqual(-32020)
    expect(res.body.error?.code).toBeGreaterThan(-32030)
    expect(res.body.id).toBe(77)
    const name = await post(server.url, "tools/call", { name: "count_products", arguments: {} }, { "mcp-name": "list_products" }, 78)
    expect(name.status).toBe(400)
    expect(name.body.id).toBe(78)
  })

  it("I15 an unknown resource is -32602 with data.uri, in both eras", async () => {
    const res = await post(server.url, "resources/read", { uri: "nope://missing" })
    expect(res.body.error?.code).toBe(-32602)
    expect(res.body.error?.data?.["uri"]).toBe("nope://missing")
    const legacy = new LegacyClient({ name: "old", version: "1" })
    await legacy.connect(new LegacyTransport(new URL(`${server.url}/mcp`)))
    await expect(legacy.readResource({ uri: "nope://missing" })).rejects.toMatchObject({ code: -32602, data: { uri: "nope://missing" } })
    await legacy.close()
  })
})

describe("2026-07-28 on stdio (spawned node dist/main.js serve --transport stdio)", () => {
  it("I15 the SDK v2 client pinned to 2026-07-28 lists and calls tools over stdio", async () => {
    const project = copyExample()
    const client = modernClient()
    try {
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [mainJs, "serve", "--transport", "stdio"],
          cwd: project.dir,
          env: isolatedEnv({}) as Record<string, string>,
          stderr: "ignore"
        })
      )
      expect(client.getProtocolEra()).toBe("modern")
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name)).toContain("count_products")
      const call = await client.callTool({ name: "count_products", arguments: {} })
      expect(call.isError).toBeFalsy()
    } finally {
      await client.close()
      project.cleanup()
    }
  }, 30_000)
})
