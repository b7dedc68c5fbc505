/**
 * Per-address rate limits (README "Rate limits"): `/authorize`, `/token`, `/revoke`, `/register`
 * and failed bearer attempts at /mcp answer 429 with `Retry-After` and an RFC 6749-style body over
 * the limit, and recover when the minute is over. The servers run in this process, so TestClock
 * moves their time and no test waits a real minute.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { RateLimitDefaults } from "../../src/domain/config/UserConfig.js"
import { addressKey } from "../../src/http/server/ClientAddress.js"
import { makeRateLimiter } from "../../src/http/server/RateLimiter.js"
import { decodeAuthConfig } from "../../src/layers/config/AppConfigLive.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer, type InProcessOptions } from "../support/InProcess.js"
import { login, mcpStatus } from "../support/OAuthFlows.js"
import { formBody, type RawAnswer, rawRequest } from "../support/RawHttp.js"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"

const INITIALIZE = initializeBody("rate-limits")

const server = (options: InProcessOptions) =>
  Effect.flatMap(scopedFakeGitHub(), (fake) => inProcessServer(fake, options))

const call = (url: string, path: string, init: Parameters<typeof rawRequest>[1] = {}) =>
  Effect.promise(() => rawRequest(`${url}${path}`, init))

/** A 429 with a whole number of seconds in `Retry-After` (at most the minute) and `{error, error_description}`. */
const expectLimited = (res: RawAnswer, what: string) => {
  expect(res.status, what).toBe(429)
  const retryAfter = Number(res.headers["retry-after"])
  expect(Number.isInteger(retryAfter), what).toBe(true)
  expect(retryAfter, what).toBeGreaterThanOrEqual(1)
  expect(retryAfter, what).toBeLessThanOrEqual(60)
  expect(res.headers["cache-control"], what).toContain("no-store")
  expect(res.json, what).toEqual({ error: "temporarily_unavailable", error_description: expect.stringMatching(/too many/i) })
}

const BAD_TOKEN = { ...MCP_HEADERS, authorization: `Bearer ${"A".repeat(43)}` }

