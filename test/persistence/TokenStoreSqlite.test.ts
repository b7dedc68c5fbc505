/**
 * What only the SQLite store does (the shared contract is in test/oauth-store): state survives a
 * reopen, secrets are sealed, tampered or swapped rows are never served (G55), another key makes
 * old rows unreadable rather than wrong (G56), sweeping in batches, the dynamic-client store.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import type { UpstreamTokens } from "../../src/domain/oauth/Identity.js"
import type { AuthRequestRecord, GrantRecord, OAuthClient } from "../../src/domain/oauth/Records.js"
import { sha256Hex } from "../../src/domain/oauth/Tokens.js"
import { ClientRegistryWithStore } from "../../src/layers/oauth/ClientRegistryLive.js"
import { DynamicClientStoreSqlite } from "../../src/layers/oauth/store/DynamicClientStoreSqlite.js"
import { OAuthDatabase, OAuthDatabaseSqlite } from "../../src/layers/oauth/store/OAuthDatabase.js"
import { TokenGeneratorCrypto } from "../../src/layers/oauth/TokenGeneratorCrypto.js"
import { TokenStoreSqliteWith } from "../../src/layers/oauth/store/TokenStoreSqlite.js"
import { ClientRegistry } from "../../src/services/oauth/ClientRegistry.js"
import { TokenStore } from "../../src/services/oauth/TokenStore.js"
import { tempDir } from "./TempDatabase.js"

const h = (s: string): string => sha256Hex(s)
const KEY_A = Buffer.alloc(32, 1).toString("base64")
const KEY_B = Buffer.alloc(32, 2).toString("base64")

interface Opened {
  readonly store: TokenStore.Shape
  readonly db: OAuthDatabase.Shape
}

/** Open the store on `path` (generated key unless `key`), run `use`, close it again. */
const withStore = <A, E>(
  path: string,
  use: (s: Opened) => Effect.Effect<A, E>,
  options: { readonly key?: string; readonly sweepBatchSize?: number } = {}
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const database = OAuthDatabaseSqlite({
        path,
        ...(options.key === undefined ? {} : { encryptionKey: Redacted.make(options.key) })
      })
      const ctx = yield* Layer.build(
        TokenStoreSqliteWith(options.sweepBatchSize === undefined ? {} : { sweepBatchSize: options.sweepBatchSize }).pipe(
          Layer.provideMerge(database)
        )
      )
      return yield* use({ store: Context.get(ctx, TokenStore), db: Context.get(ctx, OAuthDatabase) })
    })
  )

const upstream = (access: string, refresh?: string): UpstreamTokens => ({
  accessToken: Redacted.make(access),
  ...(refresh === undefined ? {} : { refreshToken: Redacted.make(refresh) }),
  expiresAt: 9_000_000,
  scopes: ["read:user", "user:email"],
  extra: { instance_url: "https://example.my.salesforce.com" }
})

const grant = (id: string, user: string, access: string, refresh?: string): GrantRecord => ({
  id,
  clientId: "client-a",
  user: { provider: "github", id: `id-${user}`, username: user, email: `${user}@example.com`, name: user, avatarUrl: "https://a/x.png" },
  upstream: upstream(access, refresh),
  scopes: ["mxcp:access"],
  resource: "http://127.0.0.1:8000/mcp",
  createdAt: 0,
  revoked: false
})

const pending = (id: string): AuthRequestRecord => ({
  id,
  clientId: "client-a",
  redirectUri: "http://127.0.0.1:3000/cb",
  clientState: `client-state-of-${id}`,
  codeChallenge: "challenge",
  scopes: ["mxcp:access"],
  resource: undefined,
  csrfHash: h(`csrf-${id}`),
  bindingHash: h(`binding-${id}`),
  status: "upstream",
  upstreamStateHash: h(`state-${id}`),
  upstreamVerifier: `verifier-of-${id}-0123456789`,
  createdAt: 0,
  expiresAt: 600_000
})

const access = (token: string, grantId: string) => ({
  tokenHash: h(token),
  grantId,
  clientId: "client-a",
  scopes: ["mxcp:access"],
  resource: undefined,
  expiresAt: 3_600_000
})

