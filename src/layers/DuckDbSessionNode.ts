/**
 * The DuckDB session on @duckdb/node-api: one database instance, a fixed pool of connections,
 * named `$param` binding through prepared statements, JSON-safe result rows and the per-request
 * user functions of interface.md section 6.
 *
 * Choices worth knowing:
 * - `query` accepts several statements (`CREATE ...; SELECT ...`): they run in order on one
 *   connection, each statement gets the parameters it references, and the last one's rows are
 *   returned. `exec` is the same without parameters and without rows.
 * - User functions are real scalar UDFs registered once for the database. Their bind callback
 *   reads `clientContext.connectionId` and looks the connection's current user up in a map that
 *   `query` fills before the statement is prepared and clears after it has finished. The
 *   functions are constant-folded, so each runs once per statement, not once per row.
 *   Measured against per-connection `CREATE OR REPLACE TEMP MACRO`s set before each query (all
 *   four functions used): about +0.5 ms vs +0.6-0.7 ms per query over a 0.4-0.6 ms `SELECT 1`,
 *   and the UDFs cost nothing for queries that don't call them.
 * - Bound JS values: string → VARCHAR, boolean → BOOLEAN, integer number → INTEGER (BIGINT past
 *   32 bits), other numbers → DOUBLE, bigint → BIGINT (HUGEINT past 64 bits), null/undefined →
 *   NULL, Uint8Array → BLOB, Date → TIMESTAMPTZ, arrays → LIST of the unified element type
 *   (`[]` is a LIST of NULL, which casts to any list), plain objects → STRUCT (missing keys in
 *   an array of objects become NULL). Anything that cannot be typed that way (mixed arrays, `{}`,
 *   ...) is bound as its JSON text (VARCHAR), which DuckDB's json functions accept. DuckDB casts
 *   a bound value to the type the SQL context expects (`date_col = $d` with a string); where it
 *   expects VARCHAR, numbers and booleans are bound as their text.
 * - Parameter names match like DuckDB's own (case-insensitively; the exact spelling wins).
 * - Connection state is not reset between queries: temp tables/macros, `SET`, `USE` and an
 *   unfinished `BEGIN` made by one query stay on that pooled connection.
 * - Result values: see `jsonFromDuckDb` below.
 */
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  blobValue,
  DOUBLE,
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBGeometryValue,
  DuckDBInstance,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimeNSValue,
  DuckDBTimeTZValue,
  DuckDBTimeValue,
  DuckDBUnionValue,
  DuckDBVariantValue,
  DuckDBScalarFunction,
  DuckDBTypeId,
  HUGEINT,
  INTEGER,
  LIST,
  listValue,
  SQLNULL,
  STRUCT,
  StatementType,
  structValue,
  TIMESTAMPTZ,
  timestampTZValue,
  VARCHAR
} from "@duckdb/node-api"
import type {
  DuckDBConnection,
  DuckDBPreparedStatement,
  DuckDBMaterializedResult,
  DuckDBType,
  DuckDBValue
} from "@duckdb/node-api"
import { Clock, Duration, Effect, Layer, Option, Queue } from "effect"
import { mkdir } from "node:fs/promises"
import { dirname } from "node:path"
import type { JsonValue, QueryOptions, Row, SqlUser } from "../services/DuckDbSession.js"
import { DuckDbSession, SqlError, SqlTimeout } from "../services/DuckDbSession.js"
import { tracingEnabled } from "./Tracing.js"

export declare namespace DuckDbSessionNode {
  export interface Options {
    /** An absolute file path, or ":memory:". */
    readonly path: string
    /** Open the file with `access_mode=READ_ONLY`: every write fails with a SqlError. */
    readonly readonly: boolean
    /** Number of connections, i.e. queries running at the same time. Default 4. */
    readonly poolSize?: number | undefined
    /**
     * DuckDB's `threads` setting: its worker threads, shared by all connections. Undefined:
     * DuckDB's default (one per core). See `serverThreads` for a server under concurrent load.
     */
    readonly threads?: number | undefined
    /** Default per-query timeout in ms (waiting for a connection included). Default 30000; 0 or less disables it. */
    readonly timeoutMs?: number | undefined
  }
}

/** Connections in a session's pool unless `poolSize` says otherwise. */
export const DEFAULT_POOL_SIZE = 4

/**
 * DuckDB threads for a server answering concurrent requests: the cores left once every pooled
 * connection runs a query on its own thread (the calling thread works on its query too), and at
 * least one. Each query then runs without waiting for a core, where DuckDB's default (one worker
 * per core on top of the callers) oversubscribes a small machine: on 2 cores with 4 connections,
 * tiny concurrent queries cost 1.3x (idle machine) to 1.5x (one core busy, as a serving process's
 * own thread keeps it) the CPU each with the default than with 1 thread, the extra spent in
 * workers waiting for work (`scripts/bench/duckdb-threads.ts`). A lone heavy query gets fewer
 * threads in exchange; the profile's `duckdb.threads` sets the number outright.
 */
