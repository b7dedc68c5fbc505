/**
 * Which IP addresses a server-side fetch of a client's URL may connect to (the SSRF guard of
 * Client ID Metadata Documents). Public unicast addresses only: every range that reaches the
 * machine itself, a private network, a link-local neighbour (cloud metadata services live at
 * 169.254.169.254 and fd00:ec2::254), multicast, or is reserved, is refused.
 *
 * IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible and NAT64 (`64:ff9b::/96`) IPv6 addresses are
 * judged by the IPv4 address they carry. Anything that does not parse as an address is refused.
 */

/** `a.b.c.d` as an unsigned 32-bit number; undefined when it is not a dotted quad. */
const parseIpv4 = (text: string): number | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    value = value * 256 + n
  }
  return value
}

/** An IPv6 address as eight 16-bit groups; undefined when it does not parse. */
const parseIpv6 = (input: string): ReadonlyArray<number> | undefined => {
  let text = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input
  const zone = text.indexOf("%")
  if (zone >= 0) text = text.slice(0, zone)
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined
  // A trailing dotted quad stands for the last two groups.
  const lastColon = text.lastIndexOf(":")
  const tail = text.slice(lastColon + 1)
  const groups: Array<string> = []
  let head = text
  if (tail.includes(".")) {
    const v4 = parseIpv4(tail)
    if (v4 === undefined) return undefined
    head = text.slice(0, lastColon + 1) + ((v4 >>> 16) & 0xffff).toString(16) + ":" + (v4 & 0xffff).toString(16)
  }
  const halves = head.split("::")
  if (halves.length > 2) return undefined
  const split = (s: string): Array<string> => (s === "" ? [] : s.split(":"))
  const left = split(halves[0] ?? "")
  const right = halves.length === 2 ? split(halves[1] ?? "") : []
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length
    if (missing < 1) return undefined
    groups.push(...left, ...Array.from({ length: missing }, () => "0"), ...right)
  } else {
    groups.push(...left)
  }
  if (groups.length !== 8) return undefined
  const values: Array<number> = []
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
    values.push(parseInt(g, 16))
  }
  return values
}

const inV4 = (ip: number, base: string, bits: number): boolean => {
  const b = parseIpv4(base)!
  const size = 2 ** (32 - bits)
  return Math.floor(ip / size) === Math.floor(b / size)
}

/** IPv4 ranges that are not public unicast (RFC 6890 special-purpose registry and friends). */
const V4_REFUSED: ReadonlyArray<readonly [string, number]> = [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4] // reserved, broadcast
]

const isPublicV4 = (ip: number): boolean => !V4_REFUSED.some(([base, bits]) => inV4(ip, base, bits))

const isPublicV6 = (g: ReadonlyArray<number>): boolean => {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g
  const embeddedV4 = g6 * 65536 + g7
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0) {
    // ::, ::1, ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
    if (g5 === 0xffff || g5 === 0) return g5 === 0 && g6 === 0 ? false : isPublicV4(embeddedV4)
    return false
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return isPublicV4(embeddedV4) // NAT64
  if ((g0 & 0xfe00) === 0xfc00) return false // unique local (fc00::/7), AWS metadata fd00:ec2::254
  if ((g0 & 0xffc0) === 0xfe80) return false // link-local
  if ((g0 & 0xffc0) === 0xfec0) return false // site-local (deprecated)
  if ((g0 & 0xff00) === 0xff00) return false // multicast
  if (g0 === 0x2001 && g1 === 0x0db8) return false // documentation
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return false // discard prefix
  if (g0 === 0x2002) return isPublicV4(g1 * 65536 + g2) // 6to4 carries an IPv4 address
  return true
}

/** True when `address` (an IPv4 or IPv6 literal, IPv6 optionally in brackets) is a public unicast address. */
export const isPublicAddress = (address: string): boolean => {
  const v4 = parseIpv4(address)
  if (v4 !== undefined) return isPublicV4(v4)
  const v6 = parseIpv6(address)
  return v6 !== undefined && isPublicV6(v6)
}

/** True when `host` (a URL's hostname) is an IP literal rather than a name. */
export const isIpLiteral = (host: string): boolean => parseIpv4(host) !== undefined || parseIpv6(host) !== undefined
