/**
 * A fixed-window counter per key (client address), bounded in memory. Returns the seconds to
 * wait when the key is over its limit, else undefined.
 */
export interface RateLimiter {
  readonly hit: (key: string, now: number) => number | undefined
}

export const makeRateLimiter = (options: { readonly limit: number; readonly windowMs: number; readonly maxKeys?: number }): RateLimiter => {
  const windows = new Map<string, { start: number; count: number }>()
  const maxKeys = options.maxKeys ?? 50_000
  return {
    hit: (key, now) => {
      let w = windows.get(key)
      if (w === undefined || now - w.start >= options.windowMs) {
        if (w === undefined && windows.size >= maxKeys) {
          for (const [k, v] of windows) if (now - v.start >= options.windowMs) windows.delete(k)
          if (windows.size >= maxKeys) {
            const oldest = windows.keys().next().value
            if (oldest !== undefined) windows.delete(oldest)
          }
        }
        w = { start: now, count: 0 }
        windows.set(key, w)
      }
      w.count++
      if (w.count <= options.limit) return undefined
      return Math.max(1, Math.ceil((w.start + options.windowMs - now) / 1000))
    }
  }
}
