/**
 * K4 and K7 through the real MCP SDK client against the in-process server on loopback: a huge
 * result is capped while the server keeps answering, and one user's heavy queries never hold
 * every DuckDB connection. Real clock: these use DuckDB's real work and the query timeout.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { call, scopedDir, sql, sqlServer } from "./SqlServer.js"

const HUGE = "SELECT repeat('x', 1500) || range AS s FROM range(3000000)"

const tool = (name: string, sqlText: string, extra = "") => `mxcp: 1
tool:
  name: ${name}
  description: Test-only tool.
  return:
    type: array
${extra}  source:
    code: ${JSON.stringify(sqlText)}
`

describe("K4 huge results (MCP)", () => {
  it.scopedLive("K4 the 3M-row query answers a capped, labelled result; /health answers meanwhile; memory stays bounded", () =>
    Effect.gen(function*() {
      const fake = yield* scopedFakeGitHub()
      const server = yield* sqlServer(fake, { dir: yield* scopedDir("mxcp-k4-") })
      const alice = yield* server.clientFor("alice")
      const rssBefore = process.memoryUsage().rss
      let done = false
      const health: Array<number> = []
      const poll = yield* Effect.fork(Effect.promise(async () => {
        while (!done) {
          const res = await fetch(`${server.url}/health`)
          health.push(res.status)
          await res.text()
          await new Promise((r) => setTimeout(r, 5))
        }
      }))
      const started = performance.now()
      const answer = yield* sql(alice, HUGE).pipe(Effect.ensuring(Effect.sync(() => (done = true))))
      const elapsed = performance.now() - started
      yield* Fiber.join(poll)
      expect(answer.isError).toBe(false)
      const [rowsText, note] = answer.text.split("\n")
      const rows = JSON.parse(rowsText ?? "") as Array<{ s: string }>
      expect(rows.length).toBeGreaterThan(0)
      expect(rows.length).toBeLessThanOrEqual(1000)
      expect(Buffer.byteLength(rowsText ?? "")).toBeLessThanOrEqual(1024 * 1024)
      expect(rows[0]?.s).toBe(`${"x".repeat(1500)}0`)
      expect(note).toMatch(/^Result truncated: the first \d+ rows are shown; more would exceed 1048576 bytes of JSON \(sql_tools\.max_result_bytes\)\.$/)
      // Generous bounds for a loaded machine; the old code died of heap exhaustion here.
      expect(elapsed).toBeLessThan(20_000)
      expect(health.length).toBeGreaterThan(0)
      expect(health.every((s) => s === 200)).toBe(true)
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(600 * 1024 * 1024)
      // The row cap is its own note.
      const byRows = yield* sql(alice, "SELECT range AS i FROM range(5000)")
      expect(JSON.parse(byRows.text.split("\n")[0] ?? "")).toHaveLength(1000)
      expect(byRows.text.split("\n")[1]).toBe("Result truncated: the first 1000 rows are shown and there are more (sql_tools.max_rows is 1000).")
      // A result within the caps has no note.
      expect((yield* sql(alice, "SELECT 42 AS answer")).text).toBe(JSON.stringify([{ answer: 42 }]))
    }))

  it.scoped("K4 caps are configurable: sql_tools.max_rows, and limits for endpoints (site default, endpoint override)", () =>
    Effect.gen(function*() {
      const fake = yield* scopedFakeGitHub()
      const server = yield* sqlServer(fake, {
        dir: yield* scopedDir("mxcp-k4-"),
        sqlTools: { max_rows: 7, max_result_bytes: 100000 },
        site: { limits: { max_rows: 20 } },
        files: {
          "tools/many.yml": tool("many", "SELECT range AS i FROM range($n)", `  parameters:
    - name: n
      type: integer
`),
          "tools/few_allowed.yml": tool("few_allowed", "SELECT range AS i FROM range(4)", `  limits:
    max_rows: 3
`),
          "tools/big_allowed.yml": tool("big_allowed", "SELECT range AS i FROM range(50)", `  limits:
    max_rows: 100
`),
          "tools/wide.yml": tool("wide", "SELECT repeat('y', 1000) AS s FROM range(5)", `  limits:
    max_result_bytes: 2000
`),
          "resources/pair.yml": `mxcp: 1
resource:
  uri: pair://all
  name: pair
  description: Two rows, over its own cap of one.
  limits:
    max_rows: 1
  source:
    code: SELECT range AS i FROM range(2)
`
        }
      })
      const alice = yield* server.clientFor("alice")
      const free = yield* sql(alice, "SELECT range AS i FROM range(100)")
      expect(JSON.parse(free.text.split("\n")[0] ?? "")).toHaveLength(7)
      expect(free.text).toContain("sql_tools.max_rows is 7")
      expect(JSON.parse((yield* call(alice, "many", { n: 20 })).text)).toHaveLength(20)
      const over = yield* call(alice, "many", { n: 21 })
      expect(over.isError).toBe(true)
      expect(over.text).toMatch(/The result has more than 20 rows \(the cap is limits\.max_rows/)
      const endpointCap = yield* call(alice, "few_allowed")
      expect(endpointCap.isError).toBe(true)
      expect(endpointCap.text).toMatch(/more than 3 rows/)
      expect(JSON.parse((yield* call(alice, "big_allowed")).text)).toHaveLength(50)
      const wide = yield* call(alice, "wide")
      expect(wide.isError).toBe(true)
      expect(wide.text).toMatch(/larger than 2000 bytes of JSON \(the cap is limits\.max_result_bytes/)
      // A resource past its cap: a JSON-RPC error saying so.
      const resource = yield* Effect.promise(() =>
        alice.readResource({ uri: "pair://all" }).then(() => "read", (e: unknown) => String(e instanceof Error ? e.message : e))
      )
      expect(resource).toMatch(/The result has more than 1 rows/)
    }))
})

describe("K7 fair sharing of DuckDB (MCP)", () => {
  it.scopedLive("K7 a user with pool-size heavy queries: another user's whoami answers before any of them ends", () =>
    Effect.gen(function*() {
      const fake = yield* scopedFakeGitHub()
      const server = yield* sqlServer(fake, { dir: yield* scopedDir("mxcp-k7-"), duckdb: { query_timeout: 4 } })
      const alice = yield* server.clientFor("alice")
      const bob = yield* server.clientFor("bob")
      const ended: Array<string> = []
      const heavy = yield* Effect.forEach(
        [1, 2, 3, 4],
        (i) =>
          Effect.fork(
            sql(alice, `SELECT count(*) AS c FROM range(10000000000) t(i) WHERE i % 7 = ${i}`).pipe(
              Effect.tap(() => Effect.sync(() => ended.push(`alice ${i}`)))
            )
          ),
        { concurrency: "unbounded" }
      )
      yield* Effect.sleep("500 millis")
      const who = yield* call(bob, "whoami")
      ended.push("bob")
      expect(who.structured).toMatchObject({ username: "bob" })
      const outcomes = yield* Effect.forEach(heavy, Fiber.join)
      // Bob came first; alice's queries all ran into the timeout (the fourth while waiting its turn).
      expect(ended[0]).toBe("bob")
      for (const outcome of outcomes) {
        expect(outcome.isError).toBe(true)
        expect(outcome.text).toMatch(/Query timed out after 4000 ms/)
      }
      // Everything is usable again.
      expect(JSON.parse((yield* sql(alice, "SELECT 1 AS one")).text)).toEqual([{ one: 1 }])
    }))
})