const refresh = (token: string, grantId: string) => ({
  tokenHash: h(token),
  grantId,
  clientId: "client-a",
  scopes: ["mxcp:access"],
  expiresAt: 2_592_000_000
})

const code = (c: string, grantId: string) => ({
  codeHash: h(c),
  grantId,
  clientId: "client-a",
  redirectUri: "http://127.0.0.1:3000/cb",
  codeChallenge: "challenge",
  scopes: ["mxcp:access"],
  resource: undefined,
  expiresAt: 300_000
})

const upstreamValues = (g: Option.Option<GrantRecord>) =>
  Option.map(g, (x) => ({
    access: Redacted.value(x.upstream.accessToken),
    refresh: x.upstream.refreshToken === undefined ? undefined : Redacted.value(x.upstream.refreshToken),
    user: x.user.username
  }))

/** Every byte SQLite has written for the database (main file and WAL). */
const fileBytes = (path: string): Buffer =>
  Buffer.concat([readFileSync(path), ...[`${path}-wal`].map((p) => { try { return readFileSync(p) } catch { return Buffer.alloc(0) } })])

describe("TokenStoreSqlite: restarts", () => {
  it.scoped("pending flows, grants, codes and tokens (used and retired ones too) survive a reopen", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const g = grant("g1", "alice", "gho_access_1", "ghr_refresh_1")
      yield* withStore(path, ({ store }) =>
        Effect.gen(function* () {
          yield* store.putAuthRequest(pending("r1"))
          yield* store.putGrant(g)
          yield* store.putCode(code("code-live", "g1"))
          yield* store.putCode(code("code-used", "g1"))
          yield* store.redeemCode(h("code-used"), 1)
          yield* store.putAccessToken(access("at", "g1"))
          yield* store.putRefreshToken(refresh("rt-old", "g1"))
          yield* store.rotateRefreshToken(h("rt-old"), refresh("rt", "g1"), 1)
        })
      )
      const seen = yield* withStore(path, ({ store }) =>
        Effect.gen(function* () {
          return {
            request: yield* store.getAuthRequest("r1", 1),
            grant: yield* store.getGrant("g1"),
            access: yield* store.getAccessToken(h("at"), 1),
            refresh: yield* store.getRefreshToken(h("rt"), 1),
            retired: (yield* store.rotateRefreshToken(h("rt-old"), refresh("x", "g1"), 1))._tag,
            used: (yield* store.redeemCode(h("code-used"), 1))._tag,
            live: (yield* store.redeemCode(h("code-live"), 1))._tag,
            taken: yield* store.takeAuthRequestByUpstreamState(h("state-r1"), 1)
          }
        })
      )
      expect(seen.request).toEqual(Option.some(pending("r1")))
      expect(seen.grant).toEqual(Option.some(g))
      expect(upstreamValues(seen.grant)).toEqual(Option.some({ access: "gho_access_1", refresh: "ghr_refresh_1", user: "alice" }))
      expect(Option.getOrThrow(seen.grant).upstream.expiresAt).toBe(9_000_000)
      expect(seen.access).toEqual(Option.some(access("at", "g1")))
      expect(seen.refresh).toEqual(Option.some(refresh("rt", "g1")))
      expect(seen).toMatchObject({ retired: "AlreadyUsed", used: "AlreadyUsed", live: "Redeemed" })
      expect(Option.map(seen.taken, (r) => r.upstreamVerifier)).toEqual(Option.some("verifier-of-r1-0123456789"))
    }).pipe(Effect.orDie))

  it.scoped("updated upstream tokens are re-sealed and survive a reopen", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      yield* withStore(path, ({ store }) =>
        Effect.gen(function* () {
          yield* store.putGrant(grant("g1", "alice", "gho_old", "ghr_old"))
          yield* store.updateGrantUpstream("g1", upstream("gho_new", "ghr_new"))
        })
      )
      const g = yield* withStore(path, ({ store }) => store.getGrant("g1"))
      expect(upstreamValues(g)).toEqual(Option.some({ access: "gho_new", refresh: "ghr_new", user: "alice" }))
    }).pipe(Effect.orDie))
})

