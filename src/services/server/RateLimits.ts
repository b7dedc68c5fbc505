import { Context } from "effect"
import type { Effect } from "effect"
import type { StoreError } from "../oauth/TokenStore.js"

/**
 * One named limit (`/token`, failed bearer attempts...): fixed one-window counts per client
 * address. Times are passed in, so the caller decides the clock (Effect's `Clock`).
 */
export interface RateLimit {
  /**
   * Counts one request from `key`: the seconds to wait when this request is over the limit, else
   * undefined. Fails only when the shared store cannot be reached (PostgreSQL).
   */
  readonly hit: (key: string, now: number) => Effect.Effect<number | undefined, StoreError>
  /**
   * Without counting and without a round trip: the seconds to wait when `key` is known to have
   * used up its window (with a shared store: known from this process's own counts), else
   * undefined. With `blocked` before and `hit` after, only some requests (failures) count.
   */
  readonly blocked: (key: string, now: number) => number | undefined
  /** Nothing is known to be blocked: `blocked` (and working out the client address) can be skipped. */
  readonly idle: () => boolean
}

export interface RateLimitOptions {
  /** Requests per window and key; 0 (or less) turns the limit off. */
  readonly limit: number
  readonly windowMs: number
}

export declare namespace RateLimits {
  export interface Shape {
    /** The limit called `name` (one count per name and key, for every process sharing the store). */
    readonly make: (name: string, options: RateLimitOptions) => Effect.Effect<RateLimit>
  }
}

/**
 * Where rate-limit windows are counted: in this process's memory (`RateLimitsMemory`), or in
 * PostgreSQL for every instance at once (`RateLimitsPostgres`). The HTTP code sees one interface.
 */
export class RateLimits extends Context.Tag("mxcp/RateLimits")<RateLimits, RateLimits.Shape>() {}
