/**
 * `TokenStore` in process memory: the default when `persistence` is not configured. Everything is
 * lost on restart (users log in again).
 *
 * Decisions:
 * - Atomicity: every operation runs as one synchronous block inside `Effect.sync`, so no other
 *   fiber can run between the check and the write. `redeemCode` and `rotateRefreshToken` are
 *   therefore exactly-once under any number of concurrent callers.
 * - A redeemed code stays as a `Used` entry (grant and client only) until its own `expiresAt`, so a
 *   replay gives `AlreadyUsed`; a rotated refresh token stays `Retired` the same way (with its
 *   record and the time of its rotation, for the reuse grace). Past expiry both are `NotFound`,
 *   like any expired entry. Expired means `now >= expiresAt`, with `now` the caller's `Clock` time.
 * - Reuse grace (`rotateRefreshToken` with `reuseGraceMs`): a retired token presented again by its
 *   own client less than the grace after its rotation, while the successor that rotation stored
 *   is still live, is `Replayed` (nothing changes); in every other case a retired token is
 *   `AlreadyUsed`. The successor is found by the hash the caller passes as `next`: the tokens of
 *   a rotation are derived from the presented token under a per-process random key
 *   (`successorTokens`), so the retry computes the same successor again.
 * - `clientInUse` is an index lookup (client id to its unrevoked grants), kept by `putGrant`,
 *   `revokeGrant` and `sweep`.
 * - `revokeGrant` marks the grant revoked and deletes its codes, access and refresh tokens (used
 *   and retired ones too) through a grantId → hashes index, in O(entries of that grant). Tokens
 *   and codes put afterwards under a grant known to be revoked are dropped: a request that
 *   redeemed a code just before a replay revoked the grant cannot resurrect it.
 * - `updateAuthRequest` of an unknown id (expired, taken, deleted) does nothing: a finished flow is
 *   never brought back.
 * - Bounded memory: pending authorization requests are created by unauthenticated callers, so
 *   they are capped (`maxPendingAuthRequests`, default 10 000). When a new one would exceed the
 *   cap, expired ones are swept first (as of the new request's `createdAt`), then the oldest are
 *   dropped (with a warning). Grants, codes and tokens exist only after an upstream login and are
 *   bounded by `sweep`, which callers run periodically.
 * - `sweep(now)` drops every expired request, code (used or not), access token and refresh token
 *   (live or retired), every revoked grant, and every grant left without a live code or token once
 *   it is older than `emptyGrantGraceMs` (default 10 minutes, longer than a code lives, so a grant
 *   is never dropped between its creation and its code's redemption).
 *
 * One concept: the `TokenStore` contract in process memory.
 */
import { randomBytes } from "node:crypto"
import { Effect, Layer, Option } from "effect"
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
import { deriveToken, TOKEN_BYTES } from "../../../domain/oauth/Tokens.js"
import { type RotateOptions, type SuccessorTokens, TokenStore } from "../../../services/oauth/TokenStore.js"
import { methodFn } from "../../server/Tracing.js"
import { EMPTY_GRANT_GRACE_MS, MAX_PENDING_AUTH_REQUESTS } from "./StoreLimits.js"

export interface TokenStoreMemoryOptions {
  /** Most pending authorization requests kept at once (default `MAX_PENDING_AUTH_REQUESTS`). */
  readonly maxPendingAuthRequests?: number
  /** See `EMPTY_GRANT_GRACE_MS`. */
  readonly emptyGrantGraceMs?: number
}

type CodeEntry =
  | { readonly _tag: "Live"; readonly record: CodeRecord }
  | { readonly _tag: "Used"; readonly grantId: string; readonly clientId: string; readonly expiresAt: number }

type RefreshEntry =
  | { readonly _tag: "Live"; readonly record: RefreshTokenRecord }
  | { readonly _tag: "Retired"; readonly record: RefreshTokenRecord; readonly retiredAt: number }

/** Hashes of everything issued under one grant. */
interface GrantEntries {
  readonly codes: Set<string>
  readonly access: Set<string>
  readonly refresh: Set<string>
}

type EntryKind = keyof GrantEntries

const isExpired = (expiresAt: number, now: number): boolean => now >= expiresAt

const entryExpiresAt = (entry: CodeEntry | RefreshEntry): number =>
  entry._tag === "Used" ? entry.expiresAt : entry.record.expiresAt

const entryGrantId = (entry: CodeEntry | RefreshEntry): string =>
  entry._tag === "Used" ? entry.grantId : entry.record.grantId

