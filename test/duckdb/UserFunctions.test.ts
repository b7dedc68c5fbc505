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
