/**
 * The database behind the persistent OAuth layers (`SqlTokenStore`, `DynamicClientStoreSql`, and
 * with PostgreSQL the shared rate limits): opened once per process and shared by all of them.
 * This file has the service and the SQLite opener; `OAuthDatabasePostgres.ts` opens PostgreSQL.
 *
 * Decisions:
 * - `@effect/sql-sqlite-node` (better-sqlite3): one connection per process, statements
 *   serialised by the client's semaphore; WAL journal, so readers never wait for the writer and
 *   several processes on one machine can share the file; `busy_timeout` so a process waits for
 *   another's write instead of failing; `synchronous = FULL`, so a committed write (a token
 *   about to be returned) survives a crash or power loss.
 * - Multi-process rule, relied on by every store: a transaction's first statement is a write.
 *   SQLite then takes the write lock at BEGIN time, waiting through `busy_timeout`; a transaction
 *   that read first could instead fail at once with SQLITE_BUSY when another process wrote
 *   in between.
 * - Schema: forward-only migrations run by `@effect/sql`'s Migrator from TypeScript modules
 *   (compiled into `dist/` like any other module), recorded in `oauth_migrations`. They run in
 *   one transaction that first writes `oauth_meta`, so two processes starting together migrate
 *   once, in turn. A file migrated by a newer mxcp-ts (unknown migration ids) is refused.
 * - Startup failures (permissions, not a database, a failed migration) are `ConfigError`s that
 *   name the file and the fix; the server does not start.
 * - The key id last used is kept in `oauth_meta`; when the key changes, a warning says that
 *   sessions sealed under the old key will end (their rows are unreadable, never misread).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { Migrator, SqlClient, type SqlError } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Cause, Context, Effect, Layer, Option, type Redacted } from "effect"
import { ConfigError } from "../../../domain/config/ConfigError.js"
import { StoreError } from "../../../services/oauth/TokenStore.js"
import { M0001OAuthState } from "./migrations/M0001OAuthState.js"
import { M0002RefreshRetiredAt } from "./migrations/M0002RefreshRetiredAt.js"
import { makeSecretBox, type SecretBox } from "./SecretBox.js"
import type { SqlDialect } from "./TokenStoreSql.js"
import { loadEncryptionKey, prepareDatabaseFile } from "./StateFiles.js"

export declare namespace OAuthDatabase {
  export interface Shape {
    readonly sql: SqlClient.SqlClient
    readonly box: SecretBox
    /** For messages: the SQLite file, or the PostgreSQL URL without its password and the schema. */
    readonly path: string
    /** Which SQL the stores speak (statement text, locking). */
    readonly dialect: SqlDialect
    /**
     * Inside a transaction: take the lock `name`, exclusive across every process on the database,
     * until the transaction ends. PostgreSQL: an advisory transaction lock (per schema). SQLite:
     * nothing to do, as long as the transaction's first statement writes (the file's write lock).
     */
    readonly exclusive: (name: string) => Effect.Effect<void, SqlError.SqlError>
    /** One round trip to the database (`/health`). */
    readonly ping: Effect.Effect<void, StoreError>
  }
}

/** The opened OAuth database and the key for its sealed columns. */
export class OAuthDatabase extends Context.Tag("mxcp/OAuthDatabase")<OAuthDatabase, OAuthDatabase.Shape>() {}

/** Every migration, by `<id>_<name>`; append only. */
export const OAuthMigrations = Migrator.fromRecord({
  "1_oauth_state": M0001OAuthState,
  "2_refresh_retired_at": M0002RefreshRetiredAt
})

/** The highest migration id this version knows. */
export const LATEST_MIGRATION = 2

export const MIGRATIONS_TABLE = "oauth_migrations"

/** Default wait for another process's write lock. */
export const BUSY_TIMEOUT_MS = 5000

export interface OAuthDatabaseOptions {
  /** Absolute path of the database file. */
  readonly path: string
  /** Base64 key for sealed columns; absent: generated once into `<path>.key`. */
  readonly encryptionKey?: Redacted.Redacted<string> | undefined
  readonly busyTimeoutMs?: number
}

const runMigrator = Migrator.make({})

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.squash(cause)
  if (failure instanceof Error) {
    const inner = (failure as { cause?: unknown }).cause
    return inner instanceof Error ? `${failure.message}: ${inner.message}` : failure.message
  }
  return String(failure)
}