export const serverThreads = (cores: number, poolSize: number = DEFAULT_POOL_SIZE): number =>
  Math.max(1, Math.floor(cores) - Math.max(1, Math.floor(poolSize)) + 1)

// ---------------------------------------------------------------------------------------------
// Session

interface PooledConnection {
  readonly connection: DuckDBConnection
  readonly id: number
  /** Prepared SELECT statements by SQL text, reused across queries (see `runStatements`). */
  readonly statements: Map<string, CachedStatement>
}

interface CachedStatement {
  readonly prepared: DuckDBPreparedStatement
  /** The catalog epoch it was prepared in; any later non-SELECT statement makes it stale. */
  readonly epoch: number
  /** Result column names and types, read from the first result (fixed within an epoch). */
  columns?: ResultColumns
}

interface ResultColumns {
  readonly names: ReadonlyArray<string>
  readonly types: ReadonlyArray<DuckDBType>
}

/** Shared by every connection of a session. */
interface SessionState {
  /** Connections whose current statement bound a user function (set by the UDF bind callback). */
  readonly userBound: Set<number>
  /**
   * Bumped after every statement that is not a SELECT (DDL, DML, PRAGMA, ...). DuckDB does not
   * rebind a prepared statement when, say, a view it reads is replaced, so cached statements from
   * an older epoch are prepared afresh.
   */
  epoch: number
}

/** What the user functions return for the query running on one connection. */
interface ActiveUser {
  readonly get_username: string
  readonly get_user_email: string
  readonly get_user_provider: string
  readonly get_user_external_token: string
}

const userFunctionNames = [
  "get_username",
  "get_user_email",
  "get_user_provider",
  "get_user_external_token"
] as const satisfies ReadonlyArray<keyof ActiveUser>

const toSqlError = (error: unknown): SqlError =>
  new SqlError({ message: (error instanceof Error ? error.message : String(error)).trim() || "DuckDB error" })

const attempt = <A>(f: () => A): Effect.Effect<A, SqlError> => Effect.try({ try: f, catch: toSqlError })
const attemptPromise = <A>(f: () => Promise<A>): Effect.Effect<A, SqlError> =>
  Effect.tryPromise({ try: f, catch: toSqlError })

