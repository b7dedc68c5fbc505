import { Context, Schema } from "effect"
import type { Effect, Option } from "effect"
import type { UpstreamTokens } from "../../domain/oauth/Identity.js"
import type {
  AccessTokenRecord,
  AuthRequestRecord,
  CodeRecord,
  GrantRecord,
  RedeemResult,
  RefreshTokenRecord,
  RotateResult
} from "../../domain/oauth/Records.js"

/** Options of `TokenStore.rotateRefreshToken`. */
export interface RotateOptions {
  /** The successor's access token: stored in the same atomic step as the rotation (`Redeemed` only). */
  readonly access?: AccessTokenRecord | undefined
  /**
   * The reuse grace (RFC 9700 4.14 leaves room for one): a retired `oldHash` presented again by
   * the client it belongs to (`clientId`), less than `reuseGraceMs` after its rotation, while the
   * successor that rotation stored (`next.tokenHash`) is still live and unused, is `Replayed`
   * rather than `AlreadyUsed`. 0 or absent: never replayed.
   */
  readonly reuseGraceMs?: number | undefined
  readonly clientId?: string | undefined
}

/** The tokens a rotation of a given refresh token hands out (see `successorTokens`). */
export interface SuccessorTokens {
  readonly refresh: string
  readonly access: string
}

/** The store could not be read or written (disk, lock, corrupt row). Never a 500 with details. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  message: Schema.String
}) {}

export declare namespace TokenStore {
  export interface Shape {
    // Pending authorization requests (consent, then upstream login).
    readonly putAuthRequest: (rec: AuthRequestRecord) => Effect.Effect<void, StoreError>
    /** Unexpired request by id, else None. */
    readonly getAuthRequest: (id: string, now: number) => Effect.Effect<Option.Option<AuthRequestRecord>, StoreError>
    readonly updateAuthRequest: (rec: AuthRequestRecord) => Effect.Effect<void, StoreError>
    /**
     * Atomically remove and return the unexpired request whose upstream state hash matches:
     * the upstream `state` is single use, so a second callback finds nothing.
     */
    readonly takeAuthRequestByUpstreamState: (
      stateHash: string,
      now: number
    ) => Effect.Effect<Option.Option<AuthRequestRecord>, StoreError>
    readonly deleteAuthRequest: (id: string) => Effect.Effect<void, StoreError>

    // Grants (one per completed login).
    readonly putGrant: (grant: GrantRecord) => Effect.Effect<void, StoreError>
    /** The grant, revoked or not (callers check `revoked`). */
    readonly getGrant: (id: string) => Effect.Effect<Option.Option<GrantRecord>, StoreError>
    readonly updateGrantUpstream: (id: string, upstream: UpstreamTokens) => Effect.Effect<void, StoreError>
    /**
     * Run `use` holding the grant's refresh lock: exclusive across every process sharing the
     * store, so one of them refreshes a grant's upstream token while the others wait and then
     * read what it stored (checklist E43 across instances). PostgreSQL: a row lock held in a
     * transaction that `use`'s own store calls join. Memory and SQLite: no lock beyond the
     * caller's in-process single flight.
     */
    readonly withGrantLock: <A, E, R>(grantId: string, use: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreError, R>
    /** Revoke the grant and delete every code, access and refresh token issued under it. */
    readonly revokeGrant: (id: string) => Effect.Effect<void, StoreError>
    /**
     * The client has a grant that is not revoked (a session, or a login between the upstream
     * callback and the code exchange): such a client is never evicted from the registry.
     */
    readonly clientInUse: (clientId: string) => Effect.Effect<boolean, StoreError>

    // Authorization codes.
    readonly putCode: (code: CodeRecord) => Effect.Effect<void, StoreError>
    /**
     * Atomically redeem a code: exactly one concurrent caller gets `Redeemed`. A code that was
     * already redeemed gives `AlreadyUsed` (for replay revocation) until it would have expired.
     * An expired code is `NotFound`.
     */
    readonly redeemCode: (codeHash: string, now: number) => Effect.Effect<RedeemResult<CodeRecord>, StoreError>

    // Access tokens.
    readonly putAccessToken: (rec: AccessTokenRecord) => Effect.Effect<void, StoreError>
    /** Unexpired token by hash, else None. */
    readonly getAccessToken: (
      tokenHash: string,
      now: number
    ) => Effect.Effect<Option.Option<AccessTokenRecord>, StoreError>
    readonly deleteAccessToken: (tokenHash: string) => Effect.Effect<void, StoreError>

    // Refresh tokens.
    readonly putRefreshToken: (rec: RefreshTokenRecord) => Effect.Effect<void, StoreError>
    readonly getRefreshToken: (
      tokenHash: string,
      now: number
    ) => Effect.Effect<Option.Option<RefreshTokenRecord>, StoreError>
    /**
     * Atomically retire `oldHash` and store `next` (and `options.access`) in its place: exactly
     * one concurrent caller gets `Redeemed` (with the old record). A retired token gives
     * `AlreadyUsed` (reuse: the caller revokes the grant), or `Replayed` within the reuse grace
     * (see `RotateOptions`; nothing is written then); an unknown or expired one `NotFound`.
     */
    readonly rotateRefreshToken: (
      oldHash: string,
      next: RefreshTokenRecord,
      now: number,
      options?: RotateOptions
    ) => Effect.Effect<RotateResult, StoreError>
    /**
     * The refresh and access tokens that rotating the refresh token `presented` hands out:
     * derived from it under the store's secret key (HMAC-SHA256), never stored (only their
     * hashes are, by `rotateRefreshToken`). The same `presented` always gives the same pair, in
     * every process sharing the store, so a retried rotation can be answered with the very tokens
     * whose answer was lost; without the key they cannot be computed from `presented`.
     */
    readonly successorTokens: (presented: string) => Effect.Effect<SuccessorTokens>
    readonly deleteRefreshToken: (tokenHash: string) => Effect.Effect<void, StoreError>

    /** Delete everything expired (and retired entries past their expiry). */
    readonly sweep: (now: number) => Effect.Effect<void, StoreError>
  }
}

/** Persistent state of the authorization server, keyed by hashes. */
export class TokenStore extends Context.Tag("mxcp/TokenStore")<TokenStore, TokenStore.Shape>() {}
