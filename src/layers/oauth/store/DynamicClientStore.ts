/**
 * The storage of dynamically registered clients behind `ClientRegistry` (RFC 7591), and the limits
 * its `insert` keeps: `DynamicClientStoreMemory` or `DynamicClientStoreSqlite` implement it.
 */
import type { Effect, Option } from "effect"
import type { OAuthClient } from "../../../domain/oauth/Records.js"
import type { StoreError } from "../../../services/oauth/TokenStore.js"

/** The limits `DynamicClientStore.insert` enforces. */
export interface InsertLimits {
  /** Most dynamic clients stored, the new one included. */
  readonly max: number
  /** Only clients created at or before this time (and not in use) may be evicted to make room. */
  readonly evictCreatedBefore: number
}

export type InsertOutcome =
  | { readonly _tag: "Inserted"; readonly evicted: number }
  /** Nothing stored. `oldestUnusedCreatedAt`: creation time of the oldest client not in use, if any. */
  | { readonly _tag: "Full"; readonly oldestUnusedCreatedAt: number | undefined }

/**
 * Storage of dynamically registered clients. "In use" means: the client has an unrevoked grant;
 * a client in use is never deleted by `deleteOldestUnused` or `insert`.
 */
export interface DynamicClientStore {
  readonly get: (clientId: string) => Effect.Effect<Option.Option<OAuthClient>, StoreError>
  /** Insert or replace by `clientId`, without any limit (seeding, tests); the registry uses `insert`. */
  readonly put: (client: OAuthClient) => Effect.Effect<void, StoreError>
  readonly count: Effect.Effect<number, StoreError>
  /** Delete the oldest client created at or before `createdBefore` that is not in use; true when one was deleted. */
  readonly deleteOldestUnused: (createdBefore: number) => Effect.Effect<boolean, StoreError>
  /**
   * Store a new client (its id unused) so that at most `limits.max` clients are stored, in one
   * atomic step that concurrent callers (and other processes sharing the store) cannot interleave
   * with: when full, evict the oldest clients not in use created at or before
   * `limits.evictCreatedBefore`; when that does not make room, store nothing (`Full`).
   */
  readonly insert: (client: OAuthClient, limits: InsertLimits) => Effect.Effect<InsertOutcome, StoreError>
}
