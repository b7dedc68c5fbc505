/**
 * The periodic sweep against the SQLite store, in process (TestClock): expired rows leave the
 * file at the configured `persistence.sweep_interval`, and are never served before that.
 */
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, TestClock } from "effect"
import { OAuthDatabase, OAuthDatabaseSqlite } from "../../src/layers/oauth/store/OAuthDatabase.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { login, mcpStatus } from "../support/OAuthFlows.js"
import { tempDir } from "./TempDatabase.js"

/** Rows in `access_tokens`, read through a second connection to the server's file. */
const accessRows = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const ctx = yield* Layer.build(OAuthDatabaseSqlite({ path }))
      const { sql } = Context.get(ctx, OAuthDatabase)
      const rows = yield* sql<{ n: number }>`SELECT count(*) AS n FROM access_tokens`
      return rows[0]?.n ?? -1
    })
  ).pipe(Effect.orDie)

describe("sweep with auth.persistence (in process, TestClock)", () => {
  it.scoped("expired tokens are refused at once and deleted from the file at the next sweep_interval tick", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, {
        persistence: { path, sweep_interval: 45 },
        auth: { access_token_ttl: 60 }
      })
      // Sweeps run at 0, 45, 90 s (TestClock time).
      const first = yield* Effect.promise(() => login(url)) // expires at 60 s
      yield* TestClock.adjust("50 seconds")
      const second = yield* Effect.promise(() => login(url)) // expires at 110 s
      expect(yield* accessRows(path)).toBe(2)

      yield* TestClock.adjust("35 seconds") // 85 s: the first is expired, no sweep since 45 s
      expect(yield* accessRows(path)).toBe(2)
      yield* TestClock.adjust("5 seconds") // 90 s: swept
      expect(yield* accessRows(path)).toBe(1)

      expect((yield* Effect.promise(() => mcpStatus(url, first.access_token))).status).toBe(401)
      expect((yield* Effect.promise(() => mcpStatus(url, second.access_token))).status).toBe(200)
    }))
})
