/**
 * `TokenStore` in SQL (`auth.persistence`), on the `OAuthDatabase`: SQLite (one file, which
 * several processes on one machine can share) or PostgreSQL (shared by several instances on
 * several hosts). Sessions, pending flows, codes and tokens survive restarts and deployments.
 * Same semantics as `TokenStoreMemory` (the contract tests run against all three); the SQL text
 * of each dialect is `TokenStoreSql.ts`. `TokenStoreSqlite.ts` and `TokenStorePostgres.ts` are
 * the named layers.
 *
 * Decisions:
 * - At rest: tokens, codes and the upstream state exist only as the SHA-256 hashes the callers
 *   pass in (primary keys: a lookup is one B-tree search). The upstream access and refresh
 *   tokens, the upstream PKCE verifier and the client's `state` are sealed with AES-256-GCM;
 *   every row carries a MAC and the id of the key (`SealedRows.ts`, `SecretBox.ts`).
 * - A row that does not verify (tampered, moved, or written under another key) is never served:
 *   a token or code row is deleted and treated as absent; an unreadable grant is revoked (its
 *   codes and tokens deleted), which ends that one session (checklist G55, G56).
 * - Atomicity: `redeemCode` is one `UPDATE ... WHERE used = 0 AND expires_at > now RETURNING`,
 *   so exactly one caller gets the row, across fibers and processes (D30). In PostgreSQL (READ
 *   COMMITTED) a second `UPDATE` of the row waits for the first one's transaction and then finds
 *   `used = 1`: the database decides, whichever instance asks. `rotateRefreshToken`
 *   retires the old token the same way (recording `retired_at`) and inserts its successor and
 *   the successor's access token in the same transaction. Presenting a retired token again is
 *   decided in that same transaction too: `Replayed` (reuse grace: its own client, less than the
 *   grace after `retired_at`, successor still live) or `AlreadyUsed`.
 * - `successorTokens` derives a rotation's tokens from the presented one with a subkey of the
 *   store's key (`SecretBox.derive`), so every process sharing the file (and a restarted one)
 *   computes the same successor for a retry; only hashes are stored.
 *   `takeAuthRequestByUpstreamState` is one `DELETE ... RETURNING`. Every transaction starts
 *   with a write (see `OAuthDatabase`), so SQLite takes the write lock at its start.
 * - Upstream refresh across processes (`withGrantLock`): PostgreSQL holds the grant's row lock
 *   (`SELECT ... FOR UPDATE` in a transaction) while one instance refreshes the upstream token;
 *   the others wait and then read the refreshed grant. SQLite runs `use` without a lock (a
 *   transaction there would lock the whole file for the length of an HTTP call).
 * - Durability: each write commits (`synchronous = FULL`) before its effect completes, so a token
 *   is on disk before the endpoint that minted it answers.
 * - Puts under a revoked grant are dropped inside the INSERT itself (`... WHERE NOT EXISTS` a
 *   revoked grant; PostgreSQL locks that grant row first), so a revocation racing a redemption
 *   in another process cannot be undone.
 * - Expiry: `now >= expires_at` is expired and never served, whether or not the sweep ran; an
 *   expired row met by a lookup is deleted. `sweep` deletes in batches (`sweepBatchSize`), so a
 *   large backlog never holds the write lock for long.
 * - Grants: `sweep` drops revoked grants, and grants older than `emptyGrantGraceMs` with no live
 *   code or token. Candidates come from `grants.live_until` (latest expiry of anything issued,
 *   kept by triggers), so the sweep never scans every grant. One difference from the memory
 *   store: a grant whose tokens were deleted early (an access token revoked through /revoke)
 *   is dropped when they would have expired, not at the next sweep; it is unreachable meanwhile.
 * - Pending requests are capped like in memory (`maxPendingAuthRequests`): at the cap, expired
 *   ones go first, then the oldest (by insertion order, the rowid).
 * - Bearer validation is the hot path (`getAccessToken`, then `getGrant` of its grant, on every
 *   MCP request). Every lookup reads the file (revocations by other processes are seen at once),
 *   with two savings: `getAccessToken` reads the token and its grant in one statement and hands
 *   the grant row to the next `getGrant` of the same fiber (a fiber-local slot, consumed by that
 *   call, cleared by that fiber's writes to grants, never inherited by child fibers), so the
 *   pair costs one statement and sees one consistent snapshot; and verifying and decrypting a grant costs more than reading it, so
 *   verified grants are kept in effect's `Cache` (bounded, least recently used out first), keyed by
 *   grant id and checked against the row MAC: only a row with
 *   exactly that content (any update re-seals and changes the MAC) is served from it. The
 *   decrypted upstream tokens it holds are what the memory store holds anyway.
 *
 * One concept: the `TokenStore` contract in SQL (its SQL text is `TokenStoreSql.ts`).
 */