const makeSession = (options: DuckDbSessionNode.Options) =>
  Effect.gen(function*() {
    const inMemory = options.path === ":memory:" || options.path === ""
    const poolSize = Math.max(1, Math.floor(options.poolSize ?? DEFAULT_POOL_SIZE))
    const tracing = yield* tracingEnabled
    const defaultTimeoutMs = options.timeoutMs ?? 30_000

    if (options.readonly && inMemory) {
      return yield* new SqlError({ message: "A read-only DuckDB session needs a database file, not :memory:" })
    }
    if (!inMemory && !options.readonly) {
      yield* attemptPromise(() => mkdir(dirname(options.path), { recursive: true }))
    }

    // enable_external_access stays at its default (true): endpoint SQL reads local files
    // (read_csv, read_parquet, ...). A sandboxed profile would set it to 'false' here.
    const config: Record<string, string> = options.readonly ? { access_mode: "READ_ONLY" } : {}
    if (options.threads !== undefined) config["threads"] = String(Math.max(1, Math.floor(options.threads)))
    const instance = yield* Effect.acquireRelease(
      attemptPromise(() => DuckDBInstance.create(inMemory ? ":memory:" : options.path, config)),
      (db) => Effect.sync(() => closeQuietly(() => db.closeSync()))
    )

    const connections = yield* Queue.bounded<PooledConnection>(poolSize)
    const all: Array<PooledConnection> = []
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const pooled of all) {
          for (const cached of pooled.statements.values()) closeQuietly(() => cached.prepared.destroySync())
          pooled.statements.clear()
          closeQuietly(() => pooled.connection.closeSync())
        }
      })
    )
    for (let i = 0; i < poolSize; i++) {
      const connection = yield* attemptPromise(() => instance.connect())
      const pooled: PooledConnection = {
        connection,
        id: connection.clientContext.connectionId,
        statements: new Map()
      }
      all.push(pooled)
      yield* Queue.offer(connections, pooled)
    }

    const users = new Map<number, ActiveUser>()
    const state: SessionState = { userBound: new Set<number>(), epoch: 0 }
    const registrar = all[0]
    if (registrar !== undefined) {
      yield* attempt(() => registerUserFunctions(registrar.connection, users, state.userBound))
    }

    const timeoutError = (timeoutMs: number) => new SqlTimeout({ timeoutMs })

    /**
     * Take a pooled connection: at once when one is free (the common case, with no timer at
     * all); otherwise wait, bounded by the timeout. Gives the connection and the time left.
     */
    const acquire = (timeoutMs: number): Effect.Effect<readonly [PooledConnection, number], SqlTimeout> =>
      Effect.flatMap(Queue.poll(connections), (free) => {
        if (Option.isSome(free)) return Effect.succeed([free.value, timeoutMs] as const)
        if (!hasTimeout(timeoutMs)) return Effect.map(Queue.take(connections), (c) => [c, timeoutMs] as const)
        return Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          const pooled = yield* Queue.take(connections).pipe(
            Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => timeoutError(timeoutMs) })
          )
          const waited = (yield* Clock.currentTimeMillis) - start
          return [pooled, Math.max(1, timeoutMs - waited)] as const
        })
      })

    const withConnection = <A>(
      timeoutMs: number,
      use: (pooled: PooledConnection, remainingMs: number) => Effect.Effect<A, SqlError | SqlTimeout>
    ): Effect.Effect<A, SqlError | SqlTimeout> =>
      // Not acquireUseRelease: its acquire is uninterruptible, and waiting for a free connection
      // must be interruptible so that the timeout also bounds the wait.
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          restore(acquire(timeoutMs)),
          ([pooled, remaining]) => restore(use(pooled, remaining)).pipe(Effect.ensuring(Queue.offer(connections, pooled)))
        )
      )

    const queryBody = function*(
      sql: string,
      params?: Readonly<Record<string, unknown>>,
      options?: QueryOptions
    ) {
      if (tracing) yield* Effect.annotateCurrentSpan({ "db.system": "duckdb", "db.statement": sql })
      const user = activeUser(options)
      return yield* withConnection(options?.timeoutMs ?? defaultTimeoutMs, (pooled, remainingMs) =>
        Effect.sync(() => user === undefined ? users.delete(pooled.id) : users.set(pooled.id, user)).pipe(
          Effect.zipRight(runCancellable(pooled.connection, remainingMs, (cancel) =>
            runStatements(pooled, state, sql, params ?? {}, cancel)
          )),
          Effect.ensuring(Effect.sync(() => users.delete(pooled.id)))
        )
      )
    }
    const execBody = function*(sql: string) {
      if (tracing) yield* Effect.annotateCurrentSpan({ "db.system": "duckdb", "db.statement": sql })
      yield* withConnection(defaultTimeoutMs, (pooled, remainingMs) =>
        runCancellable(pooled.connection, remainingMs, (cancel) => runStatements(pooled, state, sql, {}, cancel))
      )
    }
    // One span per query, only when an application tracer collects them (see Tracing.ts).
    const query = tracing ? Effect.fn("DuckDbSession.query")(queryBody) : Effect.fnUntraced(queryBody)
    const exec = tracing ? Effect.fn("DuckDbSession.exec")(execBody) : Effect.fnUntraced(execBody)

    return DuckDbSession.of({ query, exec, readonly: options.readonly })
  })

/** A DuckDB database with a fixed pool of connections, closed with the layer's scope. */
export const DuckDbSessionNode = (options: DuckDbSessionNode.Options): Layer.Layer<DuckDbSession, SqlError> =>
  Layer.scoped(DuckDbSession, makeSession(options))

/** A private in-memory database, for tests. */
export const DuckDbSessionMemory: Layer.Layer<DuckDbSession, SqlError> = DuckDbSessionNode({
  path: ":memory:",
  readonly: false
})

const closeQuietly = (close: () => void): void => {
  try {
    close()
  } catch {
    // already closed, or the process is going away: nothing useful to report
  }
}

const activeUser = (options: QueryOptions | undefined): ActiveUser | undefined => {
  const user: SqlUser | undefined = options?.user
  if (user === undefined) return undefined
  return {
    get_username: user.username,
    get_user_email: user.email,
    get_user_provider: user.provider,
    get_user_external_token: options?.exposeExternalToken === false ? "" : user.externalToken
  }
}

/**
 * Registers the four user functions for the whole database. The bind callback runs once per
 * statement on the connection that binds it, so it can pick that connection's current user.
 */
const registerUserFunctions = (
  connection: DuckDBConnection,
  users: ReadonlyMap<number, ActiveUser>,
  userBound: Set<number>
): void => {
  for (const name of userFunctionNames) {
    connection.registerScalarFunction(DuckDBScalarFunction.create({
      name,
      returnType: VARCHAR,
      bindFunction: (bindInfo) => {
        const connectionId = bindInfo.clientContext.connectionId
        // The value is fixed here, at bind time: a statement that bound a user function must
        // never be reused for another query (see the statement cache in runStatements).
        userBound.add(connectionId)
        const user = users.get(connectionId)
        bindInfo.setBindData({ value: user === undefined ? "" : user[name] })
      },
      mainFunction: (info, input, output) => {
        const data = info.bindData as { readonly value?: unknown } | undefined
        const value = typeof data?.value === "string" ? data.value : ""
        for (let i = 0; i < input.rowCount; i++) output.setItem(i, value)
        output.flush()
      }
    }))
  }
}

