import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { scopesSupported } from "../../src/domain/oauth/Scopes.js"
import { MODERN_VERSION } from "../support/ModernClient.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"

const register = (auth: AuthServer, body: Record<string, unknown>) =>
  fetch(`${auth.url}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

const mcpPost = (auth: AuthServer, headers: Record<string, string> = {}) =>
  fetch(`${auth.url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_VERSION,
      "mcp-method": "tools/list",
      ...headers
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/list",
      params: { _meta: { "io.modelcontextprotocol/protocolVersion": MODERN_VERSION, "io.modelcontextprotocol/clientCapabilities": {} } }
    })
  })

describe("2026-07-28 authorization rules (server process)", () => {
  let auth: AuthServer
  let closed: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer({ authYaml: "          authorization:\n            required_scopes: [mxcp:extra]\n" })
    closed = await startAuthServer({ authYaml: "          registration:\n            enabled: false\n" })
  }, 60_000)
  afterAll(async () => {
    await auth?.stop()
    await closed?.stop()
  })

  it("I15 401 challenges carry scope= beside resource_metadata, with no token and with an invalid one", async () => {
    for (const headers of [{}, { authorization: "Bearer not-a-token" }]) {
      const res = await mcpPost(auth, headers)
      expect(res.status).toBe(401)
      const challenge = res.headers.get("www-authenticate") ?? ""
      expect(challenge).toContain(`resource_metadata="${auth.url}/.well-known/oauth-protected-resource/mcp"`)
      expect(challenge).toContain('scope="mxcp:access mxcp:extra"')
      expect(challenge).not.toContain("offline_access")
    }
  })

  it("I15 offline_access is never advertised in scopes_supported", () => {
    expect(scopesSupported(["offline_access"], [["mxcp:access", "offline_access", "files:read"]])).toEqual(["mxcp:access", "files:read"])
  })

  it("I15 DCR application_type: native may use loopback and custom schemes, web only https on a real host; echoed; anything else 400", async () => {
    const native = await register(auth, {
      application_type: "native",
      redirect_uris: ["http://127.0.0.1:5555/cb", "com.example.app:/callback"],
      token_endpoint_auth_method: "none"
    })
    expect(native.status).toBe(201)
    expect(((await native.json()) as { application_type?: string }).application_type).toBe("native")
    const web = await register(auth, { application_type: "web", redirect_uris: ["https://app.example.com/cb"], token_endpoint_auth_method: "none" })
    expect(web.status).toBe(201)
    expect(((await web.json()) as { application_type?: string }).application_type).toBe("web")
    for (const uri of ["http://127.0.0.1:5555/cb", "https://localhost/cb", "com.example.app:/callback"]) {
      const res = await register(auth, { application_type: "web", redirect_uris: [uri], token_endpoint_auth_method: "none" })
      expect(res.status, uri).toBe(400)
      const body = (await res.json()) as { error: string; error_description: string }
      expect(body.error).toBe("invalid_redirect_uri")
      expect(body.error_description).toContain("application_type web")
    }
    const bad = await register(auth, { application_type: "desktop", redirect_uris: ["http://127.0.0.1:5555/cb"] })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: string }).error).toBe("invalid_client_metadata")
    // Without application_type (every 2025 client), nothing changes.
    expect((await register(auth, { redirect_uris: ["http://127.0.0.1:5555/cb"], token_endpoint_auth_method: "none" })).status).toBe(201)
  })

  it("I15 auth.registration.enabled: false turns /register off (404, JSON error) and out of the metadata", async () => {
    const res = await register(closed, { redirect_uris: ["http://127.0.0.1:5555/cb"], token_endpoint_auth_method: "none" })
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: string }).error).toBe("invalid_request")
    const meta = (await (await fetch(`${closed.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
    expect(meta["registration_endpoint"]).toBeUndefined()
    expect(meta["client_id_metadata_document_supported"]).toBe(true)
    const open = (await (await fetch(`${auth.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
    expect(open["registration_endpoint"]).toBe(`${auth.url}/register`)
  })
})
