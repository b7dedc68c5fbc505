/**
 * The DuckDB session on @duckdb/node-api: one database instance, a fixed pool of connections,
 * named `$param` binding through prepared statements, JSON-safe result rows, the per-request
 * user functions of interface.md section 6, and the sandbox for free-form SQL. The parts live in
 * `duckdb/`: `Pool` (fair sharing, clean connections), `Statements` (statement cache, running a
 * query), `Results` (streaming, caps), `Binding` (JS → DuckDB), `JsonValues` (DuckDB → JSON),
 * `UserFunctions`, `Sandbox`.
 *
 * Choices worth knowing:
 * - `query` accepts several statements (`CREATE ...; SELECT ...`): they run in order on one
 *   connection, each statement gets the parameters it references, and the last one's rows are
 *   returned. `exec` is the same without parameters and without rows.
 * - Bound JS values: string → VARCHAR, boolean → BOOLEAN, integer number → INTEGER (BIGINT past
 *   32 bits), other numbers → DOUBLE, bigint → BIGINT (HUGEINT past 64 bits), null/undefined →
 *   NULL, Uint8Array → BLOB, Date → TIMESTAMPTZ, arrays → LIST of the unified element type
 *   (`[]` is a LIST of NULL, which casts to any list), plain objects → STRUCT (missing keys in
 *   an array of objects become NULL). Anything that cannot be typed that way (mixed arrays, `{}`,
 *   ...) is bound as its JSON text (VARCHAR), which DuckDB's json functions accept. DuckDB casts
 *   a bound value to the type the SQL context expects (`date_col = $d` with a string); where it
 *   expects VARCHAR, numbers and booleans are bound as their text.
 * - Parameter names match like DuckDB's own (case-insensitively; the exact spelling wins).
 * - Every query starts on a clean connection: one that ran anything but SELECT, INSERT, UPDATE,
 *   DELETE or MERGE (a temp object, `SET`, `USE`, `BEGIN`, `PRAGMA`, ...), or whose result was
 *   not read to the end (capped, failed, timed out), is closed and replaced before it is used
 *   again. The common SELECT path runs no extra statement.
 * - The instance is hardened for everyone: extensions are never installed automatically and
 *   community extensions never load (already installed known extensions still autoload for the
 *   author's SQL), `memory_limit` defaults to half of the machine's memory, and the configuration
 *   is locked once the `setup` step (the profile's init_sql) has run: no `SET GLOBAL`, `PRAGMA`
 *   or `RESET` of an instance setting works afterwards.
 * - The user functions cannot be shadowed: while a non-internal function or macro named like
 *   one exists anywhere in the catalog, every `query`/`freeForm` fails with a SqlError naming it
 *   and how to drop it (checked at startup and after any statement that can change the catalog).
 * - Results are streamed chunk by chunk and capped (rows, bytes of JSON): `query` fails past a
 *   cap (SqlResultTooLarge), `freeForm` truncates and says so. The timeout covers the wait for
 *   a connection, the query and the conversion.
 * - Result values: see `jsonFromDuckDb` in `duckdb/JsonValues.ts`.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { mkdir } from "node:fs/promises"
import { constrainedMemory } from "node:process"
import { totalmem } from "node:os"
import { dirname } from "node:path"
import { memoryLimitSetting } from "../../domain/config/SiteConfig.js"
import type { FreeFormOptions, QueryOptions, QueryResult } from "../../services/duckdb/DuckDbSession.js"
import { DuckDbSession, SqlError, SqlNotAllowed, SqlResultTooLarge, SqlTimeout } from "../../services/duckdb/DuckDbSession.js"
import { hasTimeout, makePool } from "./Pool.js"
import type { Cancellation, ReadRows, ResultLimits } from "./Results.js"
import { interrupted } from "./Results.js"
import type { Binder } from "./Sandbox.js"
import { codeChange, CODE_OBJECTS_SQL, createBinder, readCatalog, rowsOf } from "./Sandbox.js"
import type { PooledConnection, SessionState } from "./Statements.js"
import { closeQuietly, isDataStatement, runStatements } from "./Statements.js"
import type { ActiveUser } from "./UserFunctions.js"
import {
  activeUser,
  PROBE_SQL,
  probeAnswered,
  probeUser,
  registerUserFunctions,
  SHADOWING_SQL,
  shadowingProblem
} from "./UserFunctions.js"
import { tracingEnabled } from "../server/Tracing.js"

export { jsonFromDuckDb } from "./JsonValues.js"

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
    /** DuckDB's `memory_limit`, as DuckDB writes sizes (`4GB`, `512MiB`). Default `defaultMemoryLimit()`. */
    readonly memoryLimit?: string | undefined
    /** Row cap of a result when the query does not set one. Default `DEFAULT_MAX_ROWS`. */
    readonly maxRows?: number | undefined
    /** Byte cap (JSON text of the rows) when the query does not set one. Default `DEFAULT_MAX_RESULT_BYTES`. */
    readonly maxResultBytes?: number | undefined
  }
}