/** Open, check and migrate the database at `options.path`. */
export const makeOAuthDatabase = (options: OAuthDatabaseOptions) =>
  Effect.gen(function* () {
    const path = options.path
    const fail = (message: string, fix = "") => new ConfigError({ file: path, key: "", message, fix })
    const asStartupError = (what: string, fix = "") => (cause: Cause.Cause<unknown>) =>
      Effect.fail(fail(`${what}: ${describeCause(cause)}`, fix))

    yield* prepareDatabaseFile(path)
    const box = makeSecretBox(yield* loadEncryptionKey(path, options.encryptionKey))

    const sql = yield* SqliteClient.make({ filename: path }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.catchAllCause(asStartupError("cannot open the OAuth database", "check that the file is a SQLite database, or move it away"))
    )
    const setup = Effect.gen(function* () {
      const busy = Math.max(0, Math.floor(options.busyTimeoutMs ?? BUSY_TIMEOUT_MS))
      yield* sql.unsafe(`PRAGMA busy_timeout = ${busy}`)
      yield* sql`PRAGMA synchronous = FULL`
      const mode = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      if (mode[0]?.journal_mode.toLowerCase() !== "wal") {
        return yield* fail(`the database is not in WAL mode (${mode[0]?.journal_mode ?? "unknown"})`, "check the file system supports shared memory")
      }
      yield* sql`CREATE TABLE IF NOT EXISTS oauth_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`
      return yield* sql.withTransaction(
        Effect.gen(function* () {
          // The first statement writes: the write lock is taken now (see the header).
          yield* sql`INSERT OR REPLACE INTO oauth_meta (key, value) VALUES ('opened_by', ${String(process.pid)})`
          yield* runMigrator({ loader: OAuthMigrations, table: MIGRATIONS_TABLE }).pipe(
            Effect.provideService(SqlClient.SqlClient, sql)
          )
          const latest = yield* sql<{ id: number | null }>`SELECT max(migration_id) AS id FROM ${sql(MIGRATIONS_TABLE)}`
          const schema = latest[0]?.id ?? 0
          if (schema > LATEST_MIGRATION) {
            return yield* fail(
              `the OAuth database has schema version ${schema}, newer than this mxcp-ts knows (${LATEST_MIGRATION})`,
              "run the newer mxcp-ts, or point auth.persistence.path at another file"
            )
          }
          const stored = yield* sql<{ value: string }>`SELECT value FROM oauth_meta WHERE key = 'key_id'`
          const previous = Option.fromNullable(stored[0]?.value)
          if (Option.isSome(previous) && previous.value !== box.keyId) {
            yield* Effect.logWarning(
              "The OAuth encryption key changed: sessions stored under the previous key cannot be read and end (users log in again)"
            ).pipe(Effect.annotateLogs({ previous_key_id: previous.value, key_id: box.keyId }))
          }
          yield* sql`INSERT OR REPLACE INTO oauth_meta (key, value) VALUES ('key_id', ${box.keyId})`
          return schema
        })
      )
    })
    const schema = yield* setup.pipe(
      Effect.catchAllCause((cause) => {
        const failure = Cause.failureOption(cause)
        return Option.isSome(failure) && failure.value instanceof ConfigError
          ? Effect.fail(failure.value)
          : asStartupError("cannot prepare the OAuth database", "check that the file is a SQLite database written by mxcp-ts")(cause)
      })
    )
    yield* Effect.logDebug("OAuth database ready").pipe(Effect.annotateLogs({ path, schema, key_id: box.keyId }))
    return OAuthDatabase.of({
      sql,
      box,
      path,
      dialect: "sqlite",
      exclusive: () => Effect.void,
      ping: Effect.asVoid(sql`SELECT 1`).pipe(Effect.mapError(toStoreError("ping")))
    })
  })

/** The OAuth database as a layer: opened when built, closed with its scope. */
export const OAuthDatabaseSqlite = (options: OAuthDatabaseOptions): Layer.Layer<OAuthDatabase, ConfigError> =>
  Layer.scoped(OAuthDatabase, makeOAuthDatabase(options))

/** A driver failure as the store's error; the message names the driver's error, never a value. */
export const toStoreError = (operation: string) => (e: SqlError.SqlError): StoreError => {
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : ""
  return new StoreError({ operation, message: `${e.message}${cause}` })
}
