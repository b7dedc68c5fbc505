/**
 * A throwaway OAuth database for tests: a fresh temp folder per layer build, removed (after the
 * database is closed) when the layer is released.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Redacted } from "effect"
import {
  OAuthDatabase,
  type OAuthDatabaseOptions,
  OAuthDatabaseSqlite
} from "../../src/layers/oauth/store/OAuthDatabase.js"
import { OAuthDatabasePostgres, type OAuthDatabasePostgresOptions } from "../../src/layers/oauth/store/OAuthDatabasePostgres.js"

/** A temp folder for the length of the current scope. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "mxcp-oauth-db-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** An `OAuthDatabase` on a new file (`oauth.db` in a temp folder), with a generated key. */
export const TempOAuthDatabase = (options: Partial<OAuthDatabaseOptions> = {}): Layer.Layer<OAuthDatabase> =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => OAuthDatabaseSqlite({ path: join(dir, "oauth.db"), ...options }))).pipe(
    Layer.orDie
  )

let schemaCounter = 0

/** A shared test key for PostgreSQL stores (every instance of a deployment has the same one). */
export const PG_TEST_KEY = Buffer.alloc(32, 7).toString("base64")

/**
 * An `OAuthDatabase` in PostgreSQL on a fresh schema of the database at `url()` (read when the
 * layer is built, so a cluster started in `beforeAll` can be used), dropped when released.
 */
export const TempPostgresDatabase = (
  url: () => string,
  options: Partial<OAuthDatabasePostgresOptions> = {}
): Layer.Layer<OAuthDatabase> =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.sync(() => `t_${process.pid}_${++schemaCounter}`),
      (schema) =>
        OAuthDatabasePostgres({ url: Redacted.make(url()), encryptionKey: Redacted.make(PG_TEST_KEY), schema, poolSize: 4, ...options })
    )
  ).pipe(Layer.orDie)
