/**
 * The OAuth database in PostgreSQL (`auth.persistence.type: postgres`): one schema of one
 * database, shared by every instance of a deployment. Gives the same `OAuthDatabase` service as
 * the SQLite opener, so the stores on top are the same code (`SqlTokenStore`,
 * `DynamicClientStoreSql`), plus what only PostgreSQL has (`exclusive`: advisory locks).
 *
 * Decisions:
 * - `@effect/sql-pg` (node-postgres pool of `pool_size` connections per process). The pool
 *   connects on demand: when the database goes away, requests fail at once with a store error
 *   (answered 503 by the endpoints), and when it is back the next request opens a fresh
 *   connection; no restart.
 * - Every connection has `search_path` set to the schema (a startup option in the URL), so the
 *   statements name tables unqualified, exactly as in SQLite. The schema name is checked by the
 *   config decoder (lowercase, digits, `_`), so it never needs quoting.
 * - Types: BIGINT (epoch ms, counts) is read as a JS number (every value is below 2^53), BYTEA as
 *   a Buffer; the row MACs are computed over exactly those values.
 * - Timeouts: connecting `CONNECT_TIMEOUT_MS`; each statement at most `STATEMENT_TIMEOUT_MS` on
 *   the server, and `QUERY_TIMEOUT_MS` as seen from here (a server that stopped answering), so a
 *   request never hangs on the database.
 * - Migrations: the PostgreSQL versions of the SQLite ones (`migrations/Pg*.ts`), recorded in
 *   `oauth_migrations`. Whichever instance starts first runs them, in one transaction that first
 *   takes an advisory lock (per schema), so instances starting together migrate once, in turn.
 *   A schema migrated by a newer mxcp-ts (an unknown migration id) is refused at startup.
 * - The URL's password never appears in a message: failures name the URL without it
 *   (`redactedUrl`) and the driver's text is scrubbed of it.
 * - The key id last used is kept in `oauth_meta`, as in SQLite: a start under another key warns
 *   that sessions sealed under the old one will end.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { Migrator, SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Cause, Duration, Effect, Layer, Option, Redacted } from "effect"
import { ConfigError } from "../../../domain/config/ConfigError.js"
import { postgresTarget, redactedUrl } from "../../../domain/config/Persistence.js"
import { OAuthDatabase, toStoreError } from "./OAuthDatabase.js"
import { Pg0001OAuthState } from "./migrations/Pg0001OAuthState.js"
import { Pg0002RefreshRetiredAt } from "./migrations/Pg0002RefreshRetiredAt.js"
import { Pg0003RateWindows } from "./migrations/Pg0003RateWindows.js"
import { decodeKey, KEY_BYTES, makeSecretBox } from "./SecretBox.js"

/** Every PostgreSQL migration, by `<id>_<name>`; append only. */
export const PgOAuthMigrations = Migrator.fromRecord({
  "1_oauth_state": Pg0001OAuthState,
  "2_refresh_retired_at": Pg0002RefreshRetiredAt,
  "3_rate_windows": Pg0003RateWindows
})

/** The highest PostgreSQL migration id this version knows. */
export const LATEST_PG_MIGRATION = 3

export const PG_MIGRATIONS_TABLE = "oauth_migrations"

export const CONNECT_TIMEOUT_MS = 5_000
export const STATEMENT_TIMEOUT_MS = 15_000
/** Longer than any statement may run on the server (the grant lock's wait included). */
export const QUERY_TIMEOUT_MS = 45_000

export interface OAuthDatabasePostgresOptions {
  /** A libpq URL: `postgres://user:password@host:5432/database`. */
  readonly url: Redacted.Redacted<string>
  /** Base64 key for sealed columns and row MACs: the same on every instance. */
  readonly encryptionKey: Redacted.Redacted<string>
  /** Default `mxcp_oauth`. */
  readonly schema?: string | undefined
  /** Connections per process; default 10. */
  readonly poolSize?: number | undefined
  /** The config file, for messages. */
  readonly file?: string | undefined
  readonly connectTimeoutMs?: number | undefined
}

/** BIGINT and INTEGER as numbers, BOOLEAN as a boolean, BYTEA as a Buffer, anything else as text. */
const parsers: Readonly<Record<number, (text: string) => unknown>> = {
  16: (t) => t === "t",
  17: (t) => (t.startsWith("\\x") ? Buffer.from(t.slice(2), "hex") : Buffer.from(t, "binary")),
  20: Number,
  21: Number,
  23: Number,
  700: Number,
  701: Number
}
const asText = (text: string): string => text
const types = { getTypeParser: (oid: number) => parsers[oid] ?? asText }

