/**
 * `auth.persistence.type: postgres` up to an open database: the config block (encryption_key
 * required, keys of the other type refused), the URL's password in no message and no log line,
 * migrations run once under the advisory lock by instances starting together, and a schema
 * migrated by a newer version refused at startup.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Reactivity from "@effect/experimental/Reactivity"
import { PgClient } from "@effect/sql-pg"
import { Deferred, Effect, Either, Exit, Fiber, HashSet, Layer, Logger, LogLevel, Redacted } from "effect"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"
import type { ConfigError } from "../../src/domain/config/ConfigError.js"
import { resolvePersistence } from "../../src/domain/config/Persistence.js"
import { AuthConfig } from "../../src/domain/config/UserConfig.js"
import { OAuthDatabase } from "../../src/layers/oauth/store/OAuthDatabase.js"
import { LATEST_PG_MIGRATION, OAuthDatabasePostgres } from "../../src/layers/oauth/store/OAuthDatabasePostgres.js"
import { PG_TEST_KEY } from "../persistence/TempDatabase.js"
import { type PostgresCluster, startPostgres } from "../support/Postgres.js"

let pg: PostgresCluster
beforeAll(async () => {
  pg = await startPostgres()
  // A role that logs in with a password (the cluster trusts loopback, so any password works).
  pg.psql("CREATE ROLE app LOGIN PASSWORD 'pw-Sekr1t-xyz'; GRANT CREATE ON DATABASE mxcp TO app", "mxcp")
}, 60_000)
afterAll(() => pg?.stop())

const file = "/etc/mxcp/config.yml"
const PASSWORD = "pw-Sekr1t-xyz"

const resolve = (block: Record<string, unknown>) =>
  Effect.map(decodeConfig(AuthConfig, file, { persistence: block }), (auth) =>
    resolvePersistence(auth.persistence!, file, "auth.persistence"))

/** Everything logged while `effect` runs, at every level, as text. */
const captured = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make(({ annotations, message }) => {
      lines.push(`${JSON.stringify(message)} ${JSON.stringify([...HashSet.toValues(HashSet.fromIterable(annotations))])}`)
    })
    const exit = yield* effect.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.exit
    )
    return { exit, lines }
  })

let schemas = 0
const open = (options: { readonly url?: string; readonly schema?: string } = {}) =>
  Effect.scoped(
    Effect.gen(function* () {
      const db = yield* Layer.build(
        OAuthDatabasePostgres({
          url: Redacted.make(options.url ?? pg.url),
          encryptionKey: Redacted.make(PG_TEST_KEY),
          schema: options.schema ?? `d_${++schemas}`,
          poolSize: 2,
          connectTimeoutMs: 3000
        })
      )
      yield* Effect.flatMap(OAuthDatabase, (d) => d.ping).pipe(Effect.provide(db), Effect.orDie)
    })
  )