interface Cancellation {
  cancelled: boolean
}

/**
 * Runs a driver call so that interrupting the fiber interrupts the DuckDB connection and waits
 * for the call to settle: the connection goes back to the pool idle, never mid-query.
 */
const hasTimeout = (timeoutMs: number): boolean => timeoutMs > 0 && Number.isFinite(timeoutMs)

/**
 * Runs a driver call so that interrupting the fiber, or the timeout, interrupts the DuckDB
 * connection and waits for the call to settle: the connection goes back to the pool idle, never
 * mid-query. The timeout is a plain timer rather than an Effect race: this is the hot path, and
 * a racing fiber per query cost about as much CPU as a small query itself.
 */
const runCancellable = <A>(
  connection: DuckDBConnection,
  timeoutMs: number,
  run: (cancel: Cancellation) => Promise<A>
): Effect.Effect<A, SqlError | SqlTimeout> =>
  Effect.async<A, SqlError | SqlTimeout>((resume) => {
    const cancel: Cancellation = { cancelled: false }
    let settled = false
    let timedOut = false
    const timer = hasTimeout(timeoutMs)
      ? setTimeout(() => {
        timedOut = true
        cancel.cancelled = true
        if (!settled) closeQuietly(() => connection.interrupt())
      }, timeoutMs)
      : undefined
    const done = run(cancel).then(
      (value) => {
        settled = true
        clearTimeout(timer)
        resume(timedOut ? Effect.fail(new SqlTimeout({ timeoutMs })) : Effect.succeed(value))
      },
      (error: unknown) => {
        settled = true
        clearTimeout(timer)
        resume(Effect.fail(timedOut ? new SqlTimeout({ timeoutMs }) : toSqlError(error)))
      }
    )
    return Effect.suspend(() => {
      clearTimeout(timer)
      cancel.cancelled = true
      if (!settled) closeQuietly(() => connection.interrupt())
      return Effect.promise(() => done)
    })
  })

/** Prepared statements kept per connection; the least recently used beyond this are destroyed. */
const STATEMENT_CACHE_SIZE = 64

/**
 * Runs every statement of `sql` in order; returns the rows of the last one.
 *
 * A single statement is prepared once per connection and reused (parsing and planning cost as
 * much as running a small query), unless preparing it bound a user function: those values are
 * fixed at bind time, so such statements are prepared afresh for every query. DuckDB rebinds a
 * reused statement by itself when the catalog changed since it was prepared.
 */