/** Connections in a session's pool unless `poolSize` says otherwise. */
export const DEFAULT_POOL_SIZE = 4

/** Default caps of a result (`query` fails past them; `freeForm` truncates). */
export const DEFAULT_MAX_ROWS = 100_000
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024 * 1024

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

/** The machine's memory as this process may use it: the cgroup limit when there is one. */
export const machineMemoryBytes = (): number => {
  const total = totalmem()
  const constrained = constrainedMemory()
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total
}

/** Half of the machine's memory: DuckDB's own default is 80%, which leaves little to Node. */
export const defaultMemoryLimit = (): string => memoryLimitSetting(undefined, machineMemoryBytes())

const toSqlError = (error: unknown): SqlError =>
  new SqlError({ message: (error instanceof Error ? error.message : String(error)).trim() || "DuckDB error" })

const attemptPromise = <A>(f: () => Promise<A>): Effect.Effect<A, SqlError> =>
  Effect.tryPromise({ try: f, catch: toSqlError })

/** A promise-based mutex: `run` calls `f` after every earlier call has settled. */
const serializer = () => {
  let tail: Promise<unknown> = Promise.resolve()
  return <A>(f: () => Promise<A>): Promise<A> => {
    const run = tail.then(f, f)
    tail = run.catch(() => undefined)
    return run
  }
}

type Failure = SqlError | SqlTimeout | SqlNotAllowed | SqlResultTooLarge

const asFailure = (error: unknown): Failure =>
  error instanceof SqlError || error instanceof SqlNotAllowed || error instanceof SqlResultTooLarge ||
    error instanceof SqlTimeout
    ? error
    : toSqlError(error)

/**
 * Runs a driver call so that interrupting the fiber, or the timeout, interrupts the DuckDB
 * connection and waits for the call to settle: the connection goes back to the pool idle, never
 * mid-query (and is replaced, as it was interrupted). The timeout is a plain timer rather than an
 * Effect race: this is the hot path, and a racing fiber per query cost about as much CPU as a
 * small query itself.
 */
const runCancellable = <A>(
  pooled: PooledConnection,
  timeoutMs: number,
  /** The query's whole timeout (waiting included), for the error. */
  reportedMs: number,
  run: (cancel: Cancellation) => Promise<A>
): Effect.Effect<A, Failure> =>
  Effect.async<A, Failure>((resume) => {
    const cancel: Cancellation = { cancelled: false }
    let settled = false
    let timedOut = false
    const stop = () => {
      cancel.cancelled = true
      pooled.dirty = true
      if (!settled) closeQuietly(() => pooled.connection.interrupt())
    }
    const timer = hasTimeout(timeoutMs)
      ? setTimeout(() => {
        timedOut = true
        stop()
      }, timeoutMs)
      : undefined
    const done = run(cancel).then(
      (value) => {
        settled = true
        clearTimeout(timer)
        resume(timedOut ? Effect.fail(new SqlTimeout({ timeoutMs: reportedMs })) : Effect.succeed(value))
      },
      (error: unknown) => {
        settled = true
        clearTimeout(timer)
        resume(Effect.fail(timedOut ? new SqlTimeout({ timeoutMs: reportedMs }) : asFailure(error)))
      }
    )
    return Effect.suspend(() => {
      clearTimeout(timer)
      stop()
      return Effect.promise(() => done)
    })
  })

