/**
 * Atomicity across instances: two stores on one PostgreSQL schema, each with its own connection
 * pool (what two server processes have), racing on the same rows. The database decides every
 * race: one code redemption, one refresh rotation (the loser within the reuse grace is handed the
 * winner's tokens, never a second grant and never a revocation), and the dynamic-client cap.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import type { AccessTokenRecord, CodeRecord, GrantRecord, OAuthClient, RefreshTokenRecord } from "../../src/domain/oauth/Records.js"
import { sha256Hex } from "../../src/domain/oauth/Tokens.js"
import { DynamicClientStoreSql } from "../../src/layers/oauth/store/DynamicClientStoreSql.js"
import { OAuthDatabase } from "../../src/layers/oauth/store/OAuthDatabase.js"
import { OAuthDatabasePostgres } from "../../src/layers/oauth/store/OAuthDatabasePostgres.js"
import { TokenStorePostgres } from "../../src/layers/oauth/store/TokenStorePostgres.js"
import { TokenStore } from "../../src/services/oauth/TokenStore.js"
import { PG_TEST_KEY } from "../persistence/TempDatabase.js"
import { type PostgresCluster, startPostgres } from "../support/Postgres.js"

let pg: PostgresCluster
beforeAll(async () => {
  pg = await startPostgres()
}, 60_000)
afterAll(() => pg?.stop())

const h = (s: string): string => sha256Hex(s)
let schemas = 0

interface Instance {
  readonly store: TokenStore.Shape
  readonly db: OAuthDatabase.Shape
}

/** Two instances (own pools) on one fresh schema, for the current scope. */
const twoInstances = Effect.gen(function* () {
  const schema = `x_${process.pid}_${++schemas}`
  const open = Effect.gen(function* () {
    const layer = TokenStorePostgres.pipe(
      Layer.provideMerge(OAuthDatabasePostgres({ url: Redacted.make(pg.url), encryptionKey: Redacted.make(PG_TEST_KEY), schema, poolSize: 5 }))
    )
    const ctx = yield* Layer.build(layer)
    return { store: Context.get(ctx, TokenStore), db: Context.get(ctx, OAuthDatabase) } satisfies Instance
  })
  // Started together: the migrations run once, under the advisory lock.
  const [a, b] = yield* Effect.all([open, open], { concurrency: 2 })
  return [a, b] as const
}).pipe(Effect.orDie)

const grant = (id: string): GrantRecord => ({
  id,
  clientId: "client-a",
  user: { provider: "test", id: "u1", username: "alice", email: "alice@example.com", name: "Alice" },
  upstream: { accessToken: Redacted.make("upstream-access"), scopes: [], extra: {} },
  scopes: ["mxcp:access"],
  resource: undefined,
  createdAt: 0,
  revoked: false
})

const code = (hash: string, grantId: string): CodeRecord => ({
  codeHash: hash,
  grantId,
  clientId: "client-a",
  redirectUri: "http://127.0.0.1:3000/cb",
  codeChallenge: "challenge",
  scopes: ["mxcp:access"],
  resource: undefined,
  expiresAt: 300_000
})

const refresh = (hash: string, grantId: string): RefreshTokenRecord => ({
  tokenHash: hash,
  grantId,
  clientId: "client-a",
  scopes: ["mxcp:access"],
  expiresAt: 2_592_000_000
})

const access = (hash: string, grantId: string): AccessTokenRecord => ({
  tokenHash: hash,
  grantId,
  clientId: "client-a",
  scopes: ["mxcp:access"],
  resource: undefined,
  expiresAt: 3_600_000
})

