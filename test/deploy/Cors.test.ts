/**
 * Security checklist K11: CORS only where browsers need it. The metadata documents, /register,
 * /token and /revoke answer any origin without credentials (with preflights); /authorize,
 * /consent and the provider callback never answer CORS; /mcp only for the origins listed in
 * `transport.http.cors_origins` (which then also pass the /mcp Origin check).
 *
 * First the headers over plain HTTP (server built in this process), then the real thing: pages
 * of other origins in headless Chromium calling the server with fetch(). Chromium maps two names
 * of its own (`inspector.test`, `other.test`) to 127.0.0.1, so the pages have origins that are not
 * loopback origins and the server's Origin check applies to them as to any web page.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Browser, Page } from "playwright-core"
import { UserConfig } from "../../src/domain/config/UserConfig.js"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"
import { launchChromium } from "../support/Chromium.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"
import { login, loginCode, newVerifier, type TestClient } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"
import { type RawAnswer, rawRequest } from "../support/RawHttp.js"

const LISTED = "https://inspector.example"
const UNLISTED = "https://elsewhere.example"

const preflightHeaders = (origin: string, method: string, headers: string) => ({
  origin,
  "access-control-request-method": method,
  "access-control-request-headers": headers
})

const listOf = (value: string | Array<string> | undefined): Array<string> =>
  String(value ?? "").split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "")

const expectPublicCors = (res: RawAnswer, what: string) => {
  expect(res.headers["access-control-allow-origin"], what).toBe("*")
  expect(res.headers["access-control-allow-credentials"], what).toBeUndefined()
}

const expectNoCors = (res: RawAnswer, what: string) => {
  for (const name of Object.keys(res.headers)) expect(name.startsWith("access-control-"), `${what}: ${name}`).toBe(false)
}

describe("K11 CORS headers (plain HTTP, in-process server)", () => {
  const server = Effect.gen(function* () {
    const fake = yield* scopedFakeGitHub()
    return yield* inProcessServer(fake, { http: { cors_origins: [LISTED] } })
  })
  const call = (url: string, path: string, init: Parameters<typeof rawRequest>[1] = {}) =>
    Effect.promise(() => rawRequest(`${url}${path}`, init))

  it.scoped("K11 metadata, /register, /token and /revoke answer any origin with *, without credentials", () =>
    Effect.gen(function* () {
      const { url } = yield* server
      const origin = { origin: UNLISTED }
      for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]) {
        const res = yield* call(url, path, { headers: origin })
        expect(res.status, path).toBe(200)
        expectPublicCors(res, path)
      }
      const registered = yield* call(url, "/register", {
        method: "POST",
        headers: { ...origin, "content-type": "application/json" },
        body: JSON.stringify({ client_name: "Web client", redirect_uris: ["https://app.example/cb"], token_endpoint_auth_method: "none" })
      })
      expect(registered.status).toBe(201)
      expectPublicCors(registered, "/register")
      const form = { ...origin, "content-type": "application/x-www-form-urlencoded" }
      // Errors too: a browser client must be able to read why it was refused.
      const token = yield* call(url, "/token", { method: "POST", headers: form, body: "grant_type=authorization_code&client_id=nobody" })
      expect(token.status).toBe(401)
      expectPublicCors(token, "/token")
      expect(listOf(token.headers["access-control-expose-headers"])).toContain("www-authenticate")
      const revoked = yield* call(url, "/revoke", { method: "POST", headers: form, body: "token=x&client_id=nobody" })
      expectPublicCors(revoked, "/revoke")
    }))

  it.scoped("K11 their preflights: 204 with methods, Authorization and Content-Type, and a max age", () =>
    Effect.gen(function* () {
      const { url } = yield* server
      const cases = [
        ["/.well-known/oauth-authorization-server", "GET"],
        ["/.well-known/oauth-protected-resource/mcp", "GET"],
        ["/register", "POST"],
        ["/token", "POST"],
        ["/revoke", "POST"]
      ] as const
      for (const [path, method] of cases) {
        const res = yield* call(url, path, {
          method: "OPTIONS",
          headers: preflightHeaders(UNLISTED, method, "authorization, content-type, mcp-protocol-version")
        })
        expect(res.status, path).toBe(204)
        expectPublicCors(res, path)
        expect(listOf(res.headers["access-control-allow-methods"]), path).toContain(method.toLowerCase())
        const allowed = listOf(res.headers["access-control-allow-headers"])
        for (const header of ["authorization", "content-type", "mcp-protocol-version"]) expect(allowed, `${path} ${header}`).toContain(header)
        expect(Number(res.headers["access-control-max-age"]), path).toBeGreaterThan(0)
      }
    }))

  it.scoped("K11 /authorize, /consent and the callback never answer CORS, preflight or not", () =>
    Effect.gen(function* () {
      const { url } = yield* server
      for (const path of ["/authorize", "/consent", "/github/callback"]) {
        const preflight = yield* call(url, path, { method: "OPTIONS", headers: preflightHeaders(LISTED, "POST", "content-type") })
        expect(preflight.status, path).not.toBe(204)
        expectNoCors(preflight, `OPTIONS ${path}`)
      }
      const authorize = yield* call(url, "/authorize?response_type=code&client_id=config-client", { headers: { origin: LISTED } })
      expectNoCors(authorize, "GET /authorize")
      const consent = yield* call(url, "/consent", {
        method: "POST",
        headers: { origin: LISTED, "content-type": "application/x-www-form-urlencoded" },
        body: "flow=x&csrf=y&decision=approve"
      })
      expectNoCors(consent, "POST /consent")
    }))

  it.scoped("K11 /mcp answers CORS to a listed origin only; the listed origin passes the Origin check", () =>
    Effect.gen(function* () {
      const { url } = yield* server
      const { access_token } = yield* Effect.promise(() => login(url))
      const preflight = yield* call(url, "/mcp", {
        method: "OPTIONS",
        headers: preflightHeaders(LISTED, "POST", "authorization, content-type, mcp-protocol-version, mcp-session-id")
      })
      expect(preflight.status).toBe(204)
      expect(preflight.headers["access-control-allow-origin"]).toBe(LISTED)
      expect(preflight.headers["access-control-allow-credentials"]).toBeUndefined()
      expect(listOf(preflight.headers["vary"])).toContain("origin")
      expect(listOf(preflight.headers["access-control-allow-methods"])).toEqual(expect.arrayContaining(["get", "post", "delete"]))
      expect(listOf(preflight.headers["access-control-allow-headers"])).toEqual(
        expect.arrayContaining(["authorization", "content-type", "mcp-protocol-version", "mcp-session-id"])
      )
      const exposed = ["mcp-session-id", "www-authenticate", "mcp-protocol-version"]
      // Without a token: the 401 is readable (its WWW-Authenticate starts the browser's OAuth flow).
      const challenge = yield* call(url, "/mcp", { method: "POST", headers: { ...MCP_HEADERS, origin: LISTED }, body: initializeBody("k11") })
      expect(challenge.status).toBe(401)
      expect(challenge.headers["access-control-allow-origin"]).toBe(LISTED)
      expect(listOf(challenge.headers["access-control-expose-headers"])).toEqual(expect.arrayContaining(exposed))
      // With one: served, although the origin is neither BASE's nor a loopback one.
      const served = yield* call(url, "/mcp", {
        method: "POST",
        headers: { ...MCP_HEADERS, origin: LISTED, authorization: `Bearer ${access_token}` },
        body: initializeBody("k11")
      })
      expect(served.status).toBe(200)
      expect(served.headers["mcp-session-id"]).toEqual(expect.any(String))
      expect(served.headers["access-control-allow-origin"]).toBe(LISTED)
      expect(listOf(served.headers["access-control-expose-headers"])).toEqual(expect.arrayContaining(exposed))
      expect(listOf(served.headers["vary"])).toContain("origin")
      // An unlisted origin: refused by the Origin check, preflight included, and never any CORS header.
      for (const method of ["OPTIONS", "POST"] as const) {
        const res = yield* call(url, "/mcp", {
          method,
          headers: { ...MCP_HEADERS, ...preflightHeaders(UNLISTED, "POST", "authorization"), authorization: `Bearer ${access_token}` },
          ...(method === "POST" ? { body: initializeBody("k11") } : {})
        })
        expect(res.status, method).toBe(403)
        expectNoCors(res, `${method} /mcp from ${UNLISTED}`)
      }
      // A loopback page passes the Origin check (bound to loopback) but gets no CORS unless listed.
      const loopback = yield* call(url, "/mcp", {
        method: "POST",
        headers: { ...MCP_HEADERS, origin: "http://127.0.0.1:5173", authorization: `Bearer ${access_token}` },
        body: initializeBody("k11")
      })
      expect(loopback.status).toBe(200)
      expectNoCors(loopback, "POST /mcp from an unlisted loopback origin")
    }))

  it.scoped("K11 without cors_origins /mcp answers no CORS at all", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const res = yield* call(url, "/mcp", { method: "OPTIONS", headers: preflightHeaders(LISTED, "POST", "authorization") })
      expect(res.status).toBe(403)
      expectNoCors(res, "OPTIONS /mcp")
    }))

  it.effect("K11 cors_origins entries must be origins; anything else names the key", () =>
    Effect.gen(function* () {
      const decode = (origins: ReadonlyArray<string>) =>
        decodeConfig(UserConfig, "config.yml", { transport: { http: { cors_origins: origins } } })
      const ok = yield* decode(["https://inspector.example", "http://localhost:6274", "https://a.example:8443/"])
      expect(ok.transport.http.cors_origins).toHaveLength(3)
      for (const bad of ["https://inspector.example/app", "inspector.example", "*", "https://user@x.example", "ftp://x.example"]) {
        const e = yield* Effect.flip(decode([bad]))
        expect(e.key, bad).toBe("transport.http.cors_origins[0]")
        expect(e.fix, bad).toContain("origin")
      }
    }))
})

// ---------------------------------------------------------------------------
// In the browser
// ---------------------------------------------------------------------------

/** A page server: the same blank page on any path, reachable as http://inspector.test:PORT and http://other.test:PORT. */
const startPageServer = async (): Promise<{ readonly port: number; readonly close: () => Promise<void> }> => {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end("<!doctype html><title>client</title><p>client app</p>")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** What a page's fetch() gave: the status and body, or the error a CORS refusal makes. */
type FetchResult =
  | { readonly ok: true; readonly status: number; readonly body: string; readonly headers: Record<string, string> }
  | { readonly ok: false; readonly error: string }

/** Run fetch(url, init) in the page; `headerNames` are the response headers the script tries to read. */
const pageFetch = (page: Page, url: string, init: { method?: string; headers?: Record<string, string>; body?: string }, headerNames: ReadonlyArray<string> = []) =>
  page.evaluate(
    async ({ url, init, headerNames }): Promise<FetchResult> => {
      try {
        const res = await fetch(url, init)
        const headers: Record<string, string> = {}
        for (const name of headerNames) {
          const value = res.headers.get(name)
          if (value !== null) headers[name] = value
        }
        return { ok: true, status: res.status, body: await res.text(), headers }
      } catch (e) {
        return { ok: false, error: String(e) }
      }
    },
    { url, init, headerNames: [...headerNames] }
  )

describe("K11 CORS from pages of other origins (headless Chromium)", () => {
  let pages: Awaited<ReturnType<typeof startPageServer>>
  let auth: AuthServer
  let chromium: Browser
  let listedOrigin = ""
  let otherOrigin = ""

  beforeAll(async () => {
    pages = await startPageServer()
    listedOrigin = `http://inspector.test:${pages.port}`
    otherOrigin = `http://other.test:${pages.port}`
    const started = await Promise.allSettled([
      startAuthServer({ transportYaml: `  http:\n    cors_origins: ["${listedOrigin}"]` }).then((a) => (auth = a)),
      launchChromium(["--host-resolver-rules=MAP inspector.test 127.0.0.1, MAP other.test 127.0.0.1"]).then((b) => (chromium = b))
    ])
    for (const result of started) if (result.status === "rejected") throw result.reason
  })
  afterAll(async () => {
    await chromium?.close()
    await auth?.stop()
    await pages?.close()
  })

  const pageAt = async (origin: string): Promise<Page> => {
    const context = await chromium.newContext()
    const page = await context.newPage()
    const res = await page.goto(`${origin}/app`)
    expect(res?.status()).toBe(200)
    expect(await page.evaluate(() => window.origin)).toBe(origin)
    return page
  }

  it("K11 a page of another origin discovers, registers, exchanges a code and calls /mcp when listed; /authorize stays closed to it", async () => {
    const page = await pageAt(listedOrigin)
    try {
      // Discovery, with the header the MCP SDK sends (a preflight).
      const prm = await pageFetch(page, `${auth.url}/.well-known/oauth-protected-resource/mcp`, { headers: { "mcp-protocol-version": "2025-06-18" } })
      expect(prm).toMatchObject({ ok: true, status: 200 })
      const asMetadata = await pageFetch(page, `${auth.url}/.well-known/oauth-authorization-server`, {})
      expect(asMetadata).toMatchObject({ ok: true, status: 200 })
      // Dynamic registration: a JSON POST (preflighted).
      const redirectUri = "http://127.0.0.1:50124/cb"
      const registration = await pageFetch(page, `${auth.url}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          client_name: "Browser client",
          redirect_uris: [redirectUri],
          grant_types: ["authorization_code", "refresh_token"],
          token_endpoint_auth_method: "none"
        })
      })
      expect(registration).toMatchObject({ ok: true, status: 201 })
      if (!registration.ok) return
      const client: TestClient = { id: (JSON.parse(registration.body) as { client_id: string }).client_id, redirectUri }
      // /authorize is a navigation of the user's browser: a script of another origin cannot read it.
      const authorizeUrl = `${auth.url}/authorize?response_type=code&client_id=${encodeURIComponent(client.id)}`
      const authorize = await pageFetch(page, authorizeUrl, {})
      expect(authorize.ok, JSON.stringify(authorize)).toBe(false)
      // (It is the CORS refusal: the same request from outside a browser is answered.)
      expect((await rawRequest(authorizeUrl, { headers: { origin: listedOrigin } })).status).toBeLessThan(500)
      // The user signs in (consent, fake GitHub); the page then redeems the code itself.
      const verifier = newVerifier()
      const { code } = await loginCode(auth.url, { client, verifier })
      const exchanged = await pageFetch(page, `${auth.url}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier, client_id: client.id }).toString()
      })
      expect(exchanged).toMatchObject({ ok: true, status: 200 })
      if (!exchanged.ok) return
      const accessToken = (JSON.parse(exchanged.body) as { access_token: string }).access_token
      // /mcp from the listed origin: preflighted (Authorization, Content-Type), served, and the
      // session id readable.
      const mcp = await pageFetch(
        page,
        `${auth.url}/mcp`,
        { method: "POST", headers: { ...MCP_HEADERS, authorization: `Bearer ${accessToken}` }, body: initializeBody("browser") },
        ["mcp-session-id"]
      )
      expect(mcp).toMatchObject({ ok: true, status: 200 })
      if (mcp.ok) expect(mcp.headers["mcp-session-id"]).toEqual(expect.any(String))
      // Without a token, the 401's challenge is readable: what starts a browser client's OAuth flow.
      const challenge = await pageFetch(page, `${auth.url}/mcp`, { method: "POST", headers: MCP_HEADERS, body: initializeBody("browser") }, ["www-authenticate"])
      expect(challenge).toMatchObject({ ok: true, status: 401 })
      if (challenge.ok) expect(challenge.headers["www-authenticate"]).toContain("resource_metadata=")
      // The same token from a page of an unlisted origin: blocked.
      const other = await pageAt(otherOrigin)
      const blocked = await pageFetch(other, `${auth.url}/mcp`, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `Bearer ${accessToken}` },
        body: initializeBody("browser")
      })
      expect(blocked.ok, JSON.stringify(blocked)).toBe(false)
      // Public endpoints work from there too.
      expect(await pageFetch(other, `${auth.url}/.well-known/oauth-authorization-server`, {})).toMatchObject({ ok: true, status: 200 })
    } finally {
      await page.context().close()
    }
  })
})
