/**
 * Checklist section A (registration), against the real server process on loopback with the fake
 * GitHub upstream; A6 (rate limit and bounded storage) runs the same server in-process so
 * TestClock can move the rate-limit window and the client TTL.
 */
import { readFileSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, TestClock } from "effect"
import { sha256Hex } from "../../src/domain/oauth/Tokens.js"
import { ClientRegistryLive } from "../../src/layers/oauth/ClientRegistryLive.js"
import { TokenGeneratorCrypto } from "../../src/layers/oauth/TokenGeneratorCrypto.js"
import { TokenStoreMemory } from "../../src/layers/oauth/store/TokenStoreMemory.js"
import { ClientRegistry } from "../../src/services/oauth/ClientRegistry.js"
import {
  authorizeUrl,
  challengeOf,
  type DcrClient,
  expectDirectError,
  newVerifier,
  publicClient,
  register,
  registerOk,
  send
} from "../support/AuthorizeRequests.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { type AuthServer, Browser, CONFIG_CLIENT, startAuthServer } from "../support/OAuthHarness.js"

/** Distinctive upstream app credentials, so A4 can look for them in every answer. */
const UPSTREAM = { clientId: "Iv1.upstreamAppId7f3e21", clientSecret: "upstream-app-secret-9c1d0b7a55e4" }

const REDIRECT = "http://127.0.0.1:53682/callback"

let auth: AuthServer

beforeAll(async () => {
  auth = await startAuthServer({
    fake: UPSTREAM,
    // Many registrations from one address in this file: the limit itself is A6's business.
    authYaml: "          registration:\n            rate_limit_per_minute: 1000\n"
  })
})
afterAll(async () => {
  await auth?.stop()
})

const waitFor = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 200; i++) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Register a valid client and wait for the server's "Client registered" log line naming it. */
const logMarker = async (): Promise<string> => {
  const client = await registerOk(auth.url, publicClient([REDIRECT]))
  const needle = `client_id=${client.id}`
  await waitFor(() => auth.server.stderr().includes(needle), "the registration log line")
  return needle
}

/**
 * Run `rejected` between two valid registrations: the server logs no stored client between their
 * log lines, i.e. nothing the rejected requests sent was stored.
 */
const expectNothingStored = async (rejected: () => Promise<void>) => {
  const start = await logMarker()
  await rejected()
  const end = await logMarker()
  const log = auth.server.stderr()
  const between = log.slice(log.indexOf(start) + start.length, log.indexOf(end))
  expect(between.split("\n").filter((l) => l.includes("Client registered"))).toHaveLength(1) // the end marker's own line
}

/** A rejected registration: 400 and the RFC 7591 error body, nothing else (no client credentials). */
const expectRejected = async (body: unknown, error: string) => {
  const res = await register(auth.url, body)
  expect(res.status, JSON.stringify(body)).toBe(400)
  expect(res.json, JSON.stringify(body)).toEqual({ error, error_description: expect.any(String) })
}

