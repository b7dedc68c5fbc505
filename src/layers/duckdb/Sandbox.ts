/**
 * The sandbox for free-form SQL (`execute_sql_query`, `list_tables`, `get_table_schema`; K2).
 *
 * Every DuckDB security setting is global to an instance, and endpoint SQL must keep its access
 * to files and URLs, so the project's instance cannot be locked down. Instead a second instance,
 * the *binder*, decides: an in-memory DuckDB created with external access, extension
 * auto-loading and installing and community extensions off, no temp directory, and its
 * configuration then locked. It holds a mirror of the project's catalog definitions (schemas,
 * types, sequences, tables, indexes, macros, views; no data), rebuilt whenever the project's
 * catalog epoch moved. A free-form request must be exactly one statement, and:
 *
 * 1. It is prepared on the binder. DuckDB itself refuses there any file, URL, extension or
 *    attached database at bind time ("Permission Error ..."). Objects the mirror could not
 *    create (a view over `read_csv`, which binds a file) are absent, so free-form SQL cannot use
 *    them either.
 * 2. Its statement type must be SELECT, or, with `allow_writes`, INSERT/UPDATE/DELETE/MERGE or
 *    CREATE/ALTER/DROP. Never ATTACH, DETACH, COPY, EXPORT, IMPORT, LOAD, INSTALL, SET, RESET,
 *    PRAGMA, CALL, transactions, VACUUM, CHECKPOINT, USE, PREPARE, EXECUTE, EXPLAIN, ...
 * 3. Its plan (`EXPLAIN`, with the binder's optimizer off so nothing is pruned away) may use only
 *    the table functions in `ALLOWED_TABLE_FUNCTIONS`: a few do their file access at execution
 *    rather than at bind time (`sniff_csv`), change the instance (`checkpoint()`,
 *    `enable_logging()`), read raw memory (`arrow_scan`) or show what other requests left behind
 *    or the instance's secrets and settings (`duckdb_secrets()`, `duckdb_settings()`,
 *    `duckdb_prepared_statements()`, `duckdb_logs`). CREATE VIEW and CREATE MACRO are refused
 *    here too: views and macros run with the full access of the endpoints that use them.
 * 4. `current_setting()` cannot be bound on the binder (a second registration of the same
 *    signature makes every call ambiguous, qualified or not): on the project it would show the
 *    instance's settings.
 *
 * Only then does the statement run, unchanged, on the project instance (through the normal pool).
 * There is no string matching on the SQL text anywhere: DuckDB parses, binds and plans it.
 */
import { DuckDBInstance, DuckDBScalarFunction, StatementType, VARCHAR } from "@duckdb/node-api"
import type { DuckDBConnection } from "@duckdb/node-api"
import type { Row } from "../../services/duckdb/DuckDbSession.js"
import { SqlError, SqlNotAllowed } from "../../services/duckdb/DuckDbSession.js"
import { bindParameters } from "./Binding.js"
import { jsonFromDuckDb, setEntry } from "./JsonValues.js"
import { closeQuietly, extractStatements } from "./Statements.js"
import { callerFunctionNames, registerUserFunctions } from "./UserFunctions.js"

/** Table functions free-form SQL may use (lower case); anything else in the plan is refused. */
export const ALLOWED_TABLE_FUNCTIONS: ReadonlySet<string> = new Set([
  "range",
  "generate_series",
  "unnest",
  "repeat",
  "repeat_row",
  "json_each",
  "json_tree",
  "summary",
  "test_all_types",
  "test_vector_types",
  "icu_calendar_names",
  "pg_timezone_names",
  "sql_auto_complete",
  // catalog and engine metadata (information_schema, SHOW, DESCRIBE are built on these)
  "duckdb_columns",
  "duckdb_constraints",
  "duckdb_databases",
  "duckdb_dependencies",
  "duckdb_functions",
  "duckdb_indexes",
  "duckdb_keywords",
  "duckdb_schemas",
  "duckdb_sequences",
  "duckdb_tables",
  "duckdb_types",
  "duckdb_views",
  "duckdb_optimizers",
  "duckdb_secret_types",
  "duckdb_coordinate_systems",
  "duckdb_memory",
  "duckdb_approx_database_count",
  "pragma_table_info",
  "pragma_show",
  "pragma_version",
  "pragma_platform",
  "pragma_collations",
  "pragma_database_size",
  "pragma_storage_info",
  "pragma_user_agent"
])

