/**
 * Checklist section B (/authorize), against the real server process on loopback with the fake
 * GitHub upstream. Direct errors: a 400 with no Location. Error redirects: a 302 to the validated
 * redirect URI with `error`, the client's exact `state` and `iss`.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import {
  type Answer,
  authorizeUrl,
  challengeOf,
  type DcrClient,
  expectDirectError,
  expectErrorRedirect,
  newVerifier,
  publicClient,
  register,
  registerOk,
  send
} from "../support/AuthorizeRequests.js"
import { type AuthServer, Browser, CONFIG_CLIENT, consentForm, startAuthServer } from "../support/OAuthHarness.js"

const HTTPS_CB = "https://app.example.com/cb"
const LOOPBACK_CB = "http://127.0.0.1:1111/cb"
const TWO = ["https://app.example.com/one", "https://app.example.com/two"] as const
/** A state with characters that need encoding, echoed back verbatim. */
const STATE = "st a+b/c?d=e&f%20g#h é"

let auth: AuthServer
let https: DcrClient
let loopback: DcrClient
let two: DcrClient
let narrow: DcrClient

beforeAll(async () => {
  auth = await startAuthServer()
  https = await registerOk(auth.url, publicClient([HTTPS_CB]))
  loopback = await registerOk(auth.url, publicClient([LOOPBACK_CB]))
  two = await registerOk(auth.url, publicClient([...TWO]))
  // Asks for a scope the server does not support: registered with mxcp:access only (never widened).
  narrow = await registerOk(auth.url, publicClient([HTTPS_CB], { scope: "mxcp:access admin:all" }))
})
afterAll(async () => {
  await auth?.stop()
})

/** The request as a browser sends it (so direct errors are HTML pages) and as an API client. */
const both = async (url: string): Promise<ReadonlyArray<Answer>> => [
  await send(url),
  await send(url, { headers: { accept: "text/html" } })
]

/** A direct 400: JSON for API clients, an HTML page for browsers; never a Location. */
const expectDirect400 = async (url: string, error = "invalid_request") => {
  const [json, page] = await both(url)
  expectDirectError(json!, error)
  expect(page!.status).toBe(400)
  expect(page!.headers.get("location")).toBeNull()
  expect(page!.headers.get("content-type")).toContain("text/html")
}

/** The request was accepted: a DCR client gets the consent page (200 HTML with the form). */
const expectConsentPage = async (url: string) => {
  const res = await send(url, { headers: { accept: "text/html" } })
  expect(res.status, res.text).toBe(200)
  expect(res.headers.get("location")).toBeNull()
  expect(() => consentForm(res.text)).not.toThrow()
}

/** Nothing reached the fake GitHub while `run` ran. */
const noUpstream = async (run: () => Promise<void>) => {
  const before = auth.fake.calls.authorize
  await run()
  expect(auth.fake.calls.authorize).toBe(before)
}

