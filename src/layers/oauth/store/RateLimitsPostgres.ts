/**
 * `RateLimits` in PostgreSQL (with `auth.persistence.type: postgres`): every instance counts in
 * the same windows (table `rate_windows`, migration 3), so a limit per client address holds for
 * the whole deployment instead of once per instance.
 *
 * Decisions:
 * - `hit` is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`: the database starts a new
 *   window or counts one more in the current one, and the count it returns is exact however many
 *   instances count at once. A window starts at its key's first request, as in memory.
 * - `blocked` makes no round trip (it runs before the token lookup of every `/mcp` request): it
 *   knows the keys this process has seen reach the limit, until their window ends. A key that
 *   reached the limit through other instances is learnt at its next counted request here, which
 *   is then refused (`hit` returns a wait), so no more than the limit is ever let through in total.
 * - Windows that are over are deleted every minute (and ignored before that).
 * - The store unreachable: `hit` fails with `StoreError`; the endpoints answer 503.
 */
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { type RateLimit, RateLimits } from "../../../services/server/RateLimits.js"
import { OAuthDatabase, toStoreError } from "./OAuthDatabase.js"

/** Most keys remembered as blocked per limit (oldest forgotten first). */
const MAX_KNOWN = 50_000

const SWEEP_EVERY = Duration.minutes(1)

const off: RateLimit = { hit: () => Effect.succeed(undefined), blocked: () => undefined, idle: () => true }

export const RateLimitsPostgres: Layer.Layer<RateLimits, never, OAuthDatabase> = Layer.scoped(
  RateLimits,
  Effect.gen(function* () {
    const { sql } = yield* OAuthDatabase
    let longestWindowMs = 60_000

    yield* Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      yield* sql`DELETE FROM rate_windows WHERE started_at <= ${now - longestWindowMs}`
    }).pipe(
      Effect.catchAll((e) => Effect.logWarning(`Rate-limit sweep failed: ${e.message}`)),
      Effect.repeat(Schedule.spaced(SWEEP_EVERY)),
      Effect.forkScoped
    )

    const make = (name: string, options: { readonly limit: number; readonly windowMs: number }) =>
      Effect.sync((): RateLimit => {
        const { limit, windowMs } = options
        if (!(limit > 0)) return off
        longestWindowMs = Math.max(longestWindowMs, windowMs)
        /** Keys seen at the limit, with the end of their window; insertion order = oldest first. */
        const known = new Map<string, number>()
        const waitUntil = (end: number, now: number) => Math.max(1, Math.ceil((end - now) / 1000))
        const remember = (key: string, end: number) => {
          known.delete(key)
          known.set(key, end)
          while (known.size > MAX_KNOWN) {
            const oldest = known.keys().next()
            if (oldest.done === true) break
            known.delete(oldest.value)
          }
        }
        const hit = (key: string, now: number) =>
          sql<{ started_at: number; count: number }>`INSERT INTO rate_windows AS w (limiter, address, started_at, count)
            VALUES (${name}, ${key}, ${now}, 1)
            ON CONFLICT (limiter, address) DO UPDATE SET
              started_at = CASE WHEN w.started_at <= ${now - windowMs} THEN ${now} ELSE w.started_at END,
              count = CASE WHEN w.started_at <= ${now - windowMs} THEN 1 ELSE w.count + 1 END
            RETURNING started_at, count`.pipe(
            Effect.map((rows) => {
              const row = rows[0]
              if (row === undefined) return undefined
              const end = row.started_at + windowMs
              if (row.count >= limit) remember(key, end)
              return row.count > limit ? waitUntil(end, now) : undefined
            }),
            Effect.mapError(toStoreError("rateLimit"))
          )
        const blocked = (key: string, now: number) => {
          const end = known.get(key)
          if (end === undefined) return undefined
          if (end <= now) {
            known.delete(key)
            return undefined
          }
          return waitUntil(end, now)
        }
        return { hit, blocked, idle: () => known.size === 0 }
      })

    return RateLimits.of({ make })
  })
)