/**
 * `url` with this server's connection settings added as libpq parameters: the schema as the
 * search path (after any `options` the URL has), the timeouts and the application name.
 */
export const connectionUrl = (url: string, schema: string): string => {
  const u = new URL(url)
  const options = [u.searchParams.get("options"), `-c search_path=${schema}`].filter((o) => o !== null && o !== "")
  u.searchParams.set("options", options.join(" "))
  if (!u.searchParams.has("statement_timeout")) u.searchParams.set("statement_timeout", String(STATEMENT_TIMEOUT_MS))
  if (!u.searchParams.has("query_timeout")) u.searchParams.set("query_timeout", String(QUERY_TIMEOUT_MS))
  if (!u.searchParams.has("application_name")) u.searchParams.set("application_name", "mxcp-ts")
  return u.toString()
}

/** The URL's password (decoded), or "" when it has none. */
const passwordOf = (url: string): string => {
  try {
    return decodeURIComponent(new URL(url).password)
  } catch {
    return ""
  }
}

/** A failure's text, without the password (drivers rarely echo it; this makes sure). */
const describe = (cause: Cause.Cause<unknown>, password: string): string => {
  const failure = Cause.squash(cause)
  let text = failure instanceof Error ? failure.message : String(failure)
  const inner = failure instanceof Error ? (failure as { cause?: unknown }).cause : undefined
  if (inner instanceof Error && inner.message !== "" && !text.includes(inner.message)) text = `${text}: ${inner.message}`
  if (inner instanceof AggregateError) text = `${text}: ${inner.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join("; ")}`
  return password === "" ? text : text.split(password).join("***")
}