describe("two instances on one PostgreSQL schema", () => {
  it.scoped("D30 two instances racing the same code, 30 rounds of 4 calls each: exactly one Redeemed per code", () =>
    Effect.gen(function* () {
      const [a, b] = yield* twoInstances
      yield* a.store.putGrant(grant("g1"))
      for (let round = 0; round < 30; round++) {
        const c = h(`code-${round}`)
        yield* (round % 2 === 0 ? a : b).store.putCode(code(c, "g1"))
        const results = yield* Effect.all(
          [a, b, a, b].map((i) => i.store.redeemCode(c, 1000)),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Redeemed")).toHaveLength(1)
        expect(results.filter((r) => r._tag === "AlreadyUsed")).toHaveLength(3)
      }
    }), 60_000)

  it.scoped("E37 two instances racing the same refresh token without a grace, 20 rounds: one rotation, one live successor", () =>
    Effect.gen(function* () {
      const [a, b] = yield* twoInstances
      yield* a.store.putGrant(grant("g1"))
      let current = h("r-start")
      yield* a.store.putRefreshToken(refresh(current, "g1"))
      for (let round = 0; round < 20; round++) {
        const nexts = [0, 1, 2, 3].map((i) => refresh(h(`r-${round}-${i}`), "g1"))
        const results = yield* Effect.all(
          nexts.map((next, i) => (i % 2 === 0 ? a : b).store.rotateRefreshToken(current, next, 1000 + round)),
          { concurrency: "unbounded" }
        )
        const winner = results.findIndex((r) => r._tag === "Redeemed")
        expect(results.filter((r) => r._tag === "Redeemed")).toHaveLength(1)
        expect(results.filter((r) => r._tag === "AlreadyUsed")).toHaveLength(3)
        const live = yield* Effect.forEach(nexts, (n) => b.store.getRefreshToken(n.tokenHash, 2000))
        expect(live.map(Option.isSome)).toEqual(nexts.map((_, i) => i === winner))
        current = nexts[winner]!.tokenHash
      }
    }), 60_000)

  it.scoped("K8 two instances racing the same refresh token with the grace, 20 rounds: one rotation, the losers get the same successor and access token, the grant stays", () =>
    Effect.gen(function* () {
      const [a, b] = yield* twoInstances
      const GRACE = { reuseGraceMs: 30_000, clientId: "client-a" }
      yield* a.store.putGrant(grant("g1"))
      let presented = "r-start-token"
      yield* a.store.putRefreshToken(refresh(h(presented), "g1"))
      for (let round = 0; round < 20; round++) {
        // Every instance derives the same successor from the presented token (shared key).
        const [fromA, fromB] = yield* Effect.all([a.store.successorTokens(presented), b.store.successorTokens(presented)])
        expect(fromB).toEqual(fromA)
        const next = refresh(h(fromA!.refresh), "g1")
        const token = access(h(fromA!.access), "g1")
        const results = yield* Effect.all(
          [a, b, a, b].map((i) => i.store.rotateRefreshToken(h(presented), next, 1000 + round, { ...GRACE, access: token })),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Redeemed")).toHaveLength(1)
        const replayed = results.filter((r) => r._tag === "Replayed")
        expect(replayed).toHaveLength(3)
        for (const r of replayed) {
          expect(r.successor.tokenHash).toBe(next.tokenHash)
          expect(r.access?.tokenHash).toBe(token.tokenHash)
        }
        // Never a revocation of the winner: the grant, its successor and its access token live on both instances.
        for (const i of [a, b]) {
          expect(Option.map(yield* i.store.getGrant("g1"), (g) => g.revoked)).toEqual(Option.some(false))
          expect(Option.isSome(yield* i.store.getRefreshToken(next.tokenHash, 2000))).toBe(true)
          expect(Option.isSome(yield* i.store.getAccessToken(token.tokenHash, 2000))).toBe(true)
        }
        presented = fromA!.refresh
      }
    }), 60_000)

  it.scoped("F revocation on one instance is refused by the other at once (no cache outlives a revocation)", () =>
    Effect.gen(function* () {
      const [a, b] = yield* twoInstances
      yield* a.store.putGrant(grant("g1"))
      yield* a.store.putAccessToken(access(h("a1"), "g1"))
      // b has read (and cached) the verified grant.
      expect(Option.isSome(yield* b.store.getAccessToken(h("a1"), 10))).toBe(true)
      expect(Option.map(yield* b.store.getGrant("g1"), (g) => g.revoked)).toEqual(Option.some(false))
      yield* a.store.revokeGrant("g1")
      expect(yield* b.store.getAccessToken(h("a1"), 10)).toEqual(Option.none())
      const after = yield* b.store.getGrant("g1")
      expect(Option.isNone(after) || after.value.revoked).toBe(true)
      // A code or token put by the other instance under the revoked grant is dropped.
      yield* b.store.putAccessToken(access(h("a2"), "g1"))
      expect(yield* a.store.getAccessToken(h("a2"), 10)).toEqual(Option.none())
    }), 60_000)

  it.scoped("K6 two instances registering 25 dynamic clients each at once, cap 30: exactly 30 stored", () =>
    Effect.gen(function* () {
      const [a, b] = yield* twoInstances
      const stores = yield* Effect.all([a, b].map((i) => Effect.provideService(DynamicClientStoreSql, OAuthDatabase, i.db)))
      const client = (id: string): OAuthClient => ({
        clientId: id,
        name: `Client ${id}`,
        secretHash: undefined,
        redirectUris: ["http://127.0.0.1:5555/cb"],
        grantTypes: ["authorization_code", "refresh_token"],
        scopes: ["mxcp:access"],
        authMethods: ["none"],
        source: "dynamic",
        createdAt: 1000
      })
      // No eviction allowed (every client is newer than evictCreatedBefore): the cap is hard.
      const limits = { max: 30, evictCreatedBefore: 0 }
      const outcomes = yield* Effect.all(
        Array.from({ length: 50 }, (_, i) => stores[i % 2]!.insert(client(`c${i}`), limits)),
        { concurrency: "unbounded" }
      )
      expect(outcomes.filter((o) => o._tag === "Inserted")).toHaveLength(30)
      expect(outcomes.filter((o) => o._tag === "Full")).toHaveLength(20)
      expect(yield* stores[0]!.count).toBe(30)
      expect(yield* stores[1]!.count).toBe(30)
    }), 60_000)
})