const basicHeader = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`

interface Redemption {
  readonly code: string
  readonly verifier: string
  readonly redirectUri: string
}

/** POST /token for `code` with the given client authentication. */
const redeem = (
  r: Redemption,
  how: { readonly basic?: readonly [string, string]; readonly form?: Readonly<Record<string, string>> }
) => {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" }
  if (how.basic !== undefined) headers["authorization"] = basicHeader(how.basic[0], how.basic[1])
  return send(`${auth.url}/token`, {
    method: "POST",
    headers,
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: r.code,
      redirect_uri: r.redirectUri,
      code_verifier: r.verifier,
      ...how.form
    }).toString()
  })
}

/** Log in as `clientId` (approving consent when asked); a fresh code. */
const codeFor = async (clientId: string, redirectUri: string): Promise<Redemption> => {
  const verifier = newVerifier()
  const url = authorizeUrl(auth.url, { client_id: clientId, redirect_uri: redirectUri, state: "a8" }, verifier)
  const back = await new Browser().follow(url, redirectUri, "approve")
  const code = back.searchParams.get("code")
  if (code === null) throw new Error(`no code: ${back}`)
  return { code, verifier, redirectUri }
}

const expectInvalidClient = (res: Awaited<ReturnType<typeof redeem>>, usedBasic: boolean) => {
  expect(res.status).toBe(401)
  expect(res.json).toEqual({ error: "invalid_client", error_description: expect.any(String) })
  expect(res.json).not.toHaveProperty("access_token")
  if (usedBasic) expect(res.headers.get("www-authenticate") ?? "").toMatch(/^Basic\b/i)
}

const expectTokens = (res: Awaited<ReturnType<typeof redeem>>) => {
  expect(res.status, res.text).toBe(200)
  expect(res.json?.["token_type"]).toBe("Bearer")
  expect(res.json?.["access_token"]).toEqual(expect.any(String))
}

describe("A. Registration (real server on loopback)", () => {
  it("A1 DCR redirect URIs with a dangerous scheme, whitespace or control characters are 400 invalid_redirect_uri, nothing stored", async () => {
    const bad = [
      "javascript:alert(document.cookie)",
      "JaVaScRiPt:alert(1)",
      "javascript://app.example.com/%0aalert(1)",
      "data:text/html,<script>alert(1)</script>",
      "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
      "vbscript:msgbox(1)",
      "VBScript:msgbox(1)",
      "file:///etc/passwd",
      " https://app.example.com/cb",
      "\thttps://app.example.com/cb",
      "https://app.example.com/cb ",
      "\u0000https://app.example.com/cb",
      "https://app.example.com/c\u0000b",
      "https://app.example.com/cb\r\nLocation: https://evil.example",
      "http://127.0.0.1:8080/c\u0007b"
    ]
    await expectNothingStored(async () => {
      for (const uri of bad) {
        await expectRejected(publicClient([uri]), "invalid_redirect_uri")
        // One bad URI among good ones spoils the whole registration.
        await expectRejected(publicClient(["https://app.example.com/cb", uri]), "invalid_redirect_uri")
      }
    })
  })

  it("A2 DCR without redirect URIs, with non-loopback http, userinfo or a fragment is 400, nothing stored", async () => {
    await expectNothingStored(async () => {
      await expectRejected({ client_name: "no uris", token_endpoint_auth_method: "none" }, "invalid_redirect_uri")
      await expectRejected(publicClient([]), "invalid_redirect_uri")
      await expectRejected({ ...publicClient([]), redirect_uris: null }, "invalid_redirect_uri")
      await expectRejected({ ...publicClient([]), redirect_uris: "https://app.example.com/cb" }, "invalid_redirect_uri")
      for (
        const uri of [
          "http://app.example.com/cb",
          "http://10.0.0.5:8080/cb",
          "http://localhost.evil.example/cb",
          "http://localhost@evil.example/cb",
          "http://127.0.0.1@evil.example/cb",
          "https://user:pass@app.example.com/cb",
          "https://app.example.com@evil.example/cb",
          "com.example.app://user@host/cb",
          "https://app.example.com/cb#fragment",
          "https://app.example.com/cb#",
          "http://127.0.0.1:9000/cb#x",
          "com.example.app:/cb#x"
        ]
      ) {
        await expectRejected(publicClient([uri]), "invalid_redirect_uri")
      }
    })
  })

  it("A3 client_uri/logo_uri javascript: are rejected; an HTML client_name is shown escaped on the consent page", async () => {
    const name = `<script>alert("pwned")</script><img src=x onerror=alert(1)>Evil & Co`
    for (const field of ["client_uri", "logo_uri", "tos_uri", "policy_uri"]) {
      for (const value of ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:image/svg+xml,<svg onload=alert(1)>", "http://evil.example/x"]) {
        await expectRejected(publicClient([REDIRECT], { client_name: name, [field]: value }), "invalid_client_metadata")
      }
    }
    const client = await registerOk(
      auth.url,
      publicClient([REDIRECT], { client_name: name, client_uri: "https://app.example.com", logo_uri: "https://app.example.com/logo.png" })
    )
    const before = auth.fake.calls.authorize
    const page = await new Browser().request(authorizeUrl(auth.url, { client_id: client.id, redirect_uri: REDIRECT, state: "a3" }))
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toContain("text/html")
    const html = await page.text()
    expect(html).toContain("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;")
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;Evil &amp; Co")
    expect(html).not.toContain("<script")
    expect(html).not.toContain("<img")
    expect(html).not.toContain("javascript:")
    expect(auth.fake.calls.authorize).toBe(before)
  })

  it("A4 the DCR response never contains the upstream provider's client id or secret", async () => {
    const before = auth.fake.requests.length
    const answers = [
      await register(auth.url, publicClient([REDIRECT])),
      await register(auth.url, { ...publicClient([REDIRECT]), token_endpoint_auth_method: "client_secret_basic" }),
      await register(auth.url, { ...publicClient([REDIRECT]), token_endpoint_auth_method: "client_secret_post" }),
      await register(auth.url, { redirect_uris: [REDIRECT] })
    ]
    for (const res of answers) {
      expect(res.status).toBe(201)
      expect(res.headers.get("cache-control")).toBe("no-store")
      expect(res.json?.["client_id"]).toEqual(expect.any(String))
      expect(res.json?.["client_id"]).not.toBe(UPSTREAM.clientId)
      expect(res.text).not.toContain(UPSTREAM.clientId)
      expect(res.text).not.toContain(UPSTREAM.clientSecret)
      expect(res.text).not.toContain(CONFIG_CLIENT.secret)
      if (res.json?.["token_endpoint_auth_method"] === "none") expect(res.json).not.toHaveProperty("client_secret")
      else expect(res.json?.["client_secret"]).not.toBe(UPSTREAM.clientSecret)
    }
    // Nor does the registration answer for a rejected request, and registering never calls upstream.
    const rejected = await register(auth.url, publicClient(["javascript:alert(1)"]))
    expect(rejected.text).not.toContain(UPSTREAM.clientId)
    expect(auth.fake.requests.length).toBe(before)
  })

  it("A5 unsupported or inconsistent grant_types, response_types, token_endpoint_auth_method are 400 invalid_client_metadata", async () => {
    const cases: ReadonlyArray<Record<string, unknown>> = [
      { grant_types: ["implicit"] },
      { grant_types: ["client_credentials"] },
      { grant_types: ["password"] },
      { grant_types: ["urn:ietf:params:oauth:grant-type:device_code"] },
      { grant_types: ["authorization_code", "implicit"] },
      { grant_types: ["refresh_token"] },
      { grant_types: [] },
      { grant_types: "authorization_code" },
      { response_types: ["token"] },
      { response_types: ["code id_token"] },
      { response_types: ["code", "token"] },
      { response_types: [] },
      { grant_types: ["refresh_token"], response_types: ["code"] },
      { token_endpoint_auth_method: "private_key_jwt" },
      { token_endpoint_auth_method: "client_secret_jwt" },
      { token_endpoint_auth_method: "tls_client_auth" },
      { token_endpoint_auth_method: "NONE" },
      { token_endpoint_auth_method: ["none"] }
    ]
    await expectNothingStored(async () => {
      for (const c of cases) await expectRejected({ ...publicClient([REDIRECT]), ...c }, "invalid_client_metadata")
      // Not even JSON, or not an object.
      for (const raw of ["not json", "[]", "null", "42"]) {
        const res = await send(`${auth.url}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: raw })
        expect(res.status).toBe(400)
        expect(res.json?.["error"]).toBe("invalid_client_metadata")
      }
    })
  })

  it("A7 a pre-registered client with a redirect URI not in its list is a direct 400", async () => {
    const before = auth.fake.calls.authorize
    const registered = CONFIG_CLIENT.redirectUri // http://127.0.0.1:49153/oauth/callback
    for (
      const uri of [
        "https://evil.example/oauth/callback",
        "http://localhost:49153/oauth/callback",
        "http://127.0.0.1:49153/oauth/callback/",
        "http://127.0.0.1:49153/oauth/other",
        "http://127.0.0.1:49153/oauth/callback?next=https://evil.example",
        "http://127.0.0.1:49153/oauth/x/../callback",
        "http://evil@127.0.0.1:49153/oauth/callback",
        "https://127.0.0.1:49153/oauth/callback"
      ]
    ) {
      const url = authorizeUrl(auth.url, { client_id: CONFIG_CLIENT.id, redirect_uri: uri, state: "a7" })
      expectDirectError(await send(url), "invalid_request")
      // A browser gets an HTML page, still no redirect.
      const page = await send(url, { headers: { accept: "text/html" } })
      expect(page.status).toBe(400)
      expect(page.headers.get("location")).toBeNull()
      expect(page.headers.get("content-type")).toContain("text/html")
    }
    expect(auth.fake.calls.authorize).toBe(before)
    // The registered URI itself goes straight upstream (config clients skip consent).
    const ok = await send(authorizeUrl(auth.url, { client_id: CONFIG_CLIENT.id, redirect_uri: registered, state: "a7" }))
    expect(ok.status).toBe(302)
    expect(ok.headers.get("location")).toContain(auth.fake.config.auth_url)
  })

  it("A8 wrong or missing secret, or the wrong method, is 401 invalid_client; the code is not consumed", async () => {
    // The config client accepts client_secret_basic and client_secret_post.
    const cfg = await codeFor(CONFIG_CLIENT.id, CONFIG_CLIENT.redirectUri)
    expectInvalidClient(await redeem(cfg, { basic: [CONFIG_CLIENT.id, "wrong-secret"] }), true)
    expectInvalidClient(await redeem(cfg, { basic: [CONFIG_CLIENT.id, ""] }), true)
    expectInvalidClient(await redeem(cfg, { basic: [CONFIG_CLIENT.id, `${CONFIG_CLIENT.secret}x`] }), true)
    expectInvalidClient(await redeem(cfg, { basic: ["someone-else", CONFIG_CLIENT.secret] }), true)
    const garbage = await send(`${auth.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Basic !!not-base64!!" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: cfg.code, code_verifier: cfg.verifier }).toString()
    })
    expectInvalidClient(garbage, true)
    expectInvalidClient(await redeem(cfg, { form: { client_id: CONFIG_CLIENT.id, client_secret: "wrong-secret" } }), false)
    expectInvalidClient(await redeem(cfg, { form: { client_id: CONFIG_CLIENT.id } }), false)
    expectInvalidClient(await redeem(cfg, {}), false)
    // None of that consumed the code: the right credentials still redeem it, once.
    expectTokens(await redeem(cfg, { basic: [CONFIG_CLIENT.id, CONFIG_CLIENT.secret] }))

    // A DCR client registered for client_secret_post may not use Basic (and the reverse).
    const post = await registerOk(auth.url, { ...publicClient([REDIRECT]), token_endpoint_auth_method: "client_secret_post" })
    const basic = await registerOk(auth.url, { ...publicClient([REDIRECT]), token_endpoint_auth_method: "client_secret_basic" })
    const pub = await registerOk(auth.url, publicClient([REDIRECT]))
    const secretOf = (c: DcrClient) => c.secret ?? ""
    expect(secretOf(post)).not.toBe("")
    expect(secretOf(basic)).not.toBe("")

    const postCode = await codeFor(post.id, REDIRECT)
    expectInvalidClient(await redeem(postCode, { basic: [post.id, secretOf(post)] }), true)
    expectInvalidClient(await redeem(postCode, { form: { client_id: post.id } }), false)
    expectInvalidClient(await redeem(postCode, { form: { client_id: post.id, client_secret: secretOf(basic) } }), false)
    expectTokens(await redeem(postCode, { form: { client_id: post.id, client_secret: secretOf(post) } }))

    const basicCode = await codeFor(basic.id, REDIRECT)
    expectInvalidClient(await redeem(basicCode, { form: { client_id: basic.id, client_secret: secretOf(basic) } }), false)
    expectInvalidClient(await redeem(basicCode, { form: { client_id: basic.id } }), false)
    expectInvalidClient(await redeem(basicCode, { basic: [basic.id, secretOf(post)] }), true)
    expectTokens(await redeem(basicCode, { basic: [basic.id, secretOf(basic)] }))

    // A public client that sends a secret is using a method it did not register.
    const pubCode = await codeFor(pub.id, REDIRECT)
    expectInvalidClient(await redeem(pubCode, { form: { client_id: pub.id, client_secret: "made-up" } }), false)
    expectInvalidClient(await redeem(pubCode, { basic: [pub.id, "made-up"] }), true)
    expectTokens(await redeem(pubCode, { form: { client_id: pub.id } }))
  })

  it("A9 secrets are compared as hashes: the stored hash itself, a prefix or a longer secret never authenticates", async () => {
    const client = await registerOk(auth.url, { ...publicClient([REDIRECT]), token_endpoint_auth_method: "client_secret_post" })
    const secret = client.secret ?? ""
    const r = await codeFor(client.id, REDIRECT)
    for (const guess of [sha256Hex(secret), secret.slice(0, -1), `${secret}A`, secret.toLowerCase() === secret ? secret.toUpperCase() : secret.toLowerCase()]) {
      expectInvalidClient(await redeem(r, { form: { client_id: client.id, client_secret: guess } }), false)
    }
    // PKCE: the challenge itself presented as the verifier is refused (verifier is hashed first).
    expect((await redeem(r, { form: { client_id: client.id, client_secret: secret, code_verifier: challengeOf(r.verifier) } })).json?.["error"])
      .toBe("invalid_grant")
  })

  it.effect("A9 only a hash of a client secret is stored, and every secret-hash check goes through constantTimeEqual", () =>
    Effect.gen(function* () {
      const registry = yield* ClientRegistry
      const registration = yield* registry.register(
        {
          redirect_uris: [REDIRECT],
          grant_types: ["authorization_code"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_post"
        },
        ["mxcp:access"]
      )
      const secret = registration.clientSecret ?? ""
      expect(secret).not.toBe("")
      const stored = Option.getOrThrow(yield* registry.find(registration.client.clientId))
      expect(stored.secretHash).toBe(sha256Hex(secret))
      expect(JSON.stringify(stored)).not.toContain(secret)
      const config = Option.getOrThrow(yield* registry.find(CONFIG_CLIENT.id))
      expect(config.secretHash).toBe(sha256Hex(CONFIG_CLIENT.secret))
      expect(JSON.stringify(config)).not.toContain(CONFIG_CLIENT.secret)

      // Code review as a test: wherever server code reads a stored secret hash, it is an argument
      // of constantTimeEqual (never ===), compared against sha256Hex of what was presented.
      const files = readdirSync("src", { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))
      const uses = files.flatMap((f) => {
        const text = readFileSync(join("src", f), "utf8")
        return [...text.matchAll(/^.*\.secretHash\b.*$/gm)].map((m) => ({ file: f, line: m[0].trim() }))
      })
      const comparisons = uses.filter((u) => !/secretHash\s*[!=]==\s*undefined/.test(u.line))
      expect(comparisons.length).toBeGreaterThan(0)
      for (const u of comparisons) {
        expect(u.line, u.file).toMatch(/constantTimeEqual(?:Hex)?\(sha256Hex\([^)]*\),\s*[\w.]*secretHash\)/)
      }
    }).pipe(
      Effect.provide(
        ClientRegistryLive({
          clients: [
            {
              client_id: CONFIG_CLIENT.id,
              name: "Config Client",
              client_secret: Redacted.make(CONFIG_CLIENT.secret),
              redirect_uris: [CONFIG_CLIENT.redirectUri],
              grant_types: ["authorization_code"],
              scopes: ["mxcp:access"]
            }
          ]
        }).pipe(Layer.provide(Layer.merge(TokenGeneratorCrypto, TokenStoreMemory)))
      )
    ))
})

describe("A6 registration flood (in-process, TestClock)", () => {
  it.scoped("A6 a registration flood from one address gets 429 with Retry-After after the configured limit, and recovers after the window", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { auth: { registration: { rate_limit_per_minute: 3 } } })
      const attempt = (body: unknown = publicClient([REDIRECT])) => Effect.promise(() => register(url, body))
      for (let i = 0; i < 3; i++) expect((yield* attempt()).status).toBe(201)
      for (const body of [publicClient([REDIRECT]), publicClient(["javascript:alert(1)"])]) {
        const limited = yield* attempt(body)
        expect(limited.status).toBe(429)
        const retryAfter = Number(limited.headers.get("retry-after"))
        expect(Number.isInteger(retryAfter)).toBe(true)
        expect(retryAfter).toBeGreaterThanOrEqual(1)
        expect(retryAfter).toBeLessThanOrEqual(60)
        expect(limited.json?.["error"]).toEqual(expect.any(String))
        expect(limited.text).not.toContain("client_id")
      }
      yield* TestClock.adjust("30 seconds")
      expect((yield* attempt()).status).toBe(429)
      yield* TestClock.adjust("30 seconds")
      expect((yield* attempt()).status).toBe(201)
    }))

  it.scoped("A6 stored registrations stay bounded: at max_clients, never-used clients older than unused_client_ttl are expired", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, {
        auth: { registration: { rate_limit_per_minute: 100, max_clients: 2, unused_client_ttl: 3600 } }
      })
      const known = (id: string) =>
        Effect.promise(() => send(authorizeUrl(url, { client_id: id, redirect_uri: REDIRECT, state: "a6" }))).pipe(
          Effect.map((res) => res.status === 200)
        )
      const reg = Effect.promise(() => registerOk(url, publicClient([REDIRECT])))
      const first = yield* reg
      const second = yield* reg
      yield* TestClock.adjust("3601 seconds")
      const third = yield* reg
      expect(yield* known(first.id)).toBe(false)
      expect(yield* known(second.id)).toBe(true)
      const fourth = yield* reg
      expect(yield* known(second.id)).toBe(false)
      expect(yield* known(third.id)).toBe(true)
      expect(yield* known(fourth.id)).toBe(true)
      // An evicted client's id gets the unknown-client answer: a direct 400.
      expectDirectError(yield* Effect.promise(() => send(authorizeUrl(url, { client_id: first.id, redirect_uri: REDIRECT }))), "invalid_request")
    }))
})
