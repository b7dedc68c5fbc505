/**
 * PostgreSQL going away under a running server (a real server process, a real cluster stopped
 * and started again): 503s in each endpoint's own format (RFC 6749 JSON for OAuth, JSON-RPC for
 * /mcp), never a 500, a hang or a crash; `/health` says unhealthy meanwhile (`?live` does not ask
 * the store); and once the database is back the same server serves the same tokens again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"
import { type AuthServer, CONFIG_CLIENT, startAuthServer } from "../support/OAuthHarness.js"
import { login, mcpStatus, refresh } from "../support/OAuthFlows.js"
import { postgresAuthYaml } from "../support/PgDeployment.js"
import { type PostgresCluster, startPostgres } from "../support/Postgres.js"
import { waitUntil } from "../support/ServerProcess.js"

let pg: PostgresCluster
let auth: AuthServer
beforeAll(async () => {
  pg = await startPostgres()
  auth = await startAuthServer({ authYaml: postgresAuthYaml(pg.url, "faults") })
}, 60_000)
afterAll(async () => {
  await auth?.stop()
  pg?.stop()
})

const timed = (url: string, init: RequestInit = {}) => fetch(url, { ...init, signal: AbortSignal.timeout(20_000) })
const json = async (res: Response): Promise<Record<string, unknown>> => JSON.parse(await res.text()) as Record<string, unknown>

describe("PostgreSQL down and back", () => {
  it("503 temporarily_unavailable (OAuth) and a JSON-RPC 503 (/mcp) while the database is down, never a 500; /health unhealthy; recovery with no restart", async () => {
    const tokens = await login(auth.url)
    expect((await mcpStatus(auth.url, tokens.access_token)).status).toBe(200)
    expect((await timed(`${auth.url}/health`)).status).toBe(200)

    pg.pause()
    try {
      const bearer = { ...MCP_HEADERS, authorization: `Bearer ${tokens.access_token}` }
      // A burst of every kind of request at once: each answers, in its own format.
      const rounds = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const mcp = await timed(`${auth.url}/mcp`, { method: "POST", headers: bearer, body: initializeBody("down") })
          const token = await refresh(auth.url, tokens.refresh_token)
          const register = await timed(`${auth.url}/register`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ redirect_uris: ["http://127.0.0.1:5555/cb"], token_endpoint_auth_method: "none" })
          })
          const authorize = await timed(
            `${auth.url}/authorize?${new URLSearchParams({
              response_type: "code",
              client_id: CONFIG_CLIENT.id,
              redirect_uri: CONFIG_CLIENT.redirectUri,
              code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
              code_challenge_method: "S256",
              state: "s"
            })}`,
            { redirect: "manual" }
          )
          return { mcp: { status: mcp.status, body: await json(mcp) }, token, register: { status: register.status, body: await json(register) }, authorize: authorize.status }
        })
      )
      for (const r of rounds) {
        expect(r.mcp.status).toBe(503)
        expect(r.mcp.body).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } })
        expect(r.token.status).toBe(503)
        expect(r.token.body["error"]).toBe("temporarily_unavailable")
        expect(r.register.status).toBe(503)
        expect(r.register.body["error"]).toBe("temporarily_unavailable")
        expect(r.authorize).not.toBe(500)
        expect([302, 303, 503]).toContain(r.authorize)
      }
      // /health shares one store ping per second between its callers: unhealthy within about a second.
      await waitUntil("/health reports the store down", async () => (await timed(`${auth.url}/health`)).status === 503, 10_000)
      const health = await timed(`${auth.url}/health`)
      expect(health.status).toBe(503)
      expect(await json(health)).toMatchObject({ status: "unavailable" })
      expect((await timed(`${auth.url}/health?ready`)).status).toBe(503)
      // Liveness never asks the store: a database outage restarts nothing.
      expect((await timed(`${auth.url}/health?live`)).status).toBe(200)
      expect(auth.server.proc.exitCode).toBeNull()
    } finally {
      pg.start()
    }

    // Back: the same process, the pool reconnects by itself, the same tokens work.
    await waitUntil("/health is ok again", async () => (await timed(`${auth.url}/health`)).status === 200, 20_000)
    expect((await mcpStatus(auth.url, tokens.access_token)).status).toBe(200)
    const rotated = await refresh(auth.url, tokens.refresh_token)
    expect(rotated.status).toBe(200)
    expect((await mcpStatus(auth.url, rotated.body["access_token"] as string)).status).toBe(200)
    expect(auth.server.stderr()).not.toMatch(/"status":500|status=500/)
  }, 90_000)
})