const makeSession = <E>(
  options: DuckDbSessionNode.Options,
  setup: ((db: DuckDbSession.Shape) => Effect.Effect<void, E>) | undefined
) =>
  Effect.gen(function*() {
    const inMemory = options.path === ":memory:" || options.path === ""
    const poolSize = Math.max(1, Math.floor(options.poolSize ?? DEFAULT_POOL_SIZE))
    const tracing = yield* tracingEnabled
    const defaultTimeoutMs = options.timeoutMs ?? 30_000
    const defaultMaxRows = options.maxRows ?? DEFAULT_MAX_ROWS
    const defaultMaxBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES

    if (options.readonly && inMemory) {
      return yield* new SqlError({ message: "A read-only DuckDB session needs a database file, not :memory:" })
    }
    if (!inMemory && !options.readonly) {
      yield* attemptPromise(() => mkdir(dirname(options.path), { recursive: true }))
    }

    // enable_external_access stays on: endpoint SQL reads local files (read_csv, ...) and URLs
    // (read_json_auto over https with httpfs). Free-form SQL goes through the sandbox instead.
    const config: Record<string, string> = {
      autoinstall_known_extensions: "false",
      allow_community_extensions: "false"
    }
    if (options.readonly) config["access_mode"] = "READ_ONLY"
    if (options.threads !== undefined) config["threads"] = String(Math.max(1, Math.floor(options.threads)))
    const instance = yield* Effect.acquireRelease(
      attemptPromise(() => DuckDBInstance.create(inMemory ? ":memory:" : options.path, config)),
      (db) => Effect.sync(() => closeQuietly(() => db.closeSync()))
    )

    // A connection of the session's own, outside the pool: catalog reads for the shadowing
    // check and the sandbox's mirror, and the instance-wide settings.
    const admin: DuckDBConnection = yield* Effect.acquireRelease(
      attemptPromise(() => instance.connect()),
      (c) => Effect.sync(() => closeQuietly(() => c.closeSync()))
    )
    const withAdmin = serializer()
    const memoryLimit = options.memoryLimit ?? defaultMemoryLimit()
    yield* attemptPromise(() => admin.run(`SET memory_limit = '${memoryLimit.replace(/'/g, "''")}'`)).pipe(
      Effect.mapError((e) => new SqlError({ message: `memory_limit ${memoryLimit}: ${e.message}` }))
    )

    const users = new Map<number, ActiveUser>()
    const state: SessionState = { userBound: new Set<number>(), catalogEpoch: 0 }
    yield* Effect.try({ try: () => registerUserFunctions(admin, users, state.userBound), catch: toSqlError })
    const pool = yield* makePool(instance, poolSize, attemptPromise)

    // ---- the user functions are not shadowed (see UserFunctions.ts)
    const shadowing = { epoch: -1, problem: undefined as string | undefined }
    const sentinel = probeUser(randomUUID())
    /** The problem, if any: `full` scans the catalog; otherwise a probe first, a scan only if it fails. */
    const findShadowing = (full: boolean) =>
      withAdmin(async () => {
        if (!full) {
          users.set(admin.clientContext.connectionId, sentinel)
          try {
            if (probeAnswered(await rowsOf(admin, PROBE_SQL), sentinel)) return undefined
          } catch {
            // something else, failing to bind: named below
          } finally {
            users.delete(admin.clientContext.connectionId)
          }
        }
        return shadowingProblem(await rowsOf(admin, SHADOWING_SQL)) ??
          (full ? undefined : "The user functions do not answer as expected; check the catalog for objects named like them")
      })
    const recheckShadowing = (full: boolean): Effect.Effect<void, SqlError> =>
      Effect.suspend(() => {
        const epoch = state.catalogEpoch
        return attemptPromise(() => findShadowing(full)).pipe(
          Effect.flatMap((problem) => {
            shadowing.epoch = epoch
            shadowing.problem = problem
            return problem === undefined ? Effect.void : Effect.fail(new SqlError({ message: problem }))
          })
        )
      })
    const checkShadowing: Effect.Effect<void, SqlError> = Effect.suspend(() => {
      // While a problem stands, only a full scan may clear it.
      if (shadowing.epoch !== state.catalogEpoch) return recheckShadowing(shadowing.problem !== undefined)
      return shadowing.problem === undefined ? Effect.void : Effect.fail(new SqlError({ message: shadowing.problem }))
    })

    // ---- the sandbox binder, built on first use and rebuilt when the catalog moved
    const sandbox = { binder: undefined as Binder | undefined, epoch: -1 }
    const withSandbox = serializer()
    yield* Effect.addFinalizer(() => Effect.sync(() => sandbox.binder?.close()))
    const sandboxCheck = (sql: string, params: Readonly<Record<string, unknown>>, allowWrites: boolean) =>
      withSandbox(async () => {
        if (sandbox.binder === undefined || sandbox.epoch !== state.catalogEpoch) {
          const epoch = state.catalogEpoch
          const snapshot = await withAdmin(() => readCatalog(admin))
          const binder = await createBinder(snapshot)
          sandbox.binder?.close()
          sandbox.binder = binder
          sandbox.epoch = epoch
        }
        return sandbox.binder.check(sql, params, allowWrites)
      })

    const limitsOf = (queryOptions: QueryOptions | undefined, truncate: boolean): ResultLimits => ({
      maxRows: Math.max(0, queryOptions?.maxRows ?? defaultMaxRows),
      maxBytes: Math.max(2, queryOptions?.maxResultBytes ?? defaultMaxBytes),
      truncate
    })

    /** `run` on a connection with the options' user set for the user functions. */
    const onConnection = <A>(
      queryOptions: QueryOptions | undefined,
      run: (pooled: PooledConnection, cancel: Cancellation) => Promise<A>
    ) => {
      const user = activeUser(queryOptions)
      const timeoutMs = queryOptions?.timeoutMs ?? defaultTimeoutMs
      return pool.withConnection(
        timeoutMs,
        queryOptions?.principal,
        (pooled, remainingMs) =>
          Effect.sync(() => user === undefined ? users.delete(pooled.id) : users.set(pooled.id, user)).pipe(
            Effect.zipRight(runCancellable(pooled, remainingMs, timeoutMs, (cancel) => run(pooled, cancel))),
            Effect.ensuring(Effect.sync(() => users.delete(pooled.id)))
          )
      )
    }

    const queryBody = function*(sql: string, params?: Readonly<Record<string, unknown>>, queryOptions?: QueryOptions) {
      if (tracing) yield* Effect.annotateCurrentSpan({ "db.system": "duckdb", "db.statement": sql })
      yield* checkShadowing
      const limits = limitsOf(queryOptions, false)
      const read = yield* onConnection(queryOptions, (pooled, cancel) =>
        runStatements(pooled, state, sql, params ?? {}, cancel, { limits, cache: true })).pipe(
          Effect.mapError((e) => e._tag === "SqlNotAllowed" ? toSqlError(e) : e)
        )
      return read.rows
    }

    const freeFormBody = function*(
      sql: string,
      params?: Readonly<Record<string, unknown>>,
      queryOptions?: FreeFormOptions
    ) {
      if (tracing) yield* Effect.annotateCurrentSpan({ "db.system": "duckdb", "db.statement": sql, "mxcp.sandbox": true })
      yield* checkShadowing
      const limits = limitsOf(queryOptions, true)
      const allowWrites = queryOptions?.allowWrites === true
      const read = yield* onConnection(queryOptions, async (pooled, cancel) => {
        const type = await sandboxCheck(sql, params ?? {}, allowWrites)
        if (cancel.cancelled) throw interrupted()
        if (isDataStatement(type)) return runStatements(pooled, state, sql, params ?? {}, cancel, { limits, cache: false })
        return runGuarded(pooled, state, sql, params ?? {}, cancel, limits)
      }).pipe(Effect.mapError((e) => e._tag === "SqlResultTooLarge" ? toSqlError(e) : e))
      const result: QueryResult = read.truncated === undefined ? { rows: read.rows } : { rows: read.rows, truncated: read.truncated }
      return result
    }

    const execBody = function*(sql: string) {
      if (tracing) yield* Effect.annotateCurrentSpan({ "db.system": "duckdb", "db.statement": sql })
      yield* onConnection(undefined, (pooled, cancel) =>
        runStatements(pooled, state, sql, {}, cancel, { limits: limitsOf(undefined, false), cache: false, discard: true })).pipe(
          Effect.mapError((e) => e._tag === "SqlError" || e._tag === "SqlTimeout" ? e : toSqlError(e))
        )
    }
    // One span per query, only when an application tracer collects them (see Tracing.ts).
    const query = tracing ? Effect.fn("DuckDbSession.query")(queryBody) : Effect.fnUntraced(queryBody)
    const freeForm = tracing ? Effect.fn("DuckDbSession.freeForm")(freeFormBody) : Effect.fnUntraced(freeFormBody)
    const exec = tracing ? Effect.fn("DuckDbSession.exec")(execBody) : Effect.fnUntraced(execBody)

    const session = DuckDbSession.of({
      query,
      freeForm,
      exec,
      readonly: options.readonly
    })

    if (setup !== undefined) yield* setup(session)
    // From here on no statement changes an instance setting (SET GLOBAL, PRAGMA, RESET ...).
    yield* attemptPromise(() => withAdmin(() => admin.run("SET lock_configuration = true")))
    yield* recheckShadowing(true).pipe(
      Effect.catchAll((e) => Effect.logWarning(`DuckDB: ${e.message}`))
    )
    return session
  })