describe("B. /authorize (real server on loopback)", () => {
  it("B10 an unknown or missing client_id is a direct 400", () =>
    noUpstream(async () => {
      for (const clientId of ["no-such-client", auth.fake.clientId, `${https.id}x`, https.id.toUpperCase(), " " + https.id]) {
        await expectDirect400(authorizeUrl(auth.url, { client_id: clientId, redirect_uri: HTTPS_CB, state: STATE }))
      }
      await expectDirect400(authorizeUrl(auth.url, { redirect_uri: HTTPS_CB, state: STATE }))
      await expectDirect400(authorizeUrl(auth.url, { client_id: "", redirect_uri: HTTPS_CB, state: STATE }))
      // Same over POST (form).
      const post = await send(`${auth.url}/authorize`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          response_type: "code",
          client_id: "no-such-client",
          redirect_uri: HTTPS_CB,
          code_challenge: challengeOf(newVerifier()),
          code_challenge_method: "S256"
        }).toString()
      })
      expectDirectError(post, "invalid_request")
    }))

  it("B11 redirect URI near-misses are a direct 400, never a redirect", () =>
    noUpstream(async () => {
      const nearMisses = [
        "https://app.example.com/cb/",
        "https://app.example.com/cb/x",
        "https://app.example.com/cbx",
        "https://app.example.com/c",
        "https://app.example.com/",
        "https://app.example.com",
        "https://app.example.com/CB",
        "https://APP.example.com/cb",
        "HTTPS://app.example.com/cb",
        "http://app.example.com/cb",
        "https://app.example.com/cb?",
        "https://app.example.com/cb?x=1",
        "https://app.example.com/cb#",
        "https://app.example.com/cb#x",
        "https://app.example.com/x/../cb",
        "https://app.example.com/./cb",
        "https://app.example.com/x/%2e%2e/cb",
        "https://app.example.com/x/%2E%2E/cb",
        "https://app.example.com/%63b",
        "https://app.example.com:443/cb",
        "https://app.example.com:8443/cb",
        "https://user@app.example.com/cb",
        "https://app.example.com@evil.example/cb",
        "https://evil.example/?https://app.example.com/cb",
        "https://app.example.com.evil.example/cb",
        "https://app.example.com\\@evil.example/cb",
        "//app.example.com/cb",
        "app.example.com/cb",
        " https://app.example.com/cb",
        "https://app.example.com/cb "
      ]
      for (const uri of nearMisses) {
        await expectDirect400(authorizeUrl(auth.url, { client_id: https.id, redirect_uri: uri, state: STATE }))
      }
      // The exact registered URI is accepted.
      await expectConsentPage(authorizeUrl(auth.url, { client_id: https.id, redirect_uri: HTTPS_CB, state: STATE }))
    }))

  it("B12 a registered loopback URI matches on any port, but not another host spelling or path", async () => {
    await noUpstream(async () => {
      for (const uri of [LOOPBACK_CB, "http://127.0.0.1:2222/cb", "http://127.0.0.1:65535/cb"]) {
        await expectConsentPage(authorizeUrl(auth.url, { client_id: loopback.id, redirect_uri: uri, state: STATE }))
      }
      for (
        const uri of [
          "http://localhost:2222/cb",
          "http://[::1]:2222/cb",
          "http://127.0.0.1:2222/other",
          "http://127.0.0.1:2222/cb/",
          "http://127.0.0.1:2222/cb?x=1",
          "https://127.0.0.1:2222/cb",
          "http://127.0.0.2:2222/cb",
          "http://x@127.0.0.1:2222/cb"
        ]
      ) {
        await expectDirect400(authorizeUrl(auth.url, { client_id: loopback.id, redirect_uri: uri, state: STATE }))
      }
    })
    // The code is delivered to the port the client asked for.
    const back = await new Browser().follow(
      authorizeUrl(auth.url, { client_id: loopback.id, redirect_uri: "http://127.0.0.1:2222/cb", state: STATE }),
      "http://127.0.0.1:2222/cb"
    )
    expect(back.searchParams.get("code")).toEqual(expect.any(String))
  })

  it("B13 redirect_uri omitted while two are registered is a direct 400", () =>
    noUpstream(async () => {
      await expectDirect400(authorizeUrl(auth.url, { client_id: two.id, state: STATE }))
      await expectDirect400(authorizeUrl(auth.url, { client_id: two.id, redirect_uri: "", state: STATE }))
      for (const uri of TWO) await expectConsentPage(authorizeUrl(auth.url, { client_id: two.id, redirect_uri: uri, state: STATE }))
      // With exactly one registered, omitting it is fine.
      await expectConsentPage(authorizeUrl(auth.url, { client_id: https.id, state: STATE }))
    }))

  it("B14 no code_challenge, method plain, a missing or unknown method is an error redirect invalid_request", () =>
    noUpstream(async () => {
      const challenge = challengeOf(newVerifier())
      const cases: ReadonlyArray<Record<string, string | undefined>> = [
        { code_challenge: undefined, code_challenge_method: undefined },
        { code_challenge: undefined, code_challenge_method: "S256" },
        { code_challenge: newVerifier(), code_challenge_method: "plain" },
        { code_challenge: challenge, code_challenge_method: "plain" },
        { code_challenge: challenge, code_challenge_method: undefined },
        { code_challenge: challenge, code_challenge_method: "s256" },
        { code_challenge: challenge, code_challenge_method: "S512" },
        { code_challenge: "too-short", code_challenge_method: "S256" }
      ]
      for (const c of cases) {
        for (const client of [{ id: https.id, uri: HTTPS_CB }, { id: CONFIG_CLIENT.id, uri: CONFIG_CLIENT.redirectUri }]) {
          const res = await send(authorizeUrl(auth.url, { client_id: client.id, redirect_uri: client.uri, state: STATE, ...c }))
          expectErrorRedirect(res, { redirectUri: client.uri, error: "invalid_request", state: STATE, iss: auth.url })
        }
      }
      // Without a state, the error redirect carries none.
      const res = await send(authorizeUrl(auth.url, { client_id: https.id, redirect_uri: HTTPS_CB, code_challenge_method: "plain" }))
      expectErrorRedirect(res, { redirectUri: HTTPS_CB, error: "invalid_request", state: undefined, iss: auth.url })
    }))

  it("B15 response_type other than code is an error redirect unsupported_response_type", () =>
    noUpstream(async () => {
      for (const responseType of ["token", "id_token", "code id_token", "code token", "CODE", "none"]) {
        const res = await send(authorizeUrl(auth.url, { client_id: https.id, redirect_uri: HTTPS_CB, state: STATE, response_type: responseType }))
        expectErrorRedirect(res, { redirectUri: HTTPS_CB, error: "unsupported_response_type", state: STATE, iss: auth.url })
      }
    }))

  it("B16 a resource for another server or with a fragment is an error redirect invalid_target", () =>
    noUpstream(async () => {
      for (
        const resource of [
          "https://evil.example/mcp",
          `${auth.url}/mcp#frag`,
          `${auth.url}/mcp#`,
          `${auth.url}/mcp/`,
          `${auth.url}/MCP`,
          `${auth.url}/other`,
          auth.url,
          `${auth.url.replace("127.0.0.1", "localhost")}/mcp`,
          "urn:example:mcp"
        ]
      ) {
        const res = await send(authorizeUrl(auth.url, { client_id: https.id, redirect_uri: HTTPS_CB, state: STATE, resource }))
        expectErrorRedirect(res, { redirectUri: HTTPS_CB, error: "invalid_target", state: STATE, iss: auth.url })
      }
      await expectConsentPage(authorizeUrl(auth.url, { client_id: https.id, redirect_uri: HTTPS_CB, state: STATE, resource: `${auth.url}/mcp` }))
    }))

  it("B17 scopes beyond the client's allowed set are never granted: cut to the intersection; none allowed → invalid_scope", async () => {
    // Registration kept only the supported part of what the client asked for.
    expect(narrow.body["scope"]).toBe("mxcp:access")
    await noUpstream(async () => {
      // Nothing requested is allowed (or a token is malformed): invalid_scope, by error redirect.
      for (const scope of ["admin:all", "user:email", "repo", "admin:all repo", "mxcp:access\tx", "MXCP:ACCESS"]) {
        for (const client of [{ id: narrow.id, uri: HTTPS_CB }, { id: https.id, uri: HTTPS_CB }, { id: CONFIG_CLIENT.id, uri: CONFIG_CLIENT.redirectUri }]) {
          const res = await send(authorizeUrl(auth.url, { client_id: client.id, redirect_uri: client.uri, state: STATE, scope }))
          expectErrorRedirect(res, { redirectUri: client.uri, error: "invalid_scope", state: STATE, iss: auth.url })
        }
      }
    })
    // interface.md section 4: requested ∩ allowed. Asking for more than allowed is granted the
    // allowed part, and no more.
    const verifier = newVerifier()
    const back = await new Browser().follow(
      authorizeUrl(auth.url, { client_id: narrow.id, redirect_uri: HTTPS_CB, state: STATE, scope: "mxcp:access admin:all" }, verifier),
      HTTPS_CB
    )
    const token = await send(`${auth.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: back.searchParams.get("code") ?? "",
        redirect_uri: HTTPS_CB,
        code_verifier: verifier,
        client_id: narrow.id
      }).toString()
    })
    expect(token.status, token.text).toBe(200)
    expect(token.json?.["scope"]).toBe("mxcp:access")
  })

  it("B18 happy path: consent page first, then the client gets code, its exact state and iss, each exactly once", async () => {
    // A DCR redirect URI that already carries a response parameter could make them appear twice.
    for (const query of ["state=evil", "iss=https%3A%2F%2Fevil.example", "code=x", "tenant=1&error=access_denied", "%73tate=x"]) {
      const res = await register(auth.url, publicClient([`${HTTPS_CB}?${query}`]))
      expect(res.status, query).toBe(400)
      expect(res.json?.["error"]).toBe("invalid_redirect_uri")
    }
    const withQuery = await registerOk(auth.url, publicClient(["https://app.example.com/cb?tenant=acme"]))
    for (const client of [{ id: https.id, uri: HTTPS_CB }, { id: withQuery.id, uri: "https://app.example.com/cb?tenant=acme" }]) {
      const verifier = newVerifier()
      const browser = new Browser()
      const start = authorizeUrl(auth.url, { client_id: client.id, redirect_uri: client.uri, state: STATE, scope: "mxcp:access" }, verifier)
      const before = auth.fake.calls.authorize
      const page = await browser.request(start)
      expect(page.status).toBe(200)
      const html = await page.text()
      expect(html).toContain('action="/consent"')
      // The consent page came before any request reached the upstream provider.
      expect(auth.fake.calls.authorize).toBe(before)
      const approved = await browser.decide(start, html, "approve")
      expect(approved.status).toBe(302)
      expect(approved.headers.get("location")).toMatch(new RegExp(`^${auth.fake.config.auth_url}\\?`))
      const back = await browser.follow(approved.headers.get("location") ?? "", client.uri.split("?")[0] ?? "")
      expect(auth.fake.calls.authorize).toBe(before + 1)
      expect(`${back.origin}${back.pathname}`).toBe(HTTPS_CB)
      const q = back.searchParams
      expect(q.getAll("code")).toHaveLength(1)
      expect(q.getAll("state")).toEqual([STATE])
      expect(q.getAll("iss")).toEqual([auth.url])
      expect(q.has("error")).toBe(false)
      expect([...q.keys()].sort()).toEqual(client.uri.includes("tenant") ? ["code", "iss", "state", "tenant"] : ["code", "iss", "state"])
      if (client.uri.includes("tenant")) expect(q.getAll("tenant")).toEqual(["acme"])
      // The code is real: it redeems for a token.
      const token = await send(`${auth.url}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: q.get("code") ?? "",
          redirect_uri: client.uri,
          code_verifier: verifier,
          client_id: client.id
        }).toString()
      })
      expect(token.status, token.text).toBe(200)
    }
  })

  it("B19 repeated parameters (client_id, state, redirect_uri, ...) are a direct 400", () =>
    noUpstream(async () => {
      const valid: Array<[string, string]> = [
        ["response_type", "code"],
        ["client_id", https.id],
        ["redirect_uri", HTTPS_CB],
        ["state", STATE],
        ["code_challenge", challengeOf(newVerifier())],
        ["code_challenge_method", "S256"],
        ["scope", "mxcp:access"],
        ["resource", `${auth.url}/mcp`]
      ]
      const repeats: Array<[string, string]> = [
        ["client_id", https.id],
        ["client_id", loopback.id],
        ["client_id", ""],
        ["state", STATE],
        ["state", "other"],
        ["redirect_uri", HTTPS_CB],
        ["redirect_uri", "https://evil.example/cb"],
        ["response_type", "code"],
        ["code_challenge", challengeOf(newVerifier())],
        ["code_challenge_method", "S256"],
        ["scope", "mxcp:access"],
        ["resource", `${auth.url}/mcp`]
      ]
      for (const extra of repeats) {
        const params = new URLSearchParams([...valid, extra])
        await expectDirect400(authorizeUrl(auth.url, params))
        const post = await send(`${auth.url}/authorize`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: params.toString()
        })
        expectDirectError(post, "invalid_request")
      }
      // The same request without the repeat is fine.
      await expectConsentPage(authorizeUrl(auth.url, new URLSearchParams(valid)))
    }))
})
