/**
 * Checklist D29, D30 and E37 against the SQLite store, with two server processes sharing one
 * database file (WAL + transactions): single-use codes and refresh rotation stay exactly-once
 * across processes, and a token minted by one process works at the other.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { loginCode, mcpStatus, redeem, refresh, registerClient, type Reply, type Tokens } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"
import type { RunningServer } from "../support/ServerProcess.js"

const expectInvalidGrant = (reply: Reply) => {
  expect(reply.status).toBe(400)
  expect(reply.body).toEqual({ error: "invalid_grant", error_description: expect.any(String) })
}

describe("two server processes on one SQLite file", () => {
  let a: AuthServer
  let b: RunningServer
  beforeAll(async () => {
    // The E37 rows below present a just-rotated token again at once, which within the reuse grace
    // (K8) is a retry that gets the rotation's answer again: they run with the grace off.
    // RefreshGrace.test.ts covers the grace on a shared file.
    a = await startAuthServer({ persistence: true, authYaml: "          refresh_reuse_grace: 0\n" })
    b = await a.startPeer()
  })
  afterAll(async () => {
    await a?.stop()
  })

  it("a session started at one process is valid at the other; a client registered at one is known at the other", async () => {
    const login = await loginCode(a.url)
    const reply = await redeem(b.url, login)
    expect(reply.status).toBe(200)
    const tokens = reply.body as unknown as Tokens
    expect((await mcpStatus(a.url, tokens.access_token)).status).toBe(200)
    expect((await mcpStatus(b.url, tokens.access_token)).status).toBe(200)
    const refreshed = await refresh(a.url, tokens.refresh_token)
    expect(refreshed.status).toBe(200)
    expect((await mcpStatus(b.url, (refreshed.body as unknown as Tokens).access_token)).status).toBe(200)

    const dcr = await registerClient(b.url)
    const res = await fetch(
      `${a.url}/authorize?${new URLSearchParams({ client_id: dcr.id, redirect_uri: dcr.redirectUri, response_type: "code" })}`,
      { redirect: "manual" }
    )
    await res.text()
    // Known at A: an error redirect to the client (missing PKCE), not "Unknown client_id" (400).
    expect(res.status).toBe(302)
    expect(res.headers.get("location")).toContain(dcr.redirectUri)
  })

  it("D29 a code redeemed again at the other process is invalid_grant and revokes the first redemption's tokens", async () => {
    const login = await loginCode(a.url)
    const first = await redeem(a.url, login)
    expect(first.status).toBe(200)
    const tokens = first.body as unknown as Tokens
    expect((await mcpStatus(b.url, tokens.access_token)).status).toBe(200)

    expectInvalidGrant(await redeem(b.url, login))
    expect((await mcpStatus(a.url, tokens.access_token)).status).toBe(401)
    expect((await mcpStatus(b.url, tokens.access_token)).status).toBe(401)
    expectInvalidGrant(await refresh(a.url, tokens.refresh_token))
  })

  it("D30 twenty parallel redemptions of one code, split over both processes: exactly one succeeds", async () => {
    for (let round = 0; round < 3; round++) {
      const login = await loginCode(a.url)
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => redeem(i % 2 === 0 ? a.url : b.url, login)))
      const ok = replies.filter((r) => r.status === 200)
      expect(ok).toHaveLength(1)
      for (const r of replies.filter((r) => r.status !== 200)) expectInvalidGrant(r)
      // The losers replayed a used code: the winner's grant is revoked (D29).
      expect((await mcpStatus(a.url, (ok[0]!.body as unknown as Tokens).access_token)).status).toBe(401)
    }
  })

  it("E37 parallel refreshes of one token over both processes: one rotation; reusing the old token revokes the grant", async () => {
    const reply = await redeem(a.url, await loginCode(a.url))
    const tokens = reply.body as unknown as Tokens
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => refresh(i % 2 === 0 ? a.url : b.url, tokens.refresh_token)))
    const ok = replies.filter((r) => r.status === 200)
    expect(ok).toHaveLength(1)
    for (const r of replies.filter((r) => r.status !== 200)) expectInvalidGrant(r)
    // The other nine presented a retired token: the whole grant is gone, new tokens included.
    const rotated = ok[0]!.body as unknown as Tokens
    expectInvalidGrant(await refresh(b.url, rotated.refresh_token))
    expect((await mcpStatus(a.url, rotated.access_token)).status).toBe(401)
    expect((await mcpStatus(b.url, tokens.access_token)).status).toBe(401)
  })

  it("E37 sequentially: rotate at one process, reuse the old token at the other", async () => {
    const reply = await redeem(b.url, await loginCode(b.url))
    const tokens = reply.body as unknown as Tokens
    const rotated = await refresh(a.url, tokens.refresh_token)
    expect(rotated.status).toBe(200)
    const next = rotated.body as unknown as Tokens
    expect((await mcpStatus(b.url, next.access_token)).status).toBe(200)
    expectInvalidGrant(await refresh(b.url, tokens.refresh_token))
    expectInvalidGrant(await refresh(a.url, next.refresh_token))
    expect((await mcpStatus(a.url, next.access_token)).status).toBe(401)
  })
})