/**
 * The statement of a free-form request allowed to change the catalog (`allow_writes`), run in
 * a transaction that is rolled back when it created, replaced or dropped a view or a macro
 * (those run with the full access of the endpoints that use them, and a macro could shadow a
 * user function).
 */
const runGuarded = async (
  pooled: PooledConnection,
  state: SessionState,
  sql: string,
  params: Readonly<Record<string, unknown>>,
  cancel: Cancellation,
  limits: ResultLimits
): Promise<ReadRows> => {
  const connection = pooled.connection
  pooled.dirty = true
  await connection.run("BEGIN TRANSACTION")
  try {
    const before = await rowsOf(connection, CODE_OBJECTS_SQL)
    const read = await runStatements(pooled, state, sql, params, cancel, { limits, cache: false })
    const change = codeChange(before, await rowsOf(connection, CODE_OBJECTS_SQL))
    if (change !== undefined) {
      throw new SqlNotAllowed({ reason: `views and macros cannot be created, replaced or dropped from free-form SQL (${change})` })
    }
    await connection.run("COMMIT")
    return read
  } catch (error) {
    await connection.run("ROLLBACK").catch(() => undefined)
    throw error
  }
}

/**
 * A DuckDB database with a fixed pool of connections, closed with the layer's scope. `setup`
 * runs once with the session before its configuration is locked (the profile's init_sql).
 */
export const DuckDbSessionNode = <E = never>(
  options: DuckDbSessionNode.Options,
  setup?: (db: DuckDbSession.Shape) => Effect.Effect<void, E>
): Layer.Layer<DuckDbSession, SqlError | E> => Layer.scoped(DuckDbSession, makeSession(options, setup))

/** A private in-memory database, for tests. */
export const DuckDbSessionMemory: Layer.Layer<DuckDbSession, SqlError> = DuckDbSessionNode({
  path: ":memory:",
  readonly: false
})
