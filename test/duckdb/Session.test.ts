import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DuckDbSessionMemory, DuckDbSessionNode } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { DuckDbSession, SqlError, SqlTimeout } from "../../src/services/duckdb/DuckDbSession.js"

const tempRoot = mkdtempSync(join(tmpdir(), "mxcp-duckdb-"))
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }))

/** A query that runs for minutes unless interrupted. */
const endless = "SELECT count(*) c FROM range(10000000000) t(i) WHERE i % 7 = 3"

describe("DuckDB session", () => {
  layer(DuckDbSessionMemory)("results", (it) => {
    it.effect("a result spanning many chunks comes back whole and in order, cached statement or not", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const sql = "SELECT i, 'row ' || i AS label FROM range($n) r(i) ORDER BY i"
        for (const n of [0, 1, 2048, 2049, 10_000]) {
          // Twice: the second run reuses the prepared statement.
          for (let round = 0; round < 2; round++) {
            const rows = yield* db.query(sql, { n })
            expect(rows.length).toBe(n)
            if (n > 0) {
              expect(rows[0]).toEqual({ i: 0, label: "row 0" })
              expect(rows[n - 1]).toEqual({ i: n - 1, label: `row ${n - 1}` })
              expect(rows.every((row, index) => row["i"] === index)).toBe(true)
            }
          }
        }
        // The last statement of several gives the rows.
        const last = yield* db.query("CREATE TEMP TABLE many AS SELECT * FROM range(5000) r(i); SELECT count(*) AS n, max(i) AS top FROM many")
        expect(last).toEqual([{ n: 5000, top: 4999 }])
      }))
  })

  layer(DuckDbSessionMemory)("errors", (it) => {
    it.effect("a syntax error is a SqlError with DuckDB's message", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const error = yield* Effect.flip(db.query("SELEC 1"))
        expect(error).toBeInstanceOf(SqlError)
        expect(error._tag).toBe("SqlError")
        expect(error.message).toMatch(/^Parser Error: syntax error at or near "SELEC"/)
        expect(error.message).toBe(error.message.trim())
      }))

    it.effect("catalog and runtime errors are SqlErrors, and so is exec's", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const missing = yield* Effect.flip(db.query("SELECT * FROM no_such_table"))
        expect(missing.message).toMatch(/^Catalog Error: Table with name no_such_table does not exist/)
        const cast = yield* Effect.flip(db.query("SELECT 'abc'::INTEGER"))
        expect(cast._tag).toBe("SqlError")
        expect(cast.message).toMatch(/Conversion Error/)
        const execError = yield* Effect.flip(db.exec("CREATE TABLE ok_t (a INT); INSERT INTO nope VALUES (1)"))
        expect(execError._tag).toBe("SqlError")
        // statements before the failing one ran
        expect(yield* db.query("SELECT count(*) n FROM ok_t")).toEqual([{ n: 0 }])
      }))

    it.effect("the session still works after errors", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        for (let i = 0; i < 10; i++) yield* Effect.flip(db.query("SELECT * FROM nowhere"))
        expect(yield* db.query("SELECT 1 a")).toEqual([{ a: 1 }])
      }))
  })

  // excludeTestServices: these tests need the real clock
  layer(DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 2, timeoutMs: 10_000 }), {
    excludeTestServices: true
  })(
    "timeouts and interruption",
    (it) => {
      it.effect("a long query times out with SqlTimeout and the connections stay usable", () =>
        Effect.gen(function*() {
          const db = yield* DuckDbSession
          const started = Date.now()
          const error = yield* Effect.flip(db.query(endless, {}, { timeoutMs: 200 }))
          const elapsed = Date.now() - started
          expect(error).toBeInstanceOf(SqlTimeout)
          expect(error._tag).toBe("SqlTimeout")
          expect(error.message).toBe("Query timed out after 200 ms")
          expect(elapsed).toBeLessThan(3000)
          // both connections of the pool answer (each one more than once)
          const rows = yield* Effect.all(Array.from({ length: 6 }, (_, i) => db.query("SELECT $i i", { i })), {
            concurrency: 6
          })
          expect(rows.map((r) => r[0])).toEqual([0, 1, 2, 3, 4, 5].map((i) => ({ i })))
        }))

      it.effect("interrupting the fiber interrupts the query", () =>
        Effect.gen(function*() {
          const db = yield* DuckDbSession
          const fiber = yield* Effect.fork(db.query(endless))
          yield* Effect.sleep(Duration.millis(200))
          const started = Date.now()
          const exit = yield* Fiber.interrupt(fiber)
          expect(Date.now() - started).toBeLessThan(3000)
          expect(Exit.isInterrupted(exit)).toBe(true)
          expect(yield* db.query("SELECT 42 a")).toEqual([{ a: 42 }])
        }))

      it.effect("exec times out too (session default), and a multi-statement run stops", () =>
        Effect.gen(function*() {
          const slow = DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 1, timeoutMs: 200 })
          yield* Effect.gen(function*() {
            const db = yield* DuckDbSession
            const error = yield* Effect.flip(
              db.exec(`CREATE TABLE after_slow (a INT); ${endless}; INSERT INTO after_slow VALUES (1)`)
            )
            expect(error._tag).toBe("SqlTimeout")
            expect(yield* db.query("SELECT count(*) n FROM after_slow")).toEqual([{ n: 0 }])
          }).pipe(Effect.provide(slow))
        }))

      it.effect("the pool bounds concurrency: with both connections busy, a third query waits", () =>
        Effect.gen(function*() {
          const db = yield* DuckDbSession
          const busy = yield* Effect.fork(
            Effect.all([db.query(endless), db.query(endless)], { concurrency: "unbounded" })
          )
          yield* Effect.sleep(Duration.millis(200))
          const waited = yield* Effect.flip(db.query("SELECT 1 a", {}, { timeoutMs: 300 }))
          expect(waited._tag).toBe("SqlTimeout")
          yield* Fiber.interrupt(busy)
          expect(yield* db.query("SELECT 1 a", {}, { timeoutMs: 2000 })).toEqual([{ a: 1 }])
        }))
    }
  )

  describe("files", () => {
    it.effect("a file database persists across layer rebuilds (parent folders created)", () =>
      Effect.gen(function*() {
        const path = join(tempRoot, "nested", "deeper", "data.duckdb")
        const session = DuckDbSessionNode({ path, readonly: false })
        yield* Effect.gen(function*() {
          const db = yield* DuckDbSession
          yield* db.exec("CREATE TABLE kept (id INTEGER, name VARCHAR); INSERT INTO kept VALUES (1, 'one')")
          yield* db.query("INSERT INTO kept VALUES ($id, $name)", { id: 2, name: "two" })
        }).pipe(Effect.provide(session))
        expect(existsSync(path)).toBe(true)
        const rows = yield* Effect.gen(function*() {
          const db = yield* DuckDbSession
          return yield* db.query("SELECT * FROM kept ORDER BY id")
        }).pipe(Effect.provide(session))
        expect(rows).toEqual([{ id: 1, name: "one" }, { id: 2, name: "two" }])
      }))

    it.effect("readonly: reads work, writes fail with a SqlError, user functions still work", () =>
      Effect.gen(function*() {
        const path = join(tempRoot, "ro.duckdb")
        yield* Effect.gen(function*() {
          const db = yield* DuckDbSession
          yield* db.exec("CREATE TABLE t AS SELECT 1 a")
        }).pipe(Effect.provide(DuckDbSessionNode({ path, readonly: false })))
        yield* Effect.gen(function*() {
          const db = yield* DuckDbSession
          expect(db.readonly).toBe(true)
          expect(yield* db.query("SELECT a, get_username() u FROM t")).toEqual([{ a: 1, u: "" }])
          const insert = yield* Effect.flip(db.query("INSERT INTO t VALUES (2)"))
          expect(insert._tag).toBe("SqlError")
          expect(insert.message).toMatch(/read-only/)
          const create = yield* Effect.flip(db.exec("CREATE TABLE u (a INT)"))
          expect(create.message).toMatch(/read-only/)
          expect(yield* db.query("SELECT count(*) n FROM t")).toEqual([{ n: 1 }])
        }).pipe(Effect.provide(DuckDbSessionNode({ path, readonly: true })))
      }))

    it.effect("readonly on a missing file, or on :memory:, fails to build with a clear SqlError", () =>
      Effect.gen(function*() {
        const missing = join(tempRoot, "absent", "none.duckdb")
        const error = yield* Effect.flip(
          Effect.provide(DuckDbSession, DuckDbSessionNode({ path: missing, readonly: true }))
        )
        expect(error._tag).toBe("SqlError")
        expect(error.message).toContain(missing)
        expect(error.message).toMatch(/read-only/)
        expect(existsSync(join(tempRoot, "absent"))).toBe(false)
        const memory = yield* Effect.flip(
          Effect.provide(DuckDbSession, DuckDbSessionNode({ path: ":memory:", readonly: true }))
        )
        expect(memory.message).toMatch(/read-only/)
      }))
  })
})