describe("TokenStoreSqlite: at rest (G52)", () => {
  it.scoped("upstream tokens, the upstream verifier and the client state are sealed; tokens and codes are hashes", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const secrets = ["gho_upstream_access_AAAA", "ghr_upstream_refresh_BBBB", "verifier-of-r1-0123456789", "client-state-of-r1"]
      yield* withStore(path, ({ store }) =>
        Effect.gen(function* () {
          yield* store.putAuthRequest(pending("r1"))
          yield* store.putGrant(grant("g1", "alice", secrets[0]!, secrets[1]))
          yield* store.putAccessToken(access("plain-access-token", "g1"))
          yield* store.putCode(code("plain-code", "g1"))
        })
      )
      const bytes = fileBytes(path)
      for (const s of [...secrets, "plain-access-token", "plain-code"]) expect(bytes.includes(Buffer.from(s)), s).toBe(false)
      // The non-secret parts are there in the clear (the check above would catch a wrong file).
      expect(bytes.includes(Buffer.from("alice@example.com"))).toBe(true)
      expect(bytes.includes(Buffer.from(h("plain-access-token")))).toBe(true)
    }).pipe(Effect.orDie))
})

describe("TokenStoreSqlite: tampering (G55)", () => {
  /** Two users' sessions: alice (grant gA) and bob (gB), each with an access and a refresh token. */
  const seedTwo = ({ store }: Opened) =>
    Effect.gen(function* () {
      yield* store.putGrant(grant("gA", "alice", "gho_alice", "ghr_alice"))
      yield* store.putGrant(grant("gB", "bob", "gho_bob", "ghr_bob"))
      for (const id of ["A", "B"]) {
        yield* store.putAccessToken(access(`at-${id}`, `g${id}`))
        yield* store.putRefreshToken(refresh(`rt-${id}`, `g${id}`))
        yield* store.putCode(code(`code-${id}`, `g${id}`))
      }
    })

  it.scoped("a flipped byte in a sealed upstream token ends that session only", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const seen = yield* withStore(path, (s) =>
        Effect.gen(function* () {
          yield* seedTwo(s)
          const { sql } = s.db
          const rows = yield* sql<{ sealed: Uint8Array }>`SELECT upstream_access_sealed AS sealed FROM grants WHERE id = 'gA'`
          const tampered = Buffer.from(rows[0]!.sealed)
          tampered[tampered.length - 20] = (tampered[tampered.length - 20] ?? 0) ^ 0x40
          yield* sql`UPDATE grants SET upstream_access_sealed = ${tampered} WHERE id = 'gA'`
          return {
            grantA: yield* s.store.getGrant("gA"),
            accessA: yield* s.store.getAccessToken(h("at-A"), 1),
            refreshA: yield* s.store.getRefreshToken(h("rt-A"), 1),
            grantB: upstreamValues(yield* s.store.getGrant("gB")),
            accessB: Option.isSome(yield* s.store.getAccessToken(h("at-B"), 1))
          }
        })
      )
      expect(seen.grantA).toEqual(Option.none())
      expect(seen.accessA).toEqual(Option.none())
      expect(seen.refreshA).toEqual(Option.none())
      expect(seen.grantB).toEqual(Option.some({ access: "gho_bob", refresh: "ghr_bob", user: "bob" }))
      expect(seen.accessB).toBe(true)
    }).pipe(Effect.orDie))

  it.scoped("swapped ciphertexts, users or token rows never give one user's session another's token", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const swap = (db: OAuthDatabase.Shape, table: string, key: string, a: string, b: string, columns: ReadonlyArray<string>) =>
        Effect.gen(function* () {
          const { sql } = db
          const rows = yield* sql.unsafe<Record<string, unknown>>(
            `SELECT ${key}, ${columns.join(", ")} FROM ${table} WHERE ${key} IN (?, ?)`,
            [a, b]
          )
          const rowA = rows.find((r) => r[key] === a)!
          const rowB = rows.find((r) => r[key] === b)!
          const set = columns.map((c) => `${c} = ?`).join(", ")
          yield* sql.unsafe(`UPDATE ${table} SET ${set} WHERE ${key} = ?`, [...columns.map((c) => rowB[c]), a])
          yield* sql.unsafe(`UPDATE ${table} SET ${set} WHERE ${key} = ?`, [...columns.map((c) => rowA[c]), b])
        })
      // 1. The sealed upstream token and the MAC of bob's grant copied into alice's, and back.
      const sealedSwap = yield* withStore(path, (s) =>
        Effect.gen(function* () {
          yield* seedTwo(s)
          yield* swap(s.db, "grants", "id", "gA", "gB", ["upstream_access_sealed", "upstream_refresh_sealed", "mac"])
          return [upstreamValues(yield* s.store.getGrant("gA")), upstreamValues(yield* s.store.getGrant("gB"))]
        })
      )
      expect(sealedSwap).toEqual([Option.none(), Option.none()])

      // 2. The user columns swapped (alice's session presenting as bob, with bob's MAC).
      const userSwap = yield* withStore(join(yield* tempDir, "oauth.db"), (s) =>
        Effect.gen(function* () {
          yield* seedTwo(s)
          yield* swap(s.db, "grants", "id", "gA", "gB", ["user_provider", "user_id", "user_profile", "mac"])
          return [yield* s.store.getGrant("gA"), yield* s.store.getGrant("gB")]
        })
      )
      expect(userSwap).toEqual([Option.none(), Option.none()])

      // 3. Access, refresh and code rows pointed at the other grant (with the other row's MAC).
      const tokenSwap = yield* withStore(join(yield* tempDir, "oauth.db"), (s) =>
        Effect.gen(function* () {
          yield* seedTwo(s)
          yield* swap(s.db, "access_tokens", "token_hash", h("at-A"), h("at-B"), ["grant_id", "mac"])
          yield* swap(s.db, "refresh_tokens", "token_hash", h("rt-A"), h("rt-B"), ["grant_id", "mac"])
          yield* swap(s.db, "codes", "code_hash", h("code-A"), h("code-B"), ["grant_id", "mac"])
          return {
            access: [yield* s.store.getAccessToken(h("at-A"), 1), yield* s.store.getAccessToken(h("at-B"), 1)],
            refresh: [yield* s.store.getRefreshToken(h("rt-A"), 1), yield* s.store.getRefreshToken(h("rt-B"), 1)],
            rotate: (yield* s.store.rotateRefreshToken(h("rt-A"), refresh("next", "gB"), 1))._tag,
            codes: [(yield* s.store.redeemCode(h("code-A"), 1))._tag, (yield* s.store.redeemCode(h("code-B"), 1))._tag]
          }
        })
      )
      expect(tokenSwap).toEqual({
        access: [Option.none(), Option.none()],
        refresh: [Option.none(), Option.none()],
        rotate: "NotFound",
        codes: ["NotFound", "NotFound"]
      })
    }).pipe(Effect.orDie))

  it.scoped("an edited token row (wider scopes, later expiry) is not served", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const seen = yield* withStore(path, (s) =>
        Effect.gen(function* () {
          yield* seedTwo(s)
          const { sql } = s.db
          yield* sql`UPDATE access_tokens SET scopes = '["mxcp:access","admin"]' WHERE token_hash = ${h("at-A")}`
          yield* sql`UPDATE refresh_tokens SET expires_at = expires_at + 1 WHERE token_hash = ${h("rt-A")}`
          yield* sql`UPDATE codes SET redirect_uri = 'https://evil.example/cb' WHERE code_hash = ${h("code-A")}`
          return {
            access: yield* s.store.getAccessToken(h("at-A"), 1),
            refresh: yield* s.store.getRefreshToken(h("rt-A"), 1),
            code: (yield* s.store.redeemCode(h("code-A"), 1))._tag,
            untouched: Option.isSome(yield* s.store.getAccessToken(h("at-B"), 1))
          }
        })
      )
      expect(seen).toEqual({ access: Option.none(), refresh: Option.none(), code: "NotFound", untouched: true })
    }).pipe(Effect.orDie))
})

