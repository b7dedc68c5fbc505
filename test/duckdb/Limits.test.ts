/**
 * K4: every result is capped (rows, bytes of JSON): `query` fails past a cap, `freeForm`
 * truncates and says where; results are read chunk by chunk so a huge one never materializes.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { DuckDbSessionNode } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

const rowsJsonBytes = (rows: ReadonlyArray<unknown>) => Buffer.byteLength(JSON.stringify(rows))

describe("K4 result caps", () => {
  layer(DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 2, maxRows: 50, maxResultBytes: 4096 }), {
    excludeTestServices: true
  })("session", (it) => {
    it.effect("K4 query fails past the row cap, and at the cap it does not", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query("SELECT range AS i FROM range(50)")).toHaveLength(50)
        const over = yield* Effect.flip(db.query("SELECT range AS i FROM range(51)"))
        expect(over._tag).toBe("SqlResultTooLarge")
        expect(over.message).toBe("The result has more than 50 rows")
        // A cap per query overrides the session's, both ways.
        expect(yield* db.query("SELECT range AS i FROM range(3000)", {}, { maxRows: 3000, maxResultBytes: 1e6 })).toHaveLength(3000)
        expect((yield* Effect.flip(db.query("SELECT range AS i FROM range(6)", {}, { maxRows: 5 })))._tag).toBe("SqlResultTooLarge")
        // Exactly at a chunk boundary (2048 rows): no more rows, so not over the cap.
        expect(yield* db.query("SELECT range AS i FROM range(2048)", {}, { maxRows: 2048, maxResultBytes: 1e6 })).toHaveLength(2048)
        // The session still works (the capped connection was replaced).
        expect(yield* db.query("SELECT 1 AS a")).toEqual([{ a: 1 }])
      }))

    it.effect("K4 query fails past the byte cap (the rows' JSON text)", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const fits = yield* db.query("SELECT repeat('x', 100) AS s FROM range(30)")
        expect(rowsJsonBytes(fits)).toBeLessThanOrEqual(4096)
        const over = yield* Effect.flip(db.query("SELECT repeat('x', 100) AS s FROM range(40)"))
        expect(over._tag).toBe("SqlResultTooLarge")
        expect(over.message).toBe("The result is larger than 4096 bytes of JSON")
        // One huge value is enough.
        expect((yield* Effect.flip(db.query("SELECT repeat('é', 5000) AS s")))._tag).toBe("SqlResultTooLarge")
      }))

    it.effect("K4 freeForm truncates at the caps and says where; the JSON never exceeds the byte cap", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const byRows = yield* db.freeForm("SELECT range AS i FROM range(100000)")
        expect(byRows.rows).toHaveLength(50)
        expect(byRows.truncated).toEqual({ by: "rows", limit: 50, rowCount: 50 })
        const byBytes = yield* db.freeForm("SELECT repeat('x', 100) || range AS s FROM range(1000)")
        expect(byBytes.truncated?.by).toBe("bytes")
        expect(byBytes.truncated?.limit).toBe(4096)
        expect(byBytes.rows.length).toBe(byBytes.truncated?.rowCount)
        expect(rowsJsonBytes(byBytes.rows)).toBeLessThanOrEqual(4096)
        // One more row would not have fitted.
        expect(rowsJsonBytes([...byBytes.rows, byBytes.rows[0]])).toBeGreaterThan(4096)
        const whole = yield* db.freeForm("SELECT range AS i FROM range(50)")
        expect(whole.truncated).toBeUndefined()
        expect(whole.rows).toHaveLength(50)
        const none = yield* db.freeForm("SELECT repeat('x', 10000) AS s")
        expect(none).toEqual({ rows: [], truncated: { by: "bytes", limit: 4096, rowCount: 0 } })
      }))

    it.effect("K4 a 3M-row result of 1.5 KB rows: capped at once, chunk by chunk, memory stays bounded", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const before = process.memoryUsage().rss
        const started = performance.now()
        const free = yield* db.freeForm("SELECT repeat('x', 1500) || range AS s FROM range(3000000)", {}, {
          maxRows: 1000,
          maxResultBytes: 1024 * 1024
        })
        expect(free.truncated?.by).toBe("bytes")
        expect(rowsJsonBytes(free.rows)).toBeLessThanOrEqual(1024 * 1024)
        const capped = yield* Effect.flip(db.query("SELECT repeat('x', 1500) || range AS s FROM range(3000000)", {}, {
          maxRows: 10_000,
          maxResultBytes: 10 * 1024 * 1024
        }))
        expect(capped._tag).toBe("SqlResultTooLarge")
        // Generous bounds: the whole result would be 4.5 GB of JSON.
        expect(performance.now() - started).toBeLessThan(20_000)
        expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 * 1024)
      }))
  })
})
