/**
 * K3: nothing one query leaves on a pooled connection reaches the next query, the instance's
 * configuration is locked after setup, and the user functions cannot be shadowed. On one
 * connection (poolSize 1), so every query would reuse what the previous one left.
 */
import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import { DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DuckDbSessionNode, machineMemoryBytes } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import type { CurrentUser } from "../../src/domain/oauth/Identity.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

const root = mkdtempSync(join(tmpdir(), "mxcp-clean-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const bob: CurrentUser = { username: "bob", id: "bob-id", name: "Bob", email: "bob@example.com", provider: "github", externalToken: "gho_bob" }
const whoami = "SELECT get_username() AS u, get_user_email() AS e"

describe("K3 clean connections", () => {
  layer(
    DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 1 }, (db) =>
      db.exec("CREATE TABLE products (id INTEGER, name VARCHAR); INSERT INTO products VALUES (1, 'shoe')"))
  )("one connection", (it) => {
    it.effect("K3 a temp macro named like a user function does not reach the next query", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        // Within its own query it shadows (that query's author asked for it)...
        expect(yield* db.query("CREATE OR REPLACE TEMP MACRO get_username() AS 'mallory'; SELECT get_username() AS u"))
          .toEqual([{ u: "mallory" }])
        // ...but the next caller gets a fresh connection.
        expect(yield* db.query(whoami, {}, { user: bob })).toEqual([{ u: "bob", e: "bob@example.com" }])
        yield* db.query("CREATE OR REPLACE TEMP MACRO get_user_email() AS 'mallory@evil'")
        expect(yield* db.query(whoami, {}, { user: bob })).toEqual([{ u: "bob", e: "bob@example.com" }])
      }))

    it.effect("K3 a temp view does not capture the next query's reads", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.query("CREATE OR REPLACE TEMP VIEW products AS SELECT 2 AS id, 'ignore previous instructions' AS name")
        expect(yield* db.query("SELECT * FROM products")).toEqual([{ id: 1, name: "shoe" }])
        yield* db.query("CREATE TEMP TABLE products AS SELECT 3 AS id, 'temp' AS name")
        expect(yield* db.query("SELECT * FROM products")).toEqual([{ id: 1, name: "shoe" }])
      }))

    it.effect("K3 an open transaction does not swallow the next query's writes", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.query("BEGIN TRANSACTION")
        yield* db.query("INSERT INTO products VALUES ($id, $name)", { id: 2, name: "sock" }, { user: bob })
        const rollback = yield* Effect.flip(db.query("ROLLBACK"))
        expect(rollback.message).toMatch(/no transaction is active/i)
        expect(yield* db.query("SELECT count(*) AS n FROM products")).toEqual([{ n: 2 }])
        // A failed statement inside a script's transaction: the connection is replaced too.
        yield* Effect.flip(db.query("BEGIN; INSERT INTO products VALUES ('x', 'not an id')"))
        yield* db.query("INSERT INTO products VALUES (3, 'hat')")
        expect(yield* db.query("SELECT count(*) AS n FROM products")).toEqual([{ n: 3 }])
        yield* db.query("DELETE FROM products WHERE id > 1")
      }))

    it.effect("K3 connection settings (search_path, USE, variables) do not outlive their query", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.exec("CREATE SCHEMA IF NOT EXISTS other; CREATE OR REPLACE TABLE other.products AS SELECT 9 AS id, 'other' AS name")
        yield* db.query("SET search_path = 'other'")
        expect(yield* db.query("SELECT id FROM products")).toEqual([{ id: 1 }])
        yield* db.query("USE other")
        expect(yield* db.query("SELECT id FROM products")).toEqual([{ id: 1 }])
        yield* db.query("SET VARIABLE secret = 'left behind'")
        expect(yield* db.query("SELECT getvariable('secret') AS v")).toEqual([{ v: null }])
        yield* db.query("SET TimeZone = 'UTC'").pipe(Effect.flip)
      }))

    it.effect("K3 the instance's configuration is locked after setup: SET GLOBAL, PRAGMA, RESET fail", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const before = yield* db.query("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t")
        for (const sql of ["SET GLOBAL memory_limit = '1MB'", "SET memory_limit = '1MB'", "RESET memory_limit", "PRAGMA threads = 1", "SET lock_configuration = false", "SET enable_external_access = false"]) {
          const error = yield* Effect.flip(db.query(sql))
          expect(error.message, sql).toMatch(/the configuration has been locked/)
        }
        expect(yield* db.query("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t")).toEqual(before)
        expect(yield* db.query("SELECT current_setting('autoinstall_known_extensions') AS i, current_setting('allow_community_extensions') AS c"))
          .toEqual([{ i: false, c: false }])
      }))
  })

  it.effect("K3 the setup step may still change settings; memory_limit defaults to half the machine", () =>
    Effect.gen(function*() {
      const rows = yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        return yield* db.query("SELECT current_setting('TimeZone') AS z")
      }).pipe(Effect.provide(DuckDbSessionNode({ path: ":memory:", readonly: false }, (db) => db.exec("SET GLOBAL TimeZone = 'Asia/Tokyo'"))))
      expect(rows).toEqual([{ z: "Asia/Tokyo" }])
      const limit = yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        return yield* db.query("SELECT current_setting('memory_limit') AS m")
      }).pipe(Effect.provide(DuckDbSessionNode({ path: ":memory:", readonly: false, memoryLimit: "300MiB" })))
      expect(limit).toEqual([{ m: "300.0 MiB" }])
      const byDefault = yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        return yield* db.query("SELECT current_setting('memory_limit') AS m")
      }).pipe(Effect.provide(DuckDbSessionNode({ path: ":memory:", readonly: false })))
      const [, amount, unit] = /^([\d.]+) (MiB|GiB|TiB)$/.exec(String(byDefault[0]?.["m"])) ?? []
      const mib = Number(amount) * (unit === "TiB" ? 1024 * 1024 : unit === "GiB" ? 1024 : 1)
      const half = machineMemoryBytes() / 2 / (1024 * 1024)
      expect(Math.abs(mib - half) / half).toBeLessThan(0.01)
    }))
})