describe("rate limits per endpoint (in-process server, TestClock)", () => {
  it.scoped("/authorize: over the limit 429 (GET and POST share it; HTML for browsers), recovered after the window", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { rate_limits: { authorize: 3 } } })
      // Malformed requests count too (they are shown as direct 400s).
      expect((yield* call(url, "/authorize?client_id=nobody")).status).toBe(400)
      expect((yield* call(url, "/authorize", formBody({ client_id: "nobody" }))).status).toBe(400)
      expect((yield* call(url, "/authorize?client_id=nobody")).status).toBe(400)
      expectLimited(yield* call(url, "/authorize?client_id=nobody"), "GET")
      expectLimited(yield* call(url, "/authorize", formBody({ client_id: "nobody" })), "POST")
      const page = yield* call(url, "/authorize?client_id=nobody", { headers: { accept: "text/html" } })
      expect(page.status).toBe(429)
      expect(page.headers["retry-after"]).toMatch(/^\d+$/)
      expect(page.headers["content-type"]).toContain("text/html")
      expect(page.text).toMatch(/too many/i)
      // Other endpoints keep their own counts.
      expect((yield* call(url, "/token", formBody({ grant_type: "x" }))).status).toBe(400)
      yield* TestClock.adjust("59 seconds")
      expect((yield* call(url, "/authorize?client_id=nobody")).status).toBe(429)
      yield* TestClock.adjust("1 second")
      expect((yield* call(url, "/authorize?client_id=nobody")).status).toBe(400)
    }))

  it.scoped("/token and /revoke: 429 with Retry-After over their limits, each recovered after the window", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { rate_limits: { token: 3, revoke: 2 } } })
      for (let i = 0; i < 3; i++) expect((yield* call(url, "/token", formBody({ grant_type: "password" }))).status).toBe(400)
      const limited = yield* call(url, "/token", formBody({ grant_type: "password" }))
      expectLimited(limited, "/token")
      expect(limited.text).not.toContain("access_token")
      for (let i = 0; i < 2; i++) expect((yield* call(url, "/revoke", formBody({ token: "x" }))).status).not.toBe(429)
      expectLimited(yield* call(url, "/revoke", formBody({ token: "x" })), "/revoke")
      // Not even a malformed body gets past the limit.
      expectLimited(yield* call(url, "/token", { method: "POST", body: "%%%" }), "/token malformed")
      yield* TestClock.adjust("60 seconds")
      expect((yield* call(url, "/token", formBody({ grant_type: "password" }))).status).toBe(400)
      expect((yield* call(url, "/revoke", formBody({ token: "x" }))).status).not.toBe(429)
    }))

  it.scoped("/register: 429 with temporarily_unavailable (no longer slow_down)", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { registration: { rate_limit_per_minute: 1 } } })
      const body = JSON.stringify({ redirect_uris: ["http://127.0.0.1:50123/cb"], token_endpoint_auth_method: "none" })
      const register = call(url, "/register", { method: "POST", headers: { "content-type": "application/json" }, body })
      expect((yield* register).status).toBe(201)
      expectLimited(yield* register, "/register")
      yield* TestClock.adjust("60 seconds")
      expect((yield* register).status).toBe(201)
    }))

  it.scoped("failed bearer attempts at /mcp: invalid tokens are counted, then 429 before any lookup; valid and missing tokens are not counted", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { rate_limits: { failed_bearer: 3 } } })
      const tokens = yield* Effect.promise(() => login(url))
      const valid = () => Effect.promise(() => mcpStatus(url, tokens.access_token))
      const invalid = call(url, "/mcp", { method: "POST", headers: BAD_TOKEN, body: INITIALIZE })
      const noToken = call(url, "/mcp", { method: "POST", headers: MCP_HEADERS, body: INITIALIZE })
      for (let i = 0; i < 5; i++) expect((yield* valid()).status).toBe(200)
      for (let i = 0; i < 5; i++) expect((yield* noToken).status).toBe(401)
      for (let i = 0; i < 3; i++) {
        const res = yield* invalid
        expect(res.status).toBe(401)
        expect(res.headers["www-authenticate"]).toContain('error="invalid_token"')
      }
      const blocked = yield* invalid
      expectLimited(blocked, "invalid token over the limit")
      expect(blocked.headers["www-authenticate"]).toBeUndefined()
      // Blocked means blocked: the address waits out the window, whatever it sends now.
      expect((yield* valid()).status).toBe(429)
      expectLimited(yield* call(url, "/mcp", { method: "GET", headers: BAD_TOKEN }), "GET")
      // The OAuth endpoints are not affected.
      expect((yield* call(url, "/.well-known/oauth-authorization-server")).status).toBe(200)
      yield* TestClock.adjust("60 seconds")
      expect((yield* valid()).status).toBe(200)
      expect((yield* invalid).status).toBe(401)
    }))

  it.scoped("a limit of 0 turns that limit off", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { rate_limits: { token: 0, failed_bearer: 0 } } })
      for (let i = 0; i < 125; i++) {
        expect((yield* call(url, "/token", formBody({ grant_type: "password" }))).status).toBe(400)
      }
      for (let i = 0; i < 65; i++) {
        expect((yield* call(url, "/mcp", { method: "POST", headers: BAD_TOKEN, body: INITIALIZE })).status).toBe(401)
      }
    }))
})

describe("the client address", () => {
  const tokenFrom = (url: string, forwardedFor?: string) =>
    Effect.map(
      call(url, "/token", {
        ...formBody({ grant_type: "password" }),
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor })
        }
      }),
      (r) => r.status
    )

  it.scoped("without trust_proxy, X-Forwarded-For is ignored: the socket address is counted", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { rate_limits: { token: 2 } } })
      expect(yield* tokenFrom(url, "198.51.100.1")).toBe(400)
      expect(yield* tokenFrom(url, "198.51.100.2")).toBe(400)
      expect(yield* tokenFrom(url, "198.51.100.3")).toBe(429)
      expect(yield* tokenFrom(url)).toBe(429)
    }))

  it.scoped("with trust_proxy, the last X-Forwarded-For entry (the one the proxy appended) is the client", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { rate_limits: { token: 2 } }, http: { trust_proxy: true } })
      expect(yield* tokenFrom(url, "198.51.100.1")).toBe(400)
      expect(yield* tokenFrom(url, "198.51.100.1")).toBe(400)
      expect(yield* tokenFrom(url, "198.51.100.1")).toBe(429)
      // A client cannot escape by writing its own entries in front of the proxy's.
      expect(yield* tokenFrom(url, "203.0.113.9, 198.51.100.1")).toBe(429)
      expect(yield* tokenFrom(url, "198.51.100.1,203.0.113.9")).toBe(400)
      expect(yield* tokenFrom(url, "198.51.100.2")).toBe(400)
      // Without the header (a request straight to the server), the socket address.
      expect(yield* tokenFrom(url)).toBe(400)
      // IPv6 addresses count per /64.
      expect(yield* tokenFrom(url, "2001:db8:1:2::1")).toBe(400)
      expect(yield* tokenFrom(url, "2001:db8:1:2:ffff::9")).toBe(400)
      expect(yield* tokenFrom(url, "2001:0db8:0001:0002::7")).toBe(429)
      expect(yield* tokenFrom(url, "2001:db8:1:3::1")).toBe(400)
    }))

  it("addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64", () => {
    expect(addressKey("127.0.0.1")).toBe("127.0.0.1")
    expect(addressKey("::ffff:127.0.0.1")).toBe("127.0.0.1")
    expect(addressKey("::1")).toBe("0:0:0:0::/64")
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64")
    expect(addressKey("2001:DB8:0:0:1::1")).toBe("2001:db8:0:0::/64")
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64")
  })
})

