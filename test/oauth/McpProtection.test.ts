/**
 * Security checklist F45–F53: the bearer guard in front of /mcp, against the real HTTP server
 * on loopback (the server process, or the in-process server when time has to move).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { type AuthServer, CONFIG_CLIENT, startAuthServer } from "../support/OAuthHarness.js"
import { login, refresh, registerClient, revoke } from "../support/OAuthFlows.js"
import { callTool, initializeMessage, mcpClient, rawMcp } from "./RowHelpers.js"

const initialize = JSON.stringify(initializeMessage)

/** A raw initialize with `authorization` (or none). */
const initWith = (base: string, authorization?: string) =>
  rawMcp(base, { body: initialize, headers: authorization === undefined ? {} : { authorization } })

const bearer = (token: string) => `Bearer ${token}`

const challengeOf = (res: { headers: Headers }) => res.headers.get("www-authenticate") ?? ""

const expectInvalidToken = (base: string, res: { status: number; headers: Headers }) => {
  expect(res.status).toBe(401)
  const challenge = challengeOf(res)
  expect(challenge).toMatch(/^Bearer /)
  expect(challenge).toContain('error="invalid_token"')
  expect(challenge).toContain(`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`)
}

describe("F rows: /mcp protection (server process)", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer()
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("F45 no token: 401 with resource_metadata at the exact BASE, for POST, GET and DELETE", async () => {
    const metadataUrl = `${auth.url}/.well-known/oauth-protected-resource/mcp`
    for (const method of ["POST", "GET", "DELETE"] as const) {
      const res = await rawMcp(auth.url, { method, ...(method === "POST" ? { body: initialize } : {}) })
      expect(res.status, method).toBe(401)
      const challenge = challengeOf(res)
      expect(challenge, method).toMatch(/^Bearer /)
      expect(challenge, method).toContain(`resource_metadata="${metadataUrl}"`)
      // No token was sent, so there is no token to call invalid.
      expect(challenge, method).not.toContain("invalid_token")
    }
    // The advertised metadata exists and names this server.
    const prm = (await (await fetch(metadataUrl)).json()) as { resource: string; authorization_servers: Array<string> }
    expect(prm.resource).toBe(`${auth.url}/mcp`)
    expect(prm.authorization_servers).toEqual([auth.url])
  })

  it("F48 the upstream provider's access token used as Bearer: 401 invalid_token", async () => {
    const ours = await login(auth.url)
    expect((await initWith(auth.url, bearer(ours.access_token))).status).toBe(200)
    const upstream = auth.fake.issuedAccessTokens
    expect(upstream.length).toBeGreaterThan(0)
    for (const token of upstream) expectInvalidToken(auth.url, await initWith(auth.url, bearer(token)))
  })

  it("F49 a token minted by another server instance: 401 invalid_token", async () => {
    const other = await startAuthServer()
    try {
      const foreign = await login(other.url)
      // Valid where it was issued...
      expect((await initWith(other.url, bearer(foreign.access_token))).status).toBe(200)
      // ...and worthless here.
      expectInvalidToken(auth.url, await initWith(auth.url, bearer(foreign.access_token)))
    } finally {
      await other.stop()
    }
  }, 90_000)

  it("F50 a token in the query string or the form body is ignored: 401", async () => {
    const { access_token } = await login(auth.url)
    expect((await initWith(auth.url, bearer(access_token))).status).toBe(200)
    const q = `/mcp?access_token=${encodeURIComponent(access_token)}`
    const inQuery = await rawMcp(auth.url, { path: q, body: initialize })
    expect(inQuery.status).toBe(401)
    const getInQuery = await rawMcp(auth.url, { path: q, method: "GET" })
    expect(getInQuery.status).toBe(401)
    const inForm = await rawMcp(auth.url, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ access_token }).toString()
    })
    expect(inForm.status).toBe(401)
    for (const res of [inQuery, getInQuery, inForm]) {
      expect(challengeOf(res)).toContain(`resource_metadata="${auth.url}/.well-known/oauth-protected-resource/mcp"`)
    }
  })

  it("F51 /revoke: access and refresh tokens end; another client's revoke has no effect; garbage is 200", async () => {
    // Revoking the access token: /mcp refuses it.
    const first = await login(auth.url)
    expect((await initWith(auth.url, bearer(first.access_token))).status).toBe(200)
    const revokedAccess = await revoke(auth.url, first.access_token)
    expect(revokedAccess.status).toBe(200)
    expectInvalidToken(auth.url, await initWith(auth.url, bearer(first.access_token)))

    // Revoking the refresh token: refreshing fails with invalid_grant, and the grant's access
    // tokens stop working too.
    const second = await login(auth.url)
    expect(second.refresh_token).toBeTruthy()
    expect((await revoke(auth.url, second.refresh_token)).status).toBe(200)
    const refreshed = await refresh(auth.url, second.refresh_token)
    expect(refreshed.status).toBe(400)
    expect(refreshed.body["error"]).toBe("invalid_grant")
    expectInvalidToken(auth.url, await initWith(auth.url, bearer(second.access_token)))

    // Another client (a public DCR client) revoking the config client's tokens: 200, no effect.
    const intruder = await registerClient(auth.url, { client_name: "Intruder" })
    expect(intruder.secret).toBeUndefined()
    const third = await login(auth.url)
    for (const token of [third.access_token, third.refresh_token]) {
      expect((await revoke(auth.url, token, { client: intruder })).status).toBe(200)
    }
    expect((await initWith(auth.url, bearer(third.access_token))).status).toBe(200)
    const stillRefreshes = await refresh(auth.url, third.refresh_token)
    expect(stillRefreshes.status).toBe(200)

    // Garbage, empty-looking and unknown tokens: 200, nothing else changes.
    for (const token of ["garbage", "x".repeat(43), "%%%", "a".repeat(5000)]) {
      expect((await revoke(auth.url, token)).status).toBe(200)
    }
    const fresh = stillRefreshes.body["access_token"] as string
    expect((await initWith(auth.url, bearer(fresh))).status).toBe(200)
  })

  it("F53 an MCP session created by user A, presented with user B's token: rejected, no data", async () => {
    auth.fake.setUser({ login: "alice", id: 1, name: "Alice", email: "alice@example.com" })
    const alice = await login(auth.url)
    auth.fake.setUser({ login: "bob", id: 2, name: "Bob", email: "bob@example.com" })
    const bob = await login(auth.url)

    const a = await mcpClient(auth.url, alice.access_token)
    try {
      const sessionId = a.transport.sessionId
      expect(sessionId).toBeTruthy()
      expect((await callTool(a.client, "whoami")).structured?.["username"]).toBe("alice")

      const sessionHeaders = {
        authorization: bearer(bob.access_token),
        "mcp-session-id": sessionId!,
        "mcp-protocol-version": "2025-06-18"
      }
      const call = await rawMcp(auth.url, {
        headers: sessionHeaders,
        body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "whoami", arguments: {} } })
      })
      expect(call.status).toBe(404)
      expect(call.text).not.toContain("alice")
      expect(call.text).not.toContain("result")
      const list = await rawMcp(auth.url, {
        headers: sessionHeaders,
        body: JSON.stringify({ jsonrpc: "2.0", id: 8, method: "tools/list" })
      })
      expect(list.status).toBe(404)
      expect(list.text).not.toContain("whoami")
      // GET (the server-to-client stream) and DELETE (ending the session) are refused too.
      const get = await rawMcp(auth.url, { method: "GET", headers: sessionHeaders })
      expect(get.status).toBe(404)
      const del = await rawMcp(auth.url, { method: "DELETE", headers: sessionHeaders })
      expect(del.status).toBe(404)
      // No token at all on A's session: 401.
      const anonymous = await rawMcp(auth.url, {
        headers: { "mcp-session-id": sessionId!, "mcp-protocol-version": "2025-06-18" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" })
      })
      expect(anonymous.status).toBe(401)

      // A's session survived B's DELETE and still answers A, as A.
      expect((await callTool(a.client, "whoami")).structured?.["username"]).toBe("alice")
      // B in its own session is B.
      const b = await mcpClient(auth.url, bob.access_token)
      expect((await callTool(b.client, "whoami")).structured?.["username"]).toBe("bob")
      expect(b.transport.sessionId).not.toBe(sessionId)
      await b.client.close()
    } finally {
      await a.client.close()
    }
  })
})