const notFound: RedeemResult<never> = { _tag: "NotFound" }

/** The store's state and its synchronous operations; each call is atomic. */
const makeState = (options: TokenStoreMemoryOptions) => {
  const maxPending = Math.max(1, options.maxPendingAuthRequests ?? MAX_PENDING_AUTH_REQUESTS)
  const grace = options.emptyGrantGraceMs ?? EMPTY_GRANT_GRACE_MS

  /** Insertion order = creation order: the first entry is the oldest. */
  const authRequests = new Map<string, AuthRequestRecord>()
  const byUpstreamState = new Map<string, string>()
  const grants = new Map<string, GrantRecord>()
  const codes = new Map<string, CodeEntry>()
  const accessTokens = new Map<string, AccessTokenRecord>()
  const refreshTokens = new Map<string, RefreshEntry>()
  const byGrant = new Map<string, GrantEntries>()
  /** Client id → ids of its grants that are not revoked. */
  const liveGrantsOf = new Map<string, Set<string>>()

  // -- grant index ------------------------------------------------------------------------------

  const index = (grantId: string, kind: EntryKind, hash: string): void => {
    let entries = byGrant.get(grantId)
    if (entries === undefined) {
      entries = { codes: new Set(), access: new Set(), refresh: new Set() }
      byGrant.set(grantId, entries)
    }
    entries[kind].add(hash)
  }

  const unindex = (grantId: string, kind: EntryKind, hash: string): void => {
    const entries = byGrant.get(grantId)
    if (entries === undefined) return
    entries[kind].delete(hash)
    if (entries.codes.size === 0 && entries.access.size === 0 && entries.refresh.size === 0) {
      byGrant.delete(grantId)
    }
  }

  const isRevoked = (grantId: string): boolean => grants.get(grantId)?.revoked === true

  const unindexGrant = (grant: GrantRecord | undefined): void => {
    if (grant === undefined) return
    const ids = liveGrantsOf.get(grant.clientId)
    if (ids === undefined) return
    ids.delete(grant.id)
    if (ids.size === 0) liveGrantsOf.delete(grant.clientId)
  }

  /** Store `grant` (replacing an earlier version) and keep the client index in step. */
  const setGrant = (grant: GrantRecord): void => {
    unindexGrant(grants.get(grant.id))
    grants.set(grant.id, grant)
    if (grant.revoked) return
    let ids = liveGrantsOf.get(grant.clientId)
    if (ids === undefined) {
      ids = new Set()
      liveGrantsOf.set(grant.clientId, ids)
    }
    ids.add(grant.id)
  }

  const deleteGrant = (id: string): void => {
    unindexGrant(grants.get(id))
    grants.delete(id)
  }

  // -- authorization requests ---------------------------------------------------------------------

  const removeAuthRequest = (id: string): AuthRequestRecord | undefined => {
    const rec = authRequests.get(id)
    if (rec === undefined) return undefined
    authRequests.delete(id)
    if (rec.upstreamStateHash !== undefined && byUpstreamState.get(rec.upstreamStateHash) === id) {
      byUpstreamState.delete(rec.upstreamStateHash)
    }
    return rec
  }

  const storeAuthRequest = (rec: AuthRequestRecord): void => {
    const previous = authRequests.get(rec.id)
    if (
      previous?.upstreamStateHash !== undefined && previous.upstreamStateHash !== rec.upstreamStateHash &&
      byUpstreamState.get(previous.upstreamStateHash) === rec.id
    ) {
      byUpstreamState.delete(previous.upstreamStateHash)
    }
    authRequests.set(rec.id, rec)
    if (rec.upstreamStateHash !== undefined) byUpstreamState.set(rec.upstreamStateHash, rec.id)
  }

  const sweepAuthRequests = (now: number): void => {
    for (const [id, rec] of authRequests) {
      if (isExpired(rec.expiresAt, now)) removeAuthRequest(id)
    }
  }

  /** Stores the request; returns how many unexpired requests were dropped to respect the cap. */
  const putAuthRequest = (rec: AuthRequestRecord): number => {
    let dropped = 0
    if (!authRequests.has(rec.id) && authRequests.size >= maxPending) {
      sweepAuthRequests(rec.createdAt)
      while (authRequests.size >= maxPending) {
        const oldest = authRequests.keys().next()
        if (oldest.done === true) break
        removeAuthRequest(oldest.value)
        dropped++
      }
    }
    storeAuthRequest(rec)
    return dropped
  }

  const getAuthRequest = (id: string, now: number): Option.Option<AuthRequestRecord> => {
    const rec = authRequests.get(id)
    if (rec === undefined) return Option.none()
    if (isExpired(rec.expiresAt, now)) {
      removeAuthRequest(id)
      return Option.none()
    }
    return Option.some(rec)
  }

  const updateAuthRequest = (rec: AuthRequestRecord): void => {
    if (authRequests.has(rec.id)) storeAuthRequest(rec)
  }

  const takeAuthRequestByUpstreamState = (stateHash: string, now: number): Option.Option<AuthRequestRecord> => {
    const id = byUpstreamState.get(stateHash)
    if (id === undefined) return Option.none()
    byUpstreamState.delete(stateHash)
    const rec = authRequests.get(id)
    if (rec === undefined || rec.upstreamStateHash !== stateHash) return Option.none()
    removeAuthRequest(id)
    return isExpired(rec.expiresAt, now) ? Option.none() : Option.some(rec)
  }

  // -- grants -------------------------------------------------------------------------------------

  const updateGrantUpstream = (id: string, upstream: UpstreamTokens): void => {
    const grant = grants.get(id)
    if (grant !== undefined) setGrant({ ...grant, upstream })
  }

  const revokeGrant = (id: string): void => {
    const grant = grants.get(id)
    if (grant !== undefined) setGrant({ ...grant, revoked: true })
    const entries = byGrant.get(id)
    if (entries === undefined) return
    for (const hash of entries.codes) codes.delete(hash)
    for (const hash of entries.access) accessTokens.delete(hash)
    for (const hash of entries.refresh) refreshTokens.delete(hash)
    byGrant.delete(id)
  }

  /** A live code, access token or refresh token remains under the grant (call after expiring). */
  const hasLiveEntries = (grantId: string): boolean => {
    const entries = byGrant.get(grantId)
    if (entries === undefined) return false
    if (entries.access.size > 0) return true
    for (const hash of entries.codes) if (codes.get(hash)?._tag === "Live") return true
    for (const hash of entries.refresh) if (refreshTokens.get(hash)?._tag === "Live") return true
    return false
  }

  // -- codes --------------------------------------------------------------------------------------

  const deleteCode = (hash: string): void => {
    const entry = codes.get(hash)
    if (entry === undefined) return
    codes.delete(hash)
    unindex(entryGrantId(entry), "codes", hash)
  }

  const putCode = (rec: CodeRecord): void => {
    if (isRevoked(rec.grantId)) return
    deleteCode(rec.codeHash)
    codes.set(rec.codeHash, { _tag: "Live", record: rec })
    index(rec.grantId, "codes", rec.codeHash)
  }

  const redeemCode = (hash: string, now: number): RedeemResult<CodeRecord> => {
    const entry = codes.get(hash)
    if (entry === undefined) return notFound
    if (isExpired(entryExpiresAt(entry), now)) {
      deleteCode(hash)
      return notFound
    }
    if (entry._tag === "Used") return { _tag: "AlreadyUsed", grantId: entry.grantId, clientId: entry.clientId }
    const { clientId, expiresAt, grantId } = entry.record
    codes.set(hash, { _tag: "Used", grantId, clientId, expiresAt })
    return { _tag: "Redeemed", record: entry.record }
  }

  // -- access tokens ------------------------------------------------------------------------------

  const deleteAccessToken = (hash: string): void => {
    const rec = accessTokens.get(hash)
    if (rec === undefined) return
    accessTokens.delete(hash)
    unindex(rec.grantId, "access", hash)
  }

  const putAccessToken = (rec: AccessTokenRecord): void => {
    if (isRevoked(rec.grantId)) return
    deleteAccessToken(rec.tokenHash)
    accessTokens.set(rec.tokenHash, rec)
    index(rec.grantId, "access", rec.tokenHash)
  }

  const getAccessToken = (hash: string, now: number): Option.Option<AccessTokenRecord> => {
    const rec = accessTokens.get(hash)
    if (rec === undefined) return Option.none()
    if (isExpired(rec.expiresAt, now)) {
      deleteAccessToken(hash)
      return Option.none()
    }
    return Option.some(rec)
  }

  // -- refresh tokens -----------------------------------------------------------------------------

  const deleteRefreshToken = (hash: string): void => {
    const entry = refreshTokens.get(hash)
    if (entry === undefined) return
    refreshTokens.delete(hash)
    unindex(entryGrantId(entry), "refresh", hash)
  }

  const putRefreshToken = (rec: RefreshTokenRecord): void => {
    if (isRevoked(rec.grantId)) return
    deleteRefreshToken(rec.tokenHash)
    refreshTokens.set(rec.tokenHash, { _tag: "Live", record: rec })
    index(rec.grantId, "refresh", rec.tokenHash)
  }

  const getRefreshToken = (hash: string, now: number): Option.Option<RefreshTokenRecord> => {
    const entry = refreshTokens.get(hash)
    if (entry === undefined) return Option.none()
    if (isExpired(entryExpiresAt(entry), now)) {
      deleteRefreshToken(hash)
      return Option.none()
    }
    return entry._tag === "Live" ? Option.some(entry.record) : Option.none()
  }

  /** The retired `entry` may be answered again (see the header): its live successor, if so. */
  const replayable = (
    entry: Extract<RefreshEntry, { _tag: "Retired" }>,
    next: RefreshTokenRecord,
    now: number,
    options: RotateOptions
  ): RefreshTokenRecord | undefined => {
    const grace = options.reuseGraceMs ?? 0
    if (!(grace > 0) || options.clientId !== entry.record.clientId || now - entry.retiredAt >= grace) return undefined
    const successor = refreshTokens.get(next.tokenHash)
    if (successor?._tag !== "Live" || isExpired(successor.record.expiresAt, now)) return undefined
    return successor.record.grantId === entry.record.grantId ? successor.record : undefined
  }

  const rotateRefreshToken = (
    oldHash: string,
    next: RefreshTokenRecord,
    now: number,
    options: RotateOptions
  ): RotateResult => {
    const entry = refreshTokens.get(oldHash)
    if (entry === undefined) return notFound
    if (isExpired(entryExpiresAt(entry), now)) {
      deleteRefreshToken(oldHash)
      return notFound
    }
    if (entry._tag === "Retired") {
      const successor = replayable(entry, next, now, options)
      if (successor === undefined) {
        return { _tag: "AlreadyUsed", grantId: entry.record.grantId, clientId: entry.record.clientId }
      }
      const access = options.access === undefined ? Option.none() : getAccessToken(options.access.tokenHash, now)
      return {
        _tag: "Replayed",
        record: entry.record,
        successor,
        access: Option.getOrUndefined(Option.filter(access, (a) => a.grantId === entry.record.grantId))
      }
    }
    refreshTokens.set(oldHash, { _tag: "Retired", record: entry.record, retiredAt: now })
    if (next.tokenHash !== oldHash) putRefreshToken(next)
    if (options.access !== undefined) putAccessToken(options.access)
    return { _tag: "Redeemed", record: entry.record }
  }

  // -- sweep --------------------------------------------------------------------------------------

  const sweep = (now: number): void => {
    sweepAuthRequests(now)
    for (const [hash, entry] of codes) {
      if (isExpired(entryExpiresAt(entry), now)) deleteCode(hash)
    }
    for (const [hash, rec] of accessTokens) {
      if (isExpired(rec.expiresAt, now)) deleteAccessToken(hash)
    }
    for (const [hash, entry] of refreshTokens) {
      if (isExpired(entryExpiresAt(entry), now)) deleteRefreshToken(hash)
    }
    for (const [id, grant] of grants) {
      if (grant.revoked || (now - grant.createdAt >= grace && !hasLiveEntries(id))) deleteGrant(id)
    }
  }

  return {
    maxPending,
    putAuthRequest,
    getAuthRequest,
    updateAuthRequest,
    takeAuthRequestByUpstreamState,
    deleteAuthRequest: (id: string): void => void removeAuthRequest(id),
    putGrant: setGrant,
    clientInUse: (clientId: string): boolean => liveGrantsOf.has(clientId),
    getGrant: (id: string): Option.Option<GrantRecord> => Option.fromNullable(grants.get(id)),
    updateGrantUpstream,
    revokeGrant,
    putCode,
    redeemCode,
    putAccessToken,
    getAccessToken,
    deleteAccessToken,
    putRefreshToken,
    getRefreshToken,
    rotateRefreshToken,
    deleteRefreshToken,
    sweep
  }
}

