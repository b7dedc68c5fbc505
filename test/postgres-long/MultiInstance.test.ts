/**
 * Three real server processes on one PostgreSQL schema behind a real nginx upstream (round robin
 * for every OAuth request; `/mcp` sticky per bearer token, as MCP sessions are per instance for now):
 * a full MCP SDK client flow where every OAuth request may land on another instance, a client
 * registered on one used on another, revocation on one refused by the others, instances racing
 * on one code and on one refresh token, rate limits counted for the whole deployment, kill -9 of
 * one instance mid-flow, and every instance restarted with the tokens still good.
 */
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type AuthServer, Browser, startAuthServer, TestOAuthProvider } from "../support/OAuthHarness.js"
import { login, loginCode, mcpStatus, redeem, refresh, registerClient, revoke } from "../support/OAuthFlows.js"
import { type Balancer, postgresAuthYaml, startBalancer } from "../support/PgDeployment.js"
import { postgresBinDir, type PostgresCluster, startPostgres } from "../support/Postgres.js"
import { freePort, type RunningServer } from "../support/ServerProcess.js"

const REVOKE_LIMIT = 8

let pg: PostgresCluster
let auth: AuthServer
let lb: Balancer
let instances: Array<string> = []
let peers: Array<RunningServer> = []
/** Every secret handed out by the flows below (tokens, codes, client secrets): none may be in the database as is. */
const handedOut: Array<string> = []

beforeAll(async () => {
  pg = await startPostgres()
  const lbPort = await freePort()
  auth = await startAuthServer({
    authYaml: postgresAuthYaml(pg.url, "multi", `          rate_limits:\n            revoke: ${REVOKE_LIMIT}\n`),
    transportYaml: `  http:\n    base_url: http://127.0.0.1:${lbPort}`
  })
  peers = await Promise.all([auth.startPeer(), auth.startPeer()])
  instances = [auth.url, ...peers.map((p) => p.url)]
  lb = await startBalancer(lbPort, instances)
}, 90_000)
afterAll(async () => {
  await lb?.stop()
  await auth?.stop()
  pg?.stop()
})

/** The upstream addresses nginx sent requests of `path` to. */
const upstreamsOf = (path: string): Set<string> =>
  new Set(
    lb.accessLog()
      .split("\n")
      .filter((l) => l.split(" ")[1] === path)
      .map((l) => l.split(" ")[3] ?? "")
  )