describe("TokenStoreSqlite: a changed key (G56)", () => {
  it.scoped("old rows become unreadable and their sessions end; new sessions work; nothing crashes", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      yield* withStore(
        path,
        ({ store }) =>
          Effect.gen(function* () {
            yield* store.putGrant(grant("g1", "alice", "gho_1", "ghr_1"))
            yield* store.putAccessToken(access("at", "g1"))
            yield* store.putRefreshToken(refresh("rt", "g1"))
            yield* store.putCode(code("c", "g1"))
            yield* store.putAuthRequest(pending("r1"))
          }),
        { key: KEY_A }
      )
      const seen = yield* withStore(
        path,
        ({ store }) =>
          Effect.gen(function* () {
            const old = {
              grant: yield* store.getGrant("g1"),
              access: yield* store.getAccessToken(h("at"), 1),
              refresh: yield* store.getRefreshToken(h("rt"), 1),
              rotate: (yield* store.rotateRefreshToken(h("rt"), refresh("rt2", "g1"), 1))._tag,
              code: (yield* store.redeemCode(h("c"), 1))._tag,
              request: yield* store.getAuthRequest("r1", 1),
              taken: yield* store.takeAuthRequestByUpstreamState(h("state-r1"), 1)
            }
            yield* store.putGrant(grant("g2", "alice", "gho_2"))
            yield* store.putAccessToken(access("at2", "g2"))
            yield* store.sweep(1)
            return { old, fresh: upstreamValues(yield* store.getGrant("g2")), freshAccess: yield* store.getAccessToken(h("at2"), 1) }
          }),
        { key: KEY_B }
      )
      expect(seen.old).toEqual({
        grant: Option.none(),
        access: Option.none(),
        refresh: Option.none(),
        rotate: "NotFound",
        code: "NotFound",
        request: Option.none(),
        taken: Option.none()
      })
      expect(seen.fresh).toEqual(Option.some({ access: "gho_2", refresh: undefined, user: "alice" }))
      expect(Option.isSome(seen.freshAccess)).toBe(true)
    }).pipe(Effect.orDie))
})

