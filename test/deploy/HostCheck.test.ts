/**
 * Host and Origin checks (security checklist H60, DNS rebinding; README "Host checks"), over real
 * HTTP on loopback. `fetch` always sends the URL's authority as `Host`, so these requests go
 * through `node:http` (test/support/RawHttp.ts) to present a foreign one.
 */
import { HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { makeRequestChecks } from "../../src/http/server/HostChecks.js"
import { AppConfigFromValues } from "../../src/layers/config/AppConfigLive.js"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"
import { HttpServerLive } from "../../src/compose/Server.js"
import { HttpTransportConfig } from "../../src/domain/config/UserConfig.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { copyExample } from "../support/Project.js"
import { type RawAnswer, rawRequest } from "../support/RawHttp.js"
import { serveSettings } from "../support/Settings.js"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"

const INITIALIZE = initializeBody("host-check")

/** The server with auth `none` (only /health and /mcp), built in this process on 127.0.0.1. */
const plainServer = (http: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const project = copyExample()
    yield* Effect.addFinalizer(() => Effect.sync(project.cleanup))
    const config = AppConfigFromValues({
      projectRoot: project.dir,
      site: { mxcp: 1, project: "quickstart", profiles: { default: { duckdb: { path: ":memory:", init_sql: "sql/setup.sql" } } } },
      user: { mxcp: 1, transport: { http: { host: "127.0.0.1", port: 0, ...http } } },
      overrides: { env: {}, homeDir: project.dir }
    })
    const context = yield* Layer.build(HttpServerLive.pipe(Layer.provide(config)))
    const server = yield* Effect.provide(HttpServer.HttpServer, context)
    const address = server.address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    return { url: `http://127.0.0.1:${address.port}`, port: address.port }
  })

const request = (url: string, path: string, host?: string, init: Parameters<typeof rawRequest>[1] = {}) =>
  Effect.promise(() => rawRequest(`${url}${path}`, { ...init, ...(host === undefined ? {} : { host }) }))

const metadataStatus = (url: string, host: string) =>
  Effect.map(request(url, "/.well-known/oauth-authorization-server", host), (r) => r.status)

const expectHostForbidden = (res: RawAnswer, what: string) => {
  expect(res.status, what).toBe(403)
  expect(res.json?.["error"], what).toBe("forbidden")
  expect(res.json?.["error_description"], what).toEqual(expect.any(String))
  expect(res.text, what).not.toMatch(/\n\s+at /)
}

const expectOriginForbidden = (res: RawAnswer, what: string) => {
  expect(res.status, what).toBe(403)
  expect(res.json, what).toMatchObject({ jsonrpc: "2.0", error: { code: -32000, message: expect.any(String) }, id: null })
}