/** Plan operators refused even with `allow_writes`. */
const REFUSED_OPERATORS: ReadonlyMap<string, string> = new Map([
  ["CREATE_VIEW", "creating views is not allowed (views run with the full access of the endpoints that read them)"],
  ["CREATE_MACRO", "creating macros is not allowed (macros run with the full access of the endpoints that call them)"]
])

/** Built-in scalar functions made unbindable on the binder. */
const BLOCKED_SCALAR_FUNCTIONS: ReadonlyArray<string> = ["current_setting"]

const WRITE_TYPES: ReadonlySet<StatementType> = new Set([
  StatementType.INSERT,
  StatementType.UPDATE,
  StatementType.DELETE,
  StatementType.MERGE_INTO,
  StatementType.CREATE,
  StatementType.ALTER,
  StatementType.DROP
])

const q = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error)).trim()

const notAllowed = (reason: string) => new SqlNotAllowed({ reason })

// ---------------------------------------------------------------------------------------------
// The project's catalog, as definitions

interface CatalogObject {
  readonly database: string
  /** The schema to `USE` while creating it (its SQL names the schema itself, or not). */
  readonly schema: string
  readonly label: string
  readonly sql: string
}

export interface CatalogSnapshot {
  readonly defaultDatabase: string
  readonly databases: ReadonlyArray<string>
  /** In creation order: schemas, types, sequences, tables, indexes, macros, views. */
  readonly objects: ReadonlyArray<CatalogObject>
}

export const rowsOf = async (connection: DuckDBConnection, sql: string): Promise<ReadonlyArray<Row>> => {
  const reader = await connection.runAndReadAll(sql)
  const names = reader.deduplicatedColumnNames()
  const types = reader.columnTypes()
  return reader.getRows().map((values) => {
    const row: Record<string, ReturnType<typeof jsonFromDuckDb>> = {}
    names.forEach((name, i) => {
      const type = types[i]
      if (type !== undefined) setEntry(row, name, jsonFromDuckDb(values[i] ?? null, type))
    })
    return row
  })
}

const text = (row: Row, key: string): string => {
  const value = row[key]
  return typeof value === "string" ? value : value === null || value === undefined ? "" : String(value)
}

const NOT_SYSTEM = "database_name NOT IN ('system', 'temp')"

