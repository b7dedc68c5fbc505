/**
 * Checklist section E: the refresh_token grant, and refreshing the upstream (GitHub) token behind a
 * session, against the in-process server on loopback (TestClock moves time for expiry).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer, jumpingClock } from "../support/InProcess.js"
import {
  login,
  loginCode,
  mcpClient,
  mcpStatus,
  redeem,
  refresh,
  registerClient,
  type Reply,
  revoke,
  type Tokens,
  whoami
} from "../support/OAuthFlows.js"
import { SCOPED_CLIENT, scopedClientConfig } from "../support/OAuthHarness.js"

const run = <A>(f: () => Promise<A>) => Effect.promise(f)

const expectInvalidGrant = (reply: Reply) => {
  expect(reply.status).toBe(400)
  expect(reply.body).toEqual({ error: "invalid_grant", error_description: expect.any(String) })
  expect(reply.headers.get("cache-control")).toBe("no-store")
}

const tokensOf = (reply: Reply): Tokens => {
  expect(reply.status).toBe(200)
  return reply.body as unknown as Tokens
}

const status = (url: string, bearer: string) => run(() => mcpStatus(url, bearer)).pipe(Effect.map((p) => p.status))

/** Upstream GitHub App tokens that expire after 2 minutes (refreshed 30 s before). */
const expiring = { expiringTokens: { expiresIn: 120, refreshTokenExpiresIn: 3600 } }

