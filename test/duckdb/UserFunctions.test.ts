import { describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Random } from "effect"
import { DuckDbSessionNode } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import type { CurrentUser } from "../../src/domain/oauth/Identity.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

const alice: CurrentUser = { username: "alice", id: "alice-id", name: "Alice", email: "alice@example.com", provider: "github", externalToken: "gho_alice" }
const bob: CurrentUser = { username: "bob", id: "bob-id", name: "Bob", email: "bob@example.com", provider: "atlassian", externalToken: "atl_bob" }
const carol: CurrentUser = {
  username: "carol o'neil",
  id: "carol-id",
  name: "Carol O'Neil",
  email: "carol@example.com",
  provider: "salesforce",
  externalToken: "sf_'carol'"
}
const dave: CurrentUser = { username: "dave", id: "dave-id", name: "Dave", email: "", provider: "github", externalToken: "gho_dave" }

const allFunctions =
  "SELECT get_username() u, get_user_email() e, get_user_provider() p, get_user_external_token() t"

describe("SQL user functions", () => {
  // a single connection, so that every query reuses the previous query's connection
  layer(DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 1 }))("on one connection", (it) => {
    it.effect("'' everywhere without a user", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query(allFunctions)).toEqual([{ u: "", e: "", p: "", t: "" }])
        expect(yield* db.query(allFunctions, {}, {})).toEqual([{ u: "", e: "", p: "", t: "" }])
      }))

    it.effect("the user's values, and '' again on the next query without a user", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query(allFunctions, {}, { user: alice })).toEqual([
          { u: "alice", e: "alice@example.com", p: "github", t: "gho_alice" }
        ])
        expect(yield* db.query(allFunctions, {}, { user: carol })).toEqual([
          { u: "carol o'neil", e: "carol@example.com", p: "salesforce", t: "sf_'carol'" }
        ])
        expect(yield* db.query(allFunctions)).toEqual([{ u: "", e: "", p: "", t: "" }])
      }))

    it.effect("the external token is withheld when exposeExternalToken is false", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query(allFunctions, {}, { user: bob, exposeExternalToken: false })).toEqual([
          { u: "bob", e: "bob@example.com", p: "atlassian", t: "" }
        ])
        expect(yield* db.query(allFunctions, {}, { user: bob, exposeExternalToken: true })).toEqual([
          { u: "bob", e: "bob@example.com", p: "atlassian", t: "atl_bob" }
        ])
      }))

    it.effect("works with parameters, in WHERE clauses, views, and multi-statement SQL", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.exec(
          "CREATE TABLE owned (owner VARCHAR, item VARCHAR); INSERT INTO owned VALUES ('alice', 'a1'), ('bob', 'b1'), ('alice', 'a2');" +
            "CREATE VIEW whoami AS SELECT get_username() u"
        )
        expect(
          yield* db.query("SELECT item FROM owned WHERE owner = get_username() AND item LIKE $p ORDER BY item", {
            p: "a%"
          }, { user: alice })
        ).toEqual([{ item: "a1" }, { item: "a2" }])
        expect(yield* db.query("SELECT u FROM whoami", {}, { user: bob })).toEqual([{ u: "bob" }])
        expect(yield* db.query("SELECT u FROM whoami")).toEqual([{ u: "" }])
        expect(
          yield* db.query("CREATE TEMP TABLE snap AS SELECT get_username() u; SELECT u FROM snap", {}, { user: dave })
        ).toEqual([{ u: "dave" }])
      }))

    it.effect("the user is cleared after a failing query", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* Effect.flip(db.query("SELECT get_username(), * FROM missing_table", {}, { user: alice }))
        expect(yield* db.query("SELECT get_username() u")).toEqual([{ u: "" }])
      }))
  })

  layer(DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 4 }), { excludeTestServices: true })(
    "concurrently",
    (it) => {
      it.effect("200 interleaved queries from 4 users each see only their own values", () =>
        Effect.gen(function*() {
          const db = yield* DuckDbSession
          const users = [alice, bob, carol, dave]
          let inFlight = 0
          let maxInFlight = 0
          const results = yield* Effect.forEach(
            Array.from({ length: 200 }, (_, i) => i),
            (i) =>
              Effect.gen(function*() {
                const user = users[i % users.length]!
                const expose = i % 3 !== 0
                yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, 15)))
                inFlight++
                maxInFlight = Math.max(maxInFlight, inFlight)
                const rows = yield* db.query(
                  `SELECT u, e, p, t, count(*) n FROM (
                     SELECT get_username() u, get_user_email() e, get_user_provider() p,
                            get_user_external_token() t, i
                     FROM range($n) r(i) WHERE i % 3 <> 1
                   ) GROUP BY ALL`,
                  { n: 10_000 + i },
                  { user, exposeExternalToken: expose }
                ).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
                return { rows, user, expose, n: 10_000 + i }
              }),
            { concurrency: 12 }
          )
          expect(maxInFlight).toBeGreaterThanOrEqual(4)
          for (const { expose, n, rows, user } of results) {
            expect(rows).toEqual([{
              u: user.username,
              e: user.email,
              p: user.provider,
              t: expose ? user.externalToken : "",
              n: Math.floor(n / 3) * 2 + (n % 3 === 0 ? 0 : 1)
            }])
          }
        }))
    }
  )
})