/** A fresh, empty in-memory store. */
export const makeTokenStoreMemory = (options: TokenStoreMemoryOptions = {}): Effect.Effect<TokenStore.Shape> =>
  Effect.gen(function* () {
    const fn = yield* methodFn
    const s = makeState(options)
    /** Key of `successorTokens`: per process, like everything else in this store. */
    const rotationKey = yield* Effect.sync(() => randomBytes(TOKEN_BYTES))
    return TokenStore.of({
      putAuthRequest: fn("TokenStoreMemory.putAuthRequest")(function*(rec: AuthRequestRecord) {
        const dropped = s.putAuthRequest(rec)
        if (dropped > 0) {
          yield* Effect.logWarning("pending authorization requests at their cap: dropped the oldest").pipe(
            Effect.annotateLogs({ dropped, cap: s.maxPending })
          )
        }
      }),
      getAuthRequest: fn("TokenStoreMemory.getAuthRequest")((id: string, now: number) =>
        Effect.sync(() => s.getAuthRequest(id, now))
      ),
      updateAuthRequest: fn("TokenStoreMemory.updateAuthRequest")((rec: AuthRequestRecord) =>
        Effect.sync(() => s.updateAuthRequest(rec))
      ),
      takeAuthRequestByUpstreamState: fn("TokenStoreMemory.takeAuthRequestByUpstreamState")(
        (stateHash: string, now: number) => Effect.sync(() => s.takeAuthRequestByUpstreamState(stateHash, now))
      ),
      deleteAuthRequest: fn("TokenStoreMemory.deleteAuthRequest")((id: string) =>
        Effect.sync(() => s.deleteAuthRequest(id))
      ),
      putGrant: fn("TokenStoreMemory.putGrant")((grant: GrantRecord) => Effect.sync(() => s.putGrant(grant))),
      getGrant: fn("TokenStoreMemory.getGrant")((id: string) => Effect.sync(() => s.getGrant(id))),
      updateGrantUpstream: fn("TokenStoreMemory.updateGrantUpstream")((id: string, upstream: UpstreamTokens) =>
        Effect.sync(() => s.updateGrantUpstream(id, upstream))
      ),
      // One process: the caller's in-process single flight is all the exclusion there is to have.
      withGrantLock: (_grantId, use) => use,
      revokeGrant: fn("TokenStoreMemory.revokeGrant")((id: string) => Effect.sync(() => s.revokeGrant(id))),
      clientInUse: fn("TokenStoreMemory.clientInUse")((clientId: string) => Effect.sync(() => s.clientInUse(clientId))),
      putCode: fn("TokenStoreMemory.putCode")((code: CodeRecord) => Effect.sync(() => s.putCode(code))),
      redeemCode: fn("TokenStoreMemory.redeemCode")((codeHash: string, now: number) =>
        Effect.sync(() => s.redeemCode(codeHash, now))
      ),
      putAccessToken: fn("TokenStoreMemory.putAccessToken")((rec: AccessTokenRecord) =>
        Effect.sync(() => s.putAccessToken(rec))
      ),
      getAccessToken: fn("TokenStoreMemory.getAccessToken")((tokenHash: string, now: number) =>
        Effect.sync(() => s.getAccessToken(tokenHash, now))
      ),
      deleteAccessToken: fn("TokenStoreMemory.deleteAccessToken")((tokenHash: string) =>
        Effect.sync(() => s.deleteAccessToken(tokenHash))
      ),
      putRefreshToken: fn("TokenStoreMemory.putRefreshToken")((rec: RefreshTokenRecord) =>
        Effect.sync(() => s.putRefreshToken(rec))
      ),
      getRefreshToken: fn("TokenStoreMemory.getRefreshToken")((tokenHash: string, now: number) =>
        Effect.sync(() => s.getRefreshToken(tokenHash, now))
      ),
      rotateRefreshToken: fn("TokenStoreMemory.rotateRefreshToken")(
        (oldHash: string, next: RefreshTokenRecord, now: number, rotate: RotateOptions = {}) =>
          Effect.sync(() => s.rotateRefreshToken(oldHash, next, now, rotate))
      ),
      successorTokens: (presented: string) =>
        Effect.sync((): SuccessorTokens => ({
          refresh: deriveToken(rotationKey, "refresh", presented),
          access: deriveToken(rotationKey, "access", presented)
        })),
      deleteRefreshToken: fn("TokenStoreMemory.deleteRefreshToken")((tokenHash: string) =>
        Effect.sync(() => s.deleteRefreshToken(tokenHash))
      ),
      sweep: fn("TokenStoreMemory.sweep")((now: number) => Effect.sync(() => s.sweep(now)))
    })
  })

/** The in-memory store with a custom pending-request cap or grant grace period (tests, embedding). */
export const TokenStoreMemoryWith = (options: TokenStoreMemoryOptions): Layer.Layer<TokenStore> =>
  Layer.effect(TokenStore, makeTokenStoreMemory(options))

/** The in-memory store with the default limits. */
export const TokenStoreMemory: Layer.Layer<TokenStore> = TokenStoreMemoryWith({})