describe("auth.persistence type postgres", () => {
  it.effect("the block needs url and encryption_key, naming the key and the fix; sqlite's path is refused", () =>
    Effect.gen(function* () {
      const ok = yield* resolve({ type: "postgres", url: "postgres://app:pw@db:5432/mxcp", encryption_key: PG_TEST_KEY })
      expect(Either.getOrThrow(ok)).toMatchObject({ type: "postgres", schema: "mxcp_oauth", pool_size: 10 })

      const noKey = yield* resolve({ type: "postgres", url: "postgres://app:pw@db:5432/mxcp" })
      const e1 = Either.getLeft(noKey).pipe((o) => (o._tag === "Some" ? o.value : undefined)) as ConfigError
      expect(e1.key).toBe("auth.persistence.encryption_key")
      expect(e1.fix).toContain("openssl rand -base64 32")

      const noUrl = yield* resolve({ type: "postgres", encryption_key: PG_TEST_KEY })
      expect(Either.isLeft(noUrl) && noUrl.left.key).toBe("auth.persistence.url")

      const withPath = yield* resolve({ type: "postgres", url: "postgres://db/mxcp", encryption_key: PG_TEST_KEY, path: "/x.db" })
      expect(Either.isLeft(withPath) && withPath.left.key).toBe("auth.persistence.path")

      const badUrl = yield* resolve({ type: "postgres", url: "mysql://app:pw-Sekr1t@db/mxcp", encryption_key: PG_TEST_KEY })
      expect(Either.isLeft(badUrl) && badUrl.left.key).toBe("auth.persistence.url")
      expect(JSON.stringify(Either.getLeft(badUrl))).not.toContain("pw-Sekr1t")

      const badSchema = yield* Effect.flip(
        decodeConfig(AuthConfig, file, { persistence: { type: "postgres", url: "postgres://db/x", encryption_key: PG_TEST_KEY, schema: "Drop Table" } })
      )
      expect(badSchema.key).toBe("persistence.schema")
    }))

  it.effect("the URL's password is in no error and no log line, when it connects and when it cannot", () =>
    Effect.gen(function* () {
      const good = `postgres://app:${PASSWORD}@127.0.0.1:${pg.port}/mxcp`
      const opened = yield* captured(open({ url: good }))
      expect(Exit.isSuccess(opened.exit)).toBe(true)
      expect(opened.lines.join("\n")).not.toContain(PASSWORD)

      // Nothing listens on port 1: connecting fails.
      const down = yield* captured(open({ url: `postgres://app:${PASSWORD}@127.0.0.1:1/mxcp` }))
      expect(Exit.isFailure(down.exit)).toBe(true)
      const text = `${JSON.stringify(down.exit)} ${down.lines.join("\n")}`
      expect(text).not.toContain(PASSWORD)
      expect(text).toContain("127.0.0.1:1")
      expect(text).toContain("auth.persistence.url")
    }), 30_000)

  it.effect("four instances starting together on a new schema migrate it once, under the advisory lock", () =>
    Effect.gen(function* () {
      const schema = "together"
      yield* Effect.all(Array.from({ length: 4 }, () => open({ schema })), { concurrency: "unbounded" }).pipe(Effect.orDie)
      expect(pg.psql(`SELECT string_agg(migration_id::text, ',' ORDER BY migration_id) FROM ${schema}.oauth_migrations`, "mxcp"))
        .toBe(Array.from({ length: LATEST_PG_MIGRATION }, (_, i) => i + 1).join(","))
    }), 30_000)

  it.live("an instance starting while another holds the migration lock waits for it", () =>
    Effect.gen(function* () {
      const schema = "waiting"
      const locked = yield* Deferred.make<void>()
      let released = 0
      // Another connection holds the lock for 1 s (as another instance migrating would).
      const holder = Effect.scoped(
        Effect.gen(function* () {
          const sql = yield* PgClient.make({ url: Redacted.make(pg.url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
          yield* sql.withTransaction(
            Effect.gen(function* () {
              yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`mxcp-ts:${schema}:migrations`}))`
              yield* Deferred.succeed(locked, undefined)
              yield* Effect.sleep("1 second")
            })
          )
          released = performance.now()
        })
      ).pipe(Effect.orDie)
      const held = yield* Effect.fork(holder)
      yield* Deferred.await(locked)
      yield* open({ schema }).pipe(Effect.orDie)
      const opened = performance.now()
      yield* Fiber.join(held)
      // It finished only after the holder's transaction ended, then migrated.
      expect(released).toBeGreaterThan(0)
      expect(opened).toBeGreaterThanOrEqual(released)
      expect(pg.psql(`SELECT count(*) FROM ${schema}.oauth_migrations`, "mxcp")).toBe(String(LATEST_PG_MIGRATION))
    }), 30_000)

  it.effect("a schema migrated by a newer version is refused at startup, naming the schema key", () =>
    Effect.gen(function* () {
      const schema = "newer"
      yield* open({ schema }).pipe(Effect.orDie)
      pg.psql(`INSERT INTO ${schema}.oauth_migrations (migration_id, name) VALUES (${LATEST_PG_MIGRATION + 1}, 'from_the_future')`, "mxcp")
      const refused = yield* Effect.flip(open({ schema }))
      expect(refused.key).toBe("auth.persistence.schema")
      expect(refused.message).toContain(`schema version ${LATEST_PG_MIGRATION + 1}, newer than this mxcp-ts knows (${LATEST_PG_MIGRATION})`)
      // Nothing was changed by the refused start.
      expect(pg.psql(`SELECT max(migration_id) FROM ${schema}.oauth_migrations`, "mxcp")).toBe(String(LATEST_PG_MIGRATION + 1))
    }), 30_000)
})