describe("F rows: /mcp protection (in-process server, TestClock)", () => {
  it.scoped("F46 malformed, expired and revoked tokens: 401 invalid_token", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const malformed = [
        "Bearer",
        "Bearer abc",
        "Bearer a b",
        `Bearer ${"A".repeat(43)}`,
        `Bearer ${"A".repeat(42)}!`,
        "Bearer \u00e9\u00e9\u00e9",
        `Basic ${Buffer.from("x:y").toString("base64")}`,
        "Token abc",
        "bearer",
        `Bearer ${"z".repeat(10_000)}`
      ]
      for (const value of malformed) {
        const res = yield* Effect.promise(() => initWith(url, value))
        expectInvalidToken(url, res)
      }

      // Expired: valid just before access_token_ttl (3600 s), invalid after it.
      const expiring = yield* Effect.promise(() => login(url))
      expect((yield* Effect.promise(() => initWith(url, bearer(expiring.access_token)))).status).toBe(200)
      yield* TestClock.adjust("3599 seconds")
      expect((yield* Effect.promise(() => initWith(url, bearer(expiring.access_token)))).status).toBe(200)
      yield* TestClock.adjust("2 seconds")
      expectInvalidToken(url, yield* Effect.promise(() => initWith(url, bearer(expiring.access_token))))

      // Revoked.
      const revoked = yield* Effect.promise(() => login(url))
      expect((yield* Effect.promise(() => initWith(url, bearer(revoked.access_token)))).status).toBe(200)
      expect((yield* Effect.promise(() => revoke(url, revoked.access_token))).status).toBe(200)
      expectInvalidToken(url, yield* Effect.promise(() => initWith(url, bearer(revoked.access_token))))
    }))

  it.scoped("F47 a missing required scope: 403 insufficient_scope with scope=; holding all of them: 200", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, {
        auth: {
          clients: [
            {
              client_id: CONFIG_CLIENT.id,
              client_secret: CONFIG_CLIENT.secret,
              name: "Config Client",
              redirect_uris: [CONFIG_CLIENT.redirectUri],
              grant_types: ["authorization_code", "refresh_token"],
              scopes: ["mxcp:access", "mxcp:admin"]
            }
          ],
          authorization: { required_scopes: ["mxcp:access", "mxcp:admin"] }
        }
      })
      const narrow = yield* Effect.promise(() => login(url, { scope: "mxcp:access" }))
      expect(narrow.scope).toBe("mxcp:access")
      for (const method of ["POST", "GET", "DELETE"] as const) {
        const res = yield* Effect.promise(() =>
          rawMcp(url, {
            method,
            headers: { authorization: bearer(narrow.access_token) },
            ...(method === "POST" ? { body: initialize } : {})
          })
        )
        expect(res.status, method).toBe(403)
        const challenge = challengeOf(res)
        expect(challenge, method).toMatch(/^Bearer /)
        expect(challenge, method).toContain('error="insufficient_scope"')
        expect(challenge, method).toContain('scope="mxcp:access mxcp:admin"')
        expect(challenge, method).toContain(`resource_metadata="${url}/.well-known/oauth-protected-resource/mcp"`)
      }

      const full = yield* Effect.promise(() => login(url))
      expect(full.scope.split(" ").sort()).toEqual(["mxcp:access", "mxcp:admin"])
      expect((yield* Effect.promise(() => initWith(url, bearer(full.access_token)))).status).toBe(200)
      const who = yield* Effect.promise(async () => {
        const { client } = await mcpClient(url, full.access_token)
        try {
          return await callTool(client, "whoami")
        } finally {
          await client.close()
        }
      })
      expect(who.structured?.["provider"]).toBe("github")
    }))
})