describe("Host header checks (DNS rebinding)", () => {
  it.scoped("H60 bound to loopback, a request with a foreign Host gets 403 on every path but /health", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const port = new URL(url).port
      const paths = [
        ["GET", "/.well-known/oauth-authorization-server"],
        ["GET", "/.well-known/oauth-protected-resource/mcp"],
        ["GET", "/authorize?response_type=code"],
        ["POST", "/token"],
        ["POST", "/register"],
        ["POST", "/mcp"],
        ["GET", "/mcp"],
        ["DELETE", "/mcp"],
        ["GET", "/no-such-path"]
      ] as const
      for (const host of ["attacker.example", `attacker.example:${port}`, "127.0.0.1.nip.io", "localhost.attacker.example", "[::2]"]) {
        for (const [method, path] of paths) {
          const res = yield* request(url, path, host, method === "POST" ? { method, headers: MCP_HEADERS, body: INITIALIZE } : { method })
          expectHostForbidden(res, `${method} ${path} Host: ${host}`)
        }
      }
      // A Host that is not a host at all.
      for (const host of ["attacker.example:99999", "attacker.example:x", "[::1"]) {
        expectHostForbidden(yield* request(url, "/.well-known/oauth-authorization-server", host), host)
      }
      // HTTP/1.1 without Host never reaches the app (Node answers 400) and is never served.
      const noHost = yield* request(url, "/.well-known/oauth-authorization-server", undefined, { host: null })
      expect(noHost.status).toBeGreaterThanOrEqual(400)
      expect(noHost.status).toBeLessThan(500)
    }))

  it.scoped("H60 with auth none too: a rebinding page cannot reach /mcp tools through a foreign Host", () =>
    Effect.gen(function* () {
      const { url, port } = yield* plainServer()
      const attack = yield* request(url, "/mcp", `rebind.attacker.example:${port}`, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE })
      expectHostForbidden(attack, "auth none, foreign Host")
      expect(attack.headers["mcp-session-id"]).toBeUndefined()
      const local = yield* request(url, "/mcp", `localhost:${port}`, { method: "POST", headers: MCP_HEADERS, body: INITIALIZE })
      expect(local.status).toBe(200)
      expect(local.headers["mcp-session-id"]).toEqual(expect.any(String))
    }))

  it.scoped("loopback names with any port are accepted, in any case", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const port = new URL(url).port
      for (const host of [`127.0.0.1:${port}`, "127.0.0.1", "localhost", `localhost:${port}`, "LOCALHOST:1", "localhost.", "[::1]", `[::1]:${port}`, "127.0.0.2:8000"]) {
        expect(yield* metadataStatus(url, host), host).toBe(200)
      }
    }))

  it.scoped("the base_url host is accepted (any port), other names are not", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { http: { base_url: "https://mcp.example.test" } })
      for (const host of ["mcp.example.test", "MCP.Example.Test:443", "mcp.example.test:8443", "localhost"]) {
        expect(yield* metadataStatus(url, host), host).toBe(200)
      }
      for (const host of ["other.example.test", "example.test", "sub.mcp.example.test", "mcp.example.test.attacker.example"]) {
        expect(yield* metadataStatus(url, host), host).toBe(403)
      }
    }))

  it.scoped("allowed_hosts: names with any port, name:port exactly, *.domain for subdomains only", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, {
        http: { allowed_hosts: ["mcp.example.com", "api.example.com:8443", "*.tenant.example.org"] }
      })
      for (const host of ["mcp.example.com", "mcp.example.com:9000", "api.example.com:8443", "a.tenant.example.org", "x.y.tenant.example.org:443", "localhost"]) {
        expect(yield* metadataStatus(url, host), host).toBe(200)
      }
      for (const host of ["api.example.com", "api.example.com:9000", "tenant.example.org", "evil-tenant.example.org", "attacker.example"]) {
        expect(yield* metadataStatus(url, host), host).toBe(403)
      }
    }))

  it.scoped("bound to a non-loopback address: any Host without allowed_hosts, the list (plus loopback and base_url) with it", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const open = yield* inProcessServer(fake, { http: { host: "0.0.0.0" } })
      for (const host of ["attacker.example", "mcp.example.com:8443", "localhost"]) {
        expect(yield* metadataStatus(open.url, host), host).toBe(200)
      }
      const listed = yield* inProcessServer(fake, {
        http: { host: "0.0.0.0", allowed_hosts: ["mcp.example.com"], base_url: "https://public.example.net" }
      })
      for (const host of ["mcp.example.com", "public.example.net", "127.0.0.1"]) {
        expect(yield* metadataStatus(listed.url, host), host).toBe(200)
      }
      expect(yield* metadataStatus(listed.url, "attacker.example")).toBe(403)
    }))

  it.scoped("trust_proxy: Host is what is checked; it passes when equal to X-Forwarded-Host (interface.md section 5), never by X-Forwarded-Host alone", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { http: { trust_proxy: true } })
      const forwarded = { "x-forwarded-host": "mcp.example.com", "x-forwarded-proto": "https" }
      // The proxy passes its public name as Host and as X-Forwarded-Host (the documented nginx
      // block): accepted with nothing else set, and BASE is the public URL.
      const proxied = yield* request(url, "/.well-known/oauth-authorization-server", "mcp.example.com", { headers: forwarded })
      expect(proxied.status).toBe(200)
      expect(proxied.json?.["issuer"]).toBe("https://mcp.example.com")
      // The public name as Host without the matching X-Forwarded-Host still needs base_url or allowed_hosts.
      for (const headers of [{}, { "x-forwarded-host": "other.example" }, { "x-forwarded-host": "mcp.example.com:8443" }]) {
        const refused = yield* request(url, "/.well-known/oauth-authorization-server", "mcp.example.com", { headers })
        expectHostForbidden(refused, `proxied Host with ${JSON.stringify(headers)}`)
      }
      // ...and a page cannot get in by naming an allowed host in X-Forwarded-Host.
      const spoofed = yield* request(url, "/.well-known/oauth-authorization-server", "attacker.example", {
        headers: { "x-forwarded-host": "localhost" }
      })
      expectHostForbidden(spoofed, "X-Forwarded-Host is not the Host")
      // Without trust_proxy the forwarded header means nothing.
      const plain = yield* inProcessServer(fake)
      expectHostForbidden(
        yield* request(plain.url, "/.well-known/oauth-authorization-server", "mcp.example.com", { headers: forwarded }),
        "no trust_proxy"
      )
      // With the proxied name listed, the forwarded headers make BASE as usual.
      const listed = yield* inProcessServer(fake, { http: { trust_proxy: true, allowed_hosts: ["mcp.example.com"] } })
      const ok = yield* request(listed.url, "/.well-known/oauth-authorization-server", "mcp.example.com", { headers: forwarded })
      expect(ok.status).toBe(200)
      expect(ok.json?.["issuer"]).toBe("https://mcp.example.com")
    }))

  it.scoped("/health is exempt: it answers whatever the Host", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      for (const path of ["/health", "/health?probe=1"]) {
        const res = yield* request(url, path, "attacker.example")
        expect(res.status, path).toBe(200)
        expect(res.json).toEqual({ status: "ok" })
      }
      // Only /health itself: a look-alike path is checked like any other.
      expectHostForbidden(yield* request(url, "/healthz", "attacker.example"), "/healthz")
    }))
})