const runStatements = async (
  pooled: PooledConnection,
  state: SessionState,
  sql: string,
  params: Readonly<Record<string, unknown>>,
  cancel: Cancellation
): Promise<ReadonlyArray<Row>> => {
  const connection = pooled.connection
  const userBound = state.userBound
  const cached = pooled.statements.get(sql)
  if (cached !== undefined) {
    pooled.statements.delete(sql)
    if (cached.epoch !== state.epoch) {
      closeQuietly(() => cached.prepared.destroySync())
    } else {
      // Most recently used last.
      pooled.statements.set(sql, cached)
      userBound.delete(pooled.id)
      try {
        bindParameters(cached.prepared, params)
        if (cancel.cancelled) throw new Error("Interrupted")
        const result = await cached.prepared.run()
        cached.columns ??= columnsOf(result)
        return rowsFromResult(result, cached.columns)
      } finally {
        // Rebound by DuckDB, and now calling a user function: stop reusing it.
        if (userBound.has(pooled.id) && pooled.statements.get(sql) === cached) {
          pooled.statements.delete(sql)
          closeQuietly(() => cached.prepared.destroySync())
        }
      }
    }
  }
  const extracted = await connection.extractStatements(sql).catch((error: unknown) => {
    // The driver reports "no statement at all" (empty text, only comments) as a bare
    // "Error in native callback"; a parse error carries DuckDB's message behind a prefix.
    if (error instanceof Error && error.message === "Error in native callback") return undefined
    if (error instanceof Error) throw new Error(error.message.replace(/^Failed to extract statements: /, ""))
    throw error
  })
  if (extracted === undefined) return []
  if (extracted.count === 1) {
    userBound.delete(pooled.id)
    const epoch = state.epoch
    const prepared = await extracted.prepare(0)
    const isSelect = prepared.statementType === StatementType.SELECT
    const reusable = isSelect && !userBound.has(pooled.id)
    if (reusable) {
      pooled.statements.set(sql, { prepared, epoch })
      if (pooled.statements.size > STATEMENT_CACHE_SIZE) {
        const [oldestSql, oldest] = pooled.statements.entries().next().value ?? []
        if (oldestSql !== undefined && oldest !== undefined) {
          pooled.statements.delete(oldestSql)
          closeQuietly(() => oldest.prepared.destroySync())
        }
      }
    }
    try {
      bindParameters(prepared, params)
      if (cancel.cancelled) throw new Error("Interrupted")
      return rowsFromResult(await prepared.run())
    } finally {
      if (!isSelect) state.epoch++
      if (!reusable) prepared.destroySync()
    }
  }
  let rows: ReadonlyArray<Row> = []
  for (let index = 0; index < extracted.count; index++) {
    if (cancel.cancelled) throw new Error("Interrupted")
    const prepared = await extracted.prepare(index)
    try {
      bindParameters(prepared, params)
      if (cancel.cancelled) throw new Error("Interrupted")
      const result = await prepared.run()
      if (index === extracted.count - 1) rows = rowsFromResult(result)
    } finally {
      if (prepared.statementType !== StatementType.SELECT) state.epoch++
      prepared.destroySync()
    }
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// Parameters: JS → DuckDB

/**
 * Binds every parameter the statement references, and only those (extra endpoint parameters are
 * fine); a referenced name missing from `params` binds NULL. `?`/`$1` parameters are named "1", "2"...
 */
const bindParameters = (prepared: DuckDBPreparedStatement, params: Readonly<Record<string, unknown>>): void => {
  const count = prepared.parameterCount
  for (let index = 1; index <= count; index++) {
    const value = parameterValue(params, prepared.parameterName(index))
    if (
      (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") &&
      expectsVarchar(prepared, index)
    ) {
      // `WHERE name = $n` with n = 5: bound as INTEGER, DuckDB would rebind and cast the column
      // to INTEGER instead (and fail on 'x'); bind the text the SQL asks for.
      prepared.bindVarchar(index, String(value))
    } else {
      bindOne(prepared, index, value)
    }
  }
}

/** Whether DuckDB inferred VARCHAR for this parameter from its context in the SQL. */
const expectsVarchar = (prepared: DuckDBPreparedStatement, index: number): boolean => {
  try {
    return prepared.parameterTypeId(index) === DuckDBTypeId.VARCHAR
  } catch {
    return false
  }
}

/** DuckDB folds `$userId` and `$UserID` into one parameter: prefer the exact name, then any case. */
const parameterValue = (params: Readonly<Record<string, unknown>>, name: string): unknown => {
  if (Object.prototype.hasOwnProperty.call(params, name)) return params[name]
  const lower = name.toLowerCase()
  for (const key of Object.keys(params)) {
    if (key.toLowerCase() === lower) return params[key]
  }
  return undefined
}

const bindOne = (prepared: DuckDBPreparedStatement, index: number, value: unknown): void => {
  if (value === null || value === undefined) return prepared.bindNull(index)
  switch (typeof value) {
    case "string":
      return prepared.bindVarchar(index, value)
    case "boolean":
      return prepared.bindBoolean(index, value)
    case "number":
      return isInt32(value)
        ? prepared.bindInteger(index, value)
        : Number.isSafeInteger(value)
        ? prepared.bindBigInt(index, BigInt(value))
        : prepared.bindDouble(index, value)
    case "bigint":
      return isInt64(value) ? prepared.bindBigInt(index, value) : prepared.bindVarchar(index, value.toString())
  }
  const type = inferType(value)
  if (type !== undefined && type !== "null") {
    try {
      return prepared.bindValue(index, duckValue(value, type), type)
    } catch {
      // fall through to the JSON text below
    }
  }
  prepared.bindVarchar(index, jsonText(value))
}

const INT32_MIN = -2_147_483_648
const INT32_MAX = 2_147_483_647
const isInt32 = (n: number): boolean => Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX
const isInt64 = (n: bigint): boolean => n >= -(2n ** 63n) && n < 2n ** 63n
const isInt128 = (n: bigint): boolean => n >= -(2n ** 127n) && n < 2n ** 127n

const jsonText = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_key, v: unknown) => typeof v === "bigint" ? v.toString() : v) ?? String(value)
  } catch {
    return String(value)
  }
}

