/**
 * Security checklist K5: one principal cannot use up the MCP session cap of everyone. Each user
 * (with auth off: each client address) holds at most `transport.http.max_sessions_per_user`
 * sessions; an initialize beyond it closes that principal's least recently used idle session,
 * and other principals are unaffected. Real server processes on loopback, raw MCP requests.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"
import { login } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"
import { copyExample } from "../support/Project.js"
import { rawRequest } from "../support/RawHttp.js"
import { type RunningServer, startServer } from "../support/ServerProcess.js"

const CAP = 3

interface Caller {
  readonly headers: Record<string, string>
  readonly localAddress?: string
}

const open = async (url: string, caller: Caller): Promise<string> => {
  const res = await rawRequest(`${url}/mcp`, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...caller.headers },
    body: initializeBody("k5"),
    ...(caller.localAddress === undefined ? {} : { localAddress: caller.localAddress })
  })
  const id = res.headers["mcp-session-id"]
  if (res.status !== 200 || typeof id !== "string") throw new Error(`initialize failed: ${res.status} ${res.text}`)
  return id
}

/** A ping on the session: 200 while it lives, 404 once it was closed. */
const use = async (url: string, caller: Caller, session: string): Promise<number> => {
  const res = await rawRequest(`${url}/mcp`, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...caller.headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "ping" }),
    ...(caller.localAddress === undefined ? {} : { localAddress: caller.localAddress })
  })
  if (res.status === 404) expect(res.json).toMatchObject({ jsonrpc: "2.0", error: { code: -32001 } })
  return res.status
}

/** Keeps "least recently used" unambiguous: the server's clock moves between two steps. */
const tick = () => new Promise((r) => setTimeout(r, 15))

describe("K5 MCP sessions per principal (auth on, server process)", () => {
  let auth: AuthServer
  let alice: Caller
  let bob: Caller

  beforeAll(async () => {
    auth = await startAuthServer({ transportYaml: `  http:\n    max_sessions_per_user: ${CAP}` })
    auth.fake.setUser({ login: "alice", id: 501, name: "Alice", email: "alice@example.com" })
    alice = { headers: { authorization: `Bearer ${(await login(auth.url)).access_token}` } }
    auth.fake.setUser({ login: "bob", id: 502, name: "Bob", email: "bob@example.com" })
    bob = { headers: { authorization: `Bearer ${(await login(auth.url)).access_token}` } }
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("K5 a user opening more sessions than the cap loses their oldest ones; another user still initializes", async () => {
    const sessions: Array<string> = []
    for (let i = 0; i < CAP + 2; i++) {
      sessions.push(await open(auth.url, alice))
      await tick()
    }
    // The two oldest were closed to make room; the newest CAP still work.
    expect(await use(auth.url, alice, sessions[0]!)).toBe(404)
    expect(await use(auth.url, alice, sessions[1]!)).toBe(404)
    for (const s of sessions.slice(2)) expect(await use(auth.url, alice, s)).toBe(200)
    // Bob is not affected by Alice's count.
    const b = await open(auth.url, bob)
    expect(await use(auth.url, bob, b)).toBe(200)
    for (const s of sessions.slice(2)) expect(await use(auth.url, alice, s)).toBe(200)
  })

  it("K5 the session closed to make room is the least recently used one, not the oldest created", async () => {
    const [first, second, third] = [await open(auth.url, bob), await open(auth.url, bob), await open(auth.url, bob)]
    // Bob's session from the previous test makes four: it was used long ago and goes first.
    await tick()
    expect(await use(auth.url, bob, first!)).toBe(200)
    await tick()
    const fourth = await open(auth.url, bob)
    expect(await use(auth.url, bob, second!)).toBe(404)
    for (const s of [first!, third!, fourth]) expect(await use(auth.url, bob, s)).toBe(200)
  })
})

describe("K5 MCP sessions per client address (auth none, server process)", () => {
  let project: ReturnType<typeof copyExample>
  let server: RunningServer

  beforeAll(async () => {
    project = copyExample()
    const config = join(project.dir, "user-config.yml")
    writeFileSync(config, `mxcp: 1\ntransport:\n  http:\n    max_sessions_per_user: 2\n`)
    server = await startServer(project.dir, ["--config", config])
  })
  afterAll(async () => {
    await server?.stop()
    project?.cleanup()
  })

  it("K5 with auth off the cap is per client address: one address at its cap does not lock out another", async () => {
    const here: Caller = { headers: {} }
    const other: Caller = { headers: {}, localAddress: "127.0.0.2" }
    const mine: Array<string> = []
    for (let i = 0; i < 3; i++) {
      mine.push(await open(server.url, here))
      await tick()
    }
    expect(await use(server.url, here, mine[0]!)).toBe(404)
    expect(await use(server.url, here, mine[1]!)).toBe(200)
    expect(await use(server.url, here, mine[2]!)).toBe(200)
    const theirs = [await open(server.url, other), await open(server.url, other)]
    for (const s of theirs) expect(await use(server.url, other, s)).toBe(200)
    // The other address's sessions did not push out this one's.
    expect(await use(server.url, here, mine[1]!)).toBe(200)
    expect(await use(server.url, here, mine[2]!)).toBe(200)
  })
})
