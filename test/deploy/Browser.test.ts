/**
 * The consent page and the server's error pages in a real browser: headless Chromium (Debian's,
 * through playwright-core) against the `dist/main.js` server process, its fake GitHub, and a tiny
 * "client app" on 127.0.0.1 that owns the registered redirect URI. The browser clicks the real
 * buttons and follows the real redirects; the code it brings back is redeemed and used with the
 * MCP SDK client. Screenshots land in `test-results/` (consent-*.png, error-*.png).
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import type { Browser, BrowserContext, BrowserContextOptions, Page } from "playwright-core"
import { escapeHtml } from "../../src/domain/oauth/Html.js"
import { artifactPath, DESKTOP, launchChromium, PHONE, readability } from "../support/Chromium.js"
import { challengeOf, mcpClient, newVerifier, redeem, type TestClient, whoami } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"

/** Markup in the client name must show as text, never as elements. */
const CLIENT_NAME = `Acme <b>Notes</b> & "Co"`

/** The client app: the redirect URI's server, plus pages that try to frame the consent page. */
interface ClientApp {
  readonly origin: string
  /** Every URL that reached the redirect URI (`/cb`). */
  readonly callbacks: Array<URL>
  readonly close: () => Promise<void>
}

const htmlPage = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`

const startClientApp = async (): Promise<ClientApp> => {
  const callbacks: Array<URL> = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const send = (html: string) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html)
    switch (url.pathname) {
      case "/cb":
        callbacks.push(new URL(url.pathname + url.search, origin))
        return send(htmlPage("Signed in", "<h1>Back at the client</h1>"))
      case "/frame":
        // Frames `src` (the consent page) and, as a control, a page that allows framing.
        return send(
          htmlPage(
            "Framing",
            `<iframe id="target" name="target" width="500" height="400" src="${escapeHtml(url.searchParams.get("src") ?? "")}"></iframe>
