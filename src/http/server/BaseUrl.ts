import type { ServeSettings } from "../../services/config/AppConfig.js"

/** The first value of a possibly comma-joined header (proxies append), trimmed; undefined when empty. */
const first = (value: string | undefined): string | undefined => {
  const v = value?.split(",")[0]?.trim()
  return v === undefined || v === "" ? undefined : v
}

/** True for a listen address that means "every interface" rather than one reachable host. */
export const isWildcardHost = (host: string): boolean =>
  host === "" || host === "0.0.0.0" || host === "::" || host === "[::]"

/** The configured listen host as it appears in a URL (a wildcard becomes the loopback address). */
const hostForUrl = (host: string): string => {
  if (host === "" || host === "0.0.0.0") return "127.0.0.1"
  if (host === "::" || host === "[::]") return "[::1]"
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host
}

/** `X-Forwarded-Host`: a DNS name, IPv4 address or bracketed IPv6 address, with an optional port. */
const FORWARDED_HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i

const PORT = /^\d{1,5}$/

const validPort = (port: string): boolean => PORT.test(port) && Number(port) >= 1 && Number(port) <= 65535

const defaultPortOf = (scheme: string): string => (scheme === "https" ? "443" : "80")

/** The authority from `X-Forwarded-Host` (+ `X-Forwarded-Port`), or undefined when absent or malformed. */
const forwardedAuthority = (
  headers: Readonly<Record<string, string | undefined>>,
  scheme: string
): string | undefined => {
  const host = first(headers["x-forwarded-host"])?.toLowerCase()
  if (host === undefined) return undefined
  const m = FORWARDED_HOST.exec(host)
  if (m === null) return undefined
  const explicitPort = m[1]
  if (explicitPort !== undefined) {
    if (!validPort(explicitPort)) return undefined
    return explicitPort === defaultPortOf(scheme) ? host.slice(0, host.length - explicitPort.length - 1) : host
  }
  const port = first(headers["x-forwarded-port"])
  return port === undefined || !validPort(port) || port === defaultPortOf(scheme) ? host : `${host}:${port}`
}

/**
 * The external base URL (interface.md section 5), without a trailing slash:
 * - `transport.http.base_url` when set;
 * - else the scheme: `transport.http.scheme` when set, else `X-Forwarded-Proto`/`X-Forwarded-Scheme`
 *   when `trust_proxy`, else the connection's (plain http: the server itself never terminates TLS);
 * - plus the host: `X-Forwarded-Host` (+ `X-Forwarded-Port`) when `trust_proxy`, else the
 *   configured host and the bound port (a wildcard host such as `0.0.0.0` becomes `127.0.0.1`).
 *
 * The `Host` header alone never changes it, and malformed forwarded values are ignored.
 */
export const baseUrlFor = (
  serve: ServeSettings,
  headers: Readonly<Record<string, string | undefined>>,
  boundPort: number
): string => {
  if (serve.baseUrl !== null && serve.baseUrl !== "") return serve.baseUrl.replace(/\/+$/, "")
  let scheme: string = serve.scheme
  let authority = `${hostForUrl(serve.host)}:${boundPort}`
  if (serve.trustProxy) {
    const proto = (first(headers["x-forwarded-proto"]) ?? first(headers["x-forwarded-scheme"]))?.toLowerCase()
    const schemeSet = serve.schemeFromConfig ?? serve.scheme === "https"
    if (!schemeSet && (proto === "https" || proto === "http")) scheme = proto
    authority = forwardedAuthority(headers, scheme) ?? authority
  }
  return `${scheme}://${authority}`
}
