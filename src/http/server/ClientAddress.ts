/**
 * The client address of a request, one key per client in any spelling: what the rate limits and the
 * per-address session cap count by.
 */
import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"

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
