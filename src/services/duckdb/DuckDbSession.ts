import { Context, Schema } from "effect"
import type { Effect } from "effect"
import type { CurrentUser } from "../../domain/oauth/Identity.js"

/** A JSON-safe value as produced from a DuckDB result cell. */
export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | { readonly [k: string]: JsonValue }
export type Row = { readonly [column: string]: JsonValue }

export interface QueryOptions {
  /** The user whose request runs this query; absent means every user function returns ''. */
  readonly user?: CurrentUser | undefined
  /**
   * The HTTP request's headers, for get_request_header(name) and get_request_headers_json();
   * Authorization, Proxy-Authorization and Cookie are always removed before SQL sees them.
   * Absent: NULL and '{}'.
   */
  readonly requestHeaders?: Readonly<Record<string, string | ReadonlyArray<string> | undefined>> | undefined
  /** When false, get_user_external_token() returns '' for this query (free-form SQL tools). */
  readonly exposeExternalToken?: boolean | undefined
  /** Overrides the session's default timeout (it covers waiting for a connection too). */
  readonly timeoutMs?: number | undefined
  /**
   * Who asks (a user id, or any caller key): the queries of one principal hold at most all but
   * one of the pool's connections at once; the others wait their turn. Absent: no such limit.
   */
  readonly principal?: string | undefined
  /** At most this many rows come back (default: the session's). */
  readonly maxRows?: number | undefined
  /** At most this many bytes of rows as JSON text (UTF-8) come back (default: the session's). */
  readonly maxResultBytes?: number | undefined
}

export interface FreeFormOptions extends QueryOptions {
  /**
   * Also allow INSERT, UPDATE, DELETE, MERGE and CREATE/ALTER/DROP of tables, schemas, types,
   * sequences and indexes (never of views or macros). Default false: SELECT only.
   */
  readonly allowWrites?: boolean | undefined
}

/** Where a result was cut: after `rowCount` rows, at the row cap or the byte cap (`limit`). */
export interface Truncation {
  readonly by: "rows" | "bytes"
  readonly limit: number
  readonly rowCount: number
}

export interface QueryResult {
  readonly rows: ReadonlyArray<Row>
  /** Set when more rows exist than came back. */
  readonly truncated?: Truncation | undefined
}

/** A SQL statement failed (syntax, catalog, constraint, runtime). The message is safe to show. */
export class SqlError extends Schema.TaggedError<SqlError>()("SqlError", {
  message: Schema.String
}) {}

/** The query ran longer than its timeout and was interrupted. */
export class SqlTimeout extends Schema.TaggedError<SqlTimeout>()("SqlTimeout", {
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `Query timed out after ${this.timeoutMs} ms`
  }
}

/** The result has more rows, or more bytes of JSON, than the query's cap allows. */
export class SqlResultTooLarge extends Schema.TaggedError<SqlResultTooLarge>()("SqlResultTooLarge", {
  by: Schema.Literal("rows", "bytes"),
  limit: Schema.Number
}) {
  override get message(): string {
    return this.by === "rows"
      ? `The result has more than ${this.limit} rows`
      : `The result is larger than ${this.limit} bytes of JSON`
  }
}

/** Free-form SQL that the sandbox refuses to run; `reason` is DuckDB's or the rule's. */
export class SqlNotAllowed extends Schema.TaggedError<SqlNotAllowed>()("SqlNotAllowed", {
  reason: Schema.String
}) {
  override get message(): string {
    return `This query is not allowed: ${this.reason}`
  }
}

export declare namespace DuckDbSession {
  export interface Shape {
    /**
     * Run one statement (or several: the last one's rows come back) with named `$param`
     * bindings (only the names the SQL references are bound). Rows come back as JSON-safe
     * objects; a result over the row or byte cap fails with SqlResultTooLarge.
     */
    readonly query: (
      sql: string,
      params?: Readonly<Record<string, unknown>>,
      options?: QueryOptions
    ) => Effect.Effect<ReadonlyArray<Row>, SqlError | SqlTimeout | SqlResultTooLarge>
    /**
     * Run one statement of free-form SQL in the sandbox (see `Sandbox.ts`): no files, URLs,
     * extensions, attached databases or settings; SELECT only unless `allowWrites`. A result
     * over a cap is truncated, and says so.
     */
    readonly freeForm: (
      sql: string,
      params?: Readonly<Record<string, unknown>>,
      options?: FreeFormOptions
    ) => Effect.Effect<QueryResult, SqlError | SqlTimeout | SqlNotAllowed>
    /** Run several statements with no parameters and no results (setup scripts). */
    readonly exec: (sql: string) => Effect.Effect<void, SqlError | SqlTimeout>
    readonly readonly: boolean
  }
}

/** A pool of connections to one DuckDB database, with user functions wired per query. */
export class DuckDbSession extends Context.Tag("mxcp/DuckDbSession")<DuckDbSession, DuckDbSession.Shape>() {}
