import { afterAll, describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DuckDbSessionMemory, DuckDbSessionNode } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

const one = (sql: string, params?: Record<string, unknown>) =>
  Effect.gen(function*() {
    const db = yield* DuckDbSession
    const rows = yield* db.query(sql, params)
    expect(rows).toHaveLength(1)
    return rows[0]!
  })

const tempRoot = mkdtempSync(join(tmpdir(), "mxcp-duckdb-types-"))
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }))

const sessions = [
  ["in memory", DuckDbSessionMemory],
  ["in a file", DuckDbSessionNode({ path: join(tempRoot, "types.duckdb"), readonly: false })]
] as const

describe.each(sessions)("DuckDB results as JSON, %s", (_label, session) => {
  layer(session)("result types", (it) => {
    it.effect("integers: number when safe, string beyond 2^53", () =>
      Effect.gen(function*() {
        const row = yield* one(`SELECT 1::BIGINT a, 2::HUGEINT b, 3::UBIGINT c, 4::UHUGEINT d, 5::TINYINT e,
          -9007199254740991::BIGINT f, 9007199254740993::BIGINT g, 18446744073709551615::UBIGINT h,
          (-170141183460469231731687303715884105727)::HUGEINT i, 7::UTINYINT j, 100000::UINTEGER k`)
        expect(row).toEqual({
          a: 1,
          b: 2,
          c: 3,
          d: 4,
          e: 5,
          f: -9007199254740991,
          g: "9007199254740993",
          h: "18446744073709551615",
          i: "-170141183460469231731687303715884105727",
          j: 7,
          k: 100000
        })
      }))

    it.effect("floating point and decimals", () =>
      Effect.gen(function*() {
        const row = yield* one(`SELECT 12.34::DECIMAL(10,2) a, 12.30::DECIMAL(10,2) b, (-0.5)::DECIMAL(4,2) c,
          '123456789012345678.91'::DECIMAL(38,2) d, '0.1'::DECIMAL(38,10) e, 1.5::DOUBLE f, 1.1::FLOAT g,
          'nan'::DOUBLE h, 'inf'::DOUBLE i, '-inf'::FLOAT j, (SELECT sum(x) FROM (VALUES (1.10::DECIMAL(10,2)), (2.20)) t(x)) k`)
        expect(row).toEqual({
          a: 12.34,
          b: 12.3,
          c: -0.5,
          d: "123456789012345678.91",
          e: 0.1,
          f: 1.5,
          g: 1.1,
          h: null,
          i: null,
          j: null,
          k: 3.3
        })
      }))

    it.effect("dates, timestamps, times and intervals", () =>
      Effect.gen(function*() {
        const row = yield* one(`SELECT DATE '2024-01-02' a, DATE '1969-12-31' b, 'infinity'::DATE c,
          TIMESTAMP '2024-01-02 03:04:05.123456' d, TIMESTAMP '2024-01-02 03:04:05' e,
          TIMESTAMP '1969-12-31 23:59:59.5' f, TIMESTAMPTZ '2024-01-02 03:04:05+02' g,
          '2024-01-02 03:04:05'::TIMESTAMP_S h, '2024-01-02 03:04:05.123'::TIMESTAMP_MS i,
          '2024-01-02 03:04:05.123456789'::TIMESTAMP_NS j, '-infinity'::TIMESTAMP k,
          TIME '12:34:56.5' l, TIME '00:00:01' m, TIMETZ '12:00:00+01' n, TIMETZ '08:30:00-05:30' o,
          INTERVAL '1 year 2 days 3 hours' p, DATE '0001-01-01' q`)
        expect(row).toEqual({
          a: "2024-01-02",
          b: "1969-12-31",
          c: "infinity",
          d: "2024-01-02T03:04:05.123456",
          e: "2024-01-02T03:04:05",
          f: "1969-12-31T23:59:59.500000",
          g: "2024-01-02T01:04:05Z",
          h: "2024-01-02T03:04:05",
          i: "2024-01-02T03:04:05.123000",
          j: "2024-01-02T03:04:05.123456789",
          k: "-infinity",
          l: "12:34:56.500000",
          m: "00:00:01",
          n: "12:00:00+01:00",
          o: "08:30:00-05:30",
          p: "1 year 2 days 03:00:00",
          q: "0001-01-01"
        })
      }))

    it.effect("blob, uuid, enum, bit, varchar, boolean, null", () =>
      Effect.gen(function*() {
        const row = yield* one(`SELECT 'ab'::BLOB a, '\\xFF\\x00'::BLOB b,
          '4ab3c1e2-8d5f-4f0e-9c7a-1b2c3d4e5f60'::UUID c, 'sad'::ENUM('sad', 'ok') d, '0101'::BIT e,
          'héllo' f, true g, NULL h, ''::VARCHAR i`)
        expect(row).toEqual({
          a: "YWI=",
          b: "/wA=",
          c: "4ab3c1e2-8d5f-4f0e-9c7a-1b2c3d4e5f60",
          d: "sad",
          e: "0101",
          f: "héllo",
          g: true,
          h: null,
          i: ""
        })
      }))

    it.effect("lists, arrays, structs, maps, unions", () =>
      Effect.gen(function*() {
        const row = yield* one(`SELECT [1, 2] a, [1, 2, 3]::INTEGER[3] b, {'a': 1} c, MAP {'x': 1, 'y': 2} d,
          MAP {1: 'one'} e, [{'k': [1, NULL], 'big': 9007199254740993::BIGINT}] f, []::INTEGER[] g,
          union_value(num := 2)::UNION(num INTEGER, str VARCHAR) h, [DATE '2024-01-02'] i,
          {'nested': {'deep': 'x'}} j`)
        expect(row).toEqual({
          a: [1, 2],
          b: [1, 2, 3],
          c: { a: 1 },
          d: { x: 1, y: 2 },
          e: { "1": "one" },
          f: [{ k: [1, null], big: "9007199254740993" }],
          g: [],
          h: 2,
          i: ["2024-01-02"],
          j: { nested: { deep: "x" } }
        })
      }))

    it.effect("rows are plain JSON: no bigint, Date or bytes anywhere", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const rows = yield* db.query(`SELECT i::BIGINT b, now() t, i::VARCHAR::BLOB bl, [i::HUGEINT] l
          FROM range(3) r(i)`)
        expect(rows).toHaveLength(3)
        const check = (v: unknown): void => {
          if (Array.isArray(v)) return v.forEach(check)
          if (v !== null && typeof v === "object") {
            expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
            return Object.values(v).forEach(check)
          }
          expect(["string", "number", "boolean"]).toContain(typeof v === "object" ? "string" : typeof v)
        }
        rows.forEach(check)
        expect(JSON.parse(JSON.stringify(rows))).toEqual(rows)
      }))

    it.effect("odd column names stay own data properties", () =>
      Effect.gen(function*() {
        const row = yield* one(`SELECT 1 AS "__proto__", 2 AS "constructor", 3 AS "a b"`)
        expect(Object.keys(row)).toEqual(["__proto__", "constructor", "a b"])
        expect(Object.getPrototypeOf(row)).toBe(Object.prototype)
        expect((row as Record<string, unknown>)["__proto__"]).toBe(1)
      }))

    it.effect("duplicate column names are kept, deduplicated", () =>
      Effect.gen(function*() {
        const row = yield* one(`SELECT 1 a, 2 a`)
        expect(Object.values(row)).toEqual([1, 2])
        expect(row["a"]).toBe(1)
      }))

    it.effect("values stored in a table come back the same", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.exec(`CREATE OR REPLACE TABLE all_types AS SELECT 9007199254740993::BIGINT big, 12.34::DECIMAL(10,2) num,
          DATE '2024-01-02' d, TIMESTAMP '2024-01-02 03:04:05.123456' ts, TIMESTAMPTZ '2024-01-02 03:04:05+02' tz,
          TIME '12:34:56' t, INTERVAL '90 minutes' iv, 'ab'::BLOB b, [1, 2] l, {'a': 1} s, MAP {'x': 1} m,
          '4ab3c1e2-8d5f-4f0e-9c7a-1b2c3d4e5f60'::UUID u, 'ok'::ENUM('sad', 'ok') e, NULL::INTEGER n`)
        expect(yield* db.query("SELECT * FROM all_types")).toEqual([{
          big: "9007199254740993",
          num: 12.34,
          d: "2024-01-02",
          ts: "2024-01-02T03:04:05.123456",
          tz: "2024-01-02T01:04:05Z",
          t: "12:34:56",
          iv: "01:30:00",
          b: "YWI=",
          l: [1, 2],
          s: { a: 1 },
          m: { x: 1 },
          u: "4ab3c1e2-8d5f-4f0e-9c7a-1b2c3d4e5f60",
          e: "ok",
          n: null
        }])
      }))

    it.effect("empty results and statements without rows", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query("SELECT 1 a WHERE false")).toEqual([])
        expect(yield* db.query("")).toEqual([])
        yield* db.exec("CREATE OR REPLACE TABLE empty_t (a INTEGER)")
        expect(yield* db.query("SELECT * FROM empty_t")).toEqual([])
      }))
  })
})
