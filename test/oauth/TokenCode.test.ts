/**
 * Checklist section D: /token with the authorization_code grant, against the real server on
 * loopback. Most rows run against the server process (`dist/main.js`); rows that need time to
 * pass (TestClock) or another config run against the in-process server.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { loginCode, mcpStatus, redeem, refresh, registerClient, type Reply } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"

/** An RFC 6749 error answer: status, the exact `{error, error_description}` body, no-store. */
const expectOAuthError = (reply: Reply, error: string, status = 400) => {
  expect(reply.status).toBe(status)
  expect(reply.body).toEqual({ error, error_description: expect.any(String) })
  expect(reply.headers.get("cache-control")).toBe("no-store")
}

/** 43 characters of base64url: 32 random bytes (256 bits), unpadded. */
const OPAQUE_TOKEN = /^[A-Za-z0-9_-]{43}$/

describe("D: authorization_code at /token, server process", () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer()
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("D29 a code redeemed twice is invalid_grant and revokes the tokens of the first redemption", async () => {
    const login = await loginCode(auth.url)
    const first = await redeem(auth.url, login)
    expect(first.status).toBe(200)
    const tokens = first.body as { access_token: string; refresh_token: string }
    expect((await mcpStatus(auth.url, tokens.access_token)).status).toBe(200)

    expectOAuthError(await redeem(auth.url, login), "invalid_grant")

    const probe = await mcpStatus(auth.url, tokens.access_token)
    expect(probe.status).toBe(401)
    expect(probe.wwwAuthenticate).toContain('error="invalid_token"')
    expectOAuthError(await refresh(auth.url, tokens.refresh_token), "invalid_grant")
    // A third try stays refused.
    expectOAuthError(await redeem(auth.url, login), "invalid_grant")
  })

  it("D30 twenty parallel redemptions of one code: exactly one succeeds", async () => {
    const login = await loginCode(auth.url)
    const replies = await Promise.all(Array.from({ length: 20 }, () => redeem(auth.url, login)))
    const ok = replies.filter((r) => r.status === 200)
    expect(ok).toHaveLength(1)
    for (const r of replies.filter((r) => r.status !== 200)) expectOAuthError(r, "invalid_grant")
    // The losers replayed a used code, so the winner's grant is revoked too (D29).
    const winner = ok[0]!.body as { access_token: string }
    expect((await mcpStatus(auth.url, winner.access_token)).status).toBe(401)
  })

  it("D31 client B presenting client A's code gets invalid_grant", async () => {
    const clientB = await registerClient(auth.url)
    const login = await loginCode(auth.url) // client A: the config client
    // B with A's redirect URI and verifier, and B with its own redirect URI.
    expectOAuthError(await redeem(auth.url, login, { client: clientB }), "invalid_grant")
    const again = await loginCode(auth.url)
    expectOAuthError(
      await redeem(auth.url, again, { client: clientB, params: { redirect_uri: clientB.redirectUri } }),
      "invalid_grant"
    )
  })

  it("D32 a redirect_uri other than the one sent to /authorize is invalid_grant", async () => {
    const others = [
      "http://127.0.0.1:49154/oauth/callback", // another loopback port
      "http://127.0.0.1:49153/oauth/callback/", // trailing slash
      "http://localhost:49153/oauth/callback", // another loopback host
      "http://127.0.0.1:49153/oauth/other"
    ]
    for (const redirectUri of others) {
      const login = await loginCode(auth.url)
      expectOAuthError(await redeem(auth.url, login, { params: { redirect_uri: redirectUri } }), "invalid_grant")
    }
  })

  it("D33 a wrong code_verifier is invalid_grant; a missing one is invalid_request", async () => {
    const login = await loginCode(auth.url)
    expectOAuthError(await redeem(auth.url, login, { params: { code_verifier: undefined } }), "invalid_request")
    expectOAuthError(await redeem(auth.url, login, { params: { code_verifier: "" } }), "invalid_request")
    // A missing verifier did not use up the code; a wrong one does.
    expectOAuthError(await redeem(auth.url, login, { params: { code_verifier: "w".repeat(50) } }), "invalid_grant")
    expectOAuthError(await redeem(auth.url, login), "invalid_grant")

    const other = await loginCode(auth.url)
    expectOAuthError(await redeem(auth.url, other, { params: { code_verifier: login.verifier } }), "invalid_grant")
  })

  it("D35 an unsupported grant_type is unsupported_grant_type; a missing one is invalid_request", async () => {
    const login = await loginCode(auth.url)
    for (const grantType of ["password", "client_credentials", "garbage", "urn:ietf:params:oauth:grant-type:device_code"]) {
      expectOAuthError(
        await redeem(auth.url, login, { params: { grant_type: grantType, username: "u", password: "p" } }),
        "unsupported_grant_type"
      )
    }
    expectOAuthError(await redeem(auth.url, login, { params: { grant_type: undefined } }), "invalid_request")
    // None of that touched the code.
    expect((await redeem(auth.url, login)).status).toBe(200)
  })

  it("D36 success: 200 JSON, no-store, Bearer, expires_in 3600, scope, opaque 256-bit tokens", async () => {
    const login = await loginCode(auth.url)
    const reply = await redeem(auth.url, login)
    expect(reply.status).toBe(200)
    expect(reply.headers.get("content-type")).toMatch(/^application\/json/)
    expect(reply.headers.get("cache-control")).toBe("no-store")
    expect(reply.body).toEqual({
      access_token: expect.stringMatching(OPAQUE_TOKEN),
      refresh_token: expect.stringMatching(OPAQUE_TOKEN),
      token_type: "Bearer",
      expires_in: 3600,
      scope: "mxcp:access"
    })
    const { access_token, refresh_token } = reply.body as { access_token: string; refresh_token: string }
    expect(access_token).not.toBe(refresh_token)
    // Never the upstream token.
    for (const upstream of auth.fake.issuedAccessTokens) {
      expect(JSON.stringify(reply.body)).not.toContain(upstream)
    }
    expect((await mcpStatus(auth.url, access_token)).status).toBe(200)
  })
})

describe("D: authorization_code at /token, in process (TestClock)", () => {
  it.scoped("D34 an authorization code older than 5 minutes is invalid_grant", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const login = yield* Effect.promise(() => loginCode(url))
      yield* TestClock.adjust("5 minutes")
      const late = yield* Effect.promise(() => redeem(url, login))
      expectOAuthError(late, "invalid_grant")
    }))

  it.scoped("D36 a configured access_token_ttl: 120 gives expires_in 120, and the token lives that long", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { auth: { access_token_ttl: 120 } })
      const reply = yield* Effect.promise(() => loginCode(url).then((login) => redeem(url, login)))
      expect(reply.status).toBe(200)
      expect(reply.body).toMatchObject({ token_type: "Bearer", expires_in: 120, scope: "mxcp:access" })
      const access = (reply.body as { access_token: string }).access_token
      yield* TestClock.adjust("119 seconds")
      expect((yield* Effect.promise(() => mcpStatus(url, access))).status).toBe(200)
      yield* TestClock.adjust("1 second")
      expect((yield* Effect.promise(() => mcpStatus(url, access))).status).toBe(401)
    }))
})