describe("E: refresh tokens and upstream refresh, in process", () => {
  it.scoped("E37 an old refresh token reused after rotation is invalid_grant and revokes the whole grant", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const first = yield* run(() => login(url))
      const second = tokensOf(yield* run(() => refresh(url, first.refresh_token)))
      expect(second.refresh_token).not.toBe(first.refresh_token)
      expect(second.access_token).not.toBe(first.access_token)
      const third = tokensOf(yield* run(() => refresh(url, second.refresh_token)))
      expect(yield* status(url, third.access_token)).toBe(200)

      expectInvalidGrant(yield* run(() => refresh(url, first.refresh_token)))

      // The newest tokens of the grant are gone too.
      expect(yield* status(url, third.access_token)).toBe(401)
      expectInvalidGrant(yield* run(() => refresh(url, third.refresh_token)))
      // A new login is a new grant and works.
      const fresh = yield* run(() => login(url))
      expect(yield* status(url, fresh.access_token)).toBe(200)
    }))

  it.scoped("E38 client B presenting client A's refresh token is invalid_grant; A's token still works", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const tokensA = yield* run(() => login(url))
      const clientB = yield* run(() => registerClient(url))
      expectInvalidGrant(yield* run(() => refresh(url, tokensA.refresh_token, { client: clientB })))
      expectInvalidGrant(yield* run(() => refresh(url, tokensA.refresh_token, { client: clientB })))
      // Not rotated, not revoked: A refreshes with the same token, and its access token still works.
      expect(yield* status(url, tokensA.access_token)).toBe(200)
      const next = tokensOf(yield* run(() => refresh(url, tokensA.refresh_token)))
      expect(yield* status(url, next.access_token)).toBe(200)
    }))

  it.scoped("E39 refresh never widens: wider scopes are cut back to the grant, none of the grant's is invalid_scope; narrower granted", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { extraClients: [scopedClientConfig] })
      const full = yield* run(() => login(url, { client: SCOPED_CLIENT }))
      expect(full.scope).toBe("mxcp:access mxcp:extra")

      // Nothing the grant holds: invalid_scope, and the refused request did not use the token up.
      const outside = yield* run(() => refresh(url, full.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:admin" }))
      expect(outside.status).toBe(400)
      expect(outside.body).toEqual({ error: "invalid_scope", error_description: expect.any(String) })

      const narrow = tokensOf(yield* run(() => refresh(url, full.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:access" })))
      expect(narrow.scope).toBe("mxcp:access")
      expect(yield* status(url, narrow.access_token)).toBe(200)

      // Wider than the grant (interface.md section 4: requested ∩ allowed): cut back, never widened.
      const wider = tokensOf(
        yield* run(() => refresh(url, narrow.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:access mxcp:extra mxcp:admin" }))
      )
      expect(wider.scope).toBe("mxcp:access mxcp:extra")

      // A grant narrowed at login cannot be widened at refresh.
      const small = yield* run(() => login(url, { client: SCOPED_CLIENT, scope: "mxcp:access" }))
      expect(small.scope).toBe("mxcp:access")
      const widen = tokensOf(
        yield* run(() => refresh(url, small.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:access mxcp:extra" }))
      )
      expect(widen.scope).toBe("mxcp:access")
      const onlyExtra = yield* run(() => refresh(url, widen.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:extra" }))
      expect(onlyExtra.body["error"]).toBe("invalid_scope")
      expect(tokensOf(yield* run(() => refresh(url, widen.refresh_token, { client: SCOPED_CLIENT }))).scope).toBe(
        "mxcp:access"
      )
    }))

  it.scoped("E40 a refresh token is no Bearer at /mcp; an access token is no refresh token", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const tokens = yield* run(() => login(url))
      const probe = yield* run(() => mcpStatus(url, tokens.refresh_token))
      expect(probe.status).toBe(401)
      expect(probe.wwwAuthenticate).toContain('error="invalid_token"')
      expectInvalidGrant(yield* run(() => refresh(url, tokens.access_token)))
      // Neither mix-up harmed the grant.
      expect(yield* status(url, tokens.access_token)).toBe(200)
      tokensOf(yield* run(() => refresh(url, tokens.refresh_token)))
    }))

  it.scoped("E41 an expired or revoked refresh token is invalid_grant", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { auth: { refresh_token_ttl: 60 } })

      const shortLived = yield* run(() => login(url))
      yield* TestClock.adjust("59 seconds")
      const rotated = tokensOf(yield* run(() => refresh(url, shortLived.refresh_token)))
      yield* TestClock.adjust("60 seconds")
      expectInvalidGrant(yield* run(() => refresh(url, rotated.refresh_token)))

      const revoked = yield* run(() => login(url))
      expect((yield* run(() => revoke(url, revoked.refresh_token))).status).toBe(200)
      expectInvalidGrant(yield* run(() => refresh(url, revoked.refresh_token)))
    }))

  it.scoped("E42 upstream refresh answering invalid_grant ends the session: 401, no 500, our refresh fails", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub(expiring)
      const { url } = yield* inProcessServer(fake)
      const tokens = yield* run(() => login(url))
      expect(yield* status(url, tokens.access_token)).toBe(200)
      expect(fake.calls.tokenRefresh).toBe(0)

      fake.revokeRefreshToken() // the user revoked the app on GitHub
      yield* TestClock.adjust("2 minutes")
      const probe = yield* run(() => mcpStatus(url, tokens.access_token))
      expect(probe.status).toBe(401)
      expect(probe.wwwAuthenticate).toContain('error="invalid_token"')
      expect(fake.calls.tokenRefresh).toBe(1)
      expectInvalidGrant(yield* run(() => refresh(url, tokens.refresh_token)))
      // Ended for good: no further upstream attempts.
      expect(yield* status(url, tokens.access_token)).toBe(401)
      expect(fake.calls.tokenRefresh).toBe(1)
    }))

  it.scoped("E43 ten concurrent calls on a session whose upstream token needs refreshing: one upstream refresh", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub(expiring)
      const { url } = yield* inProcessServer(fake)
      const tokens = yield* run(() => login(url))
      const client = yield* Effect.acquireRelease(run(() => mcpClient(url, tokens.access_token)), (c) =>
        run(() => c.close())
      )
      expect(yield* run(() => whoami(client))).toMatchObject({ provider: "github", has_external_token: true })
      expect(fake.calls.tokenRefresh).toBe(0)

      yield* TestClock.adjust("2 minutes")
      const answers = yield* run(() => Promise.all(Array.from({ length: 10 }, () => whoami(client))))
      expect(answers).toHaveLength(10)
      for (const a of answers) expect(a).toMatchObject({ username: "octocat", has_external_token: true })
      expect(fake.calls.tokenRefresh).toBe(1)

      // The server kept the rotated upstream refresh token: with every older one revoked, the
      // next refresh still works.
      for (const old of fake.issuedRefreshTokens.slice(0, -1)) fake.revokeRefreshToken(old)
      yield* TestClock.adjust("2 minutes")
      expect(yield* run(() => whoami(client))).toMatchObject({ has_external_token: true })
      expect(fake.calls.tokenRefresh).toBe(2)
      expect(yield* status(url, tokens.access_token)).toBe(200)
      expect(fake.calls.tokenRefresh).toBe(2)
    }))

  it.scoped("E44 upstream tokens without expires_in are never refreshed; comma-separated scopes log in", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub({ grantedScope: "user:email,read:org" })
      const time = yield* jumpingClock
      const { url } = yield* inProcessServer(fake, { auth: { access_token_ttl: 2 * 86400 } }).pipe(
        Effect.withClock(time.clock)
      )
      const tokens = yield* run(() => login(url))
      expect(tokens.scope).toBe("mxcp:access")

      const unused = yield* run(() => loginCode(url))
      yield* time.jump("1 day")
      // The server saw the day pass: a code from before it has expired.
      expectInvalidGrant(yield* run(() => redeem(url, unused)))
      const client = yield* Effect.acquireRelease(run(() => mcpClient(url, tokens.access_token)), (c) =>
        run(() => c.close())
      )
      expect(yield* run(() => whoami(client))).toMatchObject({ provider: "github", has_external_token: true })
      expect(fake.calls.tokenRefresh).toBe(0)
      expect(fake.calls.tokenExchange).toBe(2)
    }))

  it.scoped("/revoke: a refresh token ends the grant, an access token only itself; unknown tokens are 200", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)

      const a = yield* run(() => login(url))
      expect((yield* run(() => revoke(url, a.access_token, { hint: "access_token" }))).status).toBe(200)
      expect(yield* status(url, a.access_token)).toBe(401)
      const a2 = tokensOf(yield* run(() => refresh(url, a.refresh_token)))
      expect(yield* status(url, a2.access_token)).toBe(200)

      const b = yield* run(() => login(url))
      // Another client cannot revoke it (and learns nothing: still 200).
      const other = yield* run(() => registerClient(url))
      expect((yield* run(() => revoke(url, b.refresh_token, { client: other }))).status).toBe(200)
      expect((yield* run(() => revoke(url, b.access_token, { client: other }))).status).toBe(200)
      expect(yield* status(url, b.access_token)).toBe(200)
      // Its own client can; the hint is only a hint.
      expect((yield* run(() => revoke(url, b.refresh_token, { hint: "access_token" }))).status).toBe(200)
      expect(yield* status(url, b.access_token)).toBe(401)
      expectInvalidGrant(yield* run(() => refresh(url, b.refresh_token)))

      const unknown = yield* run(() => revoke(url, "x".repeat(43)))
      expect(unknown.status).toBe(200)
      expect(unknown.headers.get("cache-control")).toBe("no-store")
      const missing = yield* run(() => revoke(url, ""))
      expect(missing.body["error"]).toBe("invalid_request")
    }))
})
