import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Cause, Context, Effect, Either } from "effect"
import { AppConfig, type ServeSettings } from "../services/AppConfig.js"
import { baseUrlFor } from "./BaseUrl.js"
import type { McpHttpHandler } from "./McpHttpHandler.js"
import type { OAuthRoutes } from "./OAuthRoutes.js"

const notFound = HttpServerResponse.unsafeJson({ error: "not_found", error_description: "No such endpoint" }, { status: 404 })

const hostForbidden = HttpServerResponse.unsafeJson(
  {
    error: "forbidden",
    error_description:
      "The Host header does not name this server (DNS rebinding protection); list the name in transport.http.allowed_hosts"
  },
  { status: 403, headers: { "cache-control": "no-store" } }
)

const originForbidden = HttpServerResponse.unsafeJson(
  {
    jsonrpc: "2.0",
    error: { code: -32000, message: "Forbidden: requests from this Origin are not allowed" },
    id: null
  },
  { status: 403, headers: { "cache-control": "no-store" } }
)

// ---------------------------------------------------------------------------
// Host and Origin checks (security checklist H60: DNS rebinding)
// ---------------------------------------------------------------------------

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

/** Which requests the server answers at all, from the transport settings. */
export interface RequestChecks {
  /** False when the Host header must be refused (403). `/health` is not checked. */
  readonly hostAllowed: (host: string | undefined) => boolean
  /** False when a browser `Origin` on /mcp must be refused (403); `base` is this request's BASE. */
  readonly originAllowed: (origin: string, base: string) => boolean
}

/**
 * The Host and Origin rules (README "Host checks"):
 * - bound to loopback: Host must be a loopback name (any port), the `base_url` host, or in
 *   `allowed_hosts`; anything else is a DNS-rebinding attempt;
 * - bound elsewhere: with `allowed_hosts`, the same rule with that list; without, any Host (BASE
 *   never comes from Host, so a foreign Host changes nothing);
 * - `Origin` (browsers only) must be BASE's origin, or a loopback origin when bound to loopback.
 * With `trust_proxy`, Host is still the header the proxy forwards (nginx: `proxy_set_header Host $host`).
 */
export const makeRequestChecks = (serve: ServeSettings, allowedHosts: ReadonlyArray<string> | undefined): RequestChecks => {
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
  const hostAllowed = (host: string | undefined): boolean => {
    if (!checkHost) return true
    if (host === undefined) return false
    if (accepted.has(host)) return true
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
    return loopbackBound && isLoopbackName(url.hostname.toLowerCase())
  }
  return { hostAllowed, originAllowed }
}

const originOf = (base: string): string | undefined => {
  try {
    return new URL(base).origin
  } catch {
    return undefined
  }
}

const isPath = (url: string, path: string): boolean => {
  if (!url.startsWith(path)) return false
  if (url.length === path.length) return true
  const next = url.charCodeAt(path.length)
  return next === 63 /* ? */ || next === 47 /* / */
}

/** The 403 to send before routing, or undefined when the request may go on. */
const screen = (
  checks: RequestChecks,
  serve: ServeSettings,
  request: HttpServerRequest.HttpServerRequest
): HttpServerResponse.HttpServerResponse | undefined => {
  const url = request.url
  if (isPath(url, "/health")) return undefined
  const headers = request.headers
  if (!checks.hostAllowed(headers["host"])) return hostForbidden
  if (isPath(url, "/mcp")) {
    const origin = headers["origin"]
    if (origin !== undefined) {
      const port = NodeHttpServerRequest.toIncomingMessage(request).socket.localPort ?? serve.port
      if (!checks.originAllowed(origin, baseUrlFor(serve, headers, port))) return originForbidden
    }
  }
  return undefined
}

const sample = (value: string | undefined) => (value === undefined ? "(none)" : value.slice(0, 100))

/**
 * The HTTP surface (interface.md section 3): `/health`, `/mcp`, and with auth on the OAuth
 * endpoints, with every /mcp request (POST, GET and DELETE alike) behind the bearer guard.
 * Before routing, the Host and Origin checks (`makeRequestChecks`) refuse DNS-rebinding and
 * cross-site browser requests with 403. Unknown paths get a JSON 404; nothing here ever answers
 * with a stack trace. Reads `AppConfig` (transport settings) from the serving context.
 */
export const makeHttpApp = (mcp: McpHttpHandler, oauth: OAuthRoutes | undefined) => {
  const mcpRoute = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    oauth === undefined
      ? mcp.handle(request, undefined)
      : Effect.flatMap(oauth.guard(request), Either.match({
        onLeft: Effect.succeed,
        onRight: (caller) => mcp.handle(request, caller)
      })))
  const base = HttpRouter.empty.pipe(
    HttpRouter.get("/health", HttpServerResponse.unsafeJson({ status: "ok" })),
    HttpRouter.all("/mcp", mcpRoute)
  )
  const router = oauth === undefined ? base : HttpRouter.concat(base, oauth.router)
  // Built once per config (the first request), then reused.
  let refusals = 0
  let cached: { readonly config: AppConfig.Shape; readonly checks: RequestChecks } | undefined
  const checksFor = (config: AppConfig.Shape): RequestChecks => {
    if (cached?.config !== config) {
      cached = { config, checks: makeRequestChecks(config.serve, config.user.transport.http.allowed_hosts) }
    }
    return cached.checks
  }
  const screened = Effect.contextWithEffect((ctx: Context.Context<AppConfig | HttpServerRequest.HttpServerRequest>) => {
    const config = Context.get(ctx, AppConfig)
    const request = Context.get(ctx, HttpServerRequest.HttpServerRequest)
    const denied = screen(checksFor(config), config.serve, request)
    if (denied === undefined) return router
    // Warn about the first few (a misconfigured proxy shows up at once), then only at debug level.
    refusals++
    const log = refusals <= 10 ? Effect.logWarning : Effect.logDebug
    const message = denied === hostForbidden
      ? `Refused a request whose Host is not this server's (DNS rebinding protection)${
        config.serve.trustProxy ? "; behind a proxy, set transport.http.base_url or allowed_hosts to the public name" : ""
      }`
      : "Refused an /mcp request from a browser page of another origin"
    return log(message).pipe(
      Effect.annotateLogs(denied === hostForbidden ? { host: sample(request.headers["host"]) } : { origin: sample(request.headers["origin"]) }),
      Effect.as(denied)
    )
  })
  return screened.pipe(
    Effect.catchTag("RouteNotFound", () => Effect.succeed(notFound)),
    Effect.catchAllCause((cause) =>
      // The client went away mid-request (e.g. closing an SSE stream): nobody to answer, nothing to report.
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : Effect.logError("Unhandled HTTP error", cause).pipe(
          Effect.as(
            HttpServerResponse.unsafeJson({ error: "server_error", error_description: "Internal error" }, { status: 500 })
          )
        )
    )
  )
}
