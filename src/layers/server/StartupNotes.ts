/**
 * What `serve` says once at startup and `validate` says too: what is being served (project,
 * profile, auth, endpoint counts), which host the OAuth callback uses, and the setups that let a
 * request choose the issuer. Plain functions of the config; the callers log or print them.
 */
import { Option } from "effect"
import { ProviderDisplayName } from "../../domain/config/UserConfig.js"
import { baseUrlFor, isWildcardHost } from "../../http/server/BaseUrl.js"
import type { AppConfig } from "../../services/config/AppConfig.js"
import type { EndpointCatalog } from "../../services/mcp/EndpointCatalog.js"

const SQL_TOOLS = 3

const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

/**
 * `project quickstart, profile default, auth: none (no login: ...), 4 tools (+3 SQL tools),
 * 1 resource, 1 prompt`; the counts are left out when the catalog is not at hand.
 */
export const startupSummary = (config: AppConfig.Shape, catalog: Option.Option<EndpointCatalog.Shape>): string => {
  const auth = config.auth.provider === "none"
    ? "auth: none (no login: anyone who reaches the server can call every endpoint)"
    : `auth: ${config.auth.provider}`
  const parts = [`project ${config.site.project}`, `profile ${config.profile}`, auth]
  if (Option.isSome(catalog)) {
    const c = catalog.value
    parts.push(
      `${count(c.tools.length, "tool", "tools")}${config.serve.sqlTools ? ` (+${SQL_TOOLS} SQL tools)` : ""}`,
      count(c.resources.length, "resource", "resources"),
      count(c.prompts.length, "prompt", "prompts")
    )
  }
  return parts.join(", ")
}

/**
 * The loud warning for `host: 0.0.0.0` (or `::`) with `trust_proxy` and neither `base_url` nor
 * `allowed_hosts`: anyone who reaches the port directly sets the issuer and every OAuth URL with
 * `X-Forwarded-Host`. Undefined when the setup pins the name (or does not trust a proxy).
 */
export const proxyPinWarning = (config: AppConfig.Shape): string | undefined => {
  const serve = config.serve
  const allowedHosts: ReadonlyArray<string> | undefined = config.user.transport.http.allowed_hosts
  if (!serve.trustProxy || !isWildcardHost(serve.host) || serve.baseUrl !== null || allowedHosts !== undefined) {
    return undefined
  }
  return (
    `WARNING: host ${serve.host} with trust_proxy and neither base_url nor allowed_hosts: anyone who reaches ` +
    "this port without going through the proxy sets the OAuth issuer and every URL the server hands out with " +
    "an X-Forwarded-Host header. Set transport.http.base_url to the public URL (or list the public name in " +
    "transport.http.allowed_hosts), or bind host 127.0.0.1 behind a proxy on the same machine"
  )
}

const isLoopbackHostName = (host: string): boolean =>
  host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host)

/**
 * Which host the OAuth callback uses, when auth is on: `localhost` and `127.0.0.1` are different
 * hosts to a browser, so the login's binding cookie (set on the host the login started on) is not
 * sent back to the other one. Undefined when auth is off.
 */
export const callbackHostNote = (config: AppConfig.Shape, port: number): string | undefined => {
  const auth = config.auth
  if (auth.provider === "none") return undefined
  const base = baseUrlFor(config.serve, {}, port)
  const url = `${base}${auth[auth.provider]?.callback_path ?? ""}`
  const host = /^[a-z]+:\/\/(\[[^\]]+\]|[^/:]+)/i.exec(base)?.[1] ?? base
  const display = ProviderDisplayName[auth.provider]
  const behindProxy = config.serve.trustProxy && config.serve.baseUrl === null
    ? " (or the X-Forwarded-Host the proxy sends)"
    : ""
  const sameHost = isLoopbackHostName(host)
    ? `; localhost and 127.0.0.1 are different hosts for cookies: register exactly this URL with ${display} ` +
      `and open the client against ${host}, or the login fails as "started in another browser"`
    : ""
  return `The OAuth callback uses host ${host}${behindProxy}: ${url}${sameHost}`
}
