/**
 * Opening the SQLite OAuth database: file and folder modes, the permission check, WAL and
 * busy_timeout, forward-only migrations, the key file, clear startup errors.
 */
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import {
  LATEST_MIGRATION,
  MIGRATIONS_TABLE,
  OAuthDatabase,
  OAuthDatabaseSqlite
} from "../../src/layers/oauth/store/OAuthDatabase.js"
import { keyIdOf } from "../../src/layers/oauth/store/SecretBox.js"
import { keyPathFor } from "../../src/layers/oauth/store/StateFiles.js"
import { tempDir } from "./TempDatabase.js"

/** Needs `npm run build` (like every test that spawns `dist/`). */
const OPEN_DATABASE = join(import.meta.dirname, "fixtures", "open-database.mjs")

/** `node ...args`: its exit code and output. */
const runNode = (args: ReadonlyArray<string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const proc = spawn(process.execPath, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.once("exit", (code) => resolve({ code, stdout, stderr }))
  })

const mode = (path: string): number => statSync(path).mode & 0o777

/** Open the database at `path` for the length of `use`. */
const withDatabase = <A, E>(
  path: string,
  use: (db: OAuthDatabase.Shape) => Effect.Effect<A, E>,
  encryptionKey?: string
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const ctx = yield* Layer.build(
        OAuthDatabaseSqlite({ path, ...(encryptionKey === undefined ? {} : { encryptionKey: Redacted.make(encryptionKey) }) })
      )
      return yield* use(Context.get(ctx, OAuthDatabase))
    })
  )

/** The startup error for `path`. */
const openError = (path: string, encryptionKey?: string) =>
  Effect.scoped(
    Layer.build(
      OAuthDatabaseSqlite({ path, ...(encryptionKey === undefined ? {} : { encryptionKey: Redacted.make(encryptionKey) }) })
    )
  ).pipe(Effect.flip)