<iframe id="control" name="control" width="300" height="200" src="/control"></iframe>`
          )
        )
      case "/control":
        return send(htmlPage("Control", `<button name="decision" value="approve">Approve</button>`))
      default:
        res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    callbacks,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

interface Registered extends TestClient {
  readonly scope: string
}

const register = async (base: string, redirectUri: string, name = CLIENT_NAME): Promise<Registered> => {
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
  return { id: body.client_id, redirectUri, scope: body.scope }
}

interface Started {
  readonly url: string
  readonly state: string
  readonly verifier: string
}

let counter = 0

/** A fresh /authorize URL (PKCE S256, a new client state). */
const authorizeUrl = (base: string, client: TestClient): Started => {
  counter += 1
  const verifier = newVerifier()
  const state = `browser-state-${counter}`
  const params = new URLSearchParams({
    response_type: "code",
    client_id: client.id,
    redirect_uri: client.redirectUri,
    state,
    code_challenge: challengeOf(verifier),
    code_challenge_method: "S256",
    scope: "mxcp:access"
  })
  return { url: `${base}/authorize?${params}`, state, verifier }
}

describe("consent and error pages in headless Chromium", () => {
  let auth: AuthServer
  let chromium: Browser
  let app: ClientApp
  let client: Registered
  const contexts: Array<BrowserContext> = []

  beforeAll(async () => {
    // All three at once; whatever started is stopped in afterAll even when another one failed.
    const started = await Promise.allSettled([
      startAuthServer().then((a) => (auth = a)),
      launchChromium().then((b) => (chromium = b)),
      startClientApp().then((c) => (app = c))
    ])
    for (const result of started) if (result.status === "rejected") throw result.reason
    client = await register(auth.url, `${app.origin}/cb`)
  })

  // Each test's pages go when it ends, so idle pages do not slow the next test.
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => undefined)
  })

  afterAll(async () => {
    await chromium?.close()
    await app?.close()
    await auth?.stop()
  })

  /**
   * A new page in a fresh context (own cookies). `dialogs` collects any `alert` (injected script
   * that ran), `errors` the console errors (a CSP violation of the page's own markup, say).
   */
  const open = async (options: BrowserContextOptions) => {
    const context = await chromium.newContext(options)
    contexts.push(context)
    const page = await context.newPage()
    const dialogs: Array<string> = []
    const errors: Array<string> = []
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text())
    })
    return { page, dialogs, errors }
  }

  /** Open the consent page of a new flow; checks it is the 200 HTML page. */
  const openConsent = async (options: BrowserContextOptions, who: TestClient = client) => {
    const started = authorizeUrl(auth.url, who)
    const { page, dialogs, errors } = await open(options)
    const res = await page.goto(started.url)
    expect(res?.status()).toBe(200)
    expect(res?.headers()["content-type"]).toContain("text/html")
    return { page, dialogs, errors, started, headers: res?.headers() ?? {} }
  }

  /** Click a consent button and wait until the browser lands on the client's redirect URI. */
  const decide = async (page: Page, decision: "approve" | "deny"): Promise<URL> => {
    await Promise.all([
      page.waitForURL((u) => u.toString().startsWith(client.redirectUri), { timeout: 10_000 }),
      page.getByRole("button", { name: decision === "approve" ? "Approve" : "Deny" }).click()
    ])
    return new URL(page.url())
  }

  it("shows the client name escaped, the redirect host, the scopes and the provider; approve → code → token → MCP tool", async () => {
    const { page, dialogs, errors, started, headers } = await openConsent(DESKTOP)
    expect(headers["x-frame-options"]).toBe("DENY")
    expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'")

    // The name is text: the literal markup is visible and made no element.
    const heading = page.locator("h1")
    expect(await heading.innerText()).toContain(CLIENT_NAME)
    expect(await page.locator("main b").count()).toBe(0)
    const text = await page.locator("main").innerText()
    expect(text).toContain(new URL(client.redirectUri).host)
    expect(text).toContain("mxcp:access")
    expect(text).toContain("GitHub")
    // The contract of the form.
    const form = page.locator("form")
    expect(await form.getAttribute("method")).toBe("post")
    expect(await form.getAttribute("action")).toBe("/consent")
    expect(await page.locator("form input[type=hidden]").count()).toBeGreaterThanOrEqual(2)
    expect(await page.locator('form button[name="decision"][value="approve"]').isVisible()).toBe(true)
    expect(await page.locator('form button[name="decision"][value="deny"]').isVisible()).toBe(true)
    await page.screenshot({ path: artifactPath("consent-desktop.png"), fullPage: true })
    // The page renders under its own CSP without complaint.
    expect(errors).toEqual([])

    // Nothing went upstream yet; the click does, and the fake GitHub answers straight back.
    const upstreamBefore = auth.fake.calls.authorize
    const back = await decide(page, "approve")
    expect(auth.fake.calls.authorize).toBe(upstreamBefore + 1)
    expect(back.searchParams.get("state")).toBe(started.state)
    expect(back.searchParams.get("iss")).toBe(auth.url)
    const code = back.searchParams.get("code")
    expect(code).toBeTruthy()
    expect(await page.locator("h1").innerText()).toBe("Back at the client")
    expect(dialogs).toEqual([])

    // The code the browser brought back works for this client and its verifier.
    const tokens = await redeem(auth.url, { code: code!, verifier: started.verifier, client })
    expect(tokens.status).toBe(200)
    expect(tokens.body["scope"]).toBe("mxcp:access")
    const mcp = await mcpClient(auth.url, String(tokens.body["access_token"]))
    try {
      expect(await whoami(mcp)).toMatchObject({ username: "octocat", provider: "github", has_external_token: true })
    } finally {
      await mcp.close()
    }
  })

  it("deny → the client's redirect URI with error=access_denied, its state and iss; nothing upstream", async () => {
    const { page, started } = await openConsent(DESKTOP)
    const upstreamBefore = auth.fake.calls.authorize
    const back = await decide(page, "deny")
    expect(back.searchParams.get("error")).toBe("access_denied")
    expect(back.searchParams.get("state")).toBe(started.state)
    expect(back.searchParams.get("iss")).toBe(auth.url)
    expect(back.searchParams.has("code")).toBe(false)
    expect(auth.fake.calls.authorize).toBe(upstreamBefore)
  })

  /** The phone checks: no sideways scrolling, text >= 14px, both buttons inside the width and tappable. */
  const expectFitsPhone = async (page: Page, firstScreen: boolean) => {
    const measured = await readability(page)
    expect(measured.innerWidth).toBe(390)
    expect(measured.scrollWidth).toBeLessThanOrEqual(measured.innerWidth)
    expect(measured.smallText).toEqual([])
    for (const decision of ["approve", "deny"]) {
      const button = page.locator(`button[value="${decision}"]`)
      if (!firstScreen) await button.scrollIntoViewIfNeeded()
      const box = await button.boundingBox()
      expect(box, decision).not.toBeNull()
      expect(box!.x, decision).toBeGreaterThanOrEqual(0)
      expect(box!.x + box!.width, decision).toBeLessThanOrEqual(measured.innerWidth)
      expect(box!.y, decision).toBeGreaterThanOrEqual(0)
      expect(box!.y + box!.height, decision).toBeLessThanOrEqual(measured.innerHeight)
      expect(box!.height, decision).toBeGreaterThanOrEqual(44)
    }
  }

  it("on a phone the page fits: no horizontal scrolling, both buttons on the first screen and tappable, text >= 14px", async () => {
    const { page, started } = await openConsent(PHONE)
    await page.screenshot({ path: artifactPath("consent-phone.png"), fullPage: true })
    await expectFitsPhone(page, true)
    // A tap (not a click) on Approve goes on to the client.
    await Promise.all([
      page.waitForURL((u) => u.toString().startsWith(client.redirectUri), { timeout: 10_000 }),
      page.locator('button[value="approve"]').tap()
    ])
    const back = new URL(page.url())
    expect(back.searchParams.get("code")).toBeTruthy()
    expect(back.searchParams.get("state")).toBe(started.state)
  })

  it("on a phone a 200-character client name without spaces wraps instead of widening the page", async () => {
    const longName = `Long${"Name".repeat(49)}`
    expect(longName).toHaveLength(200)
    const wide = await register(auth.url, client.redirectUri, longName)
    const { page } = await openConsent(PHONE, wide)
    expect(await page.locator("h1").innerText()).toContain(longName)
    await page.screenshot({ path: artifactPath("consent-phone-long-name.png"), fullPage: true })
    await expectFitsPhone(page, false)
  })

  it("an unknown client_id gets a readable 400 HTML error page, never a redirect; hostile text stays inert", async () => {
    for (const [options, shot] of [[PHONE, "error-phone.png"], [DESKTOP, "error-desktop.png"]] as const) {
      const { page } = await open(options)
      const started = authorizeUrl(auth.url, { id: "no-such-client", redirectUri: client.redirectUri })
      const res = await page.goto(started.url)
      expect(res?.status()).toBe(400)
      expect(res?.headers()["content-type"]).toContain("text/html")
      expect(res?.headers()["x-frame-options"]).toBe("DENY")
      // Stayed on the server: the unvalidated redirect URI was not used.
      expect(page.url()).toBe(started.url)
      expect(app.callbacks.some((u) => u.searchParams.get("state") === started.state)).toBe(false)
      expect(await page.locator("h1").innerText()).toBe("Authorization failed")
      expect(await page.locator("main").innerText()).toMatch(/invalid_client|invalid_request/)
      const measured = await readability(page)
      expect(measured.scrollWidth).toBeLessThanOrEqual(measured.innerWidth)
      expect(measured.smallText).toEqual([])
      await page.screenshot({ path: artifactPath(shot), fullPage: true })
    }

    // Script in a (repeated) parameter name ends up as visible text on the error page and never runs.
    const { page, dialogs } = await open(DESKTOP)
    const script = "<script>alert(1)</script>"
    const res = await page.goto(`${auth.url}/authorize?${encodeURIComponent(script)}=1&${encodeURIComponent(script)}=2`)
    expect(res?.status()).toBe(400)
    expect(await page.locator("main").innerText()).toContain(script)
    expect(await page.locator("script").count()).toBe(0)
    expect(dialogs).toEqual([])
  })

  it("a page on another origin cannot frame the consent page (Chromium refuses it)", async () => {
    const { page } = await open(DESKTOP)
    const blocked: Array<string> = []
    page.on("console", (message) => {
      if (/frame-ancestors|X-Frame-Options/i.test(message.text())) blocked.push(message.text())
    })
    const started = authorizeUrl(auth.url, client)
    await page.goto(`${app.origin}/frame?src=${encodeURIComponent(started.url)}`)
    // The control frame (framable) shows its button; the consent frame never renders one.
    const control = page.frameLocator("#control")
    await expect.poll(() => control.locator("button").count(), { timeout: 5_000 }).toBe(1)
    const target = page.frame({ name: "target" })
    expect(target).not.toBeNull()
    await target!.waitForLoadState("load").catch(() => undefined)
    expect(await page.frameLocator("#target").locator("button").count()).toBe(0)
    expect(target!.url()).not.toBe(started.url)
    await expect.poll(() => blocked.length, { timeout: 5_000 }).toBeGreaterThan(0)
  })
})
