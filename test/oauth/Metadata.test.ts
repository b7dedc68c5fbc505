import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"

describe("metadata and base URL", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer()
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("H58 authorization server metadata: issuer = BASE, S256 only, accurate auth methods, iss parameter", async () => {
    const res = await fetch(`${auth.url}/.well-known/oauth-authorization-server`)
    expect(res.status).toBe(200)
    const m = (await res.json()) as Record<string, unknown>
    expect(m).toMatchObject({
      issuer: auth.url,
      authorization_endpoint: `${auth.url}/authorize`,
      token_endpoint: `${auth.url}/token`,
      registration_endpoint: `${auth.url}/register`,
      revocation_endpoint: `${auth.url}/revoke`,
      response_types_supported: ["code"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none", "client_secret_post", "client_secret_basic"],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: ["mxcp:access"]
    })
    expect(String(m["issuer"]).endsWith("/")).toBe(false)
  })

  it("protected resource metadata at both paths (RFC 9728)", async () => {
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const res = await fetch(`${auth.url}${path}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({
        resource: `${auth.url}/mcp`,
        authorization_servers: [auth.url],
        scopes_supported: ["mxcp:access"],
        bearer_methods_supported: ["header"]
      })
    }
  })

  it("H57 Host and X-Forwarded-* headers with trust_proxy off change nothing", async () => {
    const spoof = {
      host: "evil.example",
      "x-forwarded-host": "evil.example",
      "x-forwarded-proto": "https",
      "x-forwarded-scheme": "https",
      "x-forwarded-port": "443"
    }
    const m = (await (await fetch(`${auth.url}/.well-known/oauth-authorization-server`, { headers: spoof })).json()) as {
      issuer: string
    }
    expect(m.issuer).toBe(auth.url)
    const unauth = await fetch(`${auth.url}/mcp`, { method: "POST", headers: spoof })
    expect(unauth.headers.get("www-authenticate")).toContain(
      `resource_metadata="${auth.url}/.well-known/oauth-protected-resource/mcp"`
    )
  })

  it("H59 a non-loopback http base URL logs a loud https warning at startup", async () => {
    // The loopback default does not warn...
    expect(auth.server.stderr()).not.toMatch(/OAuth needs https/)
    // ...a public http base URL does, and the metadata uses it.
    const insecure = await startAuthServer({ transportYaml: "  http:\n    base_url: http://mcp.example.com" })
    try {
      for (let i = 0; i < 50 && !/OAuth needs https/.test(insecure.server.stderr()); i++) {
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(insecure.server.stderr()).toMatch(/WARNING: .*http:\/\/mcp\.example\.com.*OAuth needs https/)
      const m = (await (await fetch(`${insecure.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string }
      expect(m.issuer).toBe("http://mcp.example.com")
      expect(insecure.server.stderr()).toContain("register http://mcp.example.com/github/callback")
    } finally {
      await insecure.stop()
    }
  })
})