describe("OAuthDatabase: files", () => {
  it.scoped("creates the folder 0700, the database 0600 and the generated key 0600; WAL, busy_timeout, FULL sync", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "state", "nested", "oauth.db")
      const pragmas = yield* withDatabase(path, ({ sql }) =>
        Effect.gen(function* () {
          yield* sql`CREATE TABLE probe (x)`.pipe(Effect.zipRight(sql`INSERT INTO probe VALUES (1)`))
          return {
            journal: (yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`)[0]?.journal_mode,
            busy: (yield* sql<{ timeout: number }>`PRAGMA busy_timeout`)[0]?.timeout,
            sync: (yield* sql<{ synchronous: number }>`PRAGMA synchronous`)[0]?.synchronous,
            walMode: mode(`${path}-wal`)
          }
        })
      )
      expect(pragmas).toEqual({ journal: "wal", busy: 5000, sync: 2, walMode: 0o600 })
      expect(mode(join(dir, "state"))).toBe(0o700)
      expect(mode(join(dir, "state", "nested"))).toBe(0o700)
      expect(mode(path)).toBe(0o600)
      expect(mode(keyPathFor(path))).toBe(0o600)
      expect(Buffer.from(readFileSync(keyPathFor(path), "utf8").trim(), "base64")).toHaveLength(32)
    }).pipe(Effect.orDie))

  it.scoped("refuses a database or key file that group or others can read, naming the fix", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "oauth.db")
      yield* withDatabase(path, () => Effect.void)
      for (const loose of [0o644, 0o640, 0o604, 0o660]) {
        chmodSync(path, loose)
        const e = yield* openError(path)
        expect(e._tag).toBe("ConfigError")
        expect(e.message).toContain("accessible by other users")
        expect(e.message).toContain(`0${loose.toString(8)}`)
        expect(e.fix).toBe(`chmod 600 ${path}`)
      }
      chmodSync(path, 0o600)
      chmodSync(keyPathFor(path), 0o644)
      const e = yield* openError(path)
      expect(e.file).toBe(keyPathFor(path))
      expect(e.message).toContain("accessible by other users")
      chmodSync(keyPathFor(path), 0o600)
      yield* withDatabase(path, () => Effect.void)
    }).pipe(Effect.orDie))

  it.scoped("a file that is not a SQLite database, or a broken key file, is a clear startup error", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "oauth.db")
      writeFileSync(path, "this is not a database, just some text that is long enough to have a header".repeat(20), {
        mode: 0o600
      })
      const e = yield* openError(path)
      expect(e._tag).toBe("ConfigError")
      expect(e.file).toBe(path)
      expect(e.message).toMatch(/cannot (open|prepare) the OAuth database: .*not a database/)

      const other = join(dir, "other.db")
      writeFileSync(keyPathFor(other), "short\n", { mode: 0o600 })
      const k = yield* openError(other)
      expect(k.file).toBe(keyPathFor(other))
      expect(k.message).toContain("does not hold 32 base64-encoded bytes")
    }).pipe(Effect.orDie))

  it.scoped("a configured encryption_key is used as is: no key file is written", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "oauth.db")
      const key = Buffer.alloc(32, 7).toString("base64")
      const keyId = yield* withDatabase(path, ({ box }) => Effect.succeed(box.keyId), key)
      expect(keyId).toBe(keyIdOf(Buffer.alloc(32, 7)))
      expect(existsSync(keyPathFor(path))).toBe(false)
    }).pipe(Effect.orDie))

  it.scoped("the generated key is kept: a second open uses the same key", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "oauth.db")
      const first = yield* withDatabase(path, ({ box }) => Effect.succeed(box.keyId))
      const second = yield* withDatabase(path, ({ box }) => Effect.succeed(box.keyId))
      expect(second).toBe(first)
    }).pipe(Effect.orDie))

  it.scoped("an existing folder keeps its mode", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      mkdirSync(join(dir, "shared"), { mode: 0o755 })
      chmodSync(join(dir, "shared"), 0o755)
      yield* withDatabase(join(dir, "shared", "oauth.db"), () => Effect.void)
      expect(mode(join(dir, "shared"))).toBe(0o755)
      expect(mode(join(dir, "shared", "oauth.db"))).toBe(0o600)
    }).pipe(Effect.orDie))
})

describe("OAuthDatabase: migrations", () => {
  it.scoped("run once, are recorded, and a reopen keeps the data", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "oauth.db")
      yield* withDatabase(path, ({ sql }) => sql`INSERT INTO oauth_meta (key, value) VALUES ('probe', 'kept')`)
      const seen = yield* withDatabase(path, ({ sql }) =>
        Effect.all({
          migrations: sql<{ migration_id: number; name: string }>`SELECT migration_id, name FROM ${sql(MIGRATIONS_TABLE)}`,
          probe: sql<{ value: string }>`SELECT value FROM oauth_meta WHERE key = 'probe'`,
          tables: sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
        })
      )
      expect(seen.migrations).toEqual([
        { migration_id: 1, name: "oauth_state" },
        { migration_id: 2, name: "refresh_retired_at" }
      ])
      expect(seen.probe).toEqual([{ value: "kept" }])
      expect(seen.tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(["access_tokens", "auth_requests", "codes", "dynamic_clients", "grants", "refresh_tokens"])
      )
    }).pipe(Effect.orDie))

  it.scoped("a database migrated by a newer version is refused (forward only)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "oauth.db")
      yield* withDatabase(path, ({ sql }) =>
        sql`INSERT INTO ${sql(MIGRATIONS_TABLE)} (migration_id, name) VALUES (${LATEST_MIGRATION + 1}, 'from_the_future')`
      )
      const e = yield* openError(path)
      expect(e.message).toContain(`schema version ${LATEST_MIGRATION + 1}, newer than this mxcp-ts knows`)
    }).pipe(Effect.orDie))

  it.scoped("several processes opening a new file at once migrate it once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "oauth.db")
      const outputs = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 3 }, () => runNode([OPEN_DATABASE, path])))
      )
      for (const out of outputs) {
        expect(out.stderr).toBe("")
        expect(JSON.parse(out.stdout)).toEqual({ migrations: LATEST_MIGRATION })
      }
    }).pipe(Effect.orDie))
})
