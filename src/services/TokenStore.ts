import { Context, Schema } from "effect"
import type { Effect, Option } from "effect"
import type { UpstreamTokens } from "../domain/oauth/Identity.js"
import type {
  AccessTokenRecord,
  AuthRequestRecord,
  CodeRecord,
  GrantRecord,
  RedeemResult,
  RefreshTokenRecord
} from "../domain/oauth/Records.js"

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
    /** Revoke the grant and delete every code, access and refresh token issued under it. */
    readonly revokeGrant: (id: string) => Effect.Effect<void, StoreError>

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
     * Atomically retire `oldHash` and store `next` in its place: exactly one concurrent caller
     * gets `Redeemed` (with the old record). A retired token gives `AlreadyUsed` (reuse: the
     * caller revokes the grant); an unknown or expired one `NotFound`.
     */
    readonly rotateRefreshToken: (
      oldHash: string,
      next: RefreshTokenRecord,
      now: number
    ) => Effect.Effect<RedeemResult<RefreshTokenRecord>, StoreError>
    readonly deleteRefreshToken: (tokenHash: string) => Effect.Effect<void, StoreError>

    /** Delete everything expired (and retired entries past their expiry). */
    readonly sweep: (now: number) => Effect.Effect<void, StoreError>
  }
}

/** Persistent state of the authorization server, keyed by hashes. */
export class TokenStore extends Context.Tag("mxcp/TokenStore")<TokenStore, TokenStore.Shape>() {}