/** Reads the definitions of everything in the project's catalog (on a connection of its own). */
export const readCatalog = async (connection: DuckDBConnection): Promise<CatalogSnapshot> => {
  const defaultDatabase = text((await rowsOf(connection, "SELECT current_database() AS d"))[0] ?? {}, "d")
  const databases = (await rowsOf(connection, `SELECT database_name FROM duckdb_databases() WHERE NOT internal AND ${NOT_SYSTEM}`))
    .map((r) => text(r, "database_name"))
  const objects: Array<CatalogObject> = []
  const add = (row: Row, label: string, sql: string, schema = "main") =>
    objects.push({ database: text(row, "database_name"), schema, label, sql })

  for (const r of await rowsOf(connection, `SELECT database_name, schema_name FROM duckdb_schemas() WHERE NOT internal AND ${NOT_SYSTEM}`)) {
    add(r, `schema ${text(r, "schema_name")}`, `CREATE SCHEMA IF NOT EXISTS ${q(text(r, "schema_name"))}`)
  }
  const types = await rowsOf(
    connection,
    `SELECT database_name, schema_name, type_name FROM duckdb_types() WHERE NOT internal AND ${NOT_SYSTEM} ORDER BY type_oid`
  )
  try {
    for (const r of types) {
      const schema = text(r, "schema_name")
      const name = text(r, "type_name")
      await connection.run(`USE ${q(text(r, "database_name"))}`)
      const definition = text((await rowsOf(connection, `SELECT typeof(NULL::${q(schema)}.${q(name)}) AS t`))[0] ?? {}, "t")
      if (definition !== "") add(r, `type ${schema}.${name}`, `CREATE TYPE ${q(schema)}.${q(name)} AS ${definition}`)
    }
  } finally {
    if (types.length > 0) await connection.run(`USE ${q(defaultDatabase)}`)
  }
  for (const r of await rowsOf(connection, `SELECT database_name, schema_name, sequence_name, sql FROM duckdb_sequences() WHERE NOT temporary AND ${NOT_SYSTEM}`)) {
    add(r, `sequence ${text(r, "schema_name")}.${text(r, "sequence_name")}`, text(r, "sql"), text(r, "schema_name"))
  }
  for (
    const r of await rowsOf(
      connection,
      `SELECT database_name, schema_name, table_name, sql FROM duckdb_tables() WHERE NOT internal AND NOT temporary AND ${NOT_SYSTEM} ORDER BY table_oid`
    )
  ) {
    add(r, `table ${text(r, "schema_name")}.${text(r, "table_name")}`, text(r, "sql"))
  }
  for (const r of await rowsOf(connection, `SELECT database_name, schema_name, index_name, sql FROM duckdb_indexes() WHERE sql IS NOT NULL AND ${NOT_SYSTEM}`)) {
    add(r, `index ${text(r, "schema_name")}.${text(r, "index_name")}`, text(r, "sql"), text(r, "schema_name"))
  }
  const macros = await rowsOf(
    connection,
    `SELECT database_name, schema_name, function_name, function_type, parameters, parameter_types, macro_definition
     FROM duckdb_functions()
     WHERE NOT internal AND function_type IN ('macro', 'table_macro') AND ${NOT_SYSTEM}
     ORDER BY function_oid`
  )
  const overloads = new Map<string, { row: Row; bodies: Array<string> }>()
  for (const r of macros) {
    const name = text(r, "function_name")
    if (callerFunctionNames.includes(name.toLowerCase())) continue
    const key = JSON.stringify([r["database_name"], r["schema_name"], name, r["function_type"]])
    const names = Array.isArray(r["parameters"]) ? r["parameters"] : []
    const typesOf = Array.isArray(r["parameter_types"]) ? r["parameter_types"] : []
    // Defaults of parameters are not in duckdb_functions(): every parameter is required here, so
    // a free-form call must pass them all (positionally).
    const params = names.map((p, i) => {
      const type = typesOf[i]
      return `${q(String(p))}${typeof type === "string" && type !== "" ? ` ${type}` : ""}`
    })
    const body = `(${params.join(", ")}) AS ${r["function_type"] === "table_macro" ? "TABLE " : ""}${text(r, "macro_definition")}`
    const entry = overloads.get(key)
    if (entry === undefined) overloads.set(key, { row: r, bodies: [body] })
    else entry.bodies.push(body)
  }
  for (const { bodies, row } of overloads.values()) {
    const schema = text(row, "schema_name")
    const name = text(row, "function_name")
    add(row, `macro ${schema}.${name}`, `CREATE MACRO ${q(schema)}.${q(name)}${bodies.join(", ")}`)
  }
  for (
    const r of await rowsOf(
      connection,
      `SELECT database_name, schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal AND NOT temporary AND ${NOT_SYSTEM} ORDER BY view_oid`
    )
  ) {
    add(r, `view ${text(r, "schema_name")}.${text(r, "view_name")}`, text(r, "sql"))
  }
  return { defaultDatabase, databases, objects }
}

// ---------------------------------------------------------------------------------------------
// The binder

export interface Binder {
  /** Checks one free-form statement; fails with SqlNotAllowed or SqlError. Gives its type. */
  readonly check: (
    sql: string,
    params: Readonly<Record<string, unknown>>,
    allowWrites: boolean
  ) => Promise<StatementType>
  /** Catalog objects of the project the mirror could not create (free-form SQL cannot use them). */
  readonly absent: ReadonlyArray<string>
  readonly close: () => void
}

