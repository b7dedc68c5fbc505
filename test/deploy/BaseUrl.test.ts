/**
 * BASE, the external base URL (interface.md section 5), one option at a time: `base_url`,
 * `scheme: https`, `trust_proxy` with each `X-Forwarded-*` header, a wildcard listen host, and the
 * `Host` header (never). On the real server each case checks every URL it emits: the metadata
 * issuer, the protected resource, the 401's `resource_metadata` and the upstream `redirect_uri`.
 * (Spoofed forwarded headers with `trust_proxy` off: H57 in test/oauth/Metadata.test.ts.)
 */
import { request as httpRequest } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { baseUrlFor } from "../../src/http/server/BaseUrl.js"
import type { ServeSettings } from "../../src/services/config/AppConfig.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { type AuthServer, CONFIG_CLIENT, startAuthServer } from "../support/OAuthHarness.js"
import { challengeOf, newVerifier } from "../support/OAuthFlows.js"
import { serveSettings } from "../support/Settings.js"

const CALLBACK_PATH = "/github/callback"

// The server process for the 0.0.0.0 case boots while the other tests run.
let zeroHost: Promise<AuthServer> | undefined
beforeAll(() => {
  zeroHost = startAuthServer({ transportYaml: "  http:\n    host: 0.0.0.0" })
})
afterAll(async () => {
  const auth = await zeroHost?.catch(() => undefined)
  await auth?.stop()
})

const serve = serveSettings

describe("baseUrlFor", () => {
  const PORT = 8123
  const base = (settings: Partial<ServeSettings>, headers: Record<string, string> = {}) =>
    baseUrlFor(serve(settings), headers, PORT)

  it("defaults to http + the configured host and the bound port", () => {
    expect(base({})).toBe(`http://127.0.0.1:${PORT}`)
    expect(base({ host: "localhost" })).toBe(`http://localhost:${PORT}`)
    expect(base({ host: "::1" })).toBe(`http://[::1]:${PORT}`)
  })

  it("base_url alone wins over scheme, host, port and every forwarded header (trailing slash dropped)", () => {
    expect(base({ baseUrl: "https://mcp.example.com/" })).toBe("https://mcp.example.com")
    expect(
      base(
        { baseUrl: "https://mcp.example.com", scheme: "http", trustProxy: true, host: "0.0.0.0" },
        { "x-forwarded-proto": "http", "x-forwarded-host": "other.example", "x-forwarded-port": "9999" }
      )
    ).toBe("https://mcp.example.com")
  })

  it("scheme: https alone changes only the scheme", () => {
    expect(base({ scheme: "https" })).toBe(`https://127.0.0.1:${PORT}`)
  })

  it("trust_proxy: X-Forwarded-Proto or X-Forwarded-Scheme gives the scheme, X-Forwarded-Host (+ Port) the host", () => {
    const proxied = { trustProxy: true }
    expect(base(proxied, { "x-forwarded-proto": "https" })).toBe(`https://127.0.0.1:${PORT}`)
    expect(base(proxied, { "x-forwarded-proto": "HTTPS" })).toBe(`https://127.0.0.1:${PORT}`)
    expect(base(proxied, { "x-forwarded-scheme": "https" })).toBe(`https://127.0.0.1:${PORT}`)
    expect(base(proxied, { "x-forwarded-host": "mcp.example.com" })).toBe("http://mcp.example.com")
    expect(base(proxied, { "x-forwarded-host": "mcp.example.com", "x-forwarded-port": "8443" })).toBe(
      "http://mcp.example.com:8443"
    )
    expect(
      base(proxied, { "x-forwarded-proto": "https", "x-forwarded-host": "mcp.example.com", "x-forwarded-port": "443" })
    ).toBe("https://mcp.example.com")
    expect(base(proxied, { "x-forwarded-proto": "https", "x-forwarded-host": "mcp.example.com:443" })).toBe(
      "https://mcp.example.com"
    )
    expect(base(proxied, { "x-forwarded-host": "mcp.example.com:9443", "x-forwarded-port": "443" })).toBe(
      "http://mcp.example.com:9443"
    )
    expect(base(proxied, { "x-forwarded-host": "[2001:db8::1]:8443" })).toBe("http://[2001:db8::1]:8443")
    // Proxies append: the first value is the client-facing one.
    expect(base(proxied, { "x-forwarded-proto": "https, http", "x-forwarded-host": "a.example, b.example" })).toBe(
      "https://a.example"
    )
    // A port without a host says nothing about the host.
    expect(base(proxied, { "x-forwarded-port": "443" })).toBe(`http://127.0.0.1:${PORT}`)
  })

  it("an explicit scheme: http in the config is not upgraded by X-Forwarded-Proto either; an absent one is", () => {
    expect(base({ scheme: "http", schemeFromConfig: true, trustProxy: true }, { "x-forwarded-proto": "https" })).toBe(
      `http://127.0.0.1:${PORT}`
    )
    expect(base({ scheme: "http", schemeFromConfig: false, trustProxy: true }, { "x-forwarded-proto": "https" })).toBe(
      `https://127.0.0.1:${PORT}`
    )
  })

  it("an explicit scheme: https is not downgraded by X-Forwarded-Proto: http", () => {
    expect(base({ scheme: "https", trustProxy: true }, { "x-forwarded-proto": "http" })).toBe(`https://127.0.0.1:${PORT}`)
  })

  it("malformed forwarded values are ignored rather than echoed into URLs", () => {
    const proxied = { trustProxy: true }
    const unchanged = `http://127.0.0.1:${PORT}`
    for (const host of ["evil.example/path", "evil.example?x", "a b", "user@evil.example", "::1", "évil.example", "", "-x.example"]) {
      expect(base(proxied, { "x-forwarded-host": host })).toBe(unchanged)
    }
    for (const proto of ["javascript", "ftp", "https:", ""]) expect(base(proxied, { "x-forwarded-proto": proto })).toBe(unchanged)
    for (const port of ["99999", "0", "8o", "-1"]) {
      expect(base(proxied, { "x-forwarded-host": "mcp.example.com", "x-forwarded-port": port })).toBe("http://mcp.example.com")
    }
  })

  it("a wildcard listen host (0.0.0.0, ::) gives a loopback URL with the bound port", () => {
    expect(base({ host: "0.0.0.0" })).toBe(`http://127.0.0.1:${PORT}`)
    expect(base({ host: "0.0.0.0", scheme: "https" })).toBe(`https://127.0.0.1:${PORT}`)
    expect(base({ host: "::" })).toBe(`http://[::1]:${PORT}`)
  })

  const settingsArb = FastCheck.record({
    host: FastCheck.constantFrom("127.0.0.1", "0.0.0.0", "localhost", "::1"),
    scheme: FastCheck.constantFrom("http" as const, "https" as const),
    baseUrl: FastCheck.constantFrom(null, "https://mcp.example.com"),
    trustProxy: FastCheck.boolean()
  })
  const forwardedArb = FastCheck.dictionary(
    FastCheck.constantFrom("x-forwarded-proto", "x-forwarded-scheme", "x-forwarded-host", "x-forwarded-port"),
    FastCheck.constantFrom("https", "http", "mcp.example.org", "443", "8443")
  )

  it.prop("the Host header alone never changes BASE, whatever the settings and forwarded headers", [
    settingsArb,
    forwardedArb,
    FastCheck.string()
  ], ([settings, forwarded, host]) => {
    expect(base(settings, { ...forwarded, host })).toBe(base(settings, forwarded))
  })
})

