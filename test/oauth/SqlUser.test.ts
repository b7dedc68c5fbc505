/**
 * Security checklist J61–J66: the user's identity and upstream token inside DuckDB SQL, through
 * the real HTTP server on loopback (the server process, or the in-process server with TestClock).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { login, mcpStatus } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer, writeProjectFiles } from "../support/OAuthHarness.js"
import { copyExample } from "../support/Project.js"
import { startServer } from "../support/ServerProcess.js"
import { callTool, initializeMessage, mcpClient, rawMcp, sqlRows } from "./RowHelpers.js"

const tool = (name: string, sql: string, returns = "object") => `mxcp: 1
tool:
  name: ${name}
  description: Test-only tool.
  return:
    type: ${returns}
  source:
    code: ${JSON.stringify(sql)}
`

/** Endpoint files written by the "project owner" for these tests. */
const FILES = {
  "tools/my_token.yml": tool("my_token", "SELECT get_user_external_token() AS t"),
  "tools/me.yml": tool(
    "me",
    `SELECT get_username() AS username, get_user_email() AS email, get_user_provider() AS provider,
       get_user_external_token() AS token, (SELECT count(*) FROM range(20000)) AS n`
  ),
  "tools/token_as_int.yml": tool("token_as_int", "SELECT CAST(get_user_external_token() AS INTEGER) AS n"),
  "tools/token_as_file.yml": tool("token_as_file", "SELECT * FROM read_csv(get_user_external_token())", "array"),
  "tools/token_as_json.yml": tool("token_as_json", "SELECT json_extract(get_user_external_token(), '$.x') AS j"),
  "resources/token_resource.yml": `mxcp: 1
resource:
  uri: secret://{id}
  name: token_resource
  description: Test-only resource whose SQL fails with the token in the message.
  mime_type: application/json
  parameters:
    - name: id
      type: integer
      description: Anything
  return:
    type: object
  source:
    code: SELECT CAST(get_user_external_token() || $id::VARCHAR AS INTEGER) AS n
`
}

const ALL_FOUR = `SELECT get_username() AS username, get_user_email() AS email,
  get_user_provider() AS provider, get_user_external_token() AS token`

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** Run `f` with a connected SDK client for `token`, closing it afterwards. */
const withClient = <A>(url: string, token: string | undefined, f: (c: Awaited<ReturnType<typeof mcpClient>>) => Promise<A>) =>
  promise(async () => {
    const c = await mcpClient(url, token)
    try {
      return await f(c)
    } finally {
      await c.client.close()
    }
  })