describe("the limiter", () => {
  it("counts per key within a fixed window; blocked() reads without counting", () => {
    const limiter = makeRateLimiter({ limit: 2, windowMs: 60_000 })
    expect(limiter.hit("a", 0)).toBeUndefined()
    expect(limiter.blocked("a", 1)).toBeUndefined()
    expect(limiter.hit("a", 1_000)).toBeUndefined()
    expect(limiter.blocked("a", 1_000)).toBe(59)
    expect(limiter.hit("a", 30_000)).toBe(30)
    expect(limiter.hit("b", 30_000)).toBeUndefined()
    expect(limiter.hit("a", 59_999)).toBe(1)
    expect(limiter.hit("a", 60_000)).toBeUndefined()
    expect(limiter.blocked("a", 60_000)).toBeUndefined()
    // A window that is over is forgotten when looked at: a quiet limiter empties again.
    expect(limiter.blocked("a", 120_000)).toBeUndefined()
    expect(limiter.blocked("b", 120_000)).toBeUndefined()
    expect(limiter.size()).toBe(0)
  })

  it("memory stays bounded under a flood of distinct keys; expired windows go first", () => {
    const limiter = makeRateLimiter({ limit: 1, windowMs: 60_000, maxKeys: 100 })
    for (let i = 0; i < 10_000; i++) limiter.hit(`k${i}`, i)
    expect(limiter.size()).toBe(100)
    // The newest keys are still counted...
    expect(limiter.hit("k9999", 10_000)).toBe(60)
    // ...and after the window everything old is dropped before anything live.
    limiter.hit("fresh", 200_000)
    expect(limiter.size()).toBe(1)
  })

  it("a limit of 0 is no limiter", () => {
    const limiter = makeRateLimiter({ limit: 0, windowMs: 60_000 })
    for (let i = 0; i < 1000; i++) expect(limiter.hit("a", 0)).toBeUndefined()
    expect(limiter.size()).toBe(0)
  })
})

describe("auth.rate_limits config", () => {
  it.effect("defaults: authorize 300, token 120, revoke 120, failed_bearer 60 per minute", () =>
    Effect.gen(function* () {
      const auth = yield* decodeAuthConfig({})
      expect(auth.rate_limits).toEqual({ authorize: 300, token: 120, revoke: 120, failed_bearer: 60 })
      expect(RateLimitDefaults).toEqual(auth.rate_limits)
      const some = yield* decodeAuthConfig({ rate_limits: { token: "30", failed_bearer: 0 } })
      expect(some.rate_limits).toEqual({ authorize: 300, token: 30, revoke: 120, failed_bearer: 0 })
    }))

  it.effect("bad values and unknown keys are errors naming the key", () =>
    Effect.gen(function* () {
      for (const [key, value] of [["token", -1], ["authorize", 1.5], ["revoke", "many"], ["failed_bearer", true]] as const) {
        const e = yield* Effect.flip(decodeAuthConfig({ rate_limits: { [key]: value } }, "config.yml"))
        expect(e.file).toBe("config.yml")
        expect(e.key, key).toBe(`rate_limits.${key}`)
        expect(e.message, key).toMatch(/invalid value/)
      }
      const typo = yield* Effect.flip(decodeAuthConfig({ rate_limits: { tokens: 10 } }))
      expect(typo.key).toBe("rate_limits.tokens")
      expect(typo.message).toBe('unknown key "tokens"')
      expect(typo.fix).toContain("failed_bearer")
      const notBlock = yield* Effect.flip(decodeAuthConfig({ rate_limits: 10 }))
      expect(notBlock.key).toBe("rate_limits")
    }))
})
