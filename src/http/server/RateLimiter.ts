import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"

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

/** The canonical dotted form of an IPv4 address (`a.b.c.d`, decimal), or undefined. */
const ipv4Of = (text: string): string | undefined => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (m === null) return undefined
  const octets = m.slice(1).map(Number)
  return octets.every((o) => o <= 255) ? octets.join(".") : undefined
}

/** The eight 16-bit groups of an IPv6 address (`::` and a dotted IPv4 tail allowed), or undefined. */
const ipv6GroupsOf = (text: string): ReadonlyArray<number> | undefined => {
  const parts = (half: string): Array<number> | undefined => {
    if (half === "") return []
    const out: Array<number> = []
    const pieces = half.split(":")
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] ?? ""
      const v4 = i === pieces.length - 1 ? ipv4Of(piece) : undefined
      if (v4 !== undefined) {
        const [a = 0, b = 0, c = 0, d = 0] = v4.split(".").map(Number)
        out.push(a * 256 + b, c * 256 + d)
      } else if (/^[0-9a-f]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16))
      } else {
        return undefined
      }
    }
    return out
  }
  const gap = text.indexOf("::")
  if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) return undefined
  const head = parts(gap < 0 ? text : text.slice(0, gap))
  const tail = gap < 0 ? [] : parts(text.slice(gap + 2))
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (gap < 0 ? missing !== 0 : missing < 1) return undefined
  return [...head, ...Array<number>(Math.max(0, missing)).fill(0), ...tail]
}

/**
 * The key for an address, the same in every rate limiter: IPv4 by address; IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`, in any spelling) as that IPv4 address; any other IPv6 address by its /64
 * prefix (one customer commonly holds a whole /64, so counting single IPv6 addresses would be no
 * limit). Accepted spellings: any case, `::` anywhere, a zone (`%eth0`), brackets, and a port
 * after an IPv4 address or a bracketed IPv6 one (as some proxies write `X-Forwarded-For`), so
 * respelling an address never makes it a new client. Anything else is its own key, lowercased.
 */
export const addressKey = (address: string): string => {
  let a = address.trim().toLowerCase()
  const bracketed = /^\[([^\]]*)\](?::\d{1,5})?$/.exec(a)
  if (bracketed !== null) a = bracketed[1] ?? ""
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(a)
  if (v4WithPort !== null) a = v4WithPort[1] ?? ""
  const v4 = ipv4Of(a)
  if (v4 !== undefined) return v4
  const zone = a.indexOf("%")
  const groups = ipv6GroupsOf(zone < 0 ? a : a.slice(0, zone))
  if (groups === undefined) return a
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) {
    return `${g6 >> 8}.${g6 & 255}.${g7 >> 8}.${g7 & 255}`
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`
}

/** The last `X-Forwarded-For` entry (see `clientAddress` for why the last), when present and plausible in length. */
export const lastForwardedFor = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const forwarded = headers["x-forwarded-for"]
  if (forwarded === undefined) return undefined
  const last = forwarded.slice(forwarded.lastIndexOf(",") + 1).trim()
  return last !== "" && last.length <= 64 ? last : undefined
}

/**
 * The client address used for rate limits.
 *
 * Without `trustProxy`: the TCP peer. With it: the LAST entry of `X-Forwarded-For`, which is the
 * one our (single) reverse proxy appended (nginx `proxy_add_x_forwarded_for` appends
 * `$remote_addr` to whatever the client sent). Earlier entries are written by the client and can
 * be anything, so they are never used. Behind a chain of proxies, have the outermost one set the
 * header (`proxy_set_header X-Forwarded-For $remote_addr`) so the last entry is still the client.
 */
export const clientAddress = (request: HttpServerRequest.HttpServerRequest, trustProxy: boolean): string => {
  const forwarded = trustProxy ? lastForwardedFor(request.headers) : undefined
  if (forwarded !== undefined) return addressKey(forwarded)
  const peer = NodeHttpServerRequest.toIncomingMessage(request).socket.remoteAddress
  return peer === undefined ? "unknown" : addressKey(peer)
}
