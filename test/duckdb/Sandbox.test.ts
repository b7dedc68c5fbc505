/**
 * K2: free-form SQL runs in the sandbox (DuckDbSession.freeForm), checked on a real DuckDB file
 * beside a stand-in for the OAuth database and its key, while endpoint SQL (query) keeps its
 * access to files.
 */
import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DuckDbSessionNode } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { planProblem } from "../../src/layers/duckdb/Sandbox.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

const root = mkdtempSync(join(tmpdir(), "mxcp-sandbox-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const SECRET = "secret-marker-7f3a"
const oauthDb = join(root, "oauth.db")
const oauthKey = join(root, "oauth.db.key")
const csv = join(root, "data.csv")
writeFileSync(oauthDb, `SQLite format 3\u0000 refresh ${SECRET}`)
writeFileSync(oauthKey, SECRET)
writeFileSync(csv, `id,label\n1,${SECRET}\n`)
const q = (s: string) => s.replace(/'/g, "''")

const refusal = (sql: string, allowWrites = false) =>
  Effect.flatMap(DuckDbSession, (db) => Effect.flip(db.freeForm(sql, {}, { allowWrites })))

/** The query is refused by the sandbox (not run), and the refusal carries no file content. */
const expectRefused = (sql: string, reason: RegExp, allowWrites = false) =>
  Effect.gen(function*() {
    const error = yield* refusal(sql, allowWrites)
    expect(error._tag, sql).toBe("SqlNotAllowed")
    expect(error.message, sql).toMatch(reason)
    expect(error.message, sql).not.toContain(SECRET)
  })

const session = (name: string) => DuckDbSessionNode({ path: join(root, "db", `${name}.duckdb`), readonly: false, poolSize: 2 }, (db) =>
  db.exec(
    "CREATE SCHEMA sales; CREATE TYPE mood AS ENUM ('ok', 'meh'); CREATE SEQUENCE ids;" +
      "CREATE TABLE products (id INTEGER DEFAULT nextval('ids') PRIMARY KEY, name VARCHAR, m mood);" +
      "INSERT INTO products (name, m) VALUES ('shoe', 'ok'), ('sock', 'meh');" +
      "CREATE TABLE sales.orders (id INTEGER, product INTEGER);" +
      "CREATE MACRO twice(x) AS x * 2; CREATE MACRO firsts(n) AS TABLE SELECT * FROM products WHERE id <= n;" +
      "CREATE VIEW cheap AS SELECT name, twice(id) AS d FROM products;" +
      `CREATE VIEW from_file AS SELECT * FROM read_csv('${q(csv)}')`
  ))

describe("K2 the free-form SQL sandbox", () => {
  layer(session("attacks"))("attacks", (it) => {
    it.effect("K2 reading files is refused: read_text, read_blob of the OAuth database and its key, glob, csv, replacement scans", () =>
      Effect.gen(function*() {
        yield* expectRefused("SELECT * FROM read_text('/etc/passwd')", /Permission Error/)
        yield* expectRefused(`SELECT * FROM read_blob('${q(oauthDb)}')`, /Permission Error/)
        yield* expectRefused(`SELECT * FROM read_blob('${q(oauthDb)}-wal')`, /Permission Error/)
        yield* expectRefused(`SELECT content FROM read_text('${q(oauthKey)}')`, /Permission Error/)
        yield* expectRefused(`SELECT * FROM glob('${q(root)}/*')`, /Permission Error/)
        yield* expectRefused(`SELECT * FROM read_csv('${q(csv)}')`, /Permission Error/)
        yield* expectRefused(`SELECT * FROM '${q(csv)}'`, /Permission Error/)
        yield* expectRefused(`SELECT * FROM query('SELECT * FROM read_text(''${q(oauthKey)}'')')`, /Permission Error/)
        yield* expectRefused("SELECT * FROM read_json_auto('https://example.com/x.json')", /Permission Error/)
        // A function that reads its file only when it runs, not when it binds.
        yield* expectRefused(`SELECT * FROM sniff_csv('${q(csv)}')`, /sniff_csv/)
        // ... and that would be pruned away on the mirror's empty table by the optimizer.
        yield* expectRefused(
          `SELECT * FROM products, sniff_csv('${q(csv)}') WHERE products.id = 1 AND products.id > 5`,
          /sniff_csv/
        )
      }))

    it.effect("K2 writing files, attaching databases, installing or loading extensions is refused", () =>
      Effect.gen(function*() {
        const target = join(root, "written.csv")
        yield* expectRefused(`COPY products TO '${q(target)}'`, /COPY|Permission/)
        yield* expectRefused(`COPY (SELECT 1) TO '${q(target)}'`, /COPY|Permission/)
        yield* expectRefused(`EXPORT DATABASE '${q(join(root, "export"))}'`, /EXPORT|Permission/)
        yield* expectRefused(`ATTACH '${q(join(root, "attached.duckdb"))}' AS other`, /ATTACH/)
        yield* expectRefused("ATTACH ':memory:' AS other", /ATTACH/)
        yield* expectRefused("INSTALL h3 FROM community", /LOAD/)
        yield* expectRefused("LOAD json", /LOAD/)
        // With writes allowed, still none of these.
        yield* expectRefused(`COPY products TO '${q(target)}'`, /COPY|Permission/, true)
        yield* expectRefused(`ATTACH '${q(join(root, "attached.duckdb"))}' AS other`, /ATTACH/, true)
        yield* expectRefused("INSTALL httpfs", /LOAD/, true)
        expect(existsSync(target)).toBe(false)
        expect(readdirSync(root).sort()).toEqual(["data.csv", "db", "oauth.db", "oauth.db.key"])
      }))

    it.effect("K2 settings, PRAGMA, transactions and other statement kinds are refused", () =>
      Effect.gen(function*() {
        for (
          const sql of [
            "SET memory_limit = '1MB'",
            "SET GLOBAL threads = 1",
            "RESET memory_limit",
            "PRAGMA threads = 1",
            "SET search_path = 'sales'",
            "USE sales",
            "SET VARIABLE x = 1",
            "BEGIN",
            "ROLLBACK",
            "CHECKPOINT",
            "VACUUM",
            "CALL pragma_version()",
            "PREPARE p AS SELECT 1",
            "EXPLAIN SELECT 1",
            "ANALYZE"
          ]
        ) {
          yield* expectRefused(sql, /not allowed|only SELECT/)
          yield* expectRefused(sql, /not allowed/, true)
        }
      }))

    it.effect("K2 without allow_writes no data or catalog change; with it tables change, views and macros never", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        for (
          const sql of [
            "INSERT INTO products (name) VALUES ('x')",
            "UPDATE products SET name = 'x'",
            "DELETE FROM products",
            "CREATE TABLE t (a INT)",
            "DROP TABLE products",
            "ALTER TABLE products ADD COLUMN x INT",
            "CREATE TEMP MACRO get_username() AS 'evil'",
            "CREATE OR REPLACE TEMP VIEW products AS SELECT 'injected' AS name"
          ]
        ) yield* expectRefused(sql, /only SELECT statements are allowed \(sql_tools\.allow_writes is false/)
        expect(yield* db.query("SELECT count(*) AS n FROM products")).toEqual([{ n: 2 }])

        // allow_writes: data and tables.
        const inserted = yield* db.freeForm("INSERT INTO products (name, m) VALUES ('hat', 'ok')", {}, { allowWrites: true })
        expect(inserted.rows).toEqual([{ "Count": 1 }])
        yield* db.freeForm("CREATE TABLE notes AS SELECT 1 AS id, 'hello' AS body", {}, { allowWrites: true })
        yield* db.freeForm("ALTER TABLE notes ADD COLUMN extra INTEGER", {}, { allowWrites: true })
        expect((yield* db.freeForm("SELECT * FROM notes")).rows).toEqual([{ id: 1, body: "hello", extra: null }])
        yield* db.freeForm("DROP TABLE notes", {}, { allowWrites: true })
        // Views and macros: refused before running, or rolled back after.
        yield* expectRefused("CREATE VIEW mine AS SELECT 1 AS a", /creating views is not allowed/, true)
        yield* expectRefused("CREATE OR REPLACE VIEW cheap AS SELECT 'injected' AS name", /creating views/, true)
        yield* expectRefused("CREATE MACRO main.get_username() AS 'evil'", /creating macros is not allowed/, true)
        yield* expectRefused("CREATE TEMP MACRO get_username() AS 'evil'", /creating macros/, true)
        yield* expectRefused("DROP VIEW cheap", /view .*cheap would be dropped/, true)
        yield* expectRefused("DROP MACRO twice", /macro .*twice would be dropped/, true)
        yield* expectRefused("ALTER VIEW cheap RENAME TO dear", /would be/, true)
        expect(yield* db.query("SELECT name, d FROM cheap ORDER BY d")).toEqual([
          { name: "shoe", d: 2 },
          { name: "sock", d: 4 },
          { name: "hat", d: 6 }
        ])
        expect(yield* db.query("SELECT twice(21) AS x, get_username() AS u")).toEqual([{ x: 42, u: "" }])
      }))

    it.effect("K2 what a file-free SELECT could still leak: secrets, settings, other requests' statements, logs", () =>
      Effect.gen(function*() {
        yield* expectRefused("SELECT * FROM duckdb_secrets()", /duckdb_secrets/)
        yield* expectRefused("SELECT * FROM which_secret('s3://bucket/x', 's3')", /which_secret/)
        yield* expectRefused("SELECT * FROM duckdb_settings()", /duckdb_settings/)
        yield* expectRefused("SELECT current_setting('secret_directory') AS d", /current_setting\(\) is not available/)
        yield* expectRefused("SELECT system.main.current_setting('temp_directory') AS d", /current_setting/)
        yield* expectRefused("SELECT * FROM duckdb_prepared_statements()", /duckdb_prepared_statements/)
        yield* expectRefused("SELECT * FROM duckdb_logs", /duckdb_log/)
        yield* expectRefused("SELECT * FROM duckdb_variables()", /duckdb_variables/)
        yield* expectRefused("SELECT * FROM duckdb_temporary_files()", /duckdb_temporary_files/)
        yield* expectRefused("SELECT * FROM duckdb_extensions()", /duckdb_extensions/)
        yield* expectRefused("SELECT * FROM checkpoint()", /checkpoint/)
        yield* expectRefused("SELECT * FROM enable_logging()", /enable_logging/)
        yield* expectRefused("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", /json_execute/)
      }))
  })

  layer(session("available"))("what stays available", (it) => {
    it.effect("K2 ordinary SELECTs over the project's tables, views, macros, schemas, types and metadata work", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const rows = (sql: string) => Effect.map(db.freeForm(sql), (r) => r.rows)
        expect(yield* rows("SELECT name, m FROM products ORDER BY id")).toEqual([
          { name: "shoe", m: "ok" },
          { name: "sock", m: "meh" }
        ])
        expect(yield* rows("SELECT * FROM cheap ORDER BY d")).toEqual([{ name: "shoe", d: 2 }, { name: "sock", d: 4 }])
        expect(yield* rows("SELECT twice(5) AS t, 'meh'::mood AS m")).toEqual([{ t: 10, m: "meh" }])
        expect(yield* rows("SELECT count(*) AS n FROM firsts(1)")).toEqual([{ n: 1 }])
        expect(yield* rows("SELECT count(*) AS n FROM sales.orders")).toEqual([{ n: 0 }])
        expect(yield* rows("SELECT * FROM query('SELECT 1 AS one')")).toEqual([{ one: 1 }])
        expect(yield* rows("SELECT * FROM query_table('products') ORDER BY id LIMIT 1")).toEqual([{ id: 1, name: "shoe", m: "ok" }])
        expect((yield* rows("DESCRIBE products")).map((r) => r["column_name"])).toEqual(["id", "name", "m"])
        expect((yield* rows("SHOW TABLES")).map((r) => r["name"])).toContain("products")
        expect(yield* rows("SELECT sum(range) AS s FROM range(10)")).toEqual([{ s: 45 }])
        expect(yield* rows("SELECT t.id, g.generate_series AS g FROM products t, generate_series(1, t.id) g ORDER BY 1, 2"))
          .toEqual([{ id: 1, g: 1 }, { id: 2, g: 1 }, { id: 2, g: 2 }])
        expect(yield* rows("SELECT get_username() AS u")).toEqual([{ u: "" }])
        // Parameters bind as for any query.
        expect((yield* db.freeForm("SELECT name FROM products WHERE id = $id", { id: 2 })).rows).toEqual([{ name: "sock" }])
      }))

    it.effect("K2 objects whose definitions read files are absent from free-form SQL, and the error says why", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const error = yield* Effect.flip(db.freeForm("SELECT * FROM from_file"))
        expect(error._tag).toBe("SqlError")
        expect(error.message).toMatch(/Catalog Error/)
        expect(error.message).toMatch(/view main\.from_file/)
        expect(error.message).not.toContain(SECRET)
      }))

    it.effect("K2 endpoint SQL (query) keeps its access: local files, and the views over them", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(yield* db.query(`SELECT label FROM read_csv('${q(csv)}')`)).toEqual([{ label: SECRET }])
        expect(yield* db.query("SELECT label FROM from_file")).toEqual([{ label: SECRET }])
        // The instance never downloads an extension by itself, but it is not sandboxed either:
        // a URL fails for want of httpfs, not for want of permission.
        const remote = yield* Effect.flip(db.query("SELECT * FROM read_json_auto('https://127.0.0.1:9/x.json')"))
        expect(remote.message).not.toMatch(/Permission Error/)
      }))

    it.effect("K2 the mirror follows the catalog: a table created later is visible to free-form SQL", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect((yield* Effect.flip(db.freeForm("SELECT * FROM late"))).message).toMatch(/late/)
        yield* db.exec("CREATE TABLE late AS SELECT 7 AS x")
        expect((yield* db.freeForm("SELECT x FROM late")).rows).toEqual([{ x: 7 }])
        yield* db.exec("DROP TABLE late")
        expect((yield* Effect.flip(db.freeForm("SELECT * FROM late")))._tag).toBe("SqlError")
      }))

    it.effect("K2 exactly one statement; a syntax error is an SQL error", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const two = yield* Effect.flip(db.freeForm("SELECT 1; SELECT 2"))
        expect(two._tag).toBe("SqlNotAllowed")
        expect(two.message).toMatch(/exactly one SQL statement is allowed \(got 2\)/)
        const stacked = yield* Effect.flip(db.freeForm("SELECT 1; DROP TABLE products", {}, { allowWrites: true }))
        expect(stacked._tag).toBe("SqlNotAllowed")
        const none = yield* Effect.flip(db.freeForm("-- nothing"))
        expect(none._tag).toBe("SqlNotAllowed")
        const syntax = yield* Effect.flip(db.freeForm("SELEC 1"))
        expect(syntax._tag).toBe("SqlError")
        expect(syntax.message).toMatch(/syntax error/)
        expect(yield* db.query("SELECT count(*) AS n FROM products")).toEqual([{ n: 2 }])
      }))
  })
})