describe("Origin checks on /mcp", () => {
  it.scoped("a foreign or opaque Origin gets a 403 JSON-RPC error on every method; no Origin, BASE's origin and loopback origins pass", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const port = new URL(url).port
      const call = (method: "POST" | "GET" | "DELETE", origin: string | undefined) =>
        request(url, "/mcp", undefined, {
          method,
          headers: { ...MCP_HEADERS, ...(origin === undefined ? {} : { origin }) },
          ...(method === "POST" ? { body: INITIALIZE } : {})
        })
      for (const method of ["POST", "GET", "DELETE"] as const) {
        for (const origin of ["https://attacker.example", "null", `http://attacker.example:${port}`, "file://", "not a url", `http://127.0.0.1.attacker.example:${port}`]) {
          expectOriginForbidden(yield* call(method, origin), `${method} Origin: ${origin}`)
        }
        // Passing the Origin check: on to the bearer guard (401 without a token).
        for (const origin of [undefined, url, `http://localhost:${port}`, "http://localhost:6274", "https://127.0.0.1", `http://[::1]:${port}`]) {
          const res = yield* call(method, origin)
          expect(res.status, `${method} Origin: ${origin}`).toBe(401)
          expect(res.headers["www-authenticate"]).toContain("Bearer")
        }
      }
      // Origin is only checked on /mcp: the metadata answers a cross-origin reader (no CORS headers, though).
      const metadata = yield* request(url, "/.well-known/oauth-authorization-server", undefined, { headers: { origin: "https://attacker.example" } })
      expect(metadata.status).toBe(200)
    }))

  it.scoped("with base_url, its origin passes (scheme, host and port must all match)", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { http: { base_url: "https://mcp.example.test/" } })
      const call = (origin: string) =>
        request(url, "/mcp", "mcp.example.test", { method: "POST", headers: { ...MCP_HEADERS, origin }, body: INITIALIZE })
      expect((yield* call("https://mcp.example.test")).status).toBe(401)
      expect((yield* call("https://MCP.example.test:443")).status).toBe(401)
      for (const origin of ["http://mcp.example.test", "https://mcp.example.test:8443", "https://other.example.test"]) {
        expectOriginForbidden(yield* call(origin), origin)
      }
    }))

  it.scoped("bound to a non-loopback address, a loopback Origin is foreign unless it is BASE", () =>
    Effect.gen(function* () {
      const { url, port } = yield* plainServer({ host: "0.0.0.0", base_url: "https://mcp.example.test" })
      const call = (origin: string | undefined) =>
        request(url, "/mcp", "mcp.example.test", {
          method: "POST",
          headers: { ...MCP_HEADERS, ...(origin === undefined ? {} : { origin }) },
          body: INITIALIZE
        })
      expect((yield* call(undefined)).status).toBe(200)
      expect((yield* call("https://mcp.example.test")).status).toBe(200)
      expectOriginForbidden(yield* call(`http://localhost:${port}`), "loopback origin, public bind")
    }))
})

