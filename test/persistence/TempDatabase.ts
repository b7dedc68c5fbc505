/**
 * A throwaway OAuth database for tests: a fresh temp folder per layer build, removed (after the
 * database is closed) when the layer is released.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import {
  OAuthDatabase,
  type OAuthDatabaseOptions,
  OAuthDatabaseSqlite
} from "../../src/layers/oauth/store/OAuthDatabase.js"

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
