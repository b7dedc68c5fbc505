/**
 * Consent page and upstream callback (security checklist C20–C28), against the real HTTP server on
 * loopback: the `dist/main.js` process for most rows, the in-process server (same layers, TestClock)
 * where time must move or the base URL must be https.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { type AuthServer, Browser, consentForm, startAuthServer } from "../support/OAuthHarness.js"

const CALLBACK_PATH = "/github/callback"
const HOSTILE_NAME = `<img src=x onerror=alert(1)> "Evil" & 'Co'`
const SCRIPT = "<script>alert(1)</script>"
/** A Node/V8 stack frame, e.g. `at foo (/x/y.js:1:2)`. */
const STACK_FRAME = /\bat\s+\S*\s*\(?[^\s()]+\.[cm]?[jt]s:\d+:\d+\)?/

interface Registered {
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: string
}

interface Started {
  /** The /authorize URL. */
  readonly url: string
  readonly state: string
}

const challengeOf = async (verifier: string) =>
  Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))).toString("base64url")

/** RFC 7591 registration of a public client with a loopback redirect URI. */
const register = async (base: string, name = "Consent Test Client"): Promise<Registered> => {
  const redirectUri = `http://127.0.0.1:${40000 + Math.floor(Math.random() * 20000)}/cb`
  const res = await fetch(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none"
    })
  })
  expect(res.status).toBe(201)
  const body = (await res.json()) as { client_id: string; scope: string }
  return { clientId: body.client_id, redirectUri, scope: body.scope }
}

let counter = 0

/** An /authorize URL with a real S256 challenge and a fresh client state. */
const authorizeUrl = async (base: string, client: Registered): Promise<Started> => {
  counter += 1
  const state = `client-state-${counter}`
  const verifier = `verifier-${counter}-${Math.random().toString(36).slice(2)}`.padEnd(64, "v")
  const params = new URLSearchParams({
    response_type: "code",
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256"
  })
  return { url: `${base}/authorize?${params}`, state }
}

/** Consent approved and upstream login done in `browser`: the fake's redirect back to our callback. */
const upstreamCallback = (browser: Browser, base: string, start: Started): Promise<URL> =>
  browser.follow(start.url, `${base}${CALLBACK_PATH}`, "approve")

/** GET the consent page in `browser`; its HTML, checked to be a 200 HTML page. */
const consentPage = async (browser: Browser, start: Started): Promise<{ res: Response; html: string }> => {
  const res = await browser.request(start.url)
  expect(res.status).toBe(200)
  expect(res.headers.get("content-type")).toContain("text/html")
  return { res, html: await res.text() }
}

const postConsent = (browser: Browser | undefined, base: string, fields: Record<string, string>) => {
  const init: RequestInit = {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString()
  }
  return browser === undefined ? fetch(`${base}/consent`, { ...init, redirect: "manual" }) : browser.request(`${base}/consent`, init)
}

/** A response that is the client's redirect: its Location parsed, after checking it goes there. */
const clientRedirect = (res: Response, client: Registered): URL => {
  expect(res.status).toBe(302)
  const location = res.headers.get("location")
  expect(location).not.toBeNull()
  const url = new URL(location!)
  expect(`${url.origin}${url.pathname}`).toBe(client.redirectUri)
  return url
}

/** The client's error redirect: `error`, the client's `state`, `iss`, and never a `code`. */
const expectErrorRedirect = (url: URL, start: Started, base: string, errors: ReadonlyArray<string>) => {
  expect(errors).toContain(url.searchParams.get("error"))
  expect(url.searchParams.get("state")).toBe(start.state)
  expect(url.searchParams.get("iss")).toBe(base)
  expect(url.searchParams.has("code")).toBe(false)
}

/** A direct (non-redirect) rejection: 4xx, no Location, no code and no stack trace in the body. */
const expectDirectRejection = async (res: Response, statuses: ReadonlyArray<number>) => {
  expect(statuses).toContain(res.status)
  expect(res.headers.get("location")).toBeNull()
  const body = await res.text()
  expect(body).not.toMatch(STACK_FRAME)
  expect(body).not.toMatch(/[?&]code=/)
  return body
}

