/**
 * Checklist K6: `auth.registration.max_clients` is a hard bound on stored dynamic clients,
 * whatever the number of source addresses; when nothing may be evicted, /register answers 503
 * `temporarily_unavailable` with `Retry-After`. Every rate limiter counts an IPv6 /64 as one
 * client and an IPv4-mapped IPv6 address as its IPv4 address. In-process server on loopback
 * with `trust_proxy` (the last `X-Forwarded-For` entry is the client address) and TestClock;
 * under the `oauth-sqlite` project the same tests run against the SQLite store.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { addressKey } from "../../src/http/server/ClientAddress.js"
import { authorizeUrl, publicClient, send } from "../support/AuthorizeRequests.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer, type InProcessOptions } from "../support/InProcess.js"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"
import { login, refresh, type TestClient } from "../support/OAuthFlows.js"

const REDIRECT = "http://127.0.0.1:53682/callback"
const TTL = 3600

const server = (options: InProcessOptions) =>
  Effect.flatMap(scopedFakeGitHub(), (fake) => inProcessServer(fake, { ...options, http: { trust_proxy: true } }))

/** POST /register as if from `address` (the proxy's X-Forwarded-For entry). */
const registerFrom = (url: string, address: string) =>
  Effect.promise(() =>
    send(`${url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": address },
      body: JSON.stringify(publicClient([REDIRECT]))
    })
  )

/** The client id is known to /authorize (its consent page), not the unknown-client 400. */
const known = (url: string, id: string) =>
  Effect.promise(() =>
    send(authorizeUrl(url, { client_id: id, redirect_uri: REDIRECT, state: "k6" }), {
      headers: { "x-forwarded-for": "192.0.2.250" }
    })
  ).pipe(Effect.map((res) => res.status === 200))

const expectFull = (res: { status: number; headers: Headers; json: Record<string, unknown> | undefined; text: string }) => {
  expect(res.status).toBe(503)
  const retryAfter = Number(res.headers.get("retry-after"))
  expect(Number.isInteger(retryAfter)).toBe(true)
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  expect(res.headers.get("cache-control")).toContain("no-store")
  expect(res.json).toEqual({ error: "temporarily_unavailable", error_description: expect.stringMatching(/retry after \d+ seconds/) })
  expect(res.text).not.toContain("client_id")
  return retryAfter
}

/** 40 source addresses: 20 IPv4 and 20 IPv6 ones, each in its own /64. */
const ADDRESSES = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `198.51.100.${i + 1}` : `2001:db8:${i}::1`))

/** `perAddress` registrations from each address, 20 requests in flight at a time. */
const flood = (url: string, perAddress: number) =>
  Effect.all(
    ADDRESSES.flatMap((address) => Array.from({ length: perAddress }, () => registerFrom(url, address))),
    { concurrency: 20 }
  )

describe("K6 max_clients is a hard cap (in-process, trust_proxy, TestClock)", () => {
  it.scoped("K6 a registration flood from 40 addresses stores at most max_clients; the rest get 503 with Retry-After", () =>
    Effect.gen(function* () {
      const { url } = yield* server({
        auth: { registration: { rate_limit_per_minute: 5, max_clients: 30, unused_client_ttl: TTL } }
      })
      const answers = yield* flood(url, 5)
      expect(answers).toHaveLength(200)
      const created = answers.filter((a) => a.status === 201)
      expect(created).toHaveLength(30)
      for (const a of answers.filter((a) => a.status !== 201)) {
        // Every refused one: the cap (not the per-address limit, which was never reached).
        const retryAfter = expectFull(a)
        expect(retryAfter).toBeGreaterThan(TTL - 60)
        expect(retryAfter).toBeLessThanOrEqual(TTL)
      }
      const ids = created.map((a) => String(a.json?.["client_id"]))
      for (const id of ids) expect(yield* known(url, id)).toBe(true)

      // Past the TTL (and the rate-limit windows), a second flood evicts as it registers: each
      // new client pushes out one of the first 30, and never more than 30 are stored.
      yield* TestClock.adjust(`${TTL + 1} seconds`)
      const second = yield* flood(url, 2)
      const createdAgain = second.filter((a) => a.status === 201)
      expect(createdAgain).toHaveLength(30)
      for (const a of second.filter((a) => a.status !== 201)) expectFull(a)
      const all = [...ids, ...createdAgain.map((a) => String(a.json?.["client_id"]))]
      const stillKnown = yield* Effect.filter(all, (id) => known(url, id))
      expect(stillKnown).toHaveLength(30)
      expect(new Set(stillKnown)).toEqual(new Set(createdAgain.map((a) => String(a.json?.["client_id"]))))
    }))

  it.scoped("K6 a client with a live session is never evicted; with nothing evictable, /register is 503 and existing clients keep working", () =>
    Effect.gen(function* () {
      const { url } = yield* server({
        auth: { registration: { rate_limit_per_minute: 100, max_clients: 2, unused_client_ttl: TTL } }
      })
      const registered = (address: string) =>
        Effect.map(registerFrom(url, address), (res): TestClient => {
          expect(res.status).toBe(201)
          return { id: String(res.json?.["client_id"]), redirectUri: REDIRECT }
        })
      const inUse = yield* registered("198.51.100.1")
      const session = yield* Effect.promise(() => login(url, { client: inUse }))
      const idle = yield* registered("198.51.100.2")
      yield* TestClock.adjust(`${TTL + 1} seconds`)
      // Both are past the TTL; only the idle one may go.
      const third = yield* registered("198.51.100.3")
      expect(yield* known(url, idle.id)).toBe(false)
      expect(yield* known(url, inUse.id)).toBe(true)
      expect(yield* known(url, third.id)).toBe(true)
      // Now one client is in use and the other young: refused, retry when the young one is evictable.
      const refused = yield* registerFrom(url, "198.51.100.4")
      expect(expectFull(refused)).toBe(TTL)
      // The session of the client in use goes on.
      const rotated = yield* Effect.promise(() => refresh(url, session.refresh_token, { client: inUse }))
      expect(rotated.status).toBe(200)
    }))
})

describe("K6 rate limits count IPv6 per /64 and IPv4-mapped IPv6 as IPv4 (every limiter)", () => {
  /** Three spellings of one client (the last two must be counted with the first) and one other client. */
  const CASES = [
    { same: ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "[2001:0DB8:0001:0002::7]:443"], other: "2001:db8:1:3::1" },
    { same: ["198.51.100.7", "::ffff:198.51.100.7", "::FFFF:c633:6407"], other: "198.51.100.8" },
    { same: ["203.0.113.5", "0:0:0:0:0:ffff:203.0.113.5", "203.0.113.5:4711"], other: "::ffff:203.0.113.6" }
  ] as const

  const LIMITS = { authorize: 2, token: 2, revoke: 2, failed_bearer: 2 }

  const requests = (url: string): Record<string, (address: string) => Effect.Effect<number>> => {
    const status = (path: string, init: RequestInit & { headers: Record<string, string> }) => (address: string) =>
      Effect.promise(() =>
        send(`${url}${path}`, { ...init, headers: { ...init.headers, "x-forwarded-for": address } })
      ).pipe(Effect.map((res) => res.status))
    const form = { "content-type": "application/x-www-form-urlencoded" }
    return {
      "/register": status("/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(publicClient([REDIRECT]))
      }),
      "/authorize": status("/authorize?client_id=nobody", { headers: {} }),
      "/token": status("/token", { method: "POST", headers: form, body: "grant_type=password" }),
      "/revoke": status("/revoke", { method: "POST", headers: form, body: "token=x" }),
      "failed bearer": status("/mcp", {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `Bearer ${"A".repeat(43)}` },
        body: initializeBody("k6")
      })
    }
  }

  it.scoped("K6 every spelling of one client address shares its count at /register, /authorize, /token, /revoke and failed bearer attempts", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ auth: { rate_limits: LIMITS, registration: { rate_limit_per_minute: 2 } } })
      for (const [endpoint, request] of Object.entries(requests(url))) {
        for (const { same, other } of CASES) {
          const [a, b, c] = same
          expect(yield* request(a), `${endpoint} ${a}`).not.toBe(429)
          expect(yield* request(b), `${endpoint} ${b}`).not.toBe(429)
          expect(yield* request(c), `${endpoint} ${c} counted with ${a}`).toBe(429)
          expect(yield* request(other), `${endpoint} ${other}`).not.toBe(429)
        }
      }
    }))

  it("K6 addressKey: IPv4 as is (a port dropped), IPv4-mapped IPv6 in any spelling as IPv4, other IPv6 by /64", () => {
    expect(addressKey("198.51.100.7")).toBe("198.51.100.7")
    for (const mapped of ["::ffff:198.51.100.7", "::FFFF:198.51.100.7", "0:0:0:0:0:ffff:198.51.100.7", "::ffff:c633:6407", "[::ffff:198.51.100.7]", "198.51.100.7:8080"]) {
      expect(addressKey(mapped), mapped).toBe("198.51.100.7")
    }
    for (const v6 of ["2001:db8:1:2::1", "2001:DB8:1:2:FFFF::9", "2001:0db8:0001:0002:0000:0000:0000:0007", "[2001:db8:1:2::7]:443", "2001:db8:1:2::1%eth0"]) {
      expect(addressKey(v6), v6).toBe("2001:db8:1:2::/64")
    }
    expect(addressKey("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64")
    expect(addressKey("::1")).toBe("0:0:0:0::/64")
    // Not an address: its own key, never merged with a real one.
    expect(addressKey("1::2::3")).toBe("1::2::3")
    expect(addressKey("unknown")).toBe("unknown")
  })
})