describe("TokenStoreSqlite: bearer validation reads token and grant in one statement", () => {
  it.scoped("the next getGrant of the same fiber sees the grant as read with the token; anything else reads the file", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const seen = yield* withStore(path, ({ db, store }) =>
        Effect.gen(function* () {
          yield* store.putGrant(grant("g1", "alice", "gho_1"))
          yield* store.putGrant(grant("g2", "bob", "gho_2"))
          yield* store.putAccessToken(access("at1", "g1"))
          const revokeBehindTheStore = db.sql`UPDATE grants SET revoked = 1 WHERE id = 'g1'`
          const unrevoke = db.sql`UPDATE grants SET revoked = 0 WHERE id = 'g1'`

          // Token and grant read together: the grant is the one of that moment.
          yield* store.getAccessToken(h("at1"), 1)
          yield* revokeBehindTheStore
          const snapshot = Option.map(yield* store.getGrant("g1"), (g) => g.revoked)
          const fresh = Option.map(yield* store.getGrant("g1"), (g) => g.revoked) // consumed: reads the file

          // A getGrant of another grant, or in a child fiber, reads the file.
          yield* unrevoke
          yield* store.getAccessToken(h("at1"), 1)
          yield* revokeBehindTheStore
          const inChild = yield* Effect.fork(store.getGrant("g1")).pipe(Effect.flatMap((f) => f.await))
          const other = Option.map(yield* store.getGrant("g2"), (g) => g.user.username)
          const afterOther = Option.map(yield* store.getGrant("g1"), (g) => g.revoked)
          // This fiber's own write in between: the next getGrant reads the file (read your writes).
          yield* unrevoke
          yield* store.getAccessToken(h("at1"), 1)
          yield* store.revokeGrant("g1")
          const ownWrite = Option.map(yield* store.getGrant("g1"), (g) => g.revoked)
          return {
            snapshot,
            fresh,
            inChild: inChild._tag === "Success" ? Option.map(inChild.value, (g) => g.revoked) : "failed",
            other,
            afterOther,
            ownWrite
          }
        })
      )
      expect(seen).toEqual({
        snapshot: Option.some(false),
        fresh: Option.some(true),
        inChild: Option.some(true),
        other: Option.some("bob"),
        afterOther: Option.some(true),
        ownWrite: Option.some(true)
      })
    }).pipe(Effect.orDie))
})

