/**
 * The Host and Origin rules (security checklist H60: DNS rebinding; README "Host checks"): which
 * Host headers name this server, and which browser origins may call /mcp.
 */
import type { ServeSettings } from "../../services/config/AppConfig.js"

/** Name (lower case, brackets kept for IPv6, no trailing dot) and port ("" when absent) of a Host value. */
const splitHost = (value: string): { readonly name: string; readonly port: string } | undefined => {
  const v = value.trim().toLowerCase()
  let name: string
  let rest: string
  if (v.startsWith("[")) {
    const close = v.indexOf("]")
    if (close < 0) return undefined
    name = v.slice(0, close + 1)
    rest = v.slice(close + 1)
  } else {
    const colon = v.indexOf(":")
    name = colon < 0 ? v : v.slice(0, colon)
    rest = colon < 0 ? "" : v.slice(colon)
  }
  if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return undefined
  if (name.endsWith(".")) name = name.slice(0, -1)
  if (name === "") return undefined
  return { name, port: rest.slice(1) }
}

/** `localhost`, `127.x.y.z` or `[::1]` (a name as returned by `splitHost`). */
export const isLoopbackName = (name: string): boolean =>
  name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)

/** True when the server listens on a loopback address only (the `host` it binds to). */
export const isLoopbackBind = (host: string): boolean => {
  const h = host.toLowerCase()
  return h === "localhost" || h === "::1" || h === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

interface HostRule {
  /** Exact name, or the parent domain for a `*.` rule. */
  readonly name: string
  readonly wildcard: boolean
  /** "" matches any port. */
  readonly port: string
}

const parseRule = (entry: string): HostRule | undefined => {
  const wildcard = entry.startsWith("*.")
  const split = splitHost(wildcard ? entry.slice(2) : entry)
  return split === undefined ? undefined : { name: split.name, wildcard, port: split.port }
}

const ruleMatches = (rule: HostRule, name: string, port: string): boolean =>
  (rule.port === "" || rule.port === port) &&
  (rule.wildcard ? name.endsWith(`.${rule.name}`) : name === rule.name)

// ---------------------------------------------------------------------------
// Path spelling (security checklist K9)
// ---------------------------------------------------------------------------

/** An origin in its serialised form (`https://a.example`, lower case, no default port), or undefined. */
const serialisedOrigin = (value: string): string | undefined => {
  try {
    const origin = new URL(value).origin
    return origin === "null" ? undefined : origin
  } catch {
    return undefined
  }
}

/** Which requests the server answers at all, from the transport settings. */
export interface RequestChecks {
  /**
   * False when the Host header must be refused (403). `/health` is not checked. `forwardedHost`
   * is the request's `X-Forwarded-Host` (pass it only with `trust_proxy`): a Host equal to it
   * passes (interface.md section 5).
   */
  readonly hostAllowed: (host: string | undefined, forwardedHost?: string | undefined) => boolean
  /** False when a browser `Origin` on /mcp must be refused (403); `base` is this request's BASE. */
  readonly originAllowed: (origin: string, base: string) => boolean
  /** The origin, serialised, when it is listed in `transport.http.cors_origins`; else undefined. */
  readonly corsOrigin: (origin: string) => string | undefined
  /** True when `cors_origins` lists any origin (then /mcp answers vary by Origin). */
  readonly corsEnabled: boolean
}

/**
 * The Host and Origin rules (README "Host checks"):
 * - bound to loopback: Host must be a loopback name (any port), the `base_url` host, or in
 *   `allowed_hosts`; anything else is a DNS-rebinding attempt;
 * - bound elsewhere: with `allowed_hosts`, the same rule with that list; without, any Host (BASE
 *   never comes from Host, so a foreign Host changes nothing);
 * - `Origin` (browsers only) must be BASE's origin, a loopback origin when bound to loopback, or
 *   one of `cors_origins`.
 * With `trust_proxy`, Host is still the header the proxy forwards (nginx: `proxy_set_header Host $host`),
 * and a Host equal to the request's `X-Forwarded-Host` passes too (interface.md section 5: the
 * documented nginx block sets both to the public name, so authentication.md's Option 2 works with
 * nothing else set). The Origin rule is unchanged by it.
 */
export const makeRequestChecks = (
  serve: ServeSettings,
  allowedHosts: ReadonlyArray<string> | undefined,
  corsOrigins: ReadonlyArray<string> = []
): RequestChecks => {
  const listed = new Set<string>()
  for (const entry of corsOrigins) {
    const origin = serialisedOrigin(entry)
    if (origin !== undefined) listed.add(origin)
  }
  const corsOrigin = (origin: string): string | undefined => {
    if (listed.size === 0) return undefined
    if (listed.has(origin)) return origin
    const serialised = serialisedOrigin(origin)
    return serialised !== undefined && listed.has(serialised) ? serialised : undefined
  }
  const loopbackBound = isLoopbackBind(serve.host)
  const checkHost = loopbackBound || allowedHosts !== undefined
  const rules: Array<HostRule> = []
  for (const entry of allowedHosts ?? []) {
    const rule = parseRule(entry)
    if (rule !== undefined) rules.push(rule)
  }
  let baseOrigin: string | undefined
  if (serve.baseUrl !== null && serve.baseUrl !== "") {
    try {
      const url = new URL(serve.baseUrl)
      // The base URL's host with any port: the proxy in front may or may not forward the port.
      rules.push({ name: url.hostname.toLowerCase(), wildcard: false, port: "" })
      baseOrigin = url.origin
    } catch {
      // base_url is validated when the config is decoded.
    }
  }
  // Host values seen and accepted, so the usual request costs one Set lookup and no parsing.
  const accepted = new Set<string>()
  const decideHost = (host: string): boolean => {
    const split = splitHost(host)
    if (split === undefined) return false
    if (isLoopbackName(split.name)) return true
    return rules.some((rule) => ruleMatches(rule, split.name, split.port))
  }
  const hostAllowed = (host: string | undefined, forwardedHost?: string | undefined): boolean => {
    if (!checkHost) return true
    if (host === undefined) return false
    if (accepted.has(host)) return true
    if (forwardedHost !== undefined && sameHost(host, forwardedHost)) return true
    const ok = decideHost(host)
    if (ok && accepted.size < 256) accepted.add(host)
    return ok
  }
  const originAllowed = (origin: string, base: string): boolean => {
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      return false // includes the opaque origin "null"
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return false
    if (url.origin === (baseOrigin ?? originOf(base))) return true
    if (listed.has(url.origin)) return true
    return loopbackBound && isLoopbackName(url.hostname.toLowerCase())
  }
  return { hostAllowed, originAllowed, corsOrigin, corsEnabled: listed.size > 0 }
}

/**
 * `Host` names the same authority as `X-Forwarded-Host` (its first entry, when a proxy chain
 * appended more): same name and port, letter case and a trailing dot aside. Both must parse.
 */
const sameHost = (host: string, forwardedHost: string): boolean => {
  const a = splitHost(host)
  const b = splitHost(forwardedHost.split(",")[0] ?? "")
  return a !== undefined && b !== undefined && a.name === b.name && a.port === b.port
}

const originOf = (base: string): string | undefined => {
  try {
    return new URL(base).origin
  } catch {
    return undefined
  }
}