describe("three instances on one PostgreSQL behind nginx", () => {
  it("the MCP SDK client's whole flow (DCR, consent, upstream login, token, tools/call) through round robin; the token works on every instance", async () => {
    const provider = new TestOAuthProvider()
    const mcpUrl = new URL(`${lb.url}/mcp`)
    const first = new Client({ name: "multi", version: "1.0.0" })
    await expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))).rejects.toThrow(UnauthorizedError)
    const back = await new Browser().follow(provider.authorizationUrl!.toString(), provider.redirect)
    await new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }).finishAuth(back.searchParams.get("code")!)
    const client = new Client({ name: "multi", version: "1.0.0" })
    await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))
    const who = await client.callTool({ name: "whoami", arguments: {} })
    expect(who.structuredContent).toMatchObject({ provider: "github", has_external_token: true })
    await client.close()
    handedOut.push(provider.savedTokens!.access_token, provider.savedTokens!.refresh_token!, back.searchParams.get("code")!)
    // The OAuth requests were spread over the instances.
    const oauthUpstreams = new Set([...upstreamsOf("/authorize"), ...upstreamsOf("/consent"), ...upstreamsOf("/callback"), ...upstreamsOf("/token"), ...upstreamsOf("/register")])
    expect(oauthUpstreams.size).toBeGreaterThanOrEqual(2)
    for (const url of instances) expect((await mcpStatus(url, provider.savedTokens!.access_token)).status).toBe(200)
  }, 60_000)

  it("a client registered on one instance logs in through the balancer and redeems on another", async () => {
    const [a, , c] = instances as [string, string, string]
    const client = await registerClient(a, { token_endpoint_auth_method: "client_secret_basic" })
    expect(client.secret).toBeTruthy()
    // The browser stays on the public origin (its flow cookie is bound to it).
    const code = await loginCode(lb.url, { client })
    const reply = await redeem(c, code)
    expect(reply.status).toBe(200)
    handedOut.push(client.secret!, code.code, reply.body["access_token"] as string, reply.body["refresh_token"] as string)
    expect((await mcpStatus(a, reply.body["access_token"] as string)).status).toBe(200)
  }, 60_000)

  it("F a token revoked on one instance is refused by the others at once", async () => {
    const [a, b, c] = instances as [string, string, string]
    const tokens = await login(lb.url)
    for (const url of instances) expect((await mcpStatus(url, tokens.access_token)).status).toBe(200)
    expect((await revoke(a, tokens.access_token)).status).toBe(200)
    expect((await mcpStatus(b, tokens.access_token)).status).toBe(401)
    expect((await mcpStatus(c, tokens.access_token)).status).toBe(401)
    expect((await refresh(c, tokens.refresh_token)).status).toBe(200)
  }, 60_000)

  it("D30 three instances racing the same code, 8 rounds: exactly one 200 each time", async () => {
    for (let round = 0; round < 8; round++) {
      const code = await loginCode(lb.url)
      const replies = await Promise.all(instances.map((url) => redeem(url, code)))
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1)
      for (const r of replies.filter((r) => r.status !== 200)) {
        expect(r.status).toBe(400)
        expect(r.body["error"]).toBe("invalid_grant")
      }
    }
  }, 90_000)

  it("K8 three instances racing the same refresh token, 6 rounds: one rotation, every token handed out works, the grant stays", async () => {
    let current = (await login(lb.url)).refresh_token
    for (let round = 0; round < 6; round++) {
      const replies = await Promise.all(instances.map((url) => refresh(url, current)))
      const ok = replies.filter((r) => r.status === 200)
      expect(ok.length).toBeGreaterThanOrEqual(1)
      for (const r of replies) expect([200, 400]).toContain(r.status)
      // One rotation: every answer names the same successor.
      expect(new Set(ok.map((r) => r.body["refresh_token"])).size).toBe(1)
      for (const r of ok) {
        for (const url of instances) expect((await mcpStatus(url, r.body["access_token"] as string)).status).toBe(200)
      }
      current = ok[0]!.body["refresh_token"] as string
      handedOut.push(current, ok[0]!.body["access_token"] as string)
    }
  }, 90_000)

  it("rate limits are counted for the whole deployment, not per instance", async () => {
    // Round robin over three instances: per instance, 12 requests would be 4 each, under the limit.
    const statuses: Array<number> = []
    for (let i = 0; i < 12; i++) statuses.push((await revoke(lb.url, `not-a-token-${i}`)).status)
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(REVOKE_LIMIT)
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(12 - REVOKE_LIMIT)
    expect(upstreamsOf("/revoke").size).toBe(3)
  }, 60_000)

  it("G52 a pg_dump of the schema after these flows holds no token, code, client secret or upstream token in plaintext", () => {
    const bin = postgresBinDir()!
    const dump = execFileSync(join(bin, "pg_dump"), ["-h", "127.0.0.1", "-p", String(pg.port), "-U", "postgres", "-n", "multi", "-d", pg.database], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024
    })
    expect(dump).toContain("CREATE TABLE multi.grants")
    expect(dump).toContain("COPY multi.refresh_tokens")
    const secrets = [...handedOut, ...auth.fake.issuedAccessTokens]
    expect(secrets.length).toBeGreaterThan(20)
    for (const secret of secrets) expect(dump).not.toContain(secret)
    // The fake user's profile is there (not a secret), so the dump did hold the rows.
    expect(dump).toContain("octo")
  })

  it("kill -9 of one instance in the middle of a flow: the flow finishes on another; restarting every instance keeps the tokens", async () => {
    const code = await loginCode(lb.url)
    await peers[1]!.stop("SIGKILL")
    const reply = await redeem(lb.url, code)
    expect(reply.status).toBe(200)
    const token = reply.body["access_token"] as string
    expect((await mcpStatus(lb.url, token)).status).toBe(200)

    // Every instance stops; a new generation starts on the same database.
    await peers[0]!.stop()
    const restarted = await auth.restart()
    auth = restarted
    const peer = await restarted.startPeer()
    for (const url of [restarted.url, peer.url]) expect((await mcpStatus(url, token)).status).toBe(200)
    const rotated = await refresh(peer.url, reply.body["refresh_token"] as string)
    expect(rotated.status).toBe(200)
  }, 90_000)
})
