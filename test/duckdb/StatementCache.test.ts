import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { DuckDbSessionNode } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import type { CurrentUser } from "../../src/domain/oauth/Identity.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

const alice: CurrentUser = { username: "alice", id: "alice-id", name: "Alice", email: "a@example.com", provider: "github", externalToken: "tok_a" }
const bob: CurrentUser = { username: "bob", id: "bob-id", name: "Bob", email: "b@example.com", provider: "github", externalToken: "tok_b" }

// One connection, so every query reuses the same connection's statement cache.
describe("prepared-statement reuse never leaks user values", () => {
  layer(DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 1 }))("one connection", (it) => {
    it.effect("the same user-function SQL, alternating users, always sees the caller", () =>
      Effect.gen(function* () {
        const db = yield* DuckDbSession
        const sql = "SELECT get_username() AS u, get_user_external_token() AS t"
        for (let i = 0; i < 20; i++) {
          const user = i % 2 === 0 ? alice : bob
          const rows = yield* db.query(sql, {}, { user })
          expect(rows).toEqual([{ u: user.username, t: user.externalToken }])
        }
        expect(yield* db.query(sql, {})).toEqual([{ u: "", t: "" }])
      }))

    it.effect("a view that calls a user function is not reused across users", () =>
      Effect.gen(function* () {
        const db = yield* DuckDbSession
        yield* db.exec("CREATE OR REPLACE VIEW me AS SELECT get_username() AS u")
        for (const user of [alice, bob, alice, bob]) {
          expect(yield* db.query("SELECT u FROM me", {}, { user })).toEqual([{ u: user.username }])
        }
      }))

    it.effect("a cached statement whose view is redefined to call a user function stops being reused", () =>
      Effect.gen(function* () {
        const db = yield* DuckDbSession
        yield* db.exec("CREATE OR REPLACE VIEW v AS SELECT 'static' AS u")
        const sql = "SELECT u FROM v"
        expect(yield* db.query(sql, {}, { user: alice })).toEqual([{ u: "static" }])
        expect(yield* db.query(sql, {}, { user: alice })).toEqual([{ u: "static" }])
        yield* db.exec("CREATE OR REPLACE VIEW v AS SELECT get_username() AS u")
        for (const user of [alice, bob, alice, bob]) {
          expect(yield* db.query(sql, {}, { user })).toEqual([{ u: user.username }])
        }
      }))

    it.effect("a reused statement follows schema changes and new parameter values", () =>
      Effect.gen(function* () {
        const db = yield* DuckDbSession
        yield* db.exec("CREATE OR REPLACE TABLE t AS SELECT * FROM (VALUES (1, 'one'), (2, 'two')) x(id, name)")
        const sql = "SELECT * FROM t WHERE id = $id"
        expect(yield* db.query(sql, { id: 1 })).toEqual([{ id: 1, name: "one" }])
        expect(yield* db.query(sql, { id: 2 })).toEqual([{ id: 2, name: "two" }])
        yield* db.exec("ALTER TABLE t ADD COLUMN extra INTEGER DEFAULT 7")
        expect(yield* db.query(sql, { id: 2 })).toEqual([{ id: 2, name: "two", extra: 7 }])
        yield* db.exec("DROP TABLE t")
        const gone = yield* Effect.flip(db.query(sql, { id: 2 }))
        expect(gone.message).toMatch(/t/)
        yield* db.exec("CREATE TABLE t AS SELECT 3 AS id, 'three' AS name")
        expect(yield* db.query(sql, { id: 3 })).toEqual([{ id: 3, name: "three" }])
      }))

    it.effect("more distinct statements than the cache holds all still run", () =>
      Effect.gen(function* () {
        const db = yield* DuckDbSession
        for (let i = 0; i < 150; i++) {
          expect(yield* db.query(`SELECT ${i} AS n`)).toEqual([{ n: i }])
        }
        expect(yield* db.query("SELECT 0 AS n")).toEqual([{ n: 0 }])
      }))
  })
})