/** Connect, check, lock and migrate; the database for the stores. */
export const makeOAuthDatabasePostgres = (options: OAuthDatabasePostgresOptions) =>
  Effect.gen(function* () {
    const raw = Redacted.value(options.url)
    const shown = redactedUrl(raw)
    const schema = options.schema ?? "mxcp_oauth"
    const file = options.file ?? "user config"
    const fail = (key: string, message: string, fix: string) => new ConfigError({ file, key: `auth.persistence${key}`, message, fix })
    const target = postgresTarget(raw)
    if (target === undefined) {
      return yield* fail(".url", "not a PostgreSQL URL (value hidden)", "use postgres://user:password@host:5432/database")
    }
    const key = decodeKey(Redacted.value(options.encryptionKey))
    if (key === undefined) {
      return yield* fail(".encryption_key", `the encryption key is not ${KEY_BYTES} bytes of base64`, "generate one with: openssl rand -base64 32")
    }
    const box = makeSecretBox(key)
    const password = passwordOf(raw)
    const where = `${shown} (schema ${schema})`

    const sql = yield* PgClient.make({
      url: Redacted.make(connectionUrl(raw, schema)),
      maxConnections: Math.max(1, options.poolSize ?? 10),
      connectTimeout: Duration.millis(options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS),
      idleTimeout: Duration.seconds(30),
      applicationName: "mxcp-ts",
      types
    }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.catchAllCause((cause) =>
        Effect.fail(
          fail(
            ".url",
            `cannot connect to PostgreSQL at ${target.host}:${target.port}, database ${target.database}${
              target.user === "" ? "" : `, user ${target.user}`
            }: ${describe(cause, password)}`,
            "check that PostgreSQL runs and accepts this server, and that auth.persistence.url names the right host, database, user and password"
          )
        )
      )
    )

    const lockKey = (name: string) => `mxcp-ts:${schema}:${name}`
    const setup = sql.withTransaction(
      Effect.gen(function* () {
        // Whoever holds this lock migrates; another instance starting now waits here (until commit).
        yield* sql`SELECT pg_advisory_xact_lock(hashtext(${lockKey("migrations")}))`
        const exists = yield* sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`
        // Only when missing: CREATE SCHEMA needs the CREATE privilege on the database even with IF NOT EXISTS.
        if (exists.length === 0) yield* sql.unsafe(`CREATE SCHEMA ${schema}`)
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${PG_MIGRATIONS_TABLE} (
          migration_id integer PRIMARY KEY,
          created_at timestamp with time zone NOT NULL DEFAULT now(),
          name text NOT NULL
        )`)
        yield* sql`CREATE TABLE IF NOT EXISTS oauth_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`
        const before = yield* sql<{ id: number | null }>`SELECT max(migration_id) AS id FROM ${sql(PG_MIGRATIONS_TABLE)}`
        const found = before[0]?.id ?? 0
        if (found > LATEST_PG_MIGRATION) {
          return yield* fail(
            ".schema",
            `the OAuth schema ${schema} at ${shown} has schema version ${found}, newer than this mxcp-ts knows (${LATEST_PG_MIGRATION})`,
            "run the newer mxcp-ts on every instance, or point auth.persistence.schema at another schema"
          )
        }
        yield* Migrator.make({})({ loader: PgOAuthMigrations, table: PG_MIGRATIONS_TABLE }).pipe(
          Effect.provideService(SqlClient.SqlClient, sql)
        )
        const stored = yield* sql<{ value: string }>`SELECT value FROM oauth_meta WHERE key = 'key_id'`
        const previous = Option.fromNullable(stored[0]?.value)
        if (Option.isSome(previous) && previous.value !== box.keyId) {
          yield* Effect.logWarning(
            "The OAuth encryption key changed: sessions stored under the previous key cannot be read and end (users log in again)"
          ).pipe(Effect.annotateLogs({ previous_key_id: previous.value, key_id: box.keyId }))
        }
        yield* sql`INSERT INTO oauth_meta (key, value) VALUES ('key_id', ${box.keyId})
          ON CONFLICT (key) DO UPDATE SET value = excluded.value`
        return Math.max(found, LATEST_PG_MIGRATION)
      })
    )
    const version = yield* setup.pipe(
      Effect.catchAllCause((cause) => {
        const failure = Cause.failureOption(cause)
        return Option.isSome(failure) && failure.value instanceof ConfigError
          ? Effect.fail(failure.value)
          : Effect.fail(
            fail(
              "",
              `cannot prepare the OAuth schema ${schema} at ${shown}: ${describe(cause, password)}`,
              `let the database user create the schema (GRANT CREATE ON DATABASE ${target.database}), or create schema ${schema} owned by it`
            )
          )
      })
    )
    yield* Effect.logDebug("OAuth database ready").pipe(Effect.annotateLogs({ database: where, schema_version: version, key_id: box.keyId }))
    return OAuthDatabase.of({
      sql,
      box,
      path: where,
      dialect: "postgres",
      exclusive: (name) => Effect.asVoid(sql`SELECT pg_advisory_xact_lock(hashtext(${lockKey(name)}))`),
      ping: Effect.asVoid(sql`SELECT 1`).pipe(Effect.mapError(toStoreError("ping")))
    })
  })

/** The PostgreSQL OAuth database as a layer: connected and migrated when built, the pool closed with its scope. */
export const OAuthDatabasePostgres = (options: OAuthDatabasePostgresOptions): Layer.Layer<OAuthDatabase, ConfigError> =>
  Layer.scoped(OAuthDatabase, makeOAuthDatabasePostgres(options))

/**
 * What `mxcp validate --check-connection` reports, read-only (no schema is created or migrated):
 * the schema version found, or why the database cannot be used.
 */
export const inspectPostgres = (options: OAuthDatabasePostgresOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const raw = Redacted.value(options.url)
      const schema = options.schema ?? "mxcp_oauth"
      const sql = yield* PgClient.make({
        url: Redacted.make(connectionUrl(raw, schema)),
        maxConnections: 1,
        connectTimeout: Duration.millis(options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS),
        applicationName: "mxcp-ts validate",
        types
      }).pipe(Effect.provide(Reactivity.layer))
      const tables = yield* sql<{ n: number }>`SELECT count(*) AS n FROM pg_tables WHERE schemaname = ${schema} AND tablename = ${PG_MIGRATIONS_TABLE}`
      if ((tables[0]?.n ?? 0) === 0) return { _tag: "Empty" as const }
      const rows = yield* sql<{ id: number | null }>`SELECT max(migration_id) AS id FROM ${sql(PG_MIGRATIONS_TABLE)}`
      return { _tag: "Found" as const, version: rows[0]?.id ?? 0 }
    })
  ).pipe(
    Effect.catchAllCause((cause) =>
      Effect.succeed({ _tag: "Unreachable" as const, reason: describe(cause, passwordOf(Redacted.value(options.url))) })
    )
  )
