/**
 * Restart survival with real server processes (`dist/main.js`, fake GitHub on loopback): with
 * `auth.persistence`, sessions, refresh tokens, pending flows and registered clients outlive a
 * restart, and a client removed from the config is gone; without it, a restart logs everyone out.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { login, mcpStatus, postForm, redeem, refresh, registerClient, type Tokens } from "../support/OAuthFlows.js"
import { type AuthServer, CONFIG_CLIENT, startAuthServer } from "../support/OAuthHarness.js"
import { stopAtConsent, stopAtUpstream } from "./PersistenceFlows.js"

/** A second pre-registered client, removed from the config at the restart. */
const GONE_CLIENT = {
  id: "gone-client",
  secret: "gone-client-secret-0123456789",
  redirectUri: "http://127.0.0.1:49157/oauth/callback"
}

const goneClientYaml = `            - client_id: ${GONE_CLIENT.id}
              client_secret: ${GONE_CLIENT.secret}
              name: Soon Removed
              redirect_uris: ["${GONE_CLIENT.redirectUri}"]
              grant_types: [authorization_code, refresh_token]`

const servers: Array<AuthServer> = []
afterAll(async () => {
  for (const s of servers) await s.stop()
})

describe("restart with auth.persistence (SQLite)", () => {
  it("sessions, refresh, pending flows and registered clients survive; a removed config client does not", async () => {
    let auth = await startAuthServer({ persistence: true, authYaml: goneClientYaml })
    servers.push(auth)

    // Before: a full login, a registered client, a removed-to-be client's session, two logins
    // stopped half-way (one at the upstream provider, one at our consent page).
    const session = await login(auth.url)
    expect((await mcpStatus(auth.url, session.access_token)).status).toBe(200)
    const dcr = await registerClient(auth.url)
    const goneSession = await login(auth.url, { client: GONE_CLIENT })
    const atUpstream = await stopAtUpstream(auth.url, auth.fake.baseUrl, CONFIG_CLIENT)
    const atConsent = await stopAtConsent(auth.url, dcr)

    // The config client "gone-client" is removed from the config at the restart.
    auth = await auth.restart({ authYaml: "" })

    // The session works, and its refresh token rotates.
    expect((await mcpStatus(auth.url, session.access_token)).status).toBe(200)
    const refreshed = await refresh(auth.url, session.refresh_token)
    expect(refreshed.status).toBe(200)
    const next = refreshed.body as unknown as Tokens
    expect((await mcpStatus(auth.url, next.access_token)).status).toBe(200)

    // Both pending logins complete after the restart.
    for (const pending of [atUpstream, atConsent]) {
      const code = await pending.finish()
      const reply = await redeem(auth.url, { code, verifier: pending.verifier, client: pending.client })
      expect(reply.status, JSON.stringify(reply.body)).toBe(200)
      expect((await mcpStatus(auth.url, (reply.body as unknown as Tokens).access_token)).status).toBe(200)
    }

    // The registered client is still known: it finished a login above and can start new ones.
    await stopAtConsent(auth.url, dcr)

    // The removed config client is unknown: its access token is refused at /mcp, its
    // credentials are refused at /token, /authorize does not know it, and its refresh token is useless.
    expect((await mcpStatus(auth.url, goneSession.access_token)).status).toBe(401)
    const refused = await refresh(auth.url, goneSession.refresh_token, { client: GONE_CLIENT })
    expect(refused.status).toBe(401)
    expect(refused.body["error"]).toBe("invalid_client")
    const unknown = await fetch(`${auth.url}/authorize?client_id=${GONE_CLIENT.id}&response_type=code`, { redirect: "manual" })
    expect(unknown.status).toBe(400)
    expect(await unknown.text()).toContain("Unknown client_id")
  })
})

describe("restart without auth.persistence (in memory)", () => {
  it("a restart logs everyone out: tokens, refresh tokens and registered clients are gone", async () => {
    let auth = await startAuthServer({ persistence: false })
    servers.push(auth)
    const session = await login(auth.url)
    const dcr = await registerClient(auth.url)
    expect((await mcpStatus(auth.url, session.access_token)).status).toBe(200)

    auth = await auth.restart()
    const probe = await mcpStatus(auth.url, session.access_token)
    expect(probe.status).toBe(401)
    expect(probe.wwwAuthenticate).toContain('error="invalid_token"')
    const reply = await refresh(auth.url, session.refresh_token)
    expect(reply.status).toBe(400)
    expect(reply.body["error"]).toBe("invalid_grant")
    const unknown = await postForm(auth.url, "/token", { grant_type: "refresh_token", refresh_token: "x" }, dcr)
    expect(unknown.body["error"]).toBe("invalid_client")
  })
})