export const createBinder = async (snapshot: CatalogSnapshot): Promise<Binder> => {
  const instance = await DuckDBInstance.create(":memory:", {
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
    allow_community_extensions: "false",
    threads: "1",
    memory_limit: "256MB"
  })
  let connection: DuckDBConnection | undefined
  try {
    connection = await instance.connect()
    const conn = connection
    registerUserFunctions(conn, new Map(), new Set())
    // In this order: DuckDB adds its temp directory to allowed_directories, and nothing can be
    // changed once external access is off and the configuration is locked.
    await conn.run(
      "SET temp_directory = ''; SET allowed_directories = []; SET allowed_paths = []; " +
        "SET allow_persistent_secrets = false; SET enable_external_access = false"
    )
    for (const database of snapshot.databases) {
      if (database !== "memory") await conn.run(`ATTACH ':memory:' AS ${q(database)}`)
    }
    let pending = [...snapshot.objects]
    const failed = new Map<string, string>()
    // Passes until nothing more can be created (a view may need a view or macro created later).
    for (let progress = true; progress && pending.length > 0;) {
      progress = false
      const next: Array<CatalogObject> = []
      for (const object of pending) {
        try {
          await conn.run(`USE ${q(object.database)}.${q(object.schema)}`)
          await conn.run(object.sql)
          progress = true
          failed.delete(object.label)
        } catch (error) {
          failed.set(object.label, message(error))
          next.push(object)
        }
      }
      pending = next
    }
    await conn.run(`USE ${q(snapshot.defaultDatabase)}.main`)
    for (const name of BLOCKED_SCALAR_FUNCTIONS) {
      conn.registerScalarFunction(DuckDBScalarFunction.create({
        name,
        returnType: VARCHAR,
        parameterTypes: [VARCHAR],
        bindFunction: (info) => info.setError(`${name}() is not available in free-form SQL`),
        mainFunction: (_info, _input, output) => output.flush()
      }))
    }
    // Plans as bound, nothing pruned (a filter that is always false on the empty mirror must
    // not hide a table function that would run on the project's data).
    await conn.run("PRAGMA disable_optimizer")
    await conn.run("SET lock_configuration = true")

    const absent = [...failed.keys()]
    let lock: Promise<unknown> = Promise.resolve()
    const serialized = <A>(f: () => Promise<A>): Promise<A> => {
      const run = lock.then(f, f)
      lock = run.catch(() => undefined)
      return run
    }
    const check = (sql: string, params: Readonly<Record<string, unknown>>, allowWrites: boolean) =>
      serialized(() => checkStatement(conn, absent, sql, params, allowWrites))
    return {
      check,
      absent,
      close: () => {
        closeQuietly(() => conn.closeSync())
        closeQuietly(() => instance.closeSync())
      }
    }
  } catch (error) {
    const opened = connection
    if (opened !== undefined) closeQuietly(() => opened.closeSync())
    closeQuietly(() => instance.closeSync())
    throw error
  }
}

const typeName = (type: StatementType): string => StatementType[type] ?? String(type)

const checkStatement = async (
  connection: DuckDBConnection,
  absent: ReadonlyArray<string>,
  sql: string,
  params: Readonly<Record<string, unknown>>,
  allowWrites: boolean
): Promise<StatementType> => {
  // A parse error is the user's SQL error, as it would be anywhere.
  const extracted = await extractStatements(connection, sql).catch((error: unknown) => {
    throw new SqlError({ message: message(error) })
  })
  if (extracted === undefined) throw notAllowed("there is no SQL statement in the request")
  if (extracted.count !== 1) throw notAllowed(`exactly one SQL statement is allowed (got ${extracted.count})`)
  let type: StatementType
  try {
    const prepared = await extracted.prepare(0)
    type = prepared.statementType
    prepared.destroySync()
  } catch (error) {
    throw bindFailure(message(error), absent)
  }
  if (type !== StatementType.SELECT && !(allowWrites && WRITE_TYPES.has(type))) {
    throw notAllowed(
      allowWrites
        ? `${typeName(type)} statements are not allowed (only SELECT, INSERT, UPDATE, DELETE, MERGE, CREATE, ALTER and DROP)`
        : `only SELECT statements are allowed (sql_tools.allow_writes is false; this is ${typeName(type)})`
    )
  }
  let plan: unknown
  try {
    const explain = await connection.prepare(`EXPLAIN (FORMAT JSON) ${sql}`)
    try {
      bindParameters(explain, params)
      const reader = await explain.runAndReadAll()
      plan = JSON.parse(reader.getRows().map((row) => String(row[1] ?? "")).join(""))
    } finally {
      explain.destroySync()
    }
  } catch (error) {
    if (error instanceof SqlError || error instanceof SqlNotAllowed) throw error
    throw notAllowed(`its plan could not be checked: ${message(error)}`)
  }
  const problem = planProblem(plan)
  if (problem !== undefined) throw notAllowed(problem)
  return type
}

