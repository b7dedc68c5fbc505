import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { DuckDbSessionMemory } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

const one = (sql: string, params?: Record<string, unknown>) =>
  Effect.gen(function*() {
    const db = yield* DuckDbSession
    const rows = yield* db.query(sql, params)
    expect(rows).toHaveLength(1)
    return rows[0]!
  })

describe("DuckDB named parameters", () => {
  layer(DuckDbSessionMemory)("binding", (it) => {
    it.effect("scalars bind with their DuckDB types; unused params are ignored, missing ones are NULL", () =>
      Effect.gen(function*() {
        const row = yield* one(
          `SELECT $s s, typeof($s) ts, $b b, typeof($b) tb, $i i, typeof($i) ti, $big big, typeof($big) tbig,
            $f f, typeof($f) tf, $n n, $u u, $missing m, $bi bi, typeof($bi) tbi, $huge huge, $blob blob, typeof($blob) tblob`,
          {
            s: "x",
            b: true,
            i: 42,
            big: 2 ** 40,
            f: 1.5,
            n: null,
            u: undefined,
            bi: 2n ** 62n,
            huge: 2n ** 100n,
            blob: new Uint8Array([97, 98]),
            notInTheSql: "ignored"
          }
        )
        expect(row).toEqual({
          s: "x",
          ts: "VARCHAR",
          b: true,
          tb: "BOOLEAN",
          i: 42,
          ti: "INTEGER",
          big: 2 ** 40,
          tbig: "BIGINT",
          f: 1.5,
          tf: "DOUBLE",
          n: null,
          u: null,
          m: null,
          bi: "4611686018427387904",
          tbi: "BIGINT",
          huge: "1267650600228229401496703205376",
          blob: "YWI=",
          tblob: "BLOB"
        })
      }))

    it.effect("a parameter used several times, in expressions and WHERE clauses", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const rows = yield* db.query(
          "SELECT i FROM range(10) r(i) WHERE i >= $lo AND i < $lo + $n ORDER BY i",
          { lo: 3, n: 2 }
        )
        expect(rows).toEqual([{ i: 3 }, { i: 4 }])
      }))

    it.effect("names match case-insensitively like DuckDB's, exact spelling first", () =>
      Effect.gen(function*() {
        expect(yield* one("SELECT $userId a", { userid: 1 })).toEqual({ a: 1 })
        expect(yield* one("SELECT $userId a", { userid: 1, userId: 2 })).toEqual({ a: 2 })
      }))

    it.effect("positional parameters are named 1, 2, ...", () =>
      Effect.gen(function*() {
        expect(yield* one("SELECT ? a, ? b", { "1": "x", "2": 2 })).toEqual({ a: "x", b: 2 })
      }))

    it.effect("arrays bind as typed lists", () =>
      Effect.gen(function*() {
        const row = yield* one(
          `SELECT $ints a, typeof($ints) ta, list_contains($ints, 2) c, $strs s, typeof($strs) ts, $empty e,
            len($empty) le, $mixedNum mn, typeof($mixedNum) tmn, $nested n, typeof($nested) tn,
            $withNull wn, $bools bo`,
          {
            ints: [1, 2, 3],
            strs: ["a", "b"],
            empty: [],
            mixedNum: [1, 2.5, 2 ** 40],
            nested: [[1], [], [2, 3]],
            withNull: [null, "x"],
            bools: [true, false]
          }
        )
        expect(row).toEqual({
          a: [1, 2, 3],
          ta: "INTEGER[]",
          c: true,
          s: ["a", "b"],
          ts: "VARCHAR[]",
          e: [],
          le: 0,
          mn: [1, 2.5, 2 ** 40],
          tmn: "DOUBLE[]",
          n: [[1], [], [2, 3]],
          tn: "INTEGER[][]",
          wn: [null, "x"],
          bo: [true, false]
        })
      }))

    it.effect("a list parameter works with IN / unnest", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const rows = yield* db.query("SELECT i FROM range(6) r(i) WHERE i IN (SELECT unnest($ids)) ORDER BY i", {
          ids: [1, 4, 9]
        })
        expect(rows).toEqual([{ i: 1 }, { i: 4 }])
      }))

    it.effect("plain objects bind as structs (missing keys in a list of objects are NULL)", () =>
      Effect.gen(function*() {
        const row = yield* one(
          `SELECT $o.a a, $o.b b, $o.inner.deep d, typeof($o) t, $list l`,
          { o: { a: 1, b: "x", inner: { deep: [true] } }, list: [{ k: 1 }, { k: 2, v: "y" }] }
        )
        expect(row).toEqual({
          a: 1,
          b: "x",
          d: [true],
          t: "STRUCT(a INTEGER, b VARCHAR, \"inner\" STRUCT(deep BOOLEAN[]))",
          l: [{ k: 1, v: null }, { k: 2, v: "y" }]
        })
      }))

    it.effect("values with no single DuckDB type bind as JSON text", () =>
      Effect.gen(function*() {
        const row = yield* one(
          `SELECT $mixed m, typeof($mixed) tm, $empty e, json_extract_string($mixed, '$[1]') sec`,
          { mixed: [1, "two", { three: 3 }], empty: {} }
        )
        expect(row).toEqual({ m: "[1,\"two\",{\"three\":3}]", tm: "VARCHAR", e: "{}", sec: "two" })
      }))

    it.effect("DuckDB casts bound values to the type the SQL context expects", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.exec(
          "CREATE TABLE ev (d DATE, ts TIMESTAMP, name VARCHAR, n INTEGER, amt DECIMAL(10,2));" +
            "INSERT INTO ev VALUES ('2024-01-02', '2024-01-02 10:00', '5', 5, 1.50), ('2024-02-01', NULL, 'x', 6, 2)"
        )
        const count = (where: string, params: Record<string, unknown>) =>
          db.query(`SELECT count(*) c FROM ev WHERE ${where}`, params).pipe(Effect.map((rows) => rows[0]?.["c"]))
        expect(yield* count("d = $d", { d: "2024-01-02" })).toBe(1)
        expect(yield* count("d >= $d", { d: "2024-01-01" })).toBe(2)
        expect(yield* count("ts >= $t", { t: "2024-01-01T00:00:00" })).toBe(1)
        expect(yield* count("n = $n", { n: "5" })).toBe(1)
        expect(yield* count("name = $n", { n: 5 })).toBe(1)
        expect(yield* count("amt = $a", { a: 1.5 })).toBe(1)
        expect(yield* count("d = $d::DATE", { d: new Date("2024-01-02T00:00:00Z") })).toBe(1)
        expect(yield* db.query("SELECT * FROM ev ORDER BY n LIMIT $l", { l: 1 })).toHaveLength(1)
      }))

    it.effect("Dates bind as TIMESTAMPTZ; null struct fields are NULL", () =>
      Effect.gen(function*() {
        const row = yield* one("SELECT $t t, typeof($t) ty, $o.a a, $o.b b, $l l", {
          t: new Date("2024-01-02T03:04:05.678Z"),
          o: { a: 1, b: null },
          l: [{ a: null }, { a: 2 }]
        })
        expect(row).toEqual({
          t: "2024-01-02T03:04:05.678000Z",
          ty: "TIMESTAMP WITH TIME ZONE",
          a: 1,
          b: null,
          l: [{ a: null }, { a: 2 }]
        })
      }))

    it.effect("SQL injection through a parameter stays data", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        yield* db.exec("CREATE TABLE victims (name VARCHAR); INSERT INTO victims VALUES ('alice')")
        const evil = "x'; DROP TABLE victims; --"
        const rows = yield* db.query("SELECT $name AS v, (SELECT count(*) FROM victims WHERE name = $name) n", {
          name: evil
        })
        expect(rows).toEqual([{ v: evil, n: 0 }])
        const evilList = ["') ; DROP TABLE victims; --"]
        expect(yield* db.query("SELECT $l l", { l: evilList })).toEqual([{ l: evilList }])
        expect(yield* db.query("SELECT name FROM victims")).toEqual([{ name: "alice" }])
      }))

    it.effect("several statements: each gets its parameters, the last one's rows come back", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const rows = yield* db.query(
          "CREATE TEMP TABLE multi AS SELECT $a::INTEGER x; INSERT INTO multi VALUES ($b); SELECT sum(x) s FROM multi",
          { a: 1, b: 41 }
        )
        expect(rows).toEqual([{ s: 42 }])
      }))
  })
})
