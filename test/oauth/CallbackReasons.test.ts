/**
 * Issue 17 "Callbacks": a failed upstream callback says why in the log (info/warning), and the
 * provider's own `error` is logged before the binding-cookie check and shown on the page (the
 * localhost vs 127.0.0.1 trap: the provider answers redirect_uri_mismatch to a browser whose
 * binding cookie belongs to the other host). Real server process, fake GitHub.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { waitUntil } from "../support/ServerProcess.js"
import { challengeOf, newVerifier } from "../support/OAuthFlows.js"
import { type AuthServer, Browser, startAuthServer } from "../support/OAuthHarness.js"

const startFlow = async (base: string): Promise<string> => {
  const redirectUri = "http://127.0.0.1:43111/cb"
  const res = await fetch(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "Callback Test", redirect_uris: [redirectUri], token_endpoint_auth_method: "none" })
  })
  expect(res.status).toBe(201)
  const { client_id } = (await res.json()) as { client_id: string }
  const params = new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: redirectUri,
    state: "s1",
    code_challenge: challengeOf(newVerifier()),
    code_challenge_method: "S256"
  })
  return `${base}/authorize?${params}`
}

describe("Callbacks: failures say why (server process)", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer()
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("Callbacks: an upstream error reaching a browser without the binding cookie is logged (upstream_error=redirect_uri_mismatch) and shown on the page", async () => {
    const callback = await new Browser().follow(await startFlow(auth.url), `${auth.url}/github/callback`, "approve")
    callback.searchParams.delete("code")
    callback.searchParams.set("error", "redirect_uri_mismatch")
    // Another browser: no binding cookie (as on the other one of localhost / 127.0.0.1).
    const res = await new Browser().request(callback.toString())
    expect([400, 403]).toContain(res.status)
    const page = await res.text()
    expect(page).toContain("started in another browser")
    expect(page).toContain("redirect_uri_mismatch")
    await waitUntil("the log lines", () => /did not start the flow.*binding_cookie=missing/.test(auth.server.stderr()), 5_000)
    const log = auth.server.stderr()
    const upstreamAt = log.search(/The upstream provider returned an error.*upstream_error=redirect_uri_mismatch/)
    const cookieAt = log.search(/did not start the flow.*upstream_error=redirect_uri_mismatch/)
    expect(upstreamAt).toBeGreaterThanOrEqual(0)
    expect(cookieAt).toBeGreaterThan(upstreamAt)
  })

  it("Callbacks: an invalid or missing state is logged at warning with the reason", async () => {
    const bad = await fetch(`${auth.url}/github/callback?state=nosuch-state&error=access_denied`, { redirect: "manual" })
    expect(bad.status).toBe(400)
    expect(await bad.text()).toContain("access_denied")
    const none = await fetch(`${auth.url}/github/callback?code=abc`, { redirect: "manual" })
    expect(none.status).toBe(400)
    await waitUntil("the log lines", () => /Upstream callback refused: no state parameter/.test(auth.server.stderr()), 5_000)
    expect(auth.server.stderr()).toMatch(
      /level=WARN.*Upstream callback refused: unknown, expired or already used state.*upstream_error=access_denied/
    )
  })
})
