import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { UnauthorizedError as LegacyUnauthorized } from "@modelcontextprotocol/sdk/client/auth.js"
import { UnauthorizedError } from "@modelcontextprotocol/client"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AuthServer, Browser, startAuthServer, TestOAuthProvider } from "../support/OAuthHarness.js"
import { MODERN_VERSION, ModernOAuthProvider, modernClient, modernTransport } from "../support/ModernClient.js"

const WHOAMI = { username: "octo", email: "octo@example.com", provider: "github", has_external_token: true }

describe("both protocol eras on one /mcp (server process, OAuth on, real SDK clients of both eras)", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer({ fake: { user: { login: "octo", id: 4242, name: "Octo Cat", email: "octo@example.com" } } })
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("I15 a 2025-11-25 client (SDK 1.x, sessions) discovers, logs in and calls whoami", async () => {
    const provider = new TestOAuthProvider()
    const mcpUrl = new URL(`${auth.url}/mcp`)
    await expect(new LegacyClient({ name: "old", version: "1" }).connect(new LegacyTransport(mcpUrl, { authProvider: provider })))
      .rejects.toThrow(LegacyUnauthorized)
    const back = await new Browser().follow(provider.authorizationUrl!.toString(), provider.redirect)
    await new LegacyTransport(mcpUrl, { authProvider: provider }).finishAuth(back.searchParams.get("code")!)
    const client = new LegacyClient({ name: "old", version: "1" })
    const transport = new LegacyTransport(mcpUrl, { authProvider: provider })
    await client.connect(transport)
    expect(client.getServerVersion()?.name).toBe("mxcp-ts")
    expect(transport.sessionId).toBeTruthy()
    const who = await client.callTool({ name: "whoami", arguments: {} })
    expect(who.structuredContent).toEqual(WHOAMI)
    await client.close()
  })

  it("I15 a 2026-07-28 client (SDK v2, stateless) discovers, logs in and calls whoami on the same server", async () => {
    const provider = new ModernOAuthProvider()
    const mcpUrl = new URL(`${auth.url}/mcp`)
    await expect(modernClient().connect(modernTransport(mcpUrl, { authProvider: provider }))).rejects.toThrow(UnauthorizedError)
    expect(provider.info?.client_id).toBeTruthy()
    const back = await new Browser().follow(provider.authorizationUrl!.toString(), provider.redirect)
    expect(back.searchParams.get("iss")).toBe(auth.url)
    await modernTransport(mcpUrl, { authProvider: provider }).finishAuth(back.searchParams)
    expect(provider.savedTokens?.scope).toBe("mxcp:access")

    const client = modernClient()
    const transport = modernTransport(mcpUrl, { authProvider: provider })
    await client.connect(transport)
    expect(client.getProtocolEra()).toBe("modern")
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN_VERSION)
    expect(transport.sessionId).toBeUndefined()
    const tools = await client.listTools()
    expect(tools.tools.map((t) => t.name)).toContain("whoami")
    const who = await client.callTool({ name: "whoami", arguments: {} })
    expect(who.structuredContent).toEqual(WHOAMI)
    const resources = await client.listResources()
    expect(Array.isArray(resources.resources)).toBe(true)
    const prompts = await client.listPrompts()
    expect(Array.isArray(prompts.prompts)).toBe(true)
    await client.close()
  })

  it("I15 a 2026-07-28 request without a token gets the 401 challenge with resource_metadata", async () => {
    const noToken = await fetch(`${auth.url}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": MODERN_VERSION, "mcp-method": "server/discover" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "server/discover", params: { _meta: { "io.modelcontextprotocol/protocolVersion": MODERN_VERSION } } })
    })
    expect(noToken.status).toBe(401)
    expect(noToken.headers.get("www-authenticate")).toContain("resource_metadata=")
  })
})
