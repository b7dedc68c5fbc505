/**
 * `RateLimits` in this process's memory: each limit is the bounded fixed-window counter of
 * `http/server/RateLimiter.ts` (at most 50,000 addresses per limit, oldest forgotten first). The
 * windows start over at a restart, and every process counts on its own.
 */
import { Effect, Layer } from "effect"
import { makeRateLimiter } from "../../http/server/RateLimiter.js"
import { type RateLimit, RateLimits } from "../../services/server/RateLimits.js"

export const RateLimitsMemory: Layer.Layer<RateLimits> = Layer.succeed(
  RateLimits,
  RateLimits.of({
    make: (_name, options) =>
      Effect.sync((): RateLimit => {
        const limiter = makeRateLimiter(options)
        return {
          hit: (key, now) => Effect.sync(() => limiter.hit(key, now)),
          blocked: (key, now) => limiter.blocked(key, now),
          idle: () => limiter.size() === 0
        }
      })
  })
)
