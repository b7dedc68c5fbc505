/**
 * Running the statements of one query on one pooled connection: the per-connection cache of
 * prepared statements, which statements leave state behind, and reading the last result.
 *
 * The statement cache stays hand-written (a Map in recency order): its entries are native
 * prepared statements that must be destroyed when evicted or stale, inside the driver's async
 * calls, and effect's `Cache` has no eviction hook (`ScopedCache` would put a scope on every query).
 */
import { StatementType } from "@duckdb/node-api"
import type { DuckDBConnection, DuckDBPreparedStatement } from "@duckdb/node-api"
import { bindParameters } from "./Binding.js"
import type { Cancellation, ReadRows, ResultColumns, ResultLimits } from "./Results.js"
import { columnsOf, interrupted, readRows } from "./Results.js"

export interface PooledConnection {
  readonly connection: DuckDBConnection
  readonly id: number
  /** Prepared SELECT statements by SQL text, reused across queries (see `runStatements`). */
  readonly statements: Map<string, CachedStatement>
  /**
   * The connection may carry something from the query that used it (a temp object, a setting,
   * `USE`, an open transaction, an unfinished result): the pool closes it and opens a new one
   * before anyone else gets it.
   */
  dirty: boolean
}

export interface CachedStatement {
  readonly prepared: DuckDBPreparedStatement
  /** The catalog epoch it was prepared in; a later catalog change makes it stale. */
  readonly epoch: number
  /** Result column names and types, read from the first result (fixed within an epoch). */
  columns?: ResultColumns
}

/** Shared by every connection of a session. */
export interface SessionState {
  /** Connections whose current statement bound a user function (set by the UDF bind callback). */
  readonly userBound: Set<number>
  /**
   * Bumped after every statement that may change the catalog (`changesCatalog`). DuckDB does
   * not rebind a prepared statement when, say, a view it reads is replaced, so cached statements
   * from an older epoch are prepared afresh; the shadowing check and the sandbox's catalog mirror
   * are redone when it moved.
   */
  catalogEpoch: number
}

/** Statements that can neither change the catalog nor leave anything on their connection. */
export const isDataStatement = (type: StatementType): boolean =>
  type === StatementType.SELECT || type === StatementType.INSERT || type === StatementType.UPDATE ||
  type === StatementType.DELETE || type === StatementType.MERGE_INTO

/** Statements that leave state on their connection at most, never in the shared catalog. */
const CATALOG_NEUTRAL: ReadonlySet<StatementType> = new Set([
  StatementType.TRANSACTION,
  StatementType.SET,
  StatementType.VARIABLE_SET,
  StatementType.EXPLAIN,
  StatementType.PREPARE,
  StatementType.ANALYZE,
  StatementType.VACUUM,
  StatementType.COPY,
  StatementType.EXPORT,
  StatementType.LOAD,
  StatementType.UPDATE_EXTENSIONS
])

/**
 * Statements that may change the catalog that every connection sees: CREATE, ALTER, DROP,
 * ATTACH, DETACH, EXECUTE (of a prepared CREATE), PRAGMA (`import_database`), CALL, and any
 * kind not known to be harmless. A temp object counts too: telling it apart would take more
 * than the check it saves.
 */
export const changesCatalog = (type: StatementType): boolean => !isDataStatement(type) && !CATALOG_NEUTRAL.has(type)

export interface RunOptions {
  readonly limits: ResultLimits
  /** Keep a single SELECT prepared for the next query with the same text. */
  readonly cache: boolean
  /** Run every statement to completion and return no rows (setup scripts). */
  readonly discard?: boolean | undefined
}

/** Prepared statements kept per connection; the least recently used beyond this are destroyed. */
const STATEMENT_CACHE_SIZE = 64

export const closeQuietly = (close: () => void): void => {
  try {
    close()
  } catch {
    // already closed, or the process is going away: nothing useful to report
  }
}

/**
 * Runs every statement of `sql` in order; returns the rows of the last one, read within
 * `options.limits`. Earlier statements run to completion (`run()`), as a script expects.
 *
 * A single statement is prepared once per connection and reused (parsing and planning cost as
 * much as running a small query), unless preparing it bound a user function: those values are
 * fixed at bind time, so such statements are prepared afresh for every query. DuckDB rebinds a
 * reused statement by itself when the catalog changed since it was prepared.
 */