describe("J rows: SQL user functions (in-process server)", () => {
  it.scoped("J61 execute_sql_query gets '' for the external token by default; endpoint SQL gets the token", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { files: FILES })
      const tokens = yield* promise(() => login(url))
      const upstream = fake.issuedAccessTokens.at(-1)
      expect(upstream).toBeTruthy()
      yield* withClient(url, tokens.access_token, async ({ client }) => {
        const rows = await sqlRows(client, "SELECT get_user_external_token() AS t")
        expect(rows).toEqual([{ t: "" }])
        // Other routes from free-form SQL to the token: none.
        const indirect = await sqlRows(
          client,
          "SELECT length(get_user_external_token()) AS n, get_user_external_token() IS NULL AS is_null"
        )
        expect(indirect).toEqual([{ n: 0, is_null: false }])
        // The identity itself is there.
        expect(await sqlRows(client, "SELECT get_username() AS u, get_user_provider() AS p")).toEqual([
          { u: "octocat", p: "github" }
        ])
        // Owner-written endpoint SQL gets the upstream token.
        const own = await callTool(client, "my_token")
        expect(own.isError).toBe(false)
        expect(own.structured).toEqual({ t: upstream })
        // And a later free-form query on the same pooled connections still gets ''.
        expect(await sqlRows(client, "SELECT get_user_external_token() AS t")).toEqual([{ t: "" }])
      })
    }))

  it.scoped("J61 with sql_tools.expose_external_token: true, execute_sql_query gets the upstream token", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, {
        files: FILES,
        site: { sql_tools: { enabled: true, expose_external_token: true } }
      })
      const tokens = yield* promise(() => login(url))
      const upstream = fake.issuedAccessTokens.at(-1)
      yield* withClient(url, tokens.access_token, async ({ client }) => {
        expect(await sqlRows(client, "SELECT get_user_external_token() AS t")).toEqual([{ t: upstream }])
        expect((await callTool(client, "my_token")).structured).toEqual({ t: upstream })
      })
    }))

  it.scoped("J66 an expired upstream token is refreshed before the SQL runs (one upstream refresh)", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub({ expiringTokens: { expiresIn: 600 } })
      const { url } = yield* inProcessServer(fake, { files: FILES })
      const tokens = yield* promise(() => login(url))
      const first = fake.issuedAccessTokens.at(-1)
      const c = yield* promise(() => mcpClient(url, tokens.access_token))
      yield* Effect.addFinalizer(() => promise(() => c.client.close()))
      expect((yield* promise(() => callTool(c.client, "my_token"))).structured).toEqual({ t: first })
      expect(fake.calls.tokenRefresh).toBe(0)

      // Past the upstream expiry (our access token, 3600 s, is still valid).
      yield* TestClock.adjust("601 seconds")
      const after = yield* promise(() => callTool(c.client, "my_token"))
      expect(after.isError).toBe(false)
      expect(fake.calls.tokenRefresh).toBe(1)
      const second = fake.issuedAccessTokens.at(-1)
      expect(second).not.toBe(first)
      expect(after.structured).toEqual({ t: second })
      // The refreshed token is kept: no second refresh while it is fresh.
      expect((yield* promise(() => callTool(c.client, "my_token"))).structured).toEqual({ t: second })
      expect(fake.calls.tokenRefresh).toBe(1)
    }))

  it.scoped("J66 when the upstream refresh endpoint is down: a clean tool result or 401, never a 5xx", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub({ expiringTokens: { expiresIn: 600 } })
      const { url } = yield* inProcessServer(fake, { files: FILES })
      const tokens = yield* promise(() => login(url))
      const c = yield* promise(() => mcpClient(url, tokens.access_token))
      yield* Effect.addFinalizer(() => promise(() => c.client.close().catch(() => undefined)))
      fake.fail("token", { kind: "status", status: 500 })
      yield* TestClock.adjust("601 seconds")

      // Raw: the request is answered without a server error.
      const raw = yield* promise(() =>
        rawMcp(url, { body: JSON.stringify(initializeMessage), headers: { authorization: `Bearer ${tokens.access_token}` } })
      )
      expect(raw.status).toBeLessThan(500)
      expect([200, 401]).toContain(raw.status)
      // Through the SDK: a tool result (possibly an error result) or an authorization failure.
      const outcome = yield* promise(() =>
        callTool(c.client, "me").then(
          (r) => ({ kind: "result" as const, r }),
          (e: unknown) => ({ kind: "thrown" as const, message: String(e) })
        )
      )
      if (outcome.kind === "thrown") {
        expect(outcome.message).toMatch(/401|[Uu]nauthorized/)
        expect(outcome.message).not.toMatch(/\b5\d\d\b/)
      } else {
        expect(outcome.r.text).not.toMatch(/Internal error|server_error/)
      }
      expect(fake.calls.tokenRefresh).toBeGreaterThanOrEqual(1)

      // Once upstream recovers, the same session works with a fresh upstream token.
      fake.clearFailures()
      const recovered = yield* promise(() => mcpClient(url, tokens.access_token))
      yield* Effect.addFinalizer(() => promise(() => recovered.client.close()))
      const mine = yield* promise(() => callTool(recovered.client, "my_token"))
      expect(mine.structured).toEqual({ t: fake.issuedAccessTokens.at(-1) })
    }))
})