const isPlainObject = (value: object): value is Record<string, unknown> => {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** The DuckDB type a JS value binds as; "null" for a value that fits any type; undefined when none fits. */
type Inferred = DuckDBType | "null" | undefined

const inferType = (value: unknown): Inferred => {
  if (value === null || value === undefined) return "null"
  switch (typeof value) {
    case "string":
      return VARCHAR
    case "boolean":
      return BOOLEAN
    case "number":
      return isInt32(value) ? INTEGER : Number.isSafeInteger(value) ? BIGINT : DOUBLE
    case "bigint":
      return isInt64(value) ? BIGINT : isInt128(value) ? HUGEINT : undefined
    case "object":
      break
    default:
      return undefined
  }
  if (value instanceof Uint8Array) return BLOB
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : TIMESTAMPTZ
  if (Array.isArray(value)) {
    let element: Inferred = "null"
    for (const item of value as ReadonlyArray<unknown>) {
      element = unify(element, inferType(item))
      if (element === undefined) return undefined
    }
    return LIST(element === "null" ? SQLNULL : element)
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
    if (keys.length === 0) return undefined
    const entries: Record<string, DuckDBType> = {}
    for (const key of keys) {
      const entry = inferType(value[key])
      if (entry === undefined) return undefined
      entries[key] = entry === "null" ? SQLNULL : entry
    }
    return STRUCT(entries)
  }
  return undefined
}

const numericRank: Partial<Record<DuckDBTypeId, number>> = {
  [DuckDBTypeId.INTEGER]: 1,
  [DuckDBTypeId.BIGINT]: 2,
  [DuckDBTypeId.HUGEINT]: 3,
  [DuckDBTypeId.DOUBLE]: 4
}

/** The one type two element types can both be bound as, if any. */
const unify = (a: Inferred, b: Inferred): Inferred => {
  if (a === undefined || b === undefined) return undefined
  if (a === "null") return b
  if (b === "null") return a
  const rankA = numericRank[a.typeId]
  const rankB = numericRank[b.typeId]
  if (rankA !== undefined && rankB !== undefined) {
    // a HUGEINT beside a DOUBLE would lose digits either way
    if (Math.max(rankA, rankB) === 4 && Math.min(rankA, rankB) === 3) return undefined
    return rankA >= rankB ? a : b
  }
  if (a.typeId !== b.typeId) return undefined
  if (a.typeId === DuckDBTypeId.LIST && b.typeId === DuckDBTypeId.LIST) {
    const element = unify(nullable(a.valueType), nullable(b.valueType))
    return element === undefined ? undefined : LIST(element === "null" ? SQLNULL : element)
  }
  if (a.typeId === DuckDBTypeId.STRUCT && b.typeId === DuckDBTypeId.STRUCT) {
    const entries: Record<string, DuckDBType> = {}
    const names = new Set([...a.entryNames, ...b.entryNames])
    for (const name of names) {
      const left = a.entryNames.includes(name) ? nullable(a.typeForEntry(name)) : "null"
      const right = b.entryNames.includes(name) ? nullable(b.typeForEntry(name)) : "null"
      const entry = unify(left, right)
      if (entry === undefined) return undefined
      entries[name] = entry === "null" ? SQLNULL : entry
    }
    return STRUCT(entries)
  }
  return a
}

/** A NULL-typed slot (all-null list, null struct entry) unifies with anything. */
const nullable = (type: DuckDBType): Inferred => type.typeId === DuckDBTypeId.SQLNULL ? "null" : type

/** The DuckDB value of `value` as `type` (a type `inferType`/`unify` produced for it). */
const duckValue = (value: unknown, type: DuckDBType): DuckDBValue => {
  if (value === null || value === undefined) return null
  switch (type.typeId) {
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.DOUBLE:
      return Number(value)
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
      return typeof value === "bigint" ? value : BigInt(value as number)
    case DuckDBTypeId.BLOB:
      return blobValue(value as Uint8Array)
    case DuckDBTypeId.TIMESTAMP_TZ:
      return timestampTZValue(BigInt((value as Date).getTime()) * 1000n)
    case DuckDBTypeId.LIST:
      return listValue((value as ReadonlyArray<unknown>).map((item) => duckValue(item, type.valueType)))
    case DuckDBTypeId.STRUCT: {
      const object = value as Record<string, unknown>
      const entries: Record<string, DuckDBValue> = {}
      type.entryNames.forEach((name, i) => {
        const entryType = type.entryTypes[i]
        const entry = Object.prototype.hasOwnProperty.call(object, name) ? object[name] : undefined
        setEntry(entries, name, entryType === undefined ? null : duckValue(entry, entryType))
      })
      return structValue(entries)
    }
    default:
      return value as DuckDBValue
  }
}

// ---------------------------------------------------------------------------------------------
// Results: DuckDB → JSON

/**
 * The rows of a prepared statement's result. `run()` materializes the whole result, so its
 * chunks are read synchronously: no further round trip through the thread pool per chunk (and
 * none for the empty chunk that would mark the end).
 */
const columnsOf = (result: DuckDBMaterializedResult): ResultColumns => ({
  names: result.deduplicatedColumnNames(),
  types: result.columnTypes()
})

const rowsFromResult = (
  result: DuckDBMaterializedResult,
  columns: ResultColumns = columnsOf(result)
): ReadonlyArray<Row> => {
  const { names, types } = columns
  const rows: Array<Row> = []
  const chunkCount = result.chunkCount
  for (let c = 0; c < chunkCount; c++) {
    for (const values of result.getChunk(c).getRows()) {
      const row: Record<string, JsonValue> = {}
      for (let i = 0; i < names.length; i++) {
        const name = names[i]
        const type = types[i]
        if (name === undefined || type === undefined) continue
        setEntry(row, name, jsonFromDuckDb(values[i] ?? null, type))
      }
      rows.push(row)
    }
  }
  return rows
}

/** Sets an own property, even one named `__proto__`. */
const setEntry = <V>(target: Record<string, V>, key: string, value: V): void => {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

/**
 * One DuckDB value as JSON:
 * - integers of any width (incl. HUGEINT, UBIGINT, BIGNUM) → number within ±2^53-1, else string;
 * - DOUBLE → number; FLOAT → the shortest number that reads back as the same float;
 *   NaN and ±Infinity → null (as JSON.stringify would);
 * - DECIMAL → number when the double prints back to the same decimal at the column's scale
 *   (always true up to 15 digits), else the exact decimal string;
 * - DATE → "YYYY-MM-DD"; TIMESTAMP, TIMESTAMP_S/_MS/_NS → "YYYY-MM-DDTHH:MM:SS[.ffffff]" (9
 *   digits for nanoseconds); TIMESTAMPTZ → the same in UTC with "Z"; ±infinity → "infinity" /
 *   "-infinity"; TIME → "HH:MM:SS[.ffffff]"; TIMETZ → that plus "+HH:MM";
 * - INTERVAL → DuckDB's text ("1 year 2 days 03:00:00");
 * - BLOB → base64; UUID, BIT, ENUM, VARCHAR → string;
 * - LIST/ARRAY → array; STRUCT → object; MAP → object keyed by the key's text; UNION → the value
 *   of its active member; VARIANT → its inner value; NULL → null.
 */
export const jsonFromDuckDb = (value: DuckDBValue, type: DuckDBType): JsonValue => {
  if (value === null) return null
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return value === true
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return jsonFromInteger(value)
    case DuckDBTypeId.DOUBLE:
      return typeof value === "number" ? finiteOrNull(value) : genericJson(value)
    case DuckDBTypeId.FLOAT:
      return typeof value === "number" ? finiteOrNull(shortestFloat32(value)) : genericJson(value)
    case DuckDBTypeId.DECIMAL:
      return jsonFromDecimal(value)
    case DuckDBTypeId.DATE:
      return value instanceof DuckDBDateValue ? formatDateValue(value.days, value.isFinite) : genericJson(value)
    case DuckDBTypeId.TIMESTAMP:
      return timestampText(value, "micros", 1000n, "")
    case DuckDBTypeId.TIMESTAMP_TZ:
      return timestampText(value, "micros", 1000n, "Z")
    case DuckDBTypeId.TIMESTAMP_S:
      return timestampText(value, "seconds", 1_000_000_000n, "")
    case DuckDBTypeId.TIMESTAMP_MS:
      return timestampText(value, "millis", 1_000_000n, "")
    case DuckDBTypeId.TIMESTAMP_NS:
      return timestampText(value, "nanos", 1n, "")
    case DuckDBTypeId.TIME:
      return value instanceof DuckDBTimeValue ? formatTimeOfDay(value.micros * 1000n) : genericJson(value)
    case DuckDBTypeId.TIME_NS:
      return value instanceof DuckDBTimeNSValue ? formatTimeOfDay(value.nanos) : genericJson(value)
    case DuckDBTypeId.TIME_TZ:
      return value instanceof DuckDBTimeTZValue
        ? formatTimeOfDay(value.micros * 1000n) + formatOffset(value.offset)
        : genericJson(value)
    case DuckDBTypeId.BLOB:
    case DuckDBTypeId.GEOMETRY:
      return value instanceof DuckDBBlobValue || value instanceof DuckDBGeometryValue
        ? Buffer.from(value.bytes).toString("base64")
        : genericJson(value)
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const elementType = type.valueType
      return value instanceof DuckDBListValue || value instanceof DuckDBArrayValue
        ? value.items.map((item) => jsonFromDuckDb(item, elementType))
        : genericJson(value)
    }
    case DuckDBTypeId.STRUCT: {
      if (!(value instanceof DuckDBStructValue)) return genericJson(value)
      const out: Record<string, JsonValue> = {}
      const entries = value.entries
      type.entryNames.forEach((name, i) => {
        const entryType = type.entryTypes[i]
        const entry = Object.prototype.hasOwnProperty.call(entries, name) ? entries[name] ?? null : null
        setEntry(out, name, entryType === undefined ? genericJson(entry) : jsonFromDuckDb(entry, entryType))
      })
      return out
    }
    case DuckDBTypeId.MAP: {
      if (!(value instanceof DuckDBMapValue)) return genericJson(value)
      const out: Record<string, JsonValue> = {}
      for (const entry of value.entries) {
        setEntry(out, mapKeyText(jsonFromDuckDb(entry.key, type.keyType)), jsonFromDuckDb(entry.value, type.valueType))
      }
      return out
    }
    case DuckDBTypeId.UNION: {
      if (!(value instanceof DuckDBUnionValue)) return genericJson(value)
      const index = type.memberTags.indexOf(value.tag)
      const memberType = type.memberTypes[index]
      return memberType === undefined ? genericJson(value.value) : jsonFromDuckDb(value.value, memberType)
    }
    case DuckDBTypeId.VARIANT:
      if (!(value instanceof DuckDBVariantValue)) return genericJson(value)
      return value.type === undefined ? genericJson(value.value) : jsonFromDuckDb(value.value, value.type)
    case DuckDBTypeId.SQLNULL:
      return null
    default:
      // VARCHAR, ENUM, UUID, BIT, INTERVAL and anything newer
      return genericJson(value)
  }
}