describe("SQL request functions (get_request_header, get_request_headers_json)", () => {
  layer(DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 1 }))("on one connection", (it) => {
    const sql = "SELECT get_request_header('X-Tenant') AS t, get_request_header('authorization') AS a, " +
      "get_request_header('COOKIE') AS c, get_request_header(NULL) AS n, get_request_headers_json() AS j"

    it.effect("NULL and '{}' without a request; the headers of the query's request, credentials removed", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query(sql)).toEqual([{ t: null, a: null, c: null, n: null, j: "{}" }])
        const rows = yield* db.query(sql, {}, {
          user: alice,
          requestHeaders: {
            "X-Tenant": "acme",
            Authorization: "Bearer secret-token",
            cookie: "sid=secret",
            "Proxy-Authorization": "Basic c2VjcmV0",
            accept: ["application/json", "text/event-stream"]
          }
        })
        expect(rows).toEqual([{
          t: "acme",
          a: null,
          c: null,
          n: null,
          j: JSON.stringify({ "x-tenant": "acme", accept: "application/json, text/event-stream" })
        }])
        // and nothing of it on the next query without a request
        expect(yield* db.query(sql)).toEqual([{ t: null, a: null, c: null, n: null, j: "{}" }])
      }))

    it.effect("a header name from a column is looked up per row; the same statement is not reused for another request", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const perRow = "SELECT n, get_request_header(n) AS v FROM (VALUES ('x-a'), ('X-B'), ('x-c')) t(n) ORDER BY n"
        expect(yield* db.query(perRow, {}, { requestHeaders: { "x-a": "1", "x-b": "2" } })).toEqual([
          { n: "X-B", v: "2" },
          { n: "x-a", v: "1" },
          { n: "x-c", v: null }
        ])
        expect(yield* db.query(perRow, {}, { requestHeaders: { "x-c": "3" } })).toEqual([
          { n: "X-B", v: null },
          { n: "x-a", v: null },
          { n: "x-c", v: "3" }
        ])
      }))

    it.effect("a persistent macro named get_request_header refuses every query until it is dropped", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.query("CREATE MACRO main.get_request_header(x) AS 'forged'")
        const refused = yield* Effect.flip(db.query(sql, {}, { requestHeaders: { "x-tenant": "acme" } }))
        expect(refused.message).toMatch(/"main"\."get_request_header" shadows the user function get_request_header\(\)/)
        yield* db.exec("DROP MACRO main.get_request_header")
        expect((yield* db.query(sql, {}, { requestHeaders: { "x-tenant": "acme" } }))[0]?.["t"]).toBe("acme")
        yield* db.query("CREATE MACRO main.get_request_headers_json() AS '{\"x-tenant\":\"forged\"}'")
        expect((yield* Effect.flip(db.query("SELECT 1 AS one")))._tag).toBe("SqlError")
        yield* db.exec("DROP MACRO main.get_request_headers_json")
      }))
  })
})