describe("J rows: SQL user functions (server process)", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer({ files: FILES, args: ["--debug"] })
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("J63 users A and B, 100 interleaved concurrent calls over two sessions: each sees only their own values", async () => {
    auth.fake.setUser({ login: "alice", id: 101, name: "Alice", email: "alice@example.com" })
    const aliceTokens = await login(auth.url)
    const aliceUpstream = auth.fake.issuedAccessTokens.at(-1)
    auth.fake.setUser({ login: "bob", id: 202, name: "Bob", email: "bob@example.org" })
    const bobTokens = await login(auth.url)
    const bobUpstream = auth.fake.issuedAccessTokens.at(-1)
    expect(aliceUpstream).not.toBe(bobUpstream)

    const alice = await mcpClient(auth.url, aliceTokens.access_token, "alice")
    const bob = await mcpClient(auth.url, bobTokens.access_token, "bob")
    const expected = {
      alice: { username: "alice", email: "alice@example.com", provider: "github", token: aliceUpstream },
      bob: { username: "bob", email: "bob@example.org", provider: "github", token: bobUpstream }
    } as const
    try {
      // A fixed pseudo-random order (reproducible), half A and half B, three kinds of call.
      let seed = 12345
      const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
      const plan = Array.from({ length: 100 }, (_, i) => ({ who: i % 2 === 0 ? "alice" : "bob", kind: i % 3 }) as const)
      for (let i = plan.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1))
        ;[plan[i], plan[j]] = [plan[j]!, plan[i]!]
      }
      const results = await Promise.all(
        plan.map(async ({ who, kind }) => {
          const client = who === "alice" ? alice.client : bob.client
          const want = expected[who]
          if (kind === 0) {
            const r = await callTool(client, "me")
            expect(r.isError).toBe(false)
            const { n: _n, ...values } = r.structured ?? {}
            return { who, got: values, want }
          }
          if (kind === 1) {
            const r = await callTool(client, "whoami")
            return {
              who,
              got: r.structured,
              want: { username: want.username, email: want.email, provider: want.provider, has_external_token: true }
            }
          }
          const rows = await sqlRows(client, ALL_FOUR)
          return { who, got: rows[0], want: { username: want.username, email: want.email, provider: want.provider, token: "" } }
        })
      )
      expect(results).toHaveLength(100)
      for (const r of results) expect({ who: r.who, ...r.got }).toEqual({ who: r.who, ...r.want })
    } finally {
      await alice.client.close()
      await bob.client.close()
    }
  })

  it("J64 SQL errors that would carry the token: redacted in the tool error and absent from the logs", async () => {
    auth.fake.setUser({ login: "carol", id: 303, name: "Carol", email: "carol@example.com" })
    const tokens = await login(auth.url)
    const upstream = auth.fake.issuedAccessTokens.at(-1)!
    expect(upstream.length).toBeGreaterThan(10)
    const { client } = await mcpClient(auth.url, tokens.access_token)
    try {
      expect((await callTool(client, "my_token")).structured).toEqual({ t: upstream })
      for (const name of ["token_as_int", "token_as_file", "token_as_json"]) {
        const r = await callTool(client, name)
        expect(r.isError, name).toBe(true)
        expect(r.text, name).toMatch(/SQL error/)
        expect(r.text, name).toContain("[REDACTED]")
        expect(r.text, name).not.toContain(upstream)
      }
      // A resource read whose SQL fails: a JSON-RPC error, redacted too.
      const failure = await client.readResource({ uri: "secret://7" }).then(
        () => "no error",
        (e: unknown) => String(e instanceof Error ? e.message : e)
      )
      expect(failure).toContain("[REDACTED]")
      expect(failure).not.toContain(upstream)
    } finally {
      await client.close()
    }
    // The debug log knows nothing of it.
    await new Promise((r) => setTimeout(r, 200))
    expect(auth.server.stderr()).not.toContain(upstream)
  })

  it("J65 unauthenticated callers never reach SQL: 401", async () => {
    for (const body of [
      initializeMessage,
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "execute_sql_query", arguments: { sql: ALL_FOUR } } }
    ]) {
      const res = await rawMcp(auth.url, { body: JSON.stringify(body) })
      expect(res.status).toBe(401)
      expect(res.text).not.toContain("username")
    }
    expect((await mcpStatus(auth.url, "not-a-token")).status).toBe(401)
  })
})

describe("J rows: auth off (server process)", () => {
  it("J65 auth off: all four functions return '' in free-form and endpoint SQL", async () => {
    const project = copyExample()
    writeProjectFiles(project.dir, FILES)
    const server = await startServer(project.dir)
    try {
      const { client } = await mcpClient(server.url, undefined)
      try {
        expect(await sqlRows(client, ALL_FOUR)).toEqual([{ username: "", email: "", provider: "", token: "" }])
        const me = await callTool(client, "me")
        expect(me.structured).toEqual({ username: "", email: "", provider: "", token: "", n: 20000 })
        expect((await callTool(client, "my_token")).structured).toEqual({ t: "" })
        expect((await callTool(client, "whoami")).structured).toEqual({
          username: "",
          email: "",
          provider: "",
          has_external_token: false
        })
      } finally {
        await client.close()
      }
    } finally {
      await server.stop()
      project.cleanup()
    }
  }, 90_000)
})