import type { SqlError } from "@effect/sql"
import { Cache, Duration, Effect, Equal, FiberRef, Hash, Layer, Option } from "effect"
import type { UpstreamTokens } from "../../../domain/oauth/Identity.js"
import type {
  AccessTokenRecord,
  AuthRequestRecord,
  CodeRecord,
  GrantRecord,
  RedeemResult,
  RefreshTokenRecord,
  RotateResult
} from "../../../domain/oauth/Records.js"
import { type RotateOptions, StoreError, type SuccessorTokens, TokenStore } from "../../../services/oauth/TokenStore.js"
import { OAuthDatabase, toStoreError } from "./OAuthDatabase.js"
import {
  type AccessTokenRow,
  AccessTokenRows,
  type AuthRequestRow,
  AuthRequestRows,
  CodeRows,
  GrantRows,
  RefreshTokenRows,
  type StoredCodeRow,
  type StoredGrantRow,
  type StoredRefreshTokenRow,
  withUpstream
} from "./SealedRows.js"
import {
  ACCESS_COLUMNS,
  type AccessWithGrantRow,
  AUTH_REQUEST_COLUMNS,
  CODE_COLUMNS,
  GRANT_COLUMNS,
  joinedGrant,
  REFRESH_COLUMNS,
  statementsFor,
  UPSTREAM_COLUMNS,
  valuesOf
} from "./TokenStoreSql.js"
import { EMPTY_GRANT_GRACE_MS, MAX_PENDING_AUTH_REQUESTS, SWEEP_BATCH_SIZE, VERIFIED_GRANT_CACHE_SIZE } from "./StoreLimits.js"
import { methodFn } from "../../server/Tracing.js"

/** Attempts of `updateGrantUpstream` when another writer changes the grant in between. */
const UPDATE_ATTEMPTS = 3

/**
 * PostgreSQL: longest wait for another instance's upstream refresh of the same grant (the holder
 * is bounded by the provider's timeout, 10 s by default). A longer wait fails as a store error.
 */
export const GRANT_LOCK_WAIT_MS = 30_000

const isSqlError = (e: unknown): e is SqlError.SqlError =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "SqlError"

/** A grant row as the key of its verified record: keys are equal by grant id; the row rides along for the lookup. */
class GrantKey implements Equal.Equal {
  #row: StoredGrantRow | undefined
  constructor(readonly id: string, row: StoredGrantRow | undefined) {
    this.#row = row
  }
  /** The row, once (the cache keeps the key: it need not keep the row's sealed columns too). */
  take(): StoredGrantRow | undefined {
    const row = this.#row
    this.#row = undefined
    return row
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof GrantKey && that.id === this.id
  }
  [Hash.symbol](): number {
    return Hash.string(this.id)
  }
}

interface VerifiedGrant {
  /** The MAC (base64) of the row it was decoded from. */
  readonly mac: string
  /** Undefined when that row did not verify. */
  readonly grant: GrantRecord | undefined
}

const macOf = (row: StoredGrantRow): string => Buffer.from(row.mac).toString("base64")

export interface SqlTokenStoreOptions {
  /** Most pending authorization requests kept at once (default `MAX_PENDING_AUTH_REQUESTS`). */
  readonly maxPendingAuthRequests?: number
  /** Age after which a grant with no live code or token left is dropped (default 10 minutes). */
  readonly emptyGrantGraceMs?: number
  readonly sweepBatchSize?: number
  /** Verified grants kept decrypted in memory (default `VERIFIED_GRANT_CACHE_SIZE`; 0 disables). */
  readonly verifiedGrantCacheSize?: number
}

const isExpired = (expiresAt: number, now: number): boolean => now >= expiresAt

const notFound: RedeemResult<never> = { _tag: "NotFound" }

// ---------------------------------------------------------------------------------------------

