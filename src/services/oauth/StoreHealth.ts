import { Context } from "effect"
import type { Effect } from "effect"

export declare namespace StoreHealth {
  export interface Shape {
    /** True when the OAuth store answers now (`/health`). Never fails. */
    readonly healthy: Effect.Effect<boolean>
  }
}

/** Whether the OAuth store can be used: always in memory; a short round trip to SQLite or PostgreSQL. */
export class StoreHealth extends Context.Tag("mxcp/StoreHealth")<StoreHealth, StoreHealth.Shape>() {}