/** Best effort for a value whose type gave no better rule: by its JS shape. */
const genericJson = (value: DuckDBValue): JsonValue => {
  if (value === null) return null
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return finiteOrNull(value)
    case "bigint":
      return jsonFromInteger(value)
    default:
      if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(genericJson)
      if (value instanceof DuckDBBlobValue || value instanceof DuckDBGeometryValue) {
        return Buffer.from(value.bytes).toString("base64")
      }
      return value.toString()
  }
}

const finiteOrNull = (n: number): number | null => Number.isFinite(n) ? n : null

const jsonFromInteger = (value: DuckDBValue): JsonValue => {
  if (typeof value === "number") return finiteOrNull(value)
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString()
  }
  return genericJson(value)
}

/** Float32 values print with their float noise (1.1 → 1.100000023841858); take the shortest. */
const shortestFloat32 = (f: number): number => {
  if (!Number.isFinite(f) || f === 0) return f
  for (let precision = 1; precision <= 9; precision++) {
    const candidate = Number(f.toPrecision(precision))
    if (Math.fround(candidate) === f) return candidate
  }
  return f
}

const jsonFromDecimal = (value: DuckDBValue): JsonValue => {
  if (!(value instanceof DuckDBDecimalValue)) return genericJson(value)
  const text = value.toString()
  const n = Number(text)
  if (!Number.isFinite(n)) return text
  if (value.width <= 15) return n
  return Math.abs(n) < 1e21 && n.toFixed(value.scale) === text ? n : text
}

