import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import type { UpstreamTokens } from "../../src/domain/oauth/Identity.js"
import type {
  AccessTokenRecord,
  AuthRequestRecord,
  CodeRecord,
  GrantRecord,
  RefreshTokenRecord
} from "../../src/domain/oauth/Records.js"
import { isBase64Url32, sha256Hex } from "../../src/domain/oauth/Tokens.js"
import { EMPTY_GRANT_GRACE_MS } from "../../src/layers/oauth/store/StoreLimits.js"
import { TokenStoreMemoryWith, type TokenStoreMemoryOptions } from "../../src/layers/oauth/store/TokenStoreMemory.js"
import { TokenStoreSqliteWith } from "../../src/layers/oauth/store/TokenStoreSqlite.js"
import { TokenStorePostgresWith } from "../../src/layers/oauth/store/TokenStorePostgres.js"
import { TokenStore } from "../../src/services/oauth/TokenStore.js"
import { TempOAuthDatabase, TempPostgresDatabase } from "../persistence/TempDatabase.js"
import { type PostgresCluster, startPostgres } from "../support/Postgres.js"

/**
 * The store contract, run against every `TokenStore` layer: in memory, SQLite on a fresh temp
 * file per test, and PostgreSQL (a throwaway cluster for the file, a fresh schema per test)
 * (`MXCP_TEST_STORE=memory|sqlite|postgres` runs one of them only).
 */
type StoreLayer = (options?: TokenStoreMemoryOptions) => Layer.Layer<TokenStore>

const variants: ReadonlyArray<readonly [string, StoreLayer]> = [
  ["TokenStoreMemory", (options = {}) => TokenStoreMemoryWith(options)],
  ["TokenStoreSqlite", (options = {}) => TokenStoreSqliteWith(options).pipe(Layer.provide(TempOAuthDatabase()))],
  [
    "TokenStorePostgres",
    (options = {}) => TokenStorePostgresWith(options).pipe(Layer.provide(TempPostgresDatabase(() => cluster().url)))
  ]
]

let pg: PostgresCluster | undefined
const cluster = (): PostgresCluster => {
  if (pg === undefined) throw new Error("the PostgreSQL cluster is not started")
  return pg
}

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

const authRequest = (id: string, overrides: Partial<AuthRequestRecord> = {}): AuthRequestRecord => ({
  id,
  clientId: "client-a",
  redirectUri: "http://127.0.0.1:3000/cb",
  clientState: "xyz",
  codeChallenge: "challenge",
  scopes: ["mxcp:access"],
  resource: undefined,
  csrfHash: sha256Hex(`csrf-${id}`),
  bindingHash: sha256Hex(`binding-${id}`),
  status: "consent",
  upstreamStateHash: undefined,
  upstreamVerifier: undefined,
  createdAt: 0,
  expiresAt: 600_000,
  ...overrides
})

const upstream = (accessToken: string): UpstreamTokens => ({
  accessToken: Redacted.make(accessToken),
  scopes: ["read:user"],
  extra: {}
})

const grant = (id: string, overrides: Partial<GrantRecord> = {}): GrantRecord => ({
  id,
  clientId: "client-a",
  user: { provider: "test", id: "u1", username: "alice", email: "alice@example.com", name: "Alice" },
  upstream: upstream("upstream-1"),
  scopes: ["mxcp:access"],
  resource: undefined,
  createdAt: 0,
  revoked: false,
  ...overrides
})

const code = (hash: string, grantId: string, overrides: Partial<CodeRecord> = {}): CodeRecord => ({
  codeHash: hash,
  grantId,
  clientId: "client-a",
  redirectUri: "http://127.0.0.1:3000/cb",
  codeChallenge: "challenge",
  scopes: ["mxcp:access"],
  resource: undefined,
  expiresAt: 300_000,
  ...overrides
})

const accessToken = (hash: string, grantId: string, overrides: Partial<AccessTokenRecord> = {}): AccessTokenRecord => ({
  tokenHash: hash,
  grantId,
  clientId: "client-a",
  scopes: ["mxcp:access"],
  resource: undefined,
  expiresAt: 3_600_000,
  ...overrides
})

