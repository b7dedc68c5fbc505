// Hand-written on purpose: @effect/experimental's RateLimiter cannot tell whether a key is blocked
// without counting a hit, and the failed-bearer limit counts failures only (`blocked`, then `hit`).
/**
 * A fixed-window counter per key (a client address), bounded in memory.
 *
 * Each key's window starts at its first request and lasts `windowMs`. A key whose window is
 * over starts a new one; at `maxKeys` live windows, the oldest window is dropped to make room
 * (so memory stays bounded under a flood of distinct addresses, at the cost of forgetting the
 * oldest counts first). Times are passed in, so the caller decides the clock (Effect's `Clock`,
 * which tests replace with `TestClock`).
 */
export interface RateLimiter {
  /** Counts one request; the seconds to wait when this one is over the limit, else undefined. */
  readonly hit: (key: string, now: number) => number | undefined
  /**
   * Without counting: the seconds to wait when the key has already used up its window, else
   * undefined. With `check` before and `hit` after, only some requests (failures) are counted.
   */
  readonly blocked: (key: string, now: number) => number | undefined
  /** Keys currently held (0 means nothing is counted: `blocked` can be skipped). */
  readonly size: () => number
}

export interface RateLimiterOptions {
  /** Requests per window and key; 0 (or less) turns the limiter off. */
  readonly limit: number
  readonly windowMs: number
  /** Most keys held at once (default 50,000). */
  readonly maxKeys?: number | undefined
}

interface Window {
  readonly start: number
  count: number
}

const off: RateLimiter = { hit: () => undefined, blocked: () => undefined, size: () => 0 }

export const makeRateLimiter = (options: RateLimiterOptions): RateLimiter => {
  if (!(options.limit > 0)) return off
  const { limit, windowMs } = options
  const maxKeys = Math.max(1, options.maxKeys ?? 50_000)
  // Insertion order is window-start order (a renewed window is deleted and re-inserted), so the
  // expired windows are always at the front of the map.
  const windows = new Map<string, Window>()
  const waitFor = (w: Window, now: number) => Math.max(1, Math.ceil((w.start + windowMs - now) / 1000))
  const live = (key: string, now: number): Window | undefined => {
    const w = windows.get(key)
    return w !== undefined && now - w.start < windowMs ? w : undefined
  }
  const evict = (now: number) => {
    for (const [k, w] of windows) {
      if (now - w.start < windowMs && windows.size < maxKeys) break
      windows.delete(k)
    }
  }
  return {
    hit: (key, now) => {
      let w = live(key, now)
      if (w === undefined) {
        windows.delete(key)
        evict(now)
        w = { start: now, count: 0 }
        windows.set(key, w)
      }
      w.count++
      return w.count <= limit ? undefined : waitFor(w, now)
    },
    blocked: (key, now) => {
      const w = windows.get(key)
      if (w === undefined) return undefined
      if (now - w.start >= windowMs) {
        // Over: forget it, so that a quiet limiter is empty again (`size() === 0`).
        windows.delete(key)
        return undefined
      }
      return w.count >= limit ? waitFor(w, now) : undefined
    },
    size: () => windows.size
  }
}