export const makeSqlTokenStore = (options: SqlTokenStoreOptions = {}) =>
  Effect.gen(function* () {
    const traced = yield* methodFn
    const { box, sql, dialect } = yield* OAuthDatabase
    const st = statementsFor(dialect)
    const spanPrefix = dialect === "sqlite" ? "TokenStoreSqlite" : "TokenStorePostgres"
    const fn = (name: string) => traced(`${spanPrefix}.${name}`)
    /** The grant row read with this fiber's last access token, for its next `getGrant`. */
    const handoff = yield* FiberRef.make<StoredGrantRow | undefined>(undefined, {
      fork: () => undefined,
      join: (parent) => parent
    })
    const maxPending = Math.max(1, options.maxPendingAuthRequests ?? MAX_PENDING_AUTH_REQUESTS)
    const grace = options.emptyGrantGraceMs ?? EMPTY_GRANT_GRACE_MS
    const batch = Math.max(1, options.sweepBatchSize ?? SWEEP_BATCH_SIZE)
    const cacheSize = Math.max(0, options.verifiedGrantCacheSize ?? VERIFIED_GRANT_CACHE_SIZE)

    // Verified grants by id, with the MAC of the row they were decoded from (effect's Cache: at
    // most `cacheSize`, the least recently used go first). The lookup verifies and decrypts the
    // row its key carries; a row with another MAC (updated since) is verified afresh.
    const verified = yield* Cache.make({
      capacity: Math.max(1, cacheSize),
      timeToLive: Duration.infinity,
      lookup: (key: GrantKey) =>
        Effect.sync((): VerifiedGrant => {
          const row = key.take()
          return row === undefined ? { mac: "", grant: undefined } : { mac: macOf(row), grant: GrantRows.decode(box, row) }
        })
    })
    const forgetVerified = (id: string) => verified.invalidate(new GrantKey(id, undefined))

    /** The grant of `row`, verified and decrypted once per row content (grant id and MAC). */
    const decodeGrantCached = (row: StoredGrantRow): Effect.Effect<GrantRecord | undefined> => {
      if (cacheSize === 0) return Effect.sync(() => GrantRows.decode(box, row))
      return Effect.gen(function* () {
        const mac = macOf(row)
        let hit = yield* verified.get(new GrantKey(row.id, row))
        if (hit.mac !== mac) {
          yield* forgetVerified(row.id)
          hit = yield* verified.get(new GrantKey(row.id, row))
        }
        if (hit.grant === undefined || hit.mac !== mac) {
          // A row that does not verify is not kept; another version put in meanwhile is left alone.
          if (hit.grant === undefined) yield* forgetVerified(row.id)
          return hit.mac === mac ? undefined : GrantRows.decode(box, row)
        }
        const revoked = row.revoked !== 0
        return hit.grant.revoked === revoked ? hit.grant : { ...hit.grant, revoked }
      })
    }

    const unreadable = (table: string) =>
      Effect.logWarning("A stored OAuth row could not be verified (tampered, or written under another key); it is dropped").pipe(
        Effect.annotateLogs({ table })
      )

    const count = Effect.map(sql<{ n: number }>`SELECT count(*) AS n FROM auth_requests`, (rows) => rows[0]?.n ?? 0)

    // -- grants (used by the others) --------------------------------------------------------------

    /** Revoke a grant and delete everything issued under it, in one transaction. */
    const revokeGrantNow = (id: string) =>
      sql.withTransaction(
        Effect.gen(function* () {
          yield* sql`UPDATE grants SET revoked = 1 WHERE id = ${id}`
          yield* sql`DELETE FROM codes WHERE grant_id = ${id}`
          yield* sql`DELETE FROM access_tokens WHERE grant_id = ${id}`
          yield* sql`DELETE FROM refresh_tokens WHERE grant_id = ${id}`
        })
      ).pipe(Effect.ensuring(forgetVerified(id)))

    // -- authorization requests -------------------------------------------------------------------

    const putAuthRequest = fn("putAuthRequest")(
      function* (rec: AuthRequestRecord) {
        const row = AuthRequestRows.encode(box, rec)
        const dropped = yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe(st.upsertAuthRequest, valuesOf(row, AUTH_REQUEST_COLUMNS))
            if ((yield* count) <= maxPending) return 0
            yield* sql`DELETE FROM auth_requests WHERE expires_at <= ${rec.createdAt} AND id <> ${rec.id}`
            const left = yield* count
            if (left <= maxPending) return 0
            const gone = yield* sql`DELETE FROM auth_requests WHERE seq IN (
              SELECT seq FROM auth_requests WHERE id <> ${rec.id} ORDER BY seq LIMIT ${left - maxPending}
            ) RETURNING 1`
            return gone.length
          })
        )
        if (dropped > 0) {
          yield* Effect.logWarning("pending authorization requests at their cap: dropped the oldest").pipe(
            Effect.annotateLogs({ dropped, cap: maxPending })
          )
        }
      },
      Effect.mapError(toStoreError("putAuthRequest"))
    )

    const getAuthRequest = fn("getAuthRequest")(
      function* (id: string, now: number) {
        const rows = yield* sql<AuthRequestRow>`SELECT * FROM auth_requests WHERE id = ${id}`
        const row = rows[0]
        if (row === undefined) return Option.none<AuthRequestRecord>()
        const rec = AuthRequestRows.decode(box, row)
        if (rec === undefined || isExpired(row.expires_at, now)) {
          yield* sql`DELETE FROM auth_requests WHERE id = ${id} AND mac = ${row.mac}`
          if (rec === undefined) yield* unreadable("auth_requests")
          return Option.none<AuthRequestRecord>()
        }
        return Option.some(rec)
      },
      Effect.mapError(toStoreError("getAuthRequest"))
    )

    const updateAuthRequest = fn("updateAuthRequest")(
      function* (rec: AuthRequestRecord) {
        const row = AuthRequestRows.encode(box, rec)
        const columns = AUTH_REQUEST_COLUMNS.filter((c) => c !== "id")
        yield* sql.unsafe(st.updateAuthRequest, [...valuesOf(row, columns), rec.id])
      },
      Effect.mapError(toStoreError("updateAuthRequest"))
    )

    const takeAuthRequestByUpstreamState = fn("takeAuthRequestByUpstreamState")(
      function* (stateHash: string, now: number) {
        const rows = yield* sql<AuthRequestRow>`DELETE FROM auth_requests WHERE upstream_state_hash = ${stateHash} RETURNING *`
        const row = rows[0]
        if (row === undefined || isExpired(row.expires_at, now)) return Option.none<AuthRequestRecord>()
        const rec = AuthRequestRows.decode(box, row)
        if (rec === undefined || rec.upstreamStateHash !== stateHash) {
          yield* unreadable("auth_requests")
          return Option.none<AuthRequestRecord>()
        }
        return Option.some(rec)
      },
      Effect.mapError(toStoreError("takeAuthRequestByUpstreamState"))
    )

    const deleteAuthRequest = fn("deleteAuthRequest")(
      function* (id: string) {
        yield* sql`DELETE FROM auth_requests WHERE id = ${id}`
      },
      Effect.mapError(toStoreError("deleteAuthRequest"))
    )

    // -- grants -----------------------------------------------------------------------------------

    /** A write to a grant: this fiber's next `getGrant` must read the file (read your writes). */
    const forgetHandoff = FiberRef.set(handoff, undefined)

    const putGrant = fn("putGrant")(
      function* (grant: GrantRecord) {
        yield* forgetHandoff
        const row: StoredGrantRow = { ...GrantRows.encode(box, grant), revoked: grant.revoked ? 1 : 0 }
        yield* sql.unsafe(st.upsertGrant, valuesOf(row, GRANT_COLUMNS))
      },
      Effect.mapError(toStoreError("putGrant"))
    )

    const getGrant = fn("getGrant")(
      function* (id: string) {
        const handed = yield* FiberRef.getAndSet(handoff, undefined)
        const row = handed !== undefined && handed.id === id
          ? handed
          : (yield* sql.unsafe<StoredGrantRow>(st.selectGrant, [id]))[0]
        if (row === undefined) return Option.none<GrantRecord>()
        const grant = yield* decodeGrantCached(row)
        if (grant === undefined) {
          // The session cannot be read: end it (and only it).
          yield* revokeGrantNow(id)
          yield* unreadable("grants")
          return Option.none<GrantRecord>()
        }
        return Option.some(grant)
      },
      Effect.mapError(toStoreError("getGrant"))
    )

    const updateGrantUpstream = fn("updateGrantUpstream")(
      function* (id: string, upstream: UpstreamTokens) {
        yield* forgetHandoff
        // Re-sealing needs the row's other columns (for its MAC): read it, then write only if it
        // is still the row that was read.
        for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
          const rows = yield* sql<StoredGrantRow>`SELECT * FROM grants WHERE id = ${id}`
          const row = rows[0]
          if (row === undefined) return
          if (!GrantRows.verifies(box, row)) {
            yield* revokeGrantNow(id)
            return yield* unreadable("grants")
          }
          const next = withUpstream(box, row, upstream)
          const updated = yield* sql.unsafe(st.updateUpstream, [...valuesOf(next, UPSTREAM_COLUMNS), id, row.mac])
          if (updated.length > 0) return
        }
        return yield* new StoreError({
          operation: "updateGrantUpstream",
          message: "the grant kept changing while its upstream tokens were being stored"
        })
      },
      Effect.catchTag("SqlError", (e) => Effect.fail(toStoreError("updateGrantUpstream")(e)))
    )

    /** `use` under the grant's row lock (PostgreSQL); see the header. */
    const withGrantLock = <A, E, R>(grantId: string, use: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError, R> => {
      if (dialect === "sqlite") return use
      const locked = sql.withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe(`SET LOCAL lock_timeout = '${GRANT_LOCK_WAIT_MS}ms'`)
          yield* sql.unsafe(`SET LOCAL statement_timeout = '${GRANT_LOCK_WAIT_MS + 5000}ms'`)
          yield* sql`SELECT 1 FROM grants WHERE id = ${grantId} FOR UPDATE`
          return yield* use
        })
      )
      return Effect.mapError(locked, (e): E | StoreError => (isSqlError(e) ? toStoreError("withGrantLock")(e) : (e as E)))
    }

    const revokeGrant = fn("revokeGrant")(
      function* (id: string) {
        yield* forgetHandoff
        yield* revokeGrantNow(id)
      },
      Effect.mapError(toStoreError("revokeGrant"))
    )

    const clientInUse = fn("clientInUse")(
      function* (clientId: string) {
        const rows = yield* sql`SELECT 1 AS x FROM grants WHERE client_id = ${clientId} AND revoked = 0 LIMIT 1`
        return rows.length > 0
      },
      Effect.mapError(toStoreError("clientInUse"))
    )

    // -- codes ------------------------------------------------------------------------------------

    const putCode = fn("putCode")(
      function* (rec: CodeRecord) {
        yield* sql.unsafe(st.insertCode, [...valuesOf(CodeRows.encode(box, rec), CODE_COLUMNS), rec.grantId])
      },
      Effect.mapError(toStoreError("putCode"))
    )

    const redeemCode = fn("redeemCode")(
      function* (codeHash: string, now: number) {
        // One statement claims the code: exactly one caller, in any process, gets the row.
        const claimed = yield* sql<StoredCodeRow>`UPDATE codes SET used = 1
          WHERE code_hash = ${codeHash} AND used = 0 AND expires_at > ${now} RETURNING *`
        const won = claimed[0]
        if (won !== undefined) {
          const record = CodeRows.decode(box, won)
          if (record !== undefined) return { _tag: "Redeemed", record } as RedeemResult<CodeRecord>
          yield* sql`DELETE FROM codes WHERE code_hash = ${codeHash}`
          yield* unreadable("codes")
          return notFound
        }
        const rows = yield* sql<StoredCodeRow>`SELECT * FROM codes WHERE code_hash = ${codeHash}`
        const row = rows[0]
        if (row === undefined) return notFound
        const verifies = CodeRows.verifies(box, row)
        if (isExpired(row.expires_at, now) || !verifies) {
          yield* sql`DELETE FROM codes WHERE code_hash = ${codeHash} AND mac = ${row.mac}`
          if (!verifies) yield* unreadable("codes")
          return notFound
        }
        return row.used !== 0
          ? ({ _tag: "AlreadyUsed", grantId: row.grant_id, clientId: row.client_id } as RedeemResult<CodeRecord>)
          : notFound
      },
      Effect.mapError(toStoreError("redeemCode"))
    )

    // -- access tokens ----------------------------------------------------------------------------

    const putAccessToken = fn("putAccessToken")(
      function* (rec: AccessTokenRecord) {
        yield* sql.unsafe(st.insertAccess, [...valuesOf(AccessTokenRows.encode(box, rec), ACCESS_COLUMNS), rec.grantId])
      },
      Effect.mapError(toStoreError("putAccessToken"))
    )

    const getAccessToken = fn("getAccessToken")(
      function* (tokenHash: string, now: number) {
        const rows = yield* sql.unsafe<AccessWithGrantRow>(st.selectAccessWithGrant, [tokenHash])
        const row = rows[0]
        if (row === undefined) return Option.none<AccessTokenRecord>()
        const rec = AccessTokenRows.decode(box, row)
        if (rec === undefined || isExpired(row.expires_at, now)) {
          yield* sql`DELETE FROM access_tokens WHERE token_hash = ${tokenHash} AND mac = ${row.mac}`
          if (rec === undefined) yield* unreadable("access_tokens")
          return Option.none<AccessTokenRecord>()
        }
        yield* FiberRef.set(handoff, joinedGrant(row))
        return Option.some(rec)
      },
      Effect.mapError(toStoreError("getAccessToken"))
    )

    const deleteAccessToken = fn("deleteAccessToken")(
      function* (tokenHash: string) {
        yield* sql`DELETE FROM access_tokens WHERE token_hash = ${tokenHash}`
      },
      Effect.mapError(toStoreError("deleteAccessToken"))
    )

    // -- refresh tokens ---------------------------------------------------------------------------

    const insertRefresh = (rec: RefreshTokenRecord) =>
      sql.unsafe(st.insertRefresh, [...valuesOf(RefreshTokenRows.encode(box, rec), REFRESH_COLUMNS), rec.grantId])

    const insertAccess = (rec: AccessTokenRecord) =>
      sql.unsafe(st.insertAccess, [...valuesOf(AccessTokenRows.encode(box, rec), ACCESS_COLUMNS), rec.grantId])

    const putRefreshToken = fn("putRefreshToken")(
      function* (rec: RefreshTokenRecord) {
        yield* insertRefresh(rec)
      },
      Effect.mapError(toStoreError("putRefreshToken"))
    )

    const getRefreshToken = fn("getRefreshToken")(
      function* (tokenHash: string, now: number) {
        const rows = yield* sql<StoredRefreshTokenRow>`SELECT * FROM refresh_tokens WHERE token_hash = ${tokenHash}`
        const row = rows[0]
        if (row === undefined) return Option.none<RefreshTokenRecord>()
        const rec = RefreshTokenRows.decode(box, row)
        if (rec === undefined || isExpired(row.expires_at, now)) {
          yield* sql`DELETE FROM refresh_tokens WHERE token_hash = ${tokenHash} AND mac = ${row.mac}`
          if (rec === undefined) yield* unreadable("refresh_tokens")
          return Option.none<RefreshTokenRecord>()
        }
        return row.retired === 0 ? Option.some(rec) : Option.none<RefreshTokenRecord>()
      },
      Effect.mapError(toStoreError("getRefreshToken"))
    )

    /**
     * Within a rotation's transaction: the retired `row` may be answered again (reuse grace, see
     * `RotateOptions`). Its live successor and the still valid access token, if so.
     */
    const replayOf = (row: StoredRefreshTokenRow, record: RefreshTokenRecord, next: RefreshTokenRecord, now: number, options: RotateOptions) =>
      Effect.gen(function* () {
        const grace = options.reuseGraceMs ?? 0
        const retiredAt = row.retired_at ?? null
        if (!(grace > 0) || retiredAt === null || options.clientId !== record.clientId || now - retiredAt >= grace) {
          return undefined
        }
        const rows = yield* sql<StoredRefreshTokenRow>`SELECT * FROM refresh_tokens
          WHERE token_hash = ${next.tokenHash} AND grant_id = ${record.grantId} AND retired = 0 AND expires_at > ${now}`
        const found = rows[0]
        const successor = found === undefined ? undefined : RefreshTokenRows.decode(box, found)
        if (successor === undefined) return undefined
        let access: AccessTokenRecord | undefined
        if (options.access !== undefined) {
          const accessRows = yield* sql<AccessTokenRow>`SELECT * FROM access_tokens
            WHERE token_hash = ${options.access.tokenHash} AND grant_id = ${record.grantId} AND expires_at > ${now}`
          access = accessRows[0] === undefined ? undefined : AccessTokenRows.decode(box, accessRows[0])
        }
        return { _tag: "Replayed", record, successor, access } satisfies RotateResult
      })

    const rotateRefreshToken = fn("rotateRefreshToken")(
      function* (oldHash: string, next: RefreshTokenRecord, now: number, options: RotateOptions = {}) {
        const outcome = yield* sql.withTransaction(
          Effect.gen(function* () {
            // The claim is the transaction's first statement (a write): see OAuthDatabase.
            const claimed = yield* sql<StoredRefreshTokenRow>`UPDATE refresh_tokens SET retired = 1, retired_at = ${now}
              WHERE token_hash = ${oldHash} AND retired = 0 AND expires_at > ${now} RETURNING *`
            const won = claimed[0]
            if (won !== undefined) {
              const record = RefreshTokenRows.decode(box, won)
              if (record === undefined) {
                yield* sql`DELETE FROM refresh_tokens WHERE token_hash = ${oldHash}`
                return { result: notFound as RotateResult, unreadable: true }
              }
              if (next.tokenHash !== oldHash) yield* insertRefresh(next)
              if (options.access !== undefined) yield* insertAccess(options.access)
              return { result: { _tag: "Redeemed", record } as RotateResult, unreadable: false }
            }
            const rows = yield* sql<StoredRefreshTokenRow>`SELECT * FROM refresh_tokens WHERE token_hash = ${oldHash}`
            const row = rows[0]
            if (row === undefined) return { result: notFound as RotateResult, unreadable: false }
            const record = RefreshTokenRows.decode(box, row)
            if (isExpired(row.expires_at, now) || record === undefined) {
              yield* sql`DELETE FROM refresh_tokens WHERE token_hash = ${oldHash}`
              return { result: notFound as RotateResult, unreadable: record === undefined }
            }
            if (row.retired === 0) return { result: notFound as RotateResult, unreadable: false }
            const replay = yield* replayOf(row, record, next, now, options)
            const result: RotateResult = replay ?? { _tag: "AlreadyUsed", grantId: row.grant_id, clientId: row.client_id }
            return { result, unreadable: false }
          })
        )
        if (outcome.unreadable) yield* unreadable("refresh_tokens")
        return outcome.result
      },
      Effect.mapError(toStoreError("rotateRefreshToken"))
    )

    const successorTokens = (presented: string) =>
      Effect.sync((): SuccessorTokens => ({ refresh: box.derive("refresh", presented), access: box.derive("access", presented) }))

    const deleteRefreshToken = fn("deleteRefreshToken")(
      function* (tokenHash: string) {
        yield* sql`DELETE FROM refresh_tokens WHERE token_hash = ${tokenHash}`
      },
      Effect.mapError(toStoreError("deleteRefreshToken"))
    )

    // -- sweep ------------------------------------------------------------------------------------

    const sweep = fn("sweep")(
      function* (now: number) {
        yield* forgetHandoff
        let total = 0
        for (const step of st.sweeps) {
          const params = step.params === "now"
            ? [now, batch]
            : step.params === "grants"
            ? [now, now - grace, now, now, now, batch]
            : [batch]
          // Batches: other requests get the connection (and other processes the lock) in between.
          for (;;) {
            const deleted = yield* sql.unsafe<{ id?: string }>(step.text, params)
            for (const row of deleted) if (row.id !== undefined) yield* forgetVerified(row.id)
            total += deleted.length
            if (deleted.length < batch) break
          }
        }
        if (total > 0) yield* Effect.logDebug("Swept expired OAuth state").pipe(Effect.annotateLogs({ rows: total }))
      },
      Effect.mapError(toStoreError("sweep"))
    )

    return TokenStore.of({
      putAuthRequest,
      getAuthRequest,
      updateAuthRequest,
      takeAuthRequestByUpstreamState,
      deleteAuthRequest,
      putGrant,
      getGrant,
      updateGrantUpstream,
      withGrantLock,
      revokeGrant,
      clientInUse,
      putCode,
      redeemCode,
      putAccessToken,
      getAccessToken,
      deleteAccessToken,
      putRefreshToken,
      getRefreshToken,
      rotateRefreshToken,
      successorTokens,
      deleteRefreshToken,
      sweep
    })
  })

/** The SQL store with custom limits, on whichever `OAuthDatabase` is provided. */
export const SqlTokenStoreWith = (options: SqlTokenStoreOptions): Layer.Layer<TokenStore, never, OAuthDatabase> =>
  Layer.scoped(TokenStore, makeSqlTokenStore(options))