const mapKeyText = (key: JsonValue): string =>
  typeof key === "string" ? key : typeof key === "number" || typeof key === "boolean" ? String(key) : JSON.stringify(key)

const pad = (n: number | bigint, width: number): string => n.toString().padStart(width, "0")

/** Days since 1970-01-01 → proleptic Gregorian (year, month, day). */
const civilFromDays = (days: number): readonly [number, number, number] => {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return [year, month, day]
}

const formatYear = (year: number): string =>
  year < 0 ? `-${pad(-year, 4)}` : year > 9999 ? `+${year}` : pad(year, 4)

const formatDate = (days: number): string => {
  const [year, month, day] = civilFromDays(days)
  return `${formatYear(year)}-${pad(month, 2)}-${pad(day, 2)}`
}

const formatDateValue = (days: number, finite: boolean): string =>
  finite ? formatDate(days) : days > 0 ? "infinity" : "-infinity"

const NANOS_PER_DAY = 86_400_000_000_000n

/** Nanoseconds since midnight → "HH:MM:SS", then ".ffffff" or ".fffffffff" when not whole. */
const formatTimeOfDay = (nanos: bigint): string => {
  const totalSeconds = nanos / 1_000_000_000n
  const fraction = nanos % 1_000_000_000n
  const hours = totalSeconds / 3600n
  const minutes = (totalSeconds / 60n) % 60n
  const seconds = totalSeconds % 60n
  const base = `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}`
  if (fraction === 0n) return base
  return fraction % 1000n === 0n ? `${base}.${pad(fraction / 1000n, 6)}` : `${base}.${pad(fraction, 9)}`
}

const formatOffset = (offsetSeconds: number): string => {
  const sign = offsetSeconds < 0 ? "-" : "+"
  const abs = Math.abs(offsetSeconds)
  const hours = Math.floor(abs / 3600)
  const minutes = Math.floor(abs / 60) % 60
  const seconds = abs % 60
  return `${sign}${pad(hours, 2)}:${pad(minutes, 2)}${seconds === 0 ? "" : `:${pad(seconds, 2)}`}`
}

/** A timestamp value (its count of `field` units since the epoch) as ISO 8601. */
const timestampText = (
  value: DuckDBValue,
  field: "micros" | "millis" | "seconds" | "nanos",
  nanosPerUnit: bigint,
  zone: string
): JsonValue => {
  if (typeof value !== "object" || value === null || !(field in value) || !("isFinite" in value)) {
    return genericJson(value)
  }
  const units = (value as unknown as Record<typeof field, unknown>)[field]
  if (typeof units !== "bigint") return genericJson(value)
  if (!value.isFinite) return units > 0n ? "infinity" : "-infinity"
  const nanos = units * nanosPerUnit
  let days = nanos / NANOS_PER_DAY
  let ofDay = nanos % NANOS_PER_DAY
  if (ofDay < 0n) {
    days -= 1n
    ofDay += NANOS_PER_DAY
  }
  return `${formatDate(Number(days))}T${formatTimeOfDay(ofDay)}${zone}`
}
