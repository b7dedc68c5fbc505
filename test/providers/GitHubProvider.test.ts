import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, TestClock } from "effect"
import type { GitHubConfig } from "../../src/domain/config/UserConfig.js"
import type { UpstreamTokens } from "../../src/domain/oauth/Identity.js"
import { challengeFromVerifier } from "../../src/domain/oauth/Pkce.js"
import { GitHubProviderNode, pickGitHubEmail } from "../../src/layers/oauth/providers/GitHubProvider.js"
import { IdentityProvider, UpstreamGrantRevoked } from "../../src/services/oauth/IdentityProvider.js"
import { type FakeGitHub, type FakeGitHubOptions, scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import {
  browse,
  captureLogs,
  newVerifier,
  providerHarness,
  tokenEndpointContract,
  userEndpointContract
} from "./ProviderContract.js"

const REDIRECT_URI = "http://127.0.0.1:8000/github/callback"

const github = providerHarness({
  provider: "github",
  redirectUri: REDIRECT_URI,
  tokenPath: "/login/oauth/access_token",
  start: (options: FakeGitHubOptions) => scopedFakeGitHub(options),
  layer: (fake: FakeGitHub, overrides: Partial<GitHubConfig>) => GitHubProviderNode(fake.providerConfig(overrides))
})
const { setup, authorize, login, expectProviderError, tokenRequests } = github

const userEndpoint = userEndpointContract(github, {
  endpoint: "user",
  titles: {
    hang: "C28: /user hangs → unavailable within the 1 s timeout (retries included)",
    malformedToken: "malformed JSON from the token endpoint → bad_response",
    missingToken: "token answer without access_token → bad_response",
    malformedUser: "malformed JSON from /user → bad_response",
    missingId: "/user without id → bad_response",
    retried: "GET /user is retried on 502 (then succeeds); the token POST is never retried"
  },
  tokenPrefix: "gho_",
  missingIdWord: "user id",
  expectProfile: (profile) => expect(profile.id).toBe("583231")
})

describe("GitHubProvider", () => {
  describe("authorize URL", () => {
    it.scopedLive("carries client_id, redirect_uri, scope, state and an S256 challenge, and the fake accepts it", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({}, { scope: "user:email read:org" })
        const challenge = challengeFromVerifier(newVerifier())
        const url = new URL(provider.authorizeUrl({ state: "s t&x", redirectUri: REDIRECT_URI, codeChallenge: challenge }))
        expect(`${url.origin}${url.pathname}`).toBe(fake.config.auth_url)
        expect(Object.fromEntries(url.searchParams)).toEqual({
          client_id: fake.clientId,
          redirect_uri: REDIRECT_URI,
          scope: "user:email read:org",
          state: "s t&x",
          code_challenge: challenge,
          code_challenge_method: "S256"
        })
        expect(provider.name).toBe("github")
        expect(provider.callbackPath).toBe("/github/callback")

        const { status, location } = yield* browse(url.toString())
        expect(status).toBe(302)
        const back = new URL(location ?? "")
        expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI)
        expect(back.searchParams.get("state")).toBe("s t&x")
        expect(back.searchParams.get("code")).toMatch(/^[0-9a-f]{20}$/)
      })
    )

    it.scopedLive("user denies: the fake redirects back with access_denied and the state", () =>
      Effect.gen(function* () {
        const { provider } = yield* setup({ denyAuthorization: true })
        const url = provider.authorizeUrl({ state: "s1", redirectUri: REDIRECT_URI, codeChallenge: challengeFromVerifier(newVerifier()) })
        const { status, location } = yield* browse(url)
        expect(status).toBe(302)
        const back = new URL(location ?? "")
        expect(back.searchParams.get("error")).toBe("access_denied")
        expect(back.searchParams.get("state")).toBe("s1")
        expect(back.searchParams.get("code")).toBeNull()
      })
    )
  })

  describe("code exchange and user", () => {
    it.scopedLive("full login: exchange (form POST, Accept: application/json, PKCE) then /user", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({}, { scope: "user:email read:org" })
        const { code, codeVerifier } = yield* authorize(provider)
        const tokens = yield* provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })

        expect(fake.issuedAccessTokens).toHaveLength(1)
        expect(Redacted.value(tokens.accessToken)).toBe(fake.issuedAccessTokens[0])
        expect(String(tokens.accessToken)).not.toContain("gho_")

        const [post] = tokenRequests(fake)
        expect(post?.method).toBe("POST")
        expect(post?.headers["accept"]).toContain("application/json")
        expect(post?.headers["content-type"]).toContain("application/x-www-form-urlencoded")
        expect(post?.body).toEqual({
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: codeVerifier
        })

        const profile = yield* provider.fetchUser(tokens)
        expect(profile).toEqual({
          provider: "github",
          id: "583231",
          username: "octocat",
          name: "The Octocat",
          email: "octocat@github.com",
          avatarUrl: "https://avatars.githubusercontent.com/u/583231?v=4"
        })
        const userCall = fake.requests.find((r) => r.path === "/api/user")
        expect(userCall?.headers["authorization"]).toBe(`Bearer ${fake.issuedAccessTokens[0]}`)
        expect(userCall?.headers["accept"]).toBe("application/vnd.github+json")
        expect(userCall?.headers["user-agent"]).toBe("mxcp-ts")
        expect(fake.calls.emails).toBe(0)
      })
    )

    it.scopedLive("E44: no expires_in and comma-separated scopes → scopes parsed, no expiry, no refresh token", () =>
      Effect.gen(function* () {
        const { provider } = yield* setup({}, { scope: "user:email read:org" })
        const tokens = yield* login(provider)
        expect(tokens.scopes).toEqual(["user:email", "read:org"])
        expect(tokens.expiresAt).toBeUndefined()
        expect(tokens.refreshToken).toBeUndefined()
      })
    )

    it.scopedLive("a form-encoded token answer is understood too (what GitHub sends without Accept: json)", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        // The fake itself answers form-encoded when the caller does not ask for JSON.
        const { code, codeVerifier } = yield* authorize(provider)
        const raw = yield* Effect.promise(async () => {
          const r = await fetch(fake.config.token_url, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ client_id: fake.clientId, client_secret: fake.clientSecret, code, code_verifier: codeVerifier })
          })
          return { type: r.headers.get("content-type"), text: await r.text() }
        })
        expect(raw.type).toContain("application/x-www-form-urlencoded")
        expect(new URLSearchParams(raw.text).get("token_type")).toBe("bearer")

        fake.fail(
          "token",
          {
            kind: "status",
            status: 200,
            contentType: "application/x-www-form-urlencoded; charset=utf-8",
            body: "access_token=gho_formtoken&scope=repo%2Cuser%3Aemail&token_type=bearer"
          },
          1
        )
        const again = yield* authorize(provider)
        const tokens = yield* provider.exchangeCode({ code: again.code, redirectUri: REDIRECT_URI, codeVerifier: again.codeVerifier })
        expect(Redacted.value(tokens.accessToken)).toBe("gho_formtoken")
        expect(tokens.scopes).toEqual(["repo", "user:email"])
      })
    )

    it.scopedLive("HTTP 200 with error (a reused code) → rejected, naming the error but not the code", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code, codeVerifier } = yield* authorize(provider)
        yield* provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })
        const error = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
        expectProviderError(error, "rejected", "exchangeCode")
        expect(error.message).toContain("bad_verification_code")
        expect(error.message).toContain("The code passed is incorrect or expired.")
        expect(error.message).not.toContain(code)
        expect(error.message).not.toContain(codeVerifier)
        expect(error.message).not.toContain(fake.clientSecret)
        expect(fake.calls.tokenExchange).toBe(2)
      })
    )

    it.scopedLive("a wrong PKCE verifier or client secret → rejected", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code } = yield* authorize(provider)
        const badPkce = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier: newVerifier() }))
        expectProviderError(badPkce, "rejected", "exchangeCode")

        const wrongSecret = yield* Effect.gen(function* () {
          const context = yield* Layer.build(
            GitHubProviderNode(fake.providerConfig({ client_secret: Redacted.make("not-the-secret") }))
          )
          const other = Context.get(context, IdentityProvider)
          const again = yield* authorize(other)
          return yield* Effect.flip(other.exchangeCode({ code: again.code, redirectUri: REDIRECT_URI, codeVerifier: again.codeVerifier }))
        })
        expectProviderError(wrongSecret, "rejected", "exchangeCode")
        expect(wrongSecret.message).toContain("incorrect_client_credentials")
        expect(wrongSecret.message).not.toContain("not-the-secret")
      })
    )

    it.scopedLive("email fallback: profile email null → /user/emails, primary verified chosen", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({
          user: { email: null },
          emails: [
            { email: "old@example.com", primary: false, verified: true, visibility: null },
            { email: "unverified@example.com", primary: false, verified: false, visibility: null },
            { email: "main@example.com", primary: true, verified: true, visibility: "private" }
          ]
        })
        const tokens = yield* login(provider)
        const profile = yield* provider.fetchUser(tokens)
        expect(profile.email).toBe("main@example.com")
        expect(fake.calls.emails).toBe(1)
        expect(fake.requests.find((r) => r.path === "/api/user/emails")?.headers["authorization"]).toBe(
          `Bearer ${fake.issuedAccessTokens[0]}`
        )
      })
    )

    it.scopedLive("email fallback: no primary verified → first verified; none → ''; name falls back to login", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({
          user: { email: "", name: null },
          emails: [
            { email: "primary-unverified@example.com", primary: true, verified: false, visibility: null },
            { email: "second@example.com", primary: false, verified: true, visibility: null }
          ]
        })
        const tokens = yield* login(provider)
        const profile = yield* provider.fetchUser(tokens)
        expect(profile.email).toBe("second@example.com")
        expect(profile.name).toBe("octocat")

        fake.setEmails([{ email: "x@example.com", primary: true, verified: false, visibility: null }])
        expect((yield* provider.fetchUser(tokens)).email).toBe("")
      })
    )

    it.scopedLive("email fallback: a token without user:email (404 from /user/emails) → ''", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ user: { email: null } }, { scope: "read:org" })
        const tokens = yield* login(provider)
        expect(tokens.scopes).toEqual(["read:org"])
        const profile = yield* provider.fetchUser(tokens)
        expect(profile.email).toBe("")
        expect(fake.calls.emails).toBe(1)
      })
    )

    it("picks emails: primary+verified, else first verified, else ''", () => {
      expect(
        pickGitHubEmail([
          { email: "a@x", primary: false, verified: true },
          { email: "b@x", primary: true, verified: true }
        ])
      ).toBe("b@x")
      expect(pickGitHubEmail([{ email: "a@x", primary: true, verified: false }, { email: "c@x", verified: true }])).toBe("c@x")
      expect(pickGitHubEmail([{ email: "a@x", primary: true }])).toBe("")
      expect(pickGitHubEmail([])).toBe("")
    })

    it.scopedLive("401 from the API (revoked token) → rejected, not retried", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.revokeAccessToken()
        const error = yield* Effect.flip(provider.fetchUser(tokens))
        expectProviderError(error, "rejected", "fetchUser")
        expect(fake.calls.user).toBe(1)
      })
    )
  })

  describe("expiring GitHub App tokens and refresh", () => {
    it.scoped("expires_in → expiresAt = Clock now + expires_in (TestClock); refresh token and its expiry kept", () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(1_700_000_000_000)
        const { provider } = yield* setup({ expiringTokens: true })
        const tokens = yield* login(provider)
        expect(tokens.expiresAt).toBe(1_700_000_000_000 + 28_800_000)
        expect(tokens.refreshToken).toBeDefined()
        expect(Redacted.value(tokens.refreshToken ?? Redacted.make(""))).toMatch(/^ghr_/)
        expect(tokens.extra["refresh_token_expires_at"]).toBe(String(1_700_000_000_000 + 15_897_600_000))
      })
    )

    it.scopedLive("refresh rotates both tokens; the old refresh token is then dead upstream", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ expiringTokens: { expiresIn: 600 } }, { scope: "user:email read:org" })
        const first = yield* login(provider)
        const oldRefresh = first.refreshToken ?? Redacted.make("")
        const before = Date.now()
        const second = yield* provider.refresh(oldRefresh, first)
        expect(fake.calls.tokenRefresh).toBe(1)
        expect(Redacted.value(second.accessToken)).toBe(fake.issuedAccessTokens[1])
        expect(Redacted.value(second.refreshToken ?? Redacted.make(""))).toBe(fake.issuedRefreshTokens[1])
        expect(Redacted.value(second.refreshToken ?? Redacted.make(""))).not.toBe(Redacted.value(oldRefresh))
        expect(second.expiresAt).toBeGreaterThanOrEqual(before + 600_000)
        expect(second.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000)
        expect(second.scopes).toEqual(["user:email", "read:org"])
        const refreshPost = tokenRequests(fake)[1]
        expect(refreshPost?.headers["accept"]).toContain("application/json")
        expect(refreshPost?.body["grant_type"]).toBe("refresh_token")
        expect(refreshPost?.body["client_id"]).toBe(fake.clientId)

        // The new access token works; the rotated refresh token does not.
        expect((yield* provider.fetchUser(second)).username).toBe("octocat")
        const reuse = yield* Effect.flip(provider.refresh(oldRefresh, first))
        expect(reuse).toBeInstanceOf(UpstreamGrantRevoked)
      })
    )

    it.scopedLive("refresh keeps the old refresh token (and scopes) when the answer has none", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ expiringTokens: true }, { scope: "user:email read:org" })
        const first = yield* login(provider)
        fake.fail(
          "token",
          { kind: "status", status: 200, contentType: "application/json", body: '{"access_token":"ghu_plain","token_type":"bearer"}' },
          1
        )
        const refreshToken = first.refreshToken ?? Redacted.make("")
        const second = yield* provider.refresh(refreshToken, first)
        expect(Redacted.value(second.accessToken)).toBe("ghu_plain")
        expect(second.refreshToken).toBe(refreshToken)
        expect(second.scopes).toEqual(first.scopes)
        expect(second.expiresAt).toBeUndefined()
      })
    )

    it.scopedLive("E42: upstream refresh token revoked (bad_refresh_token) → UpstreamGrantRevoked", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ expiringTokens: true })
        const first = yield* login(provider)
        fake.revokeRefreshToken()
        const error = yield* Effect.flip(provider.refresh(first.refreshToken ?? Redacted.make(""), first))
        expect(error).toBeInstanceOf(UpstreamGrantRevoked)
        expect(error.provider).toBe("github")
        expect(fake.calls.tokenRefresh).toBe(1)
      })
    )

    it.scopedLive("E42: invalid_grant on refresh → UpstreamGrantRevoked; other refusals → rejected", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ expiringTokens: true })
        const first = yield* login(provider)
        const refreshToken = first.refreshToken ?? Redacted.make("")
        fake.fail("token", { kind: "status", status: 400, contentType: "application/json", body: '{"error":"invalid_grant"}' }, 1)
        expect(yield* Effect.flip(provider.refresh(refreshToken, first))).toBeInstanceOf(UpstreamGrantRevoked)
        fake.fail(
          "token",
          { kind: "status", status: 200, contentType: "application/json", body: '{"error":"incorrect_client_credentials"}' },
          1
        )
        expectProviderError(yield* Effect.flip(provider.refresh(refreshToken, first)), "rejected", "refresh")
      })
    )

    it.scopedLive("refresh: 503 → unavailable and not retried", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ expiringTokens: true })
        const first = yield* login(provider)
        fake.fail("token", { kind: "status", status: 503 })
        expectProviderError(yield* Effect.flip(provider.refresh(first.refreshToken ?? Redacted.make(""), first)), "unavailable", "refresh")
        expect(fake.calls.tokenRefresh).toBe(1)
      })
    )
  })

  describe("C28: upstream failures are clear errors within the timeout", () => {
    tokenEndpointContract(github)
    userEndpoint.failures()
  })

  describe("retries", () => {
    userEndpoint.retries()

    it.scopedLive("GET /user and /user/emails: bounded retries (3 attempts), then unavailable", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ user: { email: null } })
        const tokens = yield* login(provider)
        fake.fail("user", { kind: "status", status: 502 })
        expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "unavailable", "fetchUser")
        expect(fake.calls.user).toBe(3)

        fake.clearFailures()
        fake.fail("emails", { kind: "status", status: 500 })
        expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "unavailable", "fetchUserEmails")
        expect(fake.calls.emails).toBe(3)
      })
    )
  })

  it.scopedLive("logs name the failing call and carry no token, code or secret", () =>
    Effect.gen(function* () {
      const { lines, run } = captureLogs()

      const { fake, provider } = yield* setup({ expiringTokens: true, user: { email: null } })
      const { code, codeVerifier } = yield* authorize(provider)
      const tokens: UpstreamTokens = yield* run(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
      yield* run(provider.fetchUser(tokens))
      yield* run(provider.refresh(tokens.refreshToken ?? Redacted.make(""), tokens))
      fake.fail("token", { kind: "status", status: 500 })
      yield* Effect.flip(run(provider.refresh(tokens.refreshToken ?? Redacted.make(""), tokens)))
      yield* Effect.flip(run(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })))

      const all = lines.join("\n")
      expect(all).toContain("token exchange")
      expect(all).toContain("user lookup (GET /user)")
      expect(all).toContain("token refresh (POST token_url) failed: HTTP 500")
      expect(all).toContain('"operation":"refresh"')
      const secrets = [fake.clientSecret, code, codeVerifier, ...fake.issuedAccessTokens, ...fake.issuedRefreshTokens]
      for (const secret of secrets) expect(all).not.toContain(secret)
      expect(lines.length).toBeGreaterThan(4)
    })
  )
})