// The server process starts while the in-process tests run (they come first in this file).
let serverProcess: Promise<AuthServer>
beforeAll(() => {
  serverProcess = startAuthServer()
  // Awaited (and any failure reported) by the process tests' own beforeAll.
  serverProcess.catch(() => undefined)
})
afterAll(async () => {
  const auth = await serverProcess.catch(() => undefined)
  await auth?.stop()
})

describe("consent and callback in process (TestClock, https base URL)", () => {
  it.scoped("C22 with an https base URL the binding cookie is Secure and __Host- prefixed", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { http: { base_url: "https://mcp.example.test" } })
      const res = yield* Effect.promise(async () => {
        const client = await register(url)
        return (await consentPage(new Browser(), await authorizeUrl(url, client))).res
      })
      expect(res.headers.get("x-frame-options")).toBe("DENY")
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
      const cookies = res.headers.getSetCookie()
      expect(cookies).toHaveLength(1)
      const cookie = cookies[0]!
      expect(cookie.startsWith("__Host-")).toBe(true)
      const attributes = cookie.split(";").map((a) => a.trim().toLowerCase())
      expect(attributes).toContain("secure")
      expect(attributes).toContain("httponly")
      expect(attributes).toContain("samesite=lax")
      // __Host- requires Path=/ and no Domain.
      expect(attributes).toContain("path=/")
      expect(attributes.some((a) => a.startsWith("domain="))).toBe(false)
    }))

  it.scoped("C24 callback with an unknown, expired or used state, or a replay → direct 400, no redirect", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const client = yield* Effect.promise(() => register(url))
      const browser = new Browser()
      const get = (target: string) => Effect.promise(() => browser.request(target))
      const rejected = (res: Response) => Effect.promise(() => expectDirectRejection(res, [400]))
      const callbackFor = Effect.promise(async () => upstreamCallback(browser, url, await authorizeUrl(url, client)))

      // Unknown state (the browser does hold a binding cookie).
      yield* callbackFor
      yield* rejected(yield* get(`${url}${CALLBACK_PATH}?state=${"x".repeat(43)}&code=abc`))
      yield* rejected(yield* get(`${url}${CALLBACK_PATH}?code=abc`))

      // Expired: approved, then GitHub answers after the 10-minute state lifetime.
      const expired = yield* callbackFor
      const exchanges = fake.calls.tokenExchange
      yield* TestClock.adjust("11 minutes")
      yield* rejected(yield* get(expired.toString()))
      expect(fake.calls.tokenExchange).toBe(exchanges)

      // Used: a state already consumed by a callback (here an upstream error), sent again with
      // the valid code GitHub issued for it.
      const used = yield* callbackFor
      const errored = new URL(used)
      errored.searchParams.delete("code")
      errored.searchParams.set("error", "access_denied")
      const first = yield* get(errored.toString())
      expect(first.status).toBe(302)
      expect(new URL(first.headers.get("location")!).searchParams.get("error")).toBe("access_denied")
      yield* rejected(yield* get(used.toString()))

      // Replay: a callback that succeeded, sent again verbatim.
      const good = yield* callbackFor
      const ok = yield* get(good.toString())
      expect(ok.status).toBe(302)
      expect(new URL(ok.headers.get("location")!).searchParams.get("code")).toBeTruthy()
      const before = fake.calls.tokenExchange
      yield* rejected(yield* get(good.toString()))
      expect(fake.calls.tokenExchange).toBe(before)
    }))
})