describe("the checks as a function, and their config", () => {
  const serve = serveSettings

  it("loopback binds check Host; other binds only with an allow-list", () => {
    for (const host of ["127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"]) {
      expect(makeRequestChecks(serve({ host }), undefined).hostAllowed("attacker.example"), host).toBe(false)
    }
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "mcp.internal"]) {
      expect(makeRequestChecks(serve({ host }), undefined).hostAllowed("attacker.example"), host).toBe(true)
      expect(makeRequestChecks(serve({ host }), ["ok.example"]).hostAllowed("attacker.example"), host).toBe(false)
      expect(makeRequestChecks(serve({ host }), ["ok.example"]).hostAllowed("ok.example:1"), host).toBe(true)
    }
    const checks = makeRequestChecks(serve(), undefined)
    expect(checks.hostAllowed(undefined)).toBe(false)
    // Accepted values are remembered; the answer does not change on a second look.
    for (let i = 0; i < 3; i++) {
      expect(checks.hostAllowed("localhost:8000")).toBe(true)
      expect(checks.hostAllowed("attacker.example")).toBe(false)
    }
  })

  it("the Origin rule: BASE's origin, loopback origins only on a loopback bind", () => {
    const local = makeRequestChecks(serve(), undefined)
    expect(local.originAllowed("http://127.0.0.1:8000", "http://127.0.0.1:8000")).toBe(true)
    expect(local.originAllowed("http://localhost:3000", "http://127.0.0.1:8000")).toBe(true)
    expect(local.originAllowed("null", "http://127.0.0.1:8000")).toBe(false)
    expect(local.originAllowed("chrome-extension://abc", "http://127.0.0.1:8000")).toBe(false)
    const proxied = makeRequestChecks(serve({ host: "0.0.0.0", trustProxy: true }), undefined)
    expect(proxied.originAllowed("https://mcp.example.com", "https://mcp.example.com")).toBe(true)
    expect(proxied.originAllowed("http://localhost:3000", "https://mcp.example.com")).toBe(false)
  })

  it.effect("allowed_hosts entries are validated when the config is decoded, naming the key", () =>
    Effect.gen(function* () {
      const ok = yield* decodeConfig(HttpTransportConfig, "config.yml", {
        allowed_hosts: ["mcp.example.com", "mcp.example.com:8443", "*.example.com", "[::1]:8000", "10.0.0.1"]
      })
      expect(ok.allowed_hosts).toHaveLength(5)
      for (const bad of ["https://mcp.example.com", "mcp.example.com/path", "a b", "*", "mcp.*.com", ""]) {
        const e = yield* Effect.flip(decodeConfig(HttpTransportConfig, "config.yml", { allowed_hosts: ["ok.example", bad] }))
        expect(e.key, bad).toBe("allowed_hosts[1]")
        expect(e.message, bad).toMatch(/invalid value/)
      }
      const typo = yield* Effect.flip(decodeConfig(HttpTransportConfig, "config.yml", { allowed_host: ["mcp.example.com"] }))
      expect(typo.message).toBe('unknown key "allowed_host"')
    }))
})
