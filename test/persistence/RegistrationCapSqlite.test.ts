/**
 * Checklist K6 against the SQLite client store directly: `max_clients` holds when several
 * processes register on one file at once (the check is made inside the inserting transaction),
 * and eviction never takes a client with a live grant.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import type { OAuthClient } from "../../src/domain/oauth/Records.js"
import { DynamicClientStoreSqlite } from "../../src/layers/oauth/store/DynamicClientStoreSqlite.js"
import { OAuthDatabase, OAuthDatabaseSqlite } from "../../src/layers/oauth/store/OAuthDatabase.js"
import { TokenStoreSqlite } from "../../src/layers/oauth/store/TokenStoreSqlite.js"
import { TokenStore } from "../../src/services/oauth/TokenStore.js"
import { tempDir } from "./TempDatabase.js"

/** Needs `npm run build` (like every test that spawns `dist/`). */
const REGISTER_CLIENTS = join(import.meta.dirname, "fixtures", "register-clients.mjs")

const runNode = (args: ReadonlyArray<string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const proc = spawn(process.execPath, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.once("exit", (code) => resolve({ code, stdout, stderr }))
  })

/** The database at `path`, its client store and token store, for the length of `use`. */
const withStores = <A, E>(
  path: string,
  use: (s: {
    db: OAuthDatabase.Shape
    clients: Effect.Effect.Success<typeof DynamicClientStoreSqlite>
    tokens: TokenStore.Shape
  }) => Effect.Effect<A, E>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const ctx = yield* Layer.build(Layer.provideMerge(TokenStoreSqlite, OAuthDatabaseSqlite({ path })))
      const db = Context.get(ctx, OAuthDatabase)
      const clients = yield* Effect.provideService(DynamicClientStoreSqlite, OAuthDatabase, db)
      return yield* use({ db, clients, tokens: Context.get(ctx, TokenStore) })
    })
  )

const client = (id: string, createdAt: number): OAuthClient => ({
  clientId: id,
  name: `Client ${id}`,
  secretHash: undefined,
  redirectUris: ["http://127.0.0.1:5555/cb"],
  grantTypes: ["authorization_code", "refresh_token"],
  scopes: ["mxcp:access"],
  authMethods: ["none"],
  source: "dynamic",
  createdAt
})

describe("K6 DynamicClientStoreSqlite: a hard cap", () => {
  it.scoped("K6 four processes registering 25 clients each at once on one file, max_clients 30: exactly 30 stored", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      // Create the file (and its key) first, as the server does before it serves.
      yield* withStores(path, () => Effect.void)
      const outputs = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 4 }, () => runNode([REGISTER_CLIENTS, path, "25", "30"])))
      )
      let stored = 0
      for (const out of outputs) {
        expect(out.stderr).toBe("")
        const result = JSON.parse(out.stdout) as { stored: number; refused: Array<string> }
        expect(result.stored + result.refused.length).toBe(25)
        for (const tag of result.refused) expect(tag).toBe("RegistryFull")
        stored += result.stored
      }
      expect(stored).toBe(30)
      const rows = yield* withStores(path, ({ clients }) => clients.count)
      expect(rows).toBe(30)
    }).pipe(Effect.orDie))

  it.scoped("K6 insert: evicts only unused clients past the limit's age, never one with a live grant; full means nothing stored", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const seen = yield* withStores(path, ({ clients, tokens }) =>
        Effect.gen(function* () {
          const limits = (evictCreatedBefore: number) => ({ max: 3, evictCreatedBefore })
          for (const [id, at] of [["a", 1], ["b", 2], ["c", 3]] as const) {
            expect(yield* clients.insert(client(id, at), limits(0))).toEqual({ _tag: "Inserted", evicted: 0 })
          }
          yield* tokens.putGrant({
            id: "g-a",
            clientId: "a",
            user: { provider: "test", id: "u1", username: "alice", email: "a@example.com", name: "Alice" },
            upstream: { accessToken: Redacted.make("upstream"), scopes: [], extra: {} },
            scopes: ["mxcp:access"],
            resource: undefined,
            createdAt: 0,
            revoked: false
          })
          // Nobody is old enough: full, d not stored; the oldest unused one is b.
          expect(yield* clients.insert(client("d", 10), limits(0))).toEqual({ _tag: "Full", oldestUnusedCreatedAt: 2 })
          // a is in use: b goes, then c.
          expect(yield* clients.insert(client("d", 10), limits(5))).toEqual({ _tag: "Inserted", evicted: 1 })
          expect(yield* clients.insert(client("e", 11), limits(5))).toEqual({ _tag: "Inserted", evicted: 1 })
          // Only a (in use) is old enough: full.
          expect(yield* clients.insert(client("f", 12), limits(5))).toEqual({ _tag: "Full", oldestUnusedCreatedAt: 10 })
          return {
            count: yield* clients.count,
            present: yield* Effect.forEach(["a", "b", "c", "d", "e", "f"], (id) => Effect.map(clients.get(id), Option.isSome))
          }
        })
      )
      expect(seen.count).toBe(3)
      expect(seen.present).toEqual([true, false, false, true, true, false])
    }).pipe(Effect.orDie))
})