const refreshToken = (
  hash: string,
  grantId: string,
  overrides: Partial<RefreshTokenRecord> = {}
): RefreshTokenRecord => ({
  tokenHash: hash,
  grantId,
  clientId: "client-a",
  scopes: ["mxcp:access"],
  expiresAt: 2_592_000_000,
  ...overrides
})

const h = (s: string): string => sha256Hex(s)

const contract = (name: string, store: StoreLayer): void => {
  // ---------------------------------------------------------------------------
  // pending authorization requests
  // ---------------------------------------------------------------------------

  describe(`${name}: authorization requests`, () => {
    it.effect("put, get, update and delete", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const rec = authRequest("r1")
        yield* store.putAuthRequest(rec)
        expect(yield* store.getAuthRequest("r1", 1)).toEqual(Option.some(rec))
        expect(yield* store.getAuthRequest("nope", 1)).toEqual(Option.none())

        const updated = authRequest("r1", { status: "upstream", upstreamStateHash: h("state"), upstreamVerifier: "v" })
        yield* store.updateAuthRequest(updated)
        expect(yield* store.getAuthRequest("r1", 1)).toEqual(Option.some(updated))

        yield* store.deleteAuthRequest("r1")
        expect(yield* store.getAuthRequest("r1", 1)).toEqual(Option.none())
        expect(yield* store.takeAuthRequestByUpstreamState(h("state"), 1)).toEqual(Option.none())
        yield* store.deleteAuthRequest("r1") // deleting twice is fine
      }).pipe(Effect.provide(store())))

    it.effect("an expired request (now >= expiresAt) is gone", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putAuthRequest(authRequest("r1", { expiresAt: 1000 }))
        expect(Option.isSome(yield* store.getAuthRequest("r1", 999))).toBe(true)
        expect(yield* store.getAuthRequest("r1", 1000)).toEqual(Option.none())
        expect(yield* store.getAuthRequest("r1", 10)).toEqual(Option.none())
      }).pipe(Effect.provide(store())))

    it.effect("updating an unknown (finished) request does not bring it back", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.updateAuthRequest(authRequest("ghost", { upstreamStateHash: h("s") }))
        expect(yield* store.getAuthRequest("ghost", 1)).toEqual(Option.none())
        expect(yield* store.takeAuthRequestByUpstreamState(h("s"), 1)).toEqual(Option.none())
      }).pipe(Effect.provide(store())))

    it.effect("the upstream state is single use and follows updates", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putAuthRequest(authRequest("r1"))
        yield* store.updateAuthRequest(authRequest("r1", { status: "upstream", upstreamStateHash: h("s1") }))
        // A new upstream state replaces the old one.
        const rec = authRequest("r1", { status: "upstream", upstreamStateHash: h("s2") })
        yield* store.updateAuthRequest(rec)
        expect(yield* store.takeAuthRequestByUpstreamState(h("s1"), 1)).toEqual(Option.none())

        expect(yield* store.takeAuthRequestByUpstreamState(h("s2"), 1)).toEqual(Option.some(rec))
        expect(yield* store.takeAuthRequestByUpstreamState(h("s2"), 1)).toEqual(Option.none())
        expect(yield* store.getAuthRequest("r1", 1)).toEqual(Option.none())
      }).pipe(Effect.provide(store())))

    it.effect("concurrent takes of one upstream state: exactly one gets the request", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putAuthRequest(authRequest("r1", { status: "upstream", upstreamStateHash: h("s") }))
        const results = yield* Effect.all(
          Array.from({ length: 20 }, () => store.takeAuthRequestByUpstreamState(h("s"), 1)),
          { concurrency: "unbounded" }
        )
        expect(results.filter(Option.isSome)).toHaveLength(1)
      }).pipe(Effect.provide(store())))

    it.effect("an expired upstream state gives nothing and is consumed", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putAuthRequest(authRequest("r1", { upstreamStateHash: h("s"), expiresAt: 1000 }))
        expect(yield* store.takeAuthRequestByUpstreamState(h("s"), 1000)).toEqual(Option.none())
        expect(yield* store.getAuthRequest("r1", 1)).toEqual(Option.none())
      }).pipe(Effect.provide(store())))
  })

  describe(`${name}: the cap on pending requests`, () => {
    it.effect("when full, the oldest request is dropped", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putAuthRequest(authRequest("r1", { createdAt: 1, upstreamStateHash: h("s1") }))
        yield* store.putAuthRequest(authRequest("r2", { createdAt: 2 }))
        yield* store.putAuthRequest(authRequest("r3", { createdAt: 3 }))
        // Re-putting an existing id replaces it without evicting anything.
        yield* store.putAuthRequest(authRequest("r3", { createdAt: 3, clientState: "again" }))
        expect(Option.isSome(yield* store.getAuthRequest("r1", 4))).toBe(true)

        yield* store.putAuthRequest(authRequest("r4", { createdAt: 4 }))
        expect(yield* store.getAuthRequest("r1", 5)).toEqual(Option.none())
        expect(yield* store.takeAuthRequestByUpstreamState(h("s1"), 5)).toEqual(Option.none())
        for (const id of ["r2", "r3", "r4"]) {
          expect(Option.isSome(yield* store.getAuthRequest(id, 5))).toBe(true)
        }
      }).pipe(Effect.provide(store({ maxPendingAuthRequests: 3 }))))

    it.effect("when full, expired requests are swept before any live one is dropped", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putAuthRequest(authRequest("r1", { createdAt: 1 }))
        yield* store.putAuthRequest(authRequest("r2", { createdAt: 2, expiresAt: 50 }))
        yield* store.putAuthRequest(authRequest("r3", { createdAt: 3 }))
        yield* store.putAuthRequest(authRequest("r4", { createdAt: 100 }))
        for (const id of ["r1", "r3", "r4"]) {
          expect(Option.isSome(yield* store.getAuthRequest(id, 10))).toBe(true)
        }
        // r2 was removed, not merely expired: it is gone even at a time before its expiry.
        expect(yield* store.getAuthRequest("r2", 10)).toEqual(Option.none())
      }).pipe(Effect.provide(store({ maxPendingAuthRequests: 3 }))))
  })

  // ---------------------------------------------------------------------------
  // grants
  // ---------------------------------------------------------------------------

  describe(`${name}: grants`, () => {
    it.effect("put, get and update the upstream tokens", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        expect(yield* store.getGrant("g1")).toEqual(Option.none())
        yield* store.putGrant(grant("g1"))
        expect(yield* store.getGrant("g1")).toEqual(Option.some(grant("g1")))

        const fresh = upstream("upstream-2")
        yield* store.updateGrantUpstream("g1", fresh)
        const updated = Option.getOrThrow(yield* store.getGrant("g1"))
        expect(Redacted.value(updated.upstream.accessToken)).toBe("upstream-2")
        expect(updated.user.username).toBe("alice")

        yield* store.updateGrantUpstream("unknown", fresh) // no effect, no error
        expect(yield* store.getGrant("unknown")).toEqual(Option.none())
      }).pipe(Effect.provide(store())))
  })

  // ---------------------------------------------------------------------------
  // codes
  // ---------------------------------------------------------------------------

  describe(`${name}: authorization codes`, () => {
    it.effect("a code redeems once; a replay is AlreadyUsed with its grant and client", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const rec = code(h("c1"), "g1")
        yield* store.putCode(rec)
        expect(yield* store.redeemCode(h("c1"), 1)).toEqual({ _tag: "Redeemed", record: rec })
        expect(yield* store.redeemCode(h("c1"), 2)).toEqual({
          _tag: "AlreadyUsed",
          grantId: "g1",
          clientId: "client-a"
        })
        expect(yield* store.redeemCode(h("unknown"), 1)).toEqual({ _tag: "NotFound" })
      }).pipe(Effect.provide(store())))

    it.effect("an expired code is NotFound, used or not", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putCode(code(h("c1"), "g1", { expiresAt: 1000 }))
        expect(yield* store.redeemCode(h("c1"), 1000)).toEqual({ _tag: "NotFound" })

        yield* store.putCode(code(h("c2"), "g1", { expiresAt: 1000 }))
        expect((yield* store.redeemCode(h("c2"), 999))._tag).toBe("Redeemed")
        expect((yield* store.redeemCode(h("c2"), 999))._tag).toBe("AlreadyUsed")
        expect(yield* store.redeemCode(h("c2"), 1000)).toEqual({ _tag: "NotFound" })
      }).pipe(Effect.provide(store())))

    it.effect("D30: 20 concurrent redemptions of one code give exactly one Redeemed", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putCode(code(h("c1"), "g1"))
        const results = yield* Effect.all(
          Array.from({ length: 20 }, () => store.redeemCode(h("c1"), 1)),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Redeemed")).toHaveLength(1)
        expect(results.filter((r) => r._tag === "AlreadyUsed")).toHaveLength(19)
      }).pipe(Effect.provide(store())))
  })

  // ---------------------------------------------------------------------------
  // access and refresh tokens
  // ---------------------------------------------------------------------------

  describe(`${name}: access tokens`, () => {
    it.effect("put, get, expire and delete", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const rec = accessToken(h("a1"), "g1", { expiresAt: 1000 })
        yield* store.putAccessToken(rec)
        expect(yield* store.getAccessToken(h("a1"), 999)).toEqual(Option.some(rec))
        expect(yield* store.getAccessToken(h("a1"), 1000)).toEqual(Option.none())

        yield* store.putAccessToken(accessToken(h("a2"), "g1"))
        yield* store.deleteAccessToken(h("a2"))
        expect(yield* store.getAccessToken(h("a2"), 1)).toEqual(Option.none())
        yield* store.deleteAccessToken(h("a2"))
        expect(yield* store.getAccessToken(h("unknown"), 1)).toEqual(Option.none())
      }).pipe(Effect.provide(store())))
  })

  describe(`${name}: refresh tokens`, () => {
    it.effect("put, get, expire and delete", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const rec = refreshToken(h("r1"), "g1", { expiresAt: 1000 })
        yield* store.putRefreshToken(rec)
        expect(yield* store.getRefreshToken(h("r1"), 999)).toEqual(Option.some(rec))
        expect(yield* store.getRefreshToken(h("r1"), 1000)).toEqual(Option.none())

        yield* store.putRefreshToken(refreshToken(h("r2"), "g1"))
        yield* store.deleteRefreshToken(h("r2"))
        expect(yield* store.getRefreshToken(h("r2"), 1)).toEqual(Option.none())
        expect(yield* store.rotateRefreshToken(h("r2"), refreshToken(h("r3"), "g1"), 1)).toEqual({ _tag: "NotFound" })
      }).pipe(Effect.provide(store())))

    it.effect("rotation retires the old token and stores the new one; reuse is AlreadyUsed", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const old = refreshToken(h("r1"), "g1")
        const next = refreshToken(h("r2"), "g1")
        yield* store.putRefreshToken(old)
        expect(yield* store.rotateRefreshToken(h("r1"), next, 1)).toEqual({ _tag: "Redeemed", record: old })
        expect(yield* store.getRefreshToken(h("r1"), 2)).toEqual(Option.none())
        expect(yield* store.getRefreshToken(h("r2"), 2)).toEqual(Option.some(next))

        const again = refreshToken(h("r3"), "g1")
        expect(yield* store.rotateRefreshToken(h("r1"), again, 3)).toEqual({
          _tag: "AlreadyUsed",
          grantId: "g1",
          clientId: "client-a"
        })
        expect(yield* store.getRefreshToken(h("r3"), 3)).toEqual(Option.none())
        expect(yield* store.rotateRefreshToken(h("unknown"), again, 3)).toEqual({ _tag: "NotFound" })
      }).pipe(Effect.provide(store())))

    it.effect("an expired refresh token is NotFound, live or retired", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putRefreshToken(refreshToken(h("r1"), "g1", { expiresAt: 1000 }))
        expect(yield* store.rotateRefreshToken(h("r1"), refreshToken(h("r2"), "g1"), 1000)).toEqual({ _tag: "NotFound" })
        expect(yield* store.getRefreshToken(h("r2"), 1)).toEqual(Option.none())

        yield* store.putRefreshToken(refreshToken(h("r3"), "g1", { expiresAt: 1000 }))
        expect((yield* store.rotateRefreshToken(h("r3"), refreshToken(h("r4"), "g1"), 10))._tag).toBe("Redeemed")
        expect((yield* store.rotateRefreshToken(h("r3"), refreshToken(h("r5"), "g1"), 999))._tag).toBe("AlreadyUsed")
        expect(yield* store.rotateRefreshToken(h("r3"), refreshToken(h("r5"), "g1"), 1000)).toEqual({ _tag: "NotFound" })
      }).pipe(Effect.provide(store())))

    it.effect("20 concurrent rotations give exactly one Redeemed, and only its successor lives", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putRefreshToken(refreshToken(h("r0"), "g1"))
        const nexts = Array.from({ length: 20 }, (_, i) => refreshToken(h(`next-${i}`), "g1"))
        const results = yield* Effect.all(
          nexts.map((next) => store.rotateRefreshToken(h("r0"), next, 1)),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Redeemed")).toHaveLength(1)
        expect(results.filter((r) => r._tag === "AlreadyUsed")).toHaveLength(19)
        const live = yield* Effect.forEach(nexts, (n) => store.getRefreshToken(n.tokenHash, 2))
        expect(live.filter(Option.isSome)).toHaveLength(1)
        const winner = results.findIndex((r) => r._tag === "Redeemed")
        expect(Option.isSome(live[winner] ?? Option.none())).toBe(true)
      }).pipe(Effect.provide(store())))
  })

  describe(`${name}: the refresh reuse grace`, () => {
    const GRACE = { reuseGraceMs: 30_000, clientId: "client-a" }

    /** g1 with r1 rotated at t=1000 into r2 (and its access token a2). */
    const rotated = (store: TokenStore.Shape) =>
      Effect.gen(function*() {
        yield* store.putGrant(grant("g1"))
        yield* store.putRefreshToken(refreshToken(h("r1"), "g1"))
        const result = yield* store.rotateRefreshToken(h("r1"), refreshToken(h("r2"), "g1"), 1000, {
          ...GRACE,
          access: accessToken(h("a2"), "g1", { expiresAt: 20_000 })
        })
        expect(result._tag).toBe("Redeemed")
      })

    it.effect("K8 a rotated token presented again by its client within the grace is Replayed with its successor and access token; nothing changes", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* rotated(store)
        // The successor's access token was stored with the rotation.
        expect(Option.isSome(yield* store.getAccessToken(h("a2"), 1001))).toBe(true)
        const again = yield* store.rotateRefreshToken(h("r1"), refreshToken(h("r2"), "g1"), 10_000, {
          ...GRACE,
          access: accessToken(h("a2"), "g1")
        })
        expect(again).toEqual({
          _tag: "Replayed",
          record: refreshToken(h("r1"), "g1"),
          successor: refreshToken(h("r2"), "g1"),
          access: accessToken(h("a2"), "g1", { expiresAt: 20_000 })
        })
        // Idempotent: the same answer again up to the end of the grace, and the successor stays the live token.
        expect((yield* store.rotateRefreshToken(h("r1"), refreshToken(h("r2"), "g1"), 30_999, GRACE))._tag).toBe("Replayed")
        expect(yield* store.getRefreshToken(h("r2"), 30_999)).toEqual(Option.some(refreshToken(h("r2"), "g1")))
        // An access token that has expired (or was revoked) is not handed back.
        const late = yield* store.rotateRefreshToken(h("r1"), refreshToken(h("r2"), "g1"), 25_000, {
          ...GRACE,
          access: accessToken(h("a2"), "g1")
        })
        expect(late).toMatchObject({ _tag: "Replayed", access: undefined })
      }).pipe(Effect.provide(store())))

    it.effect("K8 after the grace, by another client, with another successor, once the successor was used, or with grace 0: AlreadyUsed", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* rotated(store)
        const retry = (now: number, options: Parameters<TokenStore.Shape["rotateRefreshToken"]>[3], next = h("r2")) =>
          Effect.map(store.rotateRefreshToken(h("r1"), refreshToken(next, "g1"), now, options), (r) => r._tag)
        expect(yield* retry(31_000, GRACE)).toBe("AlreadyUsed")
        expect(yield* retry(2000, { ...GRACE, clientId: "client-b" })).toBe("AlreadyUsed")
        expect(yield* retry(2000, GRACE, h("not-the-successor"))).toBe("AlreadyUsed")
        expect(yield* retry(2000, { ...GRACE, reuseGraceMs: 0 })).toBe("AlreadyUsed")
        expect(yield* retry(2000, {})).toBe("AlreadyUsed")
        expect(yield* retry(2000, GRACE)).toBe("Replayed")
        // The client used the successor: the old token is plain reuse now, grace or not.
        expect((yield* store.rotateRefreshToken(h("r2"), refreshToken(h("r3"), "g1"), 2000, GRACE))._tag).toBe("Redeemed")
        expect(yield* retry(2001, GRACE)).toBe("AlreadyUsed")
        // ...while the token just rotated is within its own grace.
        expect((yield* store.rotateRefreshToken(h("r2"), refreshToken(h("r3"), "g1"), 2001, GRACE))._tag).toBe("Replayed")
      }).pipe(Effect.provide(store())))

    it.effect("K8 20 concurrent rotations of one token with the grace: one Redeemed, 19 Replayed, one live successor", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putGrant(grant("g1"))
        yield* store.putRefreshToken(refreshToken(h("r0"), "g1"))
        const results = yield* Effect.all(
          Array.from({ length: 20 }, () => store.rotateRefreshToken(h("r0"), refreshToken(h("r1"), "g1"), 1, GRACE)),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Redeemed")).toHaveLength(1)
        expect(results.filter((r) => r._tag === "Replayed")).toHaveLength(19)
        expect(Option.isSome(yield* store.getRefreshToken(h("r1"), 2))).toBe(true)
      }).pipe(Effect.provide(store())))

    it.effect("K8 successorTokens: the same presented token always gives the same pair, of our token shape", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const a = yield* store.successorTokens("presented-token-a")
        expect(yield* store.successorTokens("presented-token-a")).toEqual(a)
        const b = yield* store.successorTokens("presented-token-b")
        expect(new Set([a.refresh, a.access, b.refresh, b.access]).size).toBe(4)
        for (const t of [a.refresh, a.access]) expect(isBase64Url32(t)).toBe(true)
      }).pipe(Effect.provide(store())))
  })

  describe(`${name}: clients in use`, () => {
    it.effect("K6 a client is in use while it has an unrevoked grant", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        expect(yield* store.clientInUse("client-a")).toBe(false)
        yield* store.putGrant(grant("g1"))
        yield* store.putGrant(grant("g2"))
        yield* store.putGrant(grant("g3", { clientId: "client-b", revoked: true }))
        expect(yield* store.clientInUse("client-a")).toBe(true)
        expect(yield* store.clientInUse("client-b")).toBe(false)
        yield* store.revokeGrant("g1")
        expect(yield* store.clientInUse("client-a")).toBe(true)
        yield* store.revokeGrant("g2")
        expect(yield* store.clientInUse("client-a")).toBe(false)
        // A grant swept for lack of live tokens no longer counts either.
        yield* store.putGrant(grant("g4", { clientId: "client-c" }))
        expect(yield* store.clientInUse("client-c")).toBe(true)
        yield* store.sweep(EMPTY_GRANT_GRACE_MS)
        expect(yield* store.clientInUse("client-c")).toBe(false)
      }).pipe(Effect.provide(store())))
  })

  // ---------------------------------------------------------------------------
  // revocation
  // ---------------------------------------------------------------------------

  /** Grant `id` with a live code, a used code, an access token, a live and a retired refresh token. */
  const seedGrant = (store: TokenStore.Shape, id: string) =>
    Effect.gen(function*() {
      yield* store.putGrant(grant(id))
      yield* store.putCode(code(h(`${id}-code-live`), id))
      yield* store.putCode(code(h(`${id}-code-used`), id))
      yield* store.redeemCode(h(`${id}-code-used`), 1)
      yield* store.putAccessToken(accessToken(h(`${id}-access`), id))
      yield* store.putRefreshToken(refreshToken(h(`${id}-refresh-old`), id))
      yield* store.rotateRefreshToken(h(`${id}-refresh-old`), refreshToken(h(`${id}-refresh`), id), 1)
    })

  /** Everything `seedGrant` created, as observed at time 2. */
  const observe = (store: TokenStore.Shape, id: string) =>
    Effect.gen(function*() {
      const otherNext = refreshToken(h(`${id}-probe`), id)
      return {
        liveCode: (yield* store.redeemCode(h(`${id}-code-live`), 2))._tag,
        usedCode: (yield* store.redeemCode(h(`${id}-code-used`), 2))._tag,
        access: Option.isSome(yield* store.getAccessToken(h(`${id}-access`), 2)),
        refresh: Option.isSome(yield* store.getRefreshToken(h(`${id}-refresh`), 2)),
        retired: (yield* store.rotateRefreshToken(h(`${id}-refresh-old`), otherNext, 2))._tag
      }
    })

  describe(`${name}: revokeGrant`, () => {
    it.effect("removes every code and token of the grant, and nothing of another grant", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* seedGrant(store, "gA")
        yield* seedGrant(store, "gB")

        yield* store.revokeGrant("gA")
        expect(Option.getOrThrow(yield* store.getGrant("gA")).revoked).toBe(true)
        expect(yield* observe(store, "gA")).toEqual({
          liveCode: "NotFound",
          usedCode: "NotFound",
          access: false,
          refresh: false,
          retired: "NotFound"
        })

        expect(Option.getOrThrow(yield* store.getGrant("gB")).revoked).toBe(false)
        expect(yield* observe(store, "gB")).toEqual({
          liveCode: "Redeemed",
          usedCode: "AlreadyUsed",
          access: true,
          refresh: true,
          retired: "AlreadyUsed"
        })
      }).pipe(Effect.provide(store())))

    it.effect("tokens put under a revoked grant are dropped", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putGrant(grant("g1"))
        yield* store.revokeGrant("g1")
        yield* store.putCode(code(h("c"), "g1"))
        yield* store.putAccessToken(accessToken(h("a"), "g1"))
        yield* store.putRefreshToken(refreshToken(h("r"), "g1"))
        expect(yield* store.redeemCode(h("c"), 1)).toEqual({ _tag: "NotFound" })
        expect(yield* store.getAccessToken(h("a"), 1)).toEqual(Option.none())
        expect(yield* store.getRefreshToken(h("r"), 1)).toEqual(Option.none())
      }).pipe(Effect.provide(store())))

    it.effect("revoking an unknown grant still removes tokens issued under its id", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.putAccessToken(accessToken(h("a"), "ghost"))
        yield* store.revokeGrant("ghost")
        expect(yield* store.getAccessToken(h("a"), 1)).toEqual(Option.none())
        expect(yield* store.getGrant("ghost")).toEqual(Option.none())
        yield* store.revokeGrant("never-seen")
      }).pipe(Effect.provide(store())))
  })

  // ---------------------------------------------------------------------------
  // sweep
  // ---------------------------------------------------------------------------

  describe(`${name}: sweep`, () => {
    // After a sweep at time T, an entry that expired by T is deleted: looking it up again with an
    // earlier `now` finds nothing, which tells deletion apart from a mere expiry check.
    it.effect("deletes expired requests, codes (used or not) and tokens (live or retired), keeps the rest", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const T = 10_000
        yield* store.putAuthRequest(authRequest("old", { expiresAt: T, upstreamStateHash: h("s-old") }))
        yield* store.putAuthRequest(authRequest("new", { expiresAt: T + 1 }))
        yield* store.putCode(code(h("c-old"), "g1", { expiresAt: T }))
        yield* store.putCode(code(h("c-used"), "g1", { expiresAt: T }))
        yield* store.redeemCode(h("c-used"), 1)
        yield* store.putCode(code(h("c-new"), "g1", { expiresAt: T + 1 }))
        yield* store.putAccessToken(accessToken(h("a-old"), "g1", { expiresAt: T }))
        yield* store.putAccessToken(accessToken(h("a-new"), "g1", { expiresAt: T + 1 }))
        yield* store.putRefreshToken(refreshToken(h("r-old"), "g1", { expiresAt: T }))
        yield* store.putRefreshToken(refreshToken(h("r-retired"), "g1", { expiresAt: T }))
        yield* store.rotateRefreshToken(h("r-retired"), refreshToken(h("r-new"), "g1", { expiresAt: T + 1 }), 1)

        yield* store.sweep(T)

        expect(yield* store.getAuthRequest("old", 1)).toEqual(Option.none())
        expect(yield* store.takeAuthRequestByUpstreamState(h("s-old"), 1)).toEqual(Option.none())
        expect(Option.isSome(yield* store.getAuthRequest("new", 1))).toBe(true)
        expect((yield* store.redeemCode(h("c-old"), 1))._tag).toBe("NotFound")
        expect((yield* store.redeemCode(h("c-used"), 1))._tag).toBe("NotFound")
        expect((yield* store.redeemCode(h("c-new"), 1))._tag).toBe("Redeemed")
        expect(yield* store.getAccessToken(h("a-old"), 1)).toEqual(Option.none())
        expect(Option.isSome(yield* store.getAccessToken(h("a-new"), 1))).toBe(true)
        expect(yield* store.getRefreshToken(h("r-old"), 1)).toEqual(Option.none())
        expect((yield* store.rotateRefreshToken(h("r-retired"), refreshToken(h("x"), "g1"), 1))._tag).toBe("NotFound")
        expect(Option.isSome(yield* store.getRefreshToken(h("r-new"), 1))).toBe(true)
      }).pipe(Effect.provide(store())))

    it.effect("drops revoked grants and old grants without live tokens; keeps the others", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        const T = EMPTY_GRANT_GRACE_MS * 10
        // revoked
        yield* store.putGrant(grant("revoked"))
        yield* store.putRefreshToken(refreshToken(h("rv"), "revoked", { expiresAt: T * 2 }))
        yield* store.revokeGrant("revoked")
        // old, its only access token expired
        yield* store.putGrant(grant("expired"))
        yield* store.putAccessToken(accessToken(h("ae"), "expired", { expiresAt: T }))
        // old, its code used and access token expired, but its refresh token alive
        yield* store.putGrant(grant("refreshable"))
        yield* store.putCode(code(h("cr"), "refreshable", { expiresAt: T * 2 }))
        yield* store.redeemCode(h("cr"), 1)
        yield* store.putAccessToken(accessToken(h("ar"), "refreshable", { expiresAt: T }))
        yield* store.putRefreshToken(refreshToken(h("rr"), "refreshable", { expiresAt: T * 2 }))
        // old, only a live code
        yield* store.putGrant(grant("code-pending"))
        yield* store.putCode(code(h("cp"), "code-pending", { expiresAt: T * 2 }))
        // young, nothing issued yet
        yield* store.putGrant(grant("young", { createdAt: T - 1 }))
        // old, nothing issued: past the grace period
        yield* store.putGrant(grant("empty", { createdAt: T - EMPTY_GRANT_GRACE_MS }))

        yield* store.sweep(T)

        expect(yield* store.getGrant("revoked")).toEqual(Option.none())
        expect(yield* store.getGrant("expired")).toEqual(Option.none())
        expect(yield* store.getGrant("empty")).toEqual(Option.none())
        expect(Option.isSome(yield* store.getGrant("refreshable"))).toBe(true)
        expect(Option.isSome(yield* store.getGrant("code-pending"))).toBe(true)
        expect(Option.isSome(yield* store.getGrant("young"))).toBe(true)
      }).pipe(Effect.provide(store())))

    it.effect("an empty store sweeps without error", () =>
      Effect.gen(function*() {
        const store = yield* TokenStore
        yield* store.sweep(0)
        yield* store.sweep(Number.MAX_SAFE_INTEGER)
      }).pipe(Effect.provide(store())))
  })

  describe(`${name}: isolation`, () => {
    it.effect("each layer build is a fresh store", () =>
      Effect.gen(function*() {
        yield* Effect.gen(function*() {
          const store = yield* TokenStore
          yield* store.putGrant(grant("g1"))
        }).pipe(Effect.provide(store()))
        const found = yield* Effect.gen(function*() {
          const store = yield* TokenStore
          return yield* store.getGrant("g1")
        }).pipe(Effect.provide(store()))
        expect(found).toEqual(Option.none())
      }))
  })
}

const only = process.env["MXCP_TEST_STORE"]
const selected = variants.filter(([name]) => only === undefined || name.toLowerCase().endsWith(only.toLowerCase()))
if (selected.some(([name]) => name === "TokenStorePostgres")) {
  beforeAll(async () => {
    pg = await startPostgres()
  }, 60_000)
  afterAll(() => pg?.stop())
}
for (const [name, store] of selected) contract(name, store)