describe("TokenStoreSqlite: the refresh reuse grace (K8)", () => {
  it.scoped("K8 the rotation time survives a reopen, the same key derives the same successor; a token rotated before migration 2 is never within the grace", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const grace = { reuseGraceMs: 30_000, clientId: "client-a" }
      const derived = yield* withStore(path, ({ store }) =>
        Effect.gen(function* () {
          yield* store.putGrant(grant("g1", "alice", "gho_1"))
          yield* store.putRefreshToken(refresh("rt-1", "g1"))
          yield* store.putRefreshToken(refresh("rt-old", "g1"))
          const successor = yield* store.successorTokens("rt-1")
          expect((yield* store.rotateRefreshToken(h("rt-1"), refresh(successor.refresh, "g1"), 1000, grace))._tag).toBe("Redeemed")
          expect((yield* store.rotateRefreshToken(h("rt-old"), refresh("rt-old-next", "g1"), 1000, grace))._tag).toBe("Redeemed")
          return successor
        }), { key: KEY_A })
      const seen = yield* withStore(path, ({ db, store }) =>
        Effect.gen(function* () {
          // As a file rotated by an earlier version: retired, but no rotation time.
          yield* db.sql`UPDATE refresh_tokens SET retired_at = NULL WHERE token_hash = ${h("rt-old")}`
          const again = yield* store.successorTokens("rt-1")
          return {
            again,
            replay: (yield* store.rotateRefreshToken(h("rt-1"), refresh(again.refresh, "g1"), 2000, grace))._tag,
            old: (yield* store.rotateRefreshToken(h("rt-old"), refresh("rt-old-next", "g1"), 2000, grace))._tag
          }
        }), { key: KEY_A })
      expect(seen.again).toEqual(derived)
      expect(seen.replay).toBe("Replayed")
      expect(seen.old).toBe("AlreadyUsed")
      // Another key derives other tokens (and cannot read the rows anyway).
      const other = yield* withStore(join(yield* tempDir, "other.db"), ({ store }) => store.successorTokens("rt-1"), { key: KEY_B })
      expect(other.refresh).not.toBe(derived.refresh)
    }).pipe(Effect.orDie))
})

describe("TokenStoreSqlite: sweep", () => {
  it.scoped("a backlog larger than a batch is swept completely; live rows stay", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const counts = yield* withStore(
        path,
        ({ db, store }) =>
          Effect.gen(function* () {
            yield* store.putGrant(grant("g1", "alice", "gho"))
            for (let i = 0; i < 40; i++) {
              yield* store.putAccessToken({ ...access(`old-${i}`, "g1"), expiresAt: 100 })
              yield* store.putCode({ ...code(`old-${i}`, "g1"), expiresAt: 100 })
              yield* store.putAuthRequest({ ...pending(`r-${i}`), upstreamStateHash: h(`s-${i}`), expiresAt: 100 })
            }
            yield* store.putAccessToken(access("live", "g1"))
            yield* store.sweep(100)
            const { sql } = db
            return {
              access: (yield* sql<{ n: number }>`SELECT count(*) AS n FROM access_tokens`)[0]?.n,
              codes: (yield* sql<{ n: number }>`SELECT count(*) AS n FROM codes`)[0]?.n,
              requests: (yield* sql<{ n: number }>`SELECT count(*) AS n FROM auth_requests`)[0]?.n,
              grants: (yield* sql<{ n: number }>`SELECT count(*) AS n FROM grants`)[0]?.n
            }
          }),
        { sweepBatchSize: 7 }
      )
      expect(counts).toEqual({ access: 1, codes: 0, requests: 0, grants: 1 })
    }).pipe(Effect.orDie))
})