/** A request with exactly these headers (`Host` included, which fetch would not send as given). */
const send = (
  url: string,
  options: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string } = {}
): Promise<{ status: number; headers: Record<string, string | Array<string> | undefined>; body: string }> =>
  new Promise((resolveReply, reject) => {
    const req = httpRequest(url, { method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => (body += d))
      res.on("end", () => resolveReply({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.once("error", reject)
    req.end(options.body)
  })

interface EmittedUrls {
  readonly issuer: string
  readonly resource: string
  readonly resourceMetadata: string
  readonly redirectUri: string
}

/** Every URL the server emits for a request carrying `headers`. */
const emittedUrls = async (url: string, headers: Record<string, string> = {}): Promise<EmittedUrls> => {
  const metadata = JSON.parse((await send(`${url}/.well-known/oauth-authorization-server`, { headers })).body) as {
    issuer: string
  }
  const prm = JSON.parse((await send(`${url}/.well-known/oauth-protected-resource/mcp`, { headers })).body) as {
    resource: string
  }
  const unauth = await send(`${url}/mcp`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
  })
  const challenge = String(unauth.headers["www-authenticate"] ?? "")
  const params = new URLSearchParams({
    response_type: "code",
    client_id: CONFIG_CLIENT.id,
    redirect_uri: CONFIG_CLIENT.redirectUri,
    state: "base-url-state",
    code_challenge: challengeOf(newVerifier()),
    code_challenge_method: "S256"
  })
  // The pre-registered client skips consent: straight to the provider.
  const authorize = await send(`${url}/authorize?${params}`, { headers })
  const location = String(authorize.headers["location"] ?? "")
  return {
    issuer: metadata.issuer,
    resource: prm.resource,
    resourceMetadata: /resource_metadata="([^"]*)"/.exec(challenge)?.[1] ?? `(none in ${challenge})`,
    redirectUri: location === "" ? `(no redirect: ${authorize.status})` : new URL(location).searchParams.get("redirect_uri") ?? ""
  }
}

const urlsFor = (base: string): EmittedUrls => ({
  issuer: base,
  resource: `${base}/mcp`,
  resourceMetadata: `${base}/.well-known/oauth-protected-resource/mcp`,
  redirectUri: `${base}${CALLBACK_PATH}`
})

describe("each base-URL option on the real server", () => {
  it.scoped("base_url alone decides every URL, whatever the request says", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { http: { base_url: "https://mcp.example.com/" } })
      const seen = yield* Effect.promise(() => emittedUrls(url))
      expect(seen).toEqual(urlsFor("https://mcp.example.com"))
      const forwarded = yield* Effect.promise(() =>
        emittedUrls(url, { "x-forwarded-proto": "http", "x-forwarded-host": "other.example" })
      )
      expect(forwarded).toEqual(urlsFor("https://mcp.example.com"))
    }))

  it.scoped("scheme: https alone: https with the configured host and port", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { http: { scheme: "https" } })
      const seen = yield* Effect.promise(() => emittedUrls(url))
      expect(seen).toEqual(urlsFor(url.replace(/^http:/, "https:")))
    }))

  it.scoped("trust_proxy: X-Forwarded-Proto, -Scheme, -Host and -Port each reach every URL", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { http: { trust_proxy: true } })
      const https = url.replace(/^http:/, "https:")
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{}, url],
        [{ "x-forwarded-proto": "https" }, https],
        [{ "x-forwarded-scheme": "https" }, https],
        [{ "x-forwarded-host": "mcp.example.com" }, "http://mcp.example.com"],
        [{ "x-forwarded-host": "mcp.example.com", "x-forwarded-port": "8443" }, "http://mcp.example.com:8443"],
        [
          { "x-forwarded-proto": "https", "x-forwarded-host": "mcp.example.com", "x-forwarded-port": "443" },
          "https://mcp.example.com"
        ]
      ]
      for (const [headers, expected] of cases) {
        const seen = yield* Effect.promise(() => emittedUrls(url, headers))
        expect({ headers, seen }).toEqual({ headers, seen: urlsFor(expected) })
      }
    }))

  it.scoped("the Host header alone never changes the URLs (trust_proxy off and on)", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      for (const trust_proxy of [false, true]) {
        const { url } = yield* inProcessServer(fake, { http: { trust_proxy } })
        const port = new URL(url).port
        // Another loopback name for the same server: accepted, and BASE stays the configured one.
        const seen = yield* Effect.promise(() => emittedUrls(url, { host: `localhost:${port}` }))
        expect(seen).toEqual(urlsFor(url))
        // A foreign name is either refused (DNS rebinding protection, H60) or ignored.
        const foreign = yield* Effect.promise(() =>
          send(`${url}/.well-known/oauth-authorization-server`, { headers: { host: "mcp.attacker.example" } })
        )
        if (foreign.status === 200) expect((JSON.parse(foreign.body) as { issuer: string }).issuer).toBe(url)
        else expect([403, 421]).toContain(foreign.status)
      }
    }))
})

describe("host 0.0.0.0 without base_url", () => {
  it("serves, with URLs from the scheme, loopback and the configured port, and warns to set base_url", async () => {
    const auth = await zeroHost!
    const port = new URL(auth.url).port
    const local = `http://127.0.0.1:${port}`
    expect(await emittedUrls(local)).toEqual(urlsFor(local))
    for (let i = 0; i < 50 && !/listening on all interfaces/.test(auth.server.stderr()); i++) {
      await new Promise((r) => setTimeout(r, 100))
    }
    const log = auth.server.stderr()
    expect(log).toMatch(/WARNING: listening on all interfaces \(host 0\.0\.0\.0\) without transport\.http\.base_url/)
    expect(log).toContain(`OAuth URLs use ${local}`)
    expect(log).toMatch(/Set transport\.http\.base_url/)
    expect(log).toContain(`register ${local}${CALLBACK_PATH} as the provider's callback URL`)
    // Loopback URLs are not the H59 case.
    expect(log).not.toMatch(/OAuth needs https/)
  })
})
