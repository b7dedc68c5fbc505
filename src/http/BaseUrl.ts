import type { ServeSettings } from "../services/AppConfig.js"

const first = (value: string | undefined): string | undefined => {
  const v = value?.split(",")[0]?.trim()
  return v === undefined || v === "" ? undefined : v
}

const hostForUrl = (host: string): string => {
  if (host === "0.0.0.0" || host === "" ) return "127.0.0.1"
  if (host === "::" || host === "[::]") return "[::1]"
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host
}

/**
 * The external base URL (interface.md section 5), without a trailing slash. `base_url` wins;
 * otherwise scheme and host come from config, or from `X-Forwarded-*` only with `trust_proxy`.
 * The `Host` header alone never changes it.
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
    const proto = first(headers["x-forwarded-proto"]) ?? first(headers["x-forwarded-scheme"])
    if (serve.scheme !== "https" && (proto === "https" || proto === "http")) scheme = proto
    const fwdHost = first(headers["x-forwarded-host"])
    if (fwdHost !== undefined && /^[A-Za-z0-9.\-[\]:]+$/.test(fwdHost)) {
      const fwdPort = first(headers["x-forwarded-port"])
      const hasPort = /:\d+$/.test(fwdHost)
      const defaultPort = (scheme === "https" && fwdPort === "443") || (scheme === "http" && fwdPort === "80")
      authority = hasPort || fwdPort === undefined || defaultPort || !/^\d+$/.test(fwdPort) ? fwdHost : `${fwdHost}:${fwdPort}`
    }
  }
  return `${scheme}://${authority}`
}
