import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AuthServer, Browser, CONFIG_CLIENT, startAuthServer, TestOAuthProvider } from "../support/OAuthHarness.js"

const challengeOf = async (verifier: string) => {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))
  return Buffer.from(digest).toString("base64url")
}

describe("OAuth end to end: real MCP SDK client, fake GitHub upstream, server process", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer({ fake: { user: { login: "octo", id: 4242, name: "Octo Cat", email: "octo@example.com" } } })
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("discovers from the 401, registers, consents, logs in upstream and calls whoami", async () => {
    const provider = new TestOAuthProvider()
    const mcpUrl = new URL(`${auth.url}/mcp`)
    const first = new Client({ name: "e2e", version: "1.0.0" })
    await expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))).rejects.toThrow(
      UnauthorizedError
    )
    // Dynamic registration happened, and the client was sent to /authorize.
    expect(provider.info?.client_id).toBeTruthy()
    expect(provider.authorizationUrl?.toString()).toContain(`${auth.url}/authorize`)

    const browser = new Browser()
    const back = await browser.follow(provider.authorizationUrl!.toString(), provider.redirect)
    expect(back.searchParams.get("iss")).toBe(auth.url)
    expect(back.searchParams.getAll("code")).toHaveLength(1)
    // The consent page came before the upstream login.
    const consentIndex = browser.visited.findIndex((u) => u.endsWith("/consent"))
    const upstreamIndex = browser.visited.findIndex((u) => u.startsWith(auth.fake.baseUrl))
    expect(consentIndex).toBeGreaterThan(-1)
    expect(upstreamIndex).toBeGreaterThan(consentIndex)

    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })
    await transport.finishAuth(back.searchParams.get("code")!)
    expect(provider.savedTokens?.token_type).toMatch(/bearer/i)
    expect(provider.savedTokens?.scope).toBe("mxcp:access")
    const client = new Client({ name: "e2e", version: "1.0.0" })
    await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))
    const who = await client.callTool({ name: "whoami", arguments: {} })
    expect(who.structuredContent).toEqual({
      username: "octo",
      email: "octo@example.com",
      provider: "github",
      has_external_token: true
    })
    // The upstream token never reached the client.
    const everything = JSON.stringify({ tokens: provider.savedTokens, info: provider.info, who })
    for (const upstream of auth.fake.issuedAccessTokens) expect(everything).not.toContain(upstream)
    await client.close()
    // The server logged who called, without the token.
    const logLine = auth.server.stderr().split("\n").find((l) => l.includes('message="POST /mcp 200"') && l.includes(" user=")) ?? ""
    expect(logLine).toContain("user=octo")
    expect(logLine).toContain("user_id=4242")
    expect(logLine).toContain("provider=github")
    expect(logLine).toContain("email=octo@example.com")
    expect(auth.server.stderr()).not.toContain(provider.savedTokens!.access_token)
  })

  it("a pre-registered confidential client skips consent (client_secret_basic and client_secret_post)", async () => {
    for (const method of ["basic", "post"] as const) {
      const verifier = `verifier-${method}-`.padEnd(64, "x")
      const params = new URLSearchParams({
        response_type: "code",
        client_id: CONFIG_CLIENT.id,
        redirect_uri: CONFIG_CLIENT.redirectUri,
        state: `st-${method}`,
        code_challenge: await challengeOf(verifier),
        code_challenge_method: "S256"
      })
      const browser = new Browser()
      const back = await browser.follow(`${auth.url}/authorize?${params}`, CONFIG_CLIENT.redirectUri)
      expect(browser.visited.some((u) => u.endsWith("/consent"))).toBe(false)
      expect(back.searchParams.get("state")).toBe(`st-${method}`)
      const form = new URLSearchParams({
        grant_type: "authorization_code",
        code: back.searchParams.get("code")!,
        redirect_uri: CONFIG_CLIENT.redirectUri,
        code_verifier: verifier
      })
      const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" }
      if (method === "basic") {
        headers["authorization"] = `Basic ${Buffer.from(`${CONFIG_CLIENT.id}:${CONFIG_CLIENT.secret}`).toString("base64")}`
      } else {
        form.set("client_id", CONFIG_CLIENT.id)
        form.set("client_secret", CONFIG_CLIENT.secret)
      }
      const res = await fetch(`${auth.url}/token`, { method: "POST", headers, body: form.toString() })
      expect(res.status).toBe(200)
      expect(res.headers.get("cache-control")).toBe("no-store")
      const body = (await res.json()) as { access_token: string; refresh_token?: string; expires_in: number }
      expect(body.expires_in).toBe(3600)
      expect(body.refresh_token).toBeTruthy()
      const client = new Client({ name: "cfg", version: "1.0.0" })
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${auth.url}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${body.access_token}` } }
        })
      )
      const who = await client.callTool({ name: "whoami", arguments: {} })
      expect((who.structuredContent as { provider: string }).provider).toBe("github")
      await client.close()
    }
  })
})