describe("DynamicClientStoreSqlite", () => {
  const client = (id: string, createdAt: number, overrides: Partial<OAuthClient> = {}): OAuthClient => ({
    clientId: id,
    name: `Client ${id}`,
    secretHash: h(`secret-${id}`),
    redirectUris: ["http://127.0.0.1:5555/cb"],
    grantTypes: ["authorization_code", "refresh_token"],
    scopes: ["mxcp:access"],
    authMethods: ["client_secret_post"],
    source: "dynamic",
    clientUri: "https://client.example",
    logoUri: "https://client.example/logo.png",
    createdAt,
    ...overrides
  })

  const withClients = <A, E>(path: string, use: (s: Opened & { clients: Effect.Effect.Success<typeof DynamicClientStoreSqlite> }) => Effect.Effect<A, E>) =>
    withStore(path, (s) => Effect.flatMap(Effect.provideService(DynamicClientStoreSqlite, OAuthDatabase, s.db), (clients) => use({ ...s, clients })))

  it.scoped("stores, finds, counts and survives a reopen; a tampered row is unknown", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const publicClient = client("pub", 2, { secretHash: undefined, authMethods: ["none"], clientUri: undefined, logoUri: undefined })
      yield* withClients(path, ({ clients }) =>
        Effect.gen(function* () {
          yield* clients.put(client("conf", 1))
          yield* clients.put(publicClient)
        })
      )
      const seen = yield* withClients(path, ({ clients, db }) =>
        Effect.gen(function* () {
          const before = { conf: yield* clients.get("conf"), pub: yield* clients.get("pub"), n: yield* clients.count }
          yield* db.sql`UPDATE dynamic_clients SET redirect_uris = '["https://evil.example/cb"]' WHERE client_id = 'conf'`
          return { ...before, tampered: yield* clients.get("conf"), missing: yield* clients.get("nope") }
        })
      )
      expect(seen.conf).toEqual(Option.some(client("conf", 1)))
      expect(seen.pub).toEqual(Option.some({ ...publicClient }))
      expect(seen.n).toBe(2)
      expect(seen.tampered).toEqual(Option.none())
      expect(seen.missing).toEqual(Option.none())
    }).pipe(Effect.orDie))

  it.scoped("eviction takes the oldest client without a live session", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const left = yield* withClients(path, ({ clients, store }) =>
        Effect.gen(function* () {
          for (const [id, at] of [["a", 1], ["b", 2], ["c", 3], ["young", 50]] as const) yield* clients.put(client(id, at))
          yield* store.putGrant({ ...grant("g-a", "alice", "gho"), clientId: "a" })
          expect(yield* clients.deleteOldestUnused(10)).toBe(true) // b: a is in use
          yield* store.revokeGrant("g-a")
          expect(yield* clients.deleteOldestUnused(10)).toBe(true) // a, no longer in use
          expect(yield* clients.deleteOldestUnused(10)).toBe(true) // c
          expect(yield* clients.deleteOldestUnused(10)).toBe(false) // only "young" is left
          return yield* Effect.forEach(["a", "b", "c", "young"], (id) => Effect.map(clients.get(id), Option.isSome))
        })
      )
      expect(left).toEqual([false, false, false, true])
    }).pipe(Effect.orDie))

  it.scoped("a client registered through the registry is found after a reopen", () =>
    Effect.gen(function* () {
      const path = join(yield* tempDir, "oauth.db")
      const registry = (db: OAuthDatabase.Shape) =>
        ClientRegistryWithStore({ clients: [] }, DynamicClientStoreSqlite).pipe(
          Layer.provide(Layer.merge(TokenGeneratorCrypto, Layer.succeed(OAuthDatabase, db)))
        )
      const registered = yield* withStore(path, ({ db }) =>
        Effect.flatMap(ClientRegistry, (r) =>
          r.register(
            {
              redirect_uris: ["http://127.0.0.1:5555/cb"],
              grant_types: ["authorization_code"],
              response_types: ["code"],
              token_endpoint_auth_method: "client_secret_basic",
              client_name: "Persisted"
            },
            ["mxcp:access"]
          )
        ).pipe(Effect.provide(registry(db)))
      )
      const found = yield* withStore(path, ({ db }) =>
        Effect.flatMap(ClientRegistry, (r) => r.find(registered.client.clientId)).pipe(Effect.provide(registry(db)))
      )
      expect(found).toEqual(Option.some(registered.client))
      expect(fileBytes(path).includes(Buffer.from(registered.clientSecret ?? "missing"))).toBe(false)
    }).pipe(Effect.orDie))
})