describe("K2 read-only databases", () => {
  it.effect("K2 --readonly: free-form SQL still cannot read files or COPY TO; SELECTs work", () =>
    Effect.gen(function*() {
      const path = join(root, "db", "readonly.duckdb")
      yield* Effect.provide(
        Effect.flatMap(DuckDbSession, (db) => db.exec("CREATE TABLE products AS SELECT 1 AS id")),
        DuckDbSessionNode({ path, readonly: false })
      )
      yield* Effect.gen(function*() {
        yield* expectRefused(`SELECT content FROM read_text('${q(oauthKey)}')`, /Permission Error/)
        yield* expectRefused(`COPY products TO '${q(join(root, "from-readonly.csv"))}'`, /COPY|Permission/, true)
        const db = yield* DuckDbSession
        expect((yield* db.freeForm("SELECT id FROM products")).rows).toEqual([{ id: 1 }])
        expect(existsSync(join(root, "from-readonly.csv"))).toBe(false)
      }).pipe(Effect.provide(DuckDbSessionNode({ path, readonly: true })))
    }))
})

describe("K2 plan check", () => {
  it("K2 planProblem allows listed table functions and refuses others, lateral ones included", () => {
    expect(planProblem([{ name: "RANGE", children: [], extra_info: { Function: "RANGE" } }])).toBeUndefined()
    expect(planProblem([{ name: "SEQ_SCAN", children: [], extra_info: { Table: "main.t" } }])).toBeUndefined()
    expect(planProblem({ name: "PROJECTION", children: [{ name: "SNIFF_CSV", extra_info: { Function: "SNIFF_CSV" } }] }))
      .toMatch(/sniff_csv/)
    expect(planProblem([{ name: "INOUT_FUNCTION", extra_info: { Name: "range" } }])).toBeUndefined()
    expect(planProblem([{ name: "INOUT_FUNCTION", extra_info: { Name: "read_csv" } }])).toMatch(/read_csv/)
    expect(planProblem([{ name: "INOUT_FUNCTION", extra_info: {} }])).toMatch(/unnamed/)
    expect(planProblem([{ name: "CREATE_MACRO", extra_info: {} }])).toMatch(/macros/)
  })
})