export const runStatements = async (
  pooled: PooledConnection,
  state: SessionState,
  sql: string,
  params: Readonly<Record<string, unknown>>,
  cancel: Cancellation,
  options: RunOptions
): Promise<ReadRows> => {
  const userBound = state.userBound
  const cached = options.cache ? pooled.statements.get(sql) : undefined
  if (cached !== undefined) {
    pooled.statements.delete(sql)
    if (cached.epoch !== state.catalogEpoch) {
      closeQuietly(() => cached.prepared.destroySync())
    } else {
      // Most recently used last.
      pooled.statements.set(sql, cached)
      userBound.delete(pooled.id)
      try {
        bindParameters(cached.prepared, params)
        if (cancel.cancelled) throw interrupted()
        return await readLast(pooled, cached.prepared, options.limits, cancel, cached)
      } finally {
        // Rebound by DuckDB, and now calling a user function: stop reusing it.
        if (userBound.has(pooled.id) && pooled.statements.get(sql) === cached) {
          pooled.statements.delete(sql)
          closeQuietly(() => cached.prepared.destroySync())
        }
      }
    }
  }
  const extracted = await extractStatements(pooled.connection, sql)
  if (extracted === undefined) return { rows: [], truncated: undefined, complete: true }
  if (extracted.count === 1) {
    userBound.delete(pooled.id)
    const epoch = state.catalogEpoch
    const prepared = await extracted.prepare(0)
    const type = prepared.statementType
    const reusable = options.cache && type === StatementType.SELECT && !userBound.has(pooled.id)
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
      if (cancel.cancelled) throw interrupted()
      if (!isDataStatement(type)) pooled.dirty = true
      if (options.discard === true) {
        await prepared.run()
        return { rows: [], truncated: undefined, complete: true }
      }
      return await readLast(pooled, prepared, options.limits, cancel, reusable ? pooled.statements.get(sql) : undefined)
    } finally {
      if (changesCatalog(type)) state.catalogEpoch++
      if (!reusable) prepared.destroySync()
    }
  }
  let last: ReadRows = { rows: [], truncated: undefined, complete: true }
  for (let index = 0; index < extracted.count; index++) {
    if (cancel.cancelled) throw interrupted()
    const prepared = await extracted.prepare(index)
    const type = prepared.statementType
    try {
      bindParameters(prepared, params)
      if (cancel.cancelled) throw interrupted()
      if (!isDataStatement(type)) pooled.dirty = true
      if (index === extracted.count - 1 && options.discard !== true) {
        last = await readLast(pooled, prepared, options.limits, cancel, undefined)
      } else await prepared.run()
    } finally {
      if (changesCatalog(type)) state.catalogEpoch++
      prepared.destroySync()
    }
  }
  return last
}

/** The statements of `sql`; undefined when there is none (empty text, only comments). */
export const extractStatements = (connection: DuckDBConnection, sql: string) =>
  connection.extractStatements(sql).catch((error: unknown) => {
    // The driver reports "no statement at all" as a bare "Error in native callback"; a parse
    // error carries DuckDB's message behind a prefix.
    if (error instanceof Error && error.message === "Error in native callback") return undefined
    if (error instanceof Error) throw new Error(error.message.replace(/^Failed to extract statements: /, ""))
    throw error
  })

/**
 * Streams the statement's result and reads it within the limits. A result left unfinished
 * (capped, failed or interrupted) keeps its query open on the connection: the pool replaces it.
 */
const readLast = async (
  pooled: PooledConnection,
  prepared: DuckDBPreparedStatement,
  limits: ResultLimits,
  cancel: Cancellation,
  cached: CachedStatement | undefined
): Promise<ReadRows> => {
  let complete = false
  try {
    const result = await prepared.stream()
    const columns = cached === undefined ? columnsOf(result) : (cached.columns ??= columnsOf(result))
    const read = await readRows(result, columns, limits, cancel)
    complete = read.complete
    return read
  } finally {
    if (!complete) pooled.dirty = true
  }
}