describe("consent and upstream callback against the server process (C20–C28)", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await serverProcess
  })

  it("C20 the consent page names the client (escaped), redirect host, scopes and GitHub; nothing goes upstream before approval", async () => {
    const client = await register(auth.url, HOSTILE_NAME)
    const start = await authorizeUrl(auth.url, client)
    const before = auth.fake.calls.authorize
    const browser = new Browser()
    const { res, html } = await consentPage(browser, start)
    expect(res.headers.get("location")).toBeNull()
    expect(auth.fake.calls.authorize).toBe(before)

    // The client name, escaped: no live markup from it.
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt; &quot;Evil&quot; &amp; &#39;Co&#39;")
    expect(html).not.toContain("<img")
    expect(html).not.toContain(`"Evil"`)
    // Where the browser goes back to, what is asked for, and who logs the user in.
    expect(html).toContain(new URL(client.redirectUri).host)
    const scopes = client.scope.split(" ").filter((s) => s !== "")
    expect(scopes.length).toBeGreaterThan(0)
    for (const scope of scopes) expect(html).toContain(scope)
    expect(html).toContain("GitHub")
    // The form: POST /consent, hidden flow + csrf inputs, approve and deny buttons.
    expect(html).toMatch(/<form[^>]*method="post"[^>]*action="\/consent"/i)
    expect(html).toMatch(/<input type="hidden" name="flow" value="[^"]+">/)
    expect(html).toMatch(/<input type="hidden" name="csrf" value="[^"]+">/)
    expect(html).toMatch(/<button[^>]*name="decision" value="approve"/)
    expect(html).toMatch(/<button[^>]*name="decision" value="deny"/)

    // Only approval sends the browser to GitHub.
    const approved = await browser.decide(start.url, html, "approve")
    expect(approved.status).toBe(302)
    expect(approved.headers.get("location")).toMatch(new RegExp(`^${auth.fake.config.auth_url}\\?`))
    expect(auth.fake.calls.authorize).toBe(before)
  })

  it("C21 consent POST without the CSRF token, with another flow's token, or without the cookie is rejected", async () => {
    const client = await register(auth.url)
    const browser = new Browser()
    const first = consentForm((await consentPage(browser, await authorizeUrl(auth.url, client))).html)
    const second = consentForm((await consentPage(browser, await authorizeUrl(auth.url, client))).html)
    expect(first.flow).not.toBe(second.flow)
    // Another browser with a binding cookie of its own (from its own flow).
    const other = new Browser()
    await consentPage(other, await authorizeUrl(auth.url, client))
    expect(other.cookies.size).toBe(1)
    const before = auth.fake.calls.authorize

    const attempts: Array<[string, Browser | undefined, Record<string, string>]> = [
      ["no csrf", browser, { flow: first.flow, decision: "approve" }],
      ["empty csrf", browser, { flow: first.flow, csrf: "", decision: "approve" }],
      ["another flow's csrf", browser, { flow: first.flow, csrf: second.csrf, decision: "approve" }],
      ["a forged csrf", browser, { flow: first.flow, csrf: "A".repeat(43), decision: "approve" }],
      ["no cookie", undefined, { flow: first.flow, csrf: first.csrf, decision: "approve" }],
      ["another browser's cookie", other, { flow: first.flow, csrf: first.csrf, decision: "approve" }]
    ]
    for (const [label, who, fields] of attempts) {
      const res = await postConsent(who, auth.url, fields)
      expect([400, 403], label).toContain(res.status)
      expect(res.headers.get("location"), label).toBeNull()
      expect(await res.text(), label).not.toMatch(STACK_FRAME)
    }
    expect(auth.fake.calls.authorize).toBe(before)

    // The token of the second flow still works for the second flow, in the right browser.
    const ok = await postConsent(browser, auth.url, { flow: second.flow, csrf: second.csrf, decision: "approve" })
    expect(ok.status).toBe(302)
    expect(ok.headers.get("location")).toMatch(new RegExp(`^${auth.fake.config.auth_url}\\?`))
  })

  it("C22 the consent page forbids framing; the binding cookie is HttpOnly and SameSite=Lax", async () => {
    const client = await register(auth.url)
    const { res } = await consentPage(new Browser(), await authorizeUrl(auth.url, client))
    expect(res.headers.get("x-frame-options")).toBe("DENY")
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
    const cookies = res.headers.getSetCookie()
    expect(cookies).toHaveLength(1)
    const cookie = cookies[0]!
    const attributes = cookie.split(";").map((a) => a.trim().toLowerCase())
    expect(attributes).toContain("httponly")
    expect(attributes).toContain("samesite=lax")
    expect(attributes).toContain("path=/")
    // Plain http loopback base: no Secure (the browser would drop it), no __Host- prefix.
    expect(attributes).not.toContain("secure")
    expect(cookie.startsWith("__Host-")).toBe(false)
  })

  it("C23 a callback finished in another browser (no binding cookie) is rejected, mints no code, and burns the state", async () => {
    const client = await register(auth.url)
    const start = await authorizeUrl(auth.url, client)
    const browserA = new Browser()
    const callback = await upstreamCallback(browserA, auth.url, start)
    expect(callback.searchParams.get("code")).toBeTruthy()
    const exchanges = auth.fake.calls.tokenExchange

    const inB = await new Browser().request(callback.toString())
    const bodyB = await expectDirectRejection(inB, [400, 403])
    expect(bodyB).toMatch(/access_denied|invalid_request/)
    expect(auth.fake.calls.tokenExchange).toBe(exchanges)

    // The state was single use: browser A cannot finish it afterwards either.
    const inA = await browserA.request(callback.toString())
    await expectDirectRejection(inA, [400])
    expect(auth.fake.calls.tokenExchange).toBe(exchanges)
    expect(browserA.visited.some((u) => u.startsWith(client.redirectUri))).toBe(false)
  })

  it("C25 a DCR client is asked for consent on every authorization, even in the same browser", async () => {
    const client = await register(auth.url)
    const browser = new Browser()
    for (let round = 0; round < 2; round++) {
      const start = await authorizeUrl(auth.url, client)
      const { html } = await consentPage(browser, start)
      expect(html).toContain('name="decision" value="approve"')
      const approved = await browser.decide(start.url, html, "approve")
      expect(approved.status).toBe(302)
      // Finish the whole login, so the second round follows a completed grant.
      let next = new URL(approved.headers.get("location")!)
      while (!next.toString().startsWith(client.redirectUri)) {
        const res = await browser.request(next.toString())
        expect(res.status).toBe(302)
        next = new URL(res.headers.get("location")!, next)
      }
      expect(next.searchParams.get("code")).toBeTruthy()
      expect(next.searchParams.get("state")).toBe(start.state)
    }
  })

  it("C26 deny → 302 to the client's redirect URI with error=access_denied, its state and iss", async () => {
    const client = await register(auth.url)
    const start = await authorizeUrl(auth.url, client)
    const before = auth.fake.calls.authorize
    const browser = new Browser()
    const { html } = await consentPage(browser, start)
    const denied = await browser.decide(start.url, html, "deny")
    expectErrorRedirect(clientRedirect(denied, client), start, auth.url, ["access_denied"])
    expect(auth.fake.calls.authorize).toBe(before)
    // A denied flow is over: approving it afterwards does nothing.
    const late = await browser.decide(start.url, html, "approve")
    await expectDirectRejection(late, [400, 403])
  })

  it("C27 upstream access_denied or a bad code → error redirect; upstream text is never echoed raw; no stack trace", async () => {
    const client = await register(auth.url)

    // The user says no at GitHub.
    auth.fake.setDenyAuthorization(true)
    try {
      const start = await authorizeUrl(auth.url, client)
      const back = await new Browser().follow(start.url, client.redirectUri, "approve")
      expectErrorRedirect(back, start, auth.url, ["access_denied"])
      expect(back.toString()).not.toContain("denied%20your%20application")
      expect(back.toString()).not.toContain("docs.github.com")
    } finally {
      auth.fake.setDenyAuthorization(false)
    }

    // A code GitHub does not know.
    {
      const start = await authorizeUrl(auth.url, client)
      const browser = new Browser()
      const callback = await upstreamCallback(browser, auth.url, start)
      callback.searchParams.set("code", "0000000000bogus")
      const res = await browser.request(callback.toString())
      expectErrorRedirect(clientRedirect(res, client), start, auth.url, ["server_error"])
      const body = await res.text()
      expect(body).not.toMatch(STACK_FRAME)
      expect(res.headers.get("location")).not.toContain("bad_verification_code")
    }

    // Hostile upstream error text with a valid state: a redirect that carries none of it.
    {
      const start = await authorizeUrl(auth.url, client)
      const browser = new Browser()
      const callback = await upstreamCallback(browser, auth.url, start)
      callback.searchParams.delete("code")
      callback.searchParams.set("error", SCRIPT)
      callback.searchParams.set("error_description", SCRIPT)
      const res = await browser.request(callback.toString())
      const back = clientRedirect(res, client)
      expectErrorRedirect(back, start, auth.url, ["server_error", "access_denied"])
      const location = res.headers.get("location")!
      expect(decodeURIComponent(location)).not.toContain("<script")
      expect(location.toLowerCase()).not.toContain("%3cscript")
      const body = await res.text()
      expect(body).not.toContain("<script")
      expect(body).not.toMatch(STACK_FRAME)
    }

    // Hostile text on a direct error (unknown state): an escaped page, never the raw text.
    {
      const res = await new Browser().request(
        `${auth.url}${CALLBACK_PATH}?${new URLSearchParams({ state: SCRIPT, error: SCRIPT, error_description: SCRIPT })}`
      )
      const body = await expectDirectRejection(res, [400])
      expect(body).not.toContain("<script")
    }
  })

  it("C28 upstream token endpoint 500, hang or malformed JSON → clean error redirect in time; the flow is gone; no code", async () => {
    const client = await register(auth.url)
    const failures = [
      { label: "HTTP 500", failure: { kind: "status", status: 500 } as const, errors: ["temporarily_unavailable"] },
      { label: "hang", failure: { kind: "hang" } as const, errors: ["temporarily_unavailable"] },
      { label: "malformed JSON", failure: { kind: "malformed_json" } as const, errors: ["server_error", "temporarily_unavailable"] }
    ]
    for (const { label, failure, errors } of failures) {
      const start = await authorizeUrl(auth.url, client)
      const browser = new Browser()
      const callback = await upstreamCallback(browser, auth.url, start)
      const users = auth.fake.calls.user
      const exchanges = auth.fake.calls.tokenExchange
      auth.fake.fail("token", failure, 1)
      const began = performance.now()
      const res = await browser.request(callback.toString())
      const elapsed = performance.now() - began
      // timeout: 3 in the harness config.
      expect(elapsed, label).toBeLessThan(4500)
      if (failure.kind === "hang") expect(elapsed, label).toBeGreaterThan(2500)
      expectErrorRedirect(clientRedirect(res, client), start, auth.url, errors)
      expect(await res.text(), label).not.toMatch(STACK_FRAME)
      expect(auth.fake.calls.tokenExchange, label).toBe(exchanges + 1)
      // No half-made session: the user was never looked up.
      expect(auth.fake.calls.user, label).toBe(users)

      // The flow is cleaned up: the same state (and code) cannot be used again, even now that
      // GitHub works.
      const again = await browser.request(callback.toString())
      await expectDirectRejection(again, [400])
      expect(auth.fake.calls.tokenExchange, label).toBe(exchanges + 1)
      expect(browser.visited.filter((u) => u.startsWith(client.redirectUri))).toHaveLength(0)
    }
  }, 20_000)

  it("the HTML page of a direct error is escaped and cannot be framed", async () => {
    const res = await new Browser().request(`${auth.url}/authorize?${encodeURIComponent(SCRIPT)}=1&${encodeURIComponent(SCRIPT)}=2`)
    expect(res.status).toBe(400)
    expect(res.headers.get("content-type")).toContain("text/html")
    expect(res.headers.get("x-frame-options")).toBe("DENY")
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
    const body = await res.text()
    expect(body).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    expect(body).not.toContain("<script")
    expect(body).not.toMatch(STACK_FRAME)
  })
})
