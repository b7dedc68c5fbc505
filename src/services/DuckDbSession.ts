import { Context, Schema } from "effect"
import type { Effect } from "effect"

/** A JSON-safe value as produced from a DuckDB result cell. */
export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | { readonly [k: string]: JsonValue }
export type Row = { readonly [column: string]: JsonValue }

/** The identity visible to SQL through get_username() and friends. */
export interface SqlUser {
  readonly username: string
  readonly email: string
  readonly provider: string
  readonly externalToken: string
}

export interface QueryOptions {
  /** The user whose request runs this query; absent means every user function returns ''. */
  readonly user?: SqlUser | undefined
  /** When false, get_user_external_token() returns '' for this query (free-form SQL tools). */
  readonly exposeExternalToken?: boolean | undefined
  /** Overrides the session's default timeout. */
  readonly timeoutMs?: number | undefined
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

export declare namespace DuckDbSession {
  export interface Shape {
    /**
     * Run one statement with named `$param` bindings (only the names the SQL references are
     * bound). Rows come back as JSON-safe objects.
     */
    readonly query: (
      sql: string,
      params?: Readonly<Record<string, unknown>>,
      options?: QueryOptions
    ) => Effect.Effect<ReadonlyArray<Row>, SqlError | SqlTimeout>
    /** Run several statements with no parameters and no results (setup scripts). */
    readonly exec: (sql: string) => Effect.Effect<void, SqlError | SqlTimeout>
    readonly readonly: boolean
  }
}

/** A pool of connections to one DuckDB database, with user functions wired per query. */
export class DuckDbSession extends Context.Tag("mxcp/DuckDbSession")<DuckDbSession, DuckDbSession.Shape>() {}