/** Why a statement failed to bind on the binder, as the answer to the request. */
const bindFailure = (reason: string, absent: ReadonlyArray<string>): SqlError | SqlNotAllowed => {
  if (reason.startsWith("Permission Error")) return notAllowed(reason)
  for (const name of BLOCKED_SCALAR_FUNCTIONS) {
    if (reason.includes(`"${name}(`)) return notAllowed(`${name}() is not available in free-form SQL`)
  }
  if (reason.startsWith("Catalog Error") && absent.length > 0) {
    const shown = absent.slice(0, 10).join(", ")
    return new SqlError({
      message: `${reason}\n(Not available to free-form SQL, because their definitions read files or use ` +
        `extensions: ${shown}${absent.length > 10 ? ", ..." : ""})`
    })
  }
  return new SqlError({ message: reason })
}

/** The first thing in an `EXPLAIN (FORMAT JSON)` plan that free-form SQL may not do. */
export const planProblem = (plan: unknown): string | undefined => {
  const nodes: Array<unknown> = Array.isArray(plan) ? [...plan] : [plan]
  while (nodes.length > 0) {
    const node = nodes.pop()
    if (typeof node !== "object" || node === null) continue
    const record = node as { name?: unknown; extra_info?: unknown; children?: unknown }
    const name = typeof record.name === "string" ? record.name : ""
    const refused = REFUSED_OPERATORS.get(name)
    if (refused !== undefined) return refused
    const extra = typeof record.extra_info === "object" && record.extra_info !== null
      ? record.extra_info as Record<string, unknown>
      : {}
    // Table functions show as their own operator with a "Function"; lateral ones as
    // INOUT_FUNCTION with a "Name".
    const fn = typeof extra["Function"] === "string"
      ? extra["Function"]
      : name === "INOUT_FUNCTION"
      ? typeof extra["Name"] === "string" ? extra["Name"] : "an unnamed table function"
      : undefined
    if (fn !== undefined && !ALLOWED_TABLE_FUNCTIONS.has(fn.toLowerCase())) {
      return `the table function ${fn.toLowerCase()}() is not available in free-form SQL`
    }
    if (Array.isArray(record.children)) nodes.push(...(record.children as Array<unknown>))
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Writes (allow_writes): catalog changes other than data definitions are rolled back

/** Views and non-internal functions (macros), which run with an endpoint's full access. */
export const CODE_OBJECTS_SQL = `SELECT 'macro' AS kind, database_name, schema_name, function_name AS name,
  function_type || ':' || coalesce(macro_definition, '') || ':' || coalesce(CAST(parameters AS VARCHAR), '') AS definition
FROM duckdb_functions() WHERE NOT internal
UNION ALL
SELECT 'view', database_name, schema_name, view_name, coalesce(sql, '') FROM duckdb_views() WHERE NOT internal
ORDER BY ALL`

/** The first view or macro created, replaced or dropped between two `CODE_OBJECTS_SQL` reads. */
export const codeChange = (before: ReadonlyArray<Row>, after: ReadonlyArray<Row>): string | undefined => {
  const key = (row: Row) => `${text(row, "kind")} ${text(row, "database_name")}.${text(row, "schema_name")}.${text(row, "name")}`
  const index = (rows: ReadonlyArray<Row>) => new Map(rows.map((row) => [key(row), text(row, "definition")]))
  const was = index(before)
  const now = index(after)
  for (const [name, definition] of now) {
    if (!was.has(name)) return `${name} would be created`
    if (was.get(name) !== definition) return `${name} would be replaced`
  }
  for (const name of was.keys()) if (!now.has(name)) return `${name} would be dropped`
  return undefined
}