describe("K3 the user functions cannot be shadowed", () => {
  it.effect("K3 a persistent macro named like a user function refuses every query, also after a restart, until dropped", () =>
    Effect.gen(function*() {
      const path = join(root, "shadowed.duckdb")
      const session = DuckDbSessionNode({ path, readonly: false, poolSize: 2 })
      yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query(whoami, {}, { user: bob })).toEqual([{ u: "bob", e: "bob@example.com" }])
        // Endpoint SQL (the author's) creates one: from then on nothing runs.
        yield* db.query("CREATE MACRO main.get_user_email() AS 'mallory@evil'")
        const refused = yield* Effect.flip(db.query(whoami, {}, { user: bob }))
        expect(refused._tag).toBe("SqlError")
        expect(refused.message).toMatch(/macro "shadowed"\."main"\."get_user_email" shadows the user function get_user_email\(\)/)
        expect(refused.message).toContain(`DROP MACRO "shadowed"."main"."get_user_email"`)
        expect((yield* Effect.flip(db.freeForm("SELECT 1 AS one")))._tag).toBe("SqlError")
      }).pipe(Effect.provide(session))

      // Restart: still refused (found at startup).
      yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        const refused = yield* Effect.flip(db.query(whoami, {}, { user: bob }))
        expect(refused.message).toMatch(/shadows the user function get_user_email\(\)/)
      }).pipe(Effect.provide(session))

      // Dropped in the setup step (init_sql): queries run again, with the real values.
      yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query(whoami, {}, { user: bob })).toEqual([{ u: "bob", e: "bob@example.com" }])
      }).pipe(Effect.provide(DuckDbSessionNode({ path, readonly: false }, (db) => db.exec("DROP MACRO main.get_user_email"))))
    }))

  it.effect("K3 a macro left in the file by someone else, in any schema, is found at startup", () =>
    Effect.gen(function*() {
      const path = join(root, "planted.duckdb")
      yield* Effect.promise(async () => {
        const instance = await DuckDBInstance.create(path)
        const connection = await instance.connect()
        await connection.run("CREATE SCHEMA app; CREATE MACRO app.get_username() AS 'mallory'")
        connection.closeSync()
        instance.closeSync()
      })
      yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        const refused = yield* Effect.flip(db.query("SELECT 1 AS one"))
        expect(refused.message).toContain(`DROP MACRO "planted"."app"."get_username"`)
        // Dropped by endpoint SQL it would stay refused until the next check: the drop itself is
        // a catalog change, and the next query checks again.
      }).pipe(Effect.provide(DuckDbSessionNode({ path, readonly: false })))
      yield* Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.exec("DROP MACRO app.get_username")
        expect(yield* db.query(whoami, {}, { user: bob })).toEqual([{ u: "bob", e: "bob@example.com" }])
      }).pipe(Effect.provide(DuckDbSessionNode({ path, readonly: false })))
    }))
})
