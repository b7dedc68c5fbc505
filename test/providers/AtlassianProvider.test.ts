import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, TestClock } from "effect"
import type { AtlassianConfig } from "../../src/domain/config/UserConfig.js"
import type { UpstreamTokens } from "../../src/domain/oauth/Identity.js"
import { challengeFromVerifier } from "../../src/domain/oauth/Pkce.js"
import {
  AtlassianProviderNode,
  atlassianAccessibleResourcesUrl,
  atlassianUsername
} from "../../src/layers/oauth/providers/AtlassianProvider.js"
import { IdentityProvider, UpstreamGrantRevoked } from "../../src/services/oauth/IdentityProvider.js"
import {
  type FakeAtlassian,
  type FakeAtlassianOptions,
  fakeAtlassianResource,
  scopedFakeAtlassian
} from "../support/fakes/FakeAtlassian.js"
import {
  browse,
  captureLogs,
  newVerifier,
  providerHarness,
  refreshOf,
  tokenEndpointContract,
  userEndpointContract
} from "./ProviderContract.js"

const REDIRECT_URI = "http://127.0.0.1:8000/atlassian/callback"
const SCOPE = "read:me read:jira-work offline_access"

const atlassian = providerHarness({
  provider: "atlassian",
  redirectUri: REDIRECT_URI,
  tokenPath: "/oauth/token",
  start: (options: FakeAtlassianOptions) => scopedFakeAtlassian(options),
  layer: (fake: FakeAtlassian, overrides: Partial<AtlassianConfig>) =>
    AtlassianProviderNode(fake.providerConfig({ scope: SCOPE, ...overrides }))
})
const { setup, authorize, login, expectProviderError, tokenRequests } = atlassian

const userEndpoint = userEndpointContract(atlassian, {
  endpoint: "me",
  titles: {
    hang: "C28: /me hangs → unavailable within the 1 s timeout (retries included)",
    malformedToken: "C28: malformed JSON from the token endpoint → bad_response",
    missingToken: "C28: token answer without access_token → bad_response",
    malformedUser: "C28: malformed JSON from /me → bad_response, not retried",
    missingId: "C28: /me without account_id → bad_response naming the user id",
    retried: "GET /me is retried on 502 (then succeeds); the token POST is never retried"
  },
  tokenPrefix: "eyJ",
  missingIdWord: "account_id",
  expectProfile: (profile) => expect(profile.username).toBe("ada")
})

describe("AtlassianProvider", () => {
  describe("authorize URL", () => {
    it.scopedLive("carries audience, client_id, scope, redirect_uri, state, response_type, prompt=consent and S256 PKCE", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const challenge = challengeFromVerifier(newVerifier())
        const url = new URL(provider.authorizeUrl({ state: "s t&x", redirectUri: REDIRECT_URI, codeChallenge: challenge }))
        expect(`${url.origin}${url.pathname}`).toBe(fake.config.auth_url)
        expect(Object.fromEntries(url.searchParams)).toEqual({
          audience: "api.atlassian.com",
          client_id: fake.clientId,
          scope: SCOPE,
          redirect_uri: REDIRECT_URI,
          state: "s t&x",
          response_type: "code",
          prompt: "consent",
          code_challenge: challenge,
          code_challenge_method: "S256"
        })
        expect(provider.name).toBe("atlassian")
        expect(provider.callbackPath).toBe("/atlassian/callback")

        const { status, location } = yield* browse(url.toString())
        expect(status).toBe(302)
        const back = new URL(location ?? "")
        expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI)
        expect(back.searchParams.get("state")).toBe("s t&x")
        expect(back.searchParams.get("code")).not.toBeNull()
      })
    )

    it.scopedLive("the fake refuses an authorize request without the audience or prompt=consent (400 page)", () =>
      Effect.gen(function* () {
        const { provider } = yield* setup({ requirePkce: true })
        const good = new URL(provider.authorizeUrl({ state: "s", redirectUri: REDIRECT_URI, codeChallenge: challengeFromVerifier(newVerifier()) }))
        for (const drop of ["audience", "prompt", "response_type", "code_challenge"]) {
          const bad = new URL(good)
          bad.searchParams.delete(drop)
          expect((yield* browse(bad.toString())).status).toBe(400)
        }
        expect((yield* browse(good.toString())).status).toBe(302)
      })
    )

    it.scopedLive("user denies consent: the fake redirects back with access_denied and the state", () =>
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
    it.scopedLive("full login: exchange as a JSON body (PKCE verifier included), then GET /me", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code, codeVerifier } = yield* authorize(provider)
        const tokens = yield* provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })

        const [post] = tokenRequests(fake)
        expect(post?.method).toBe("POST")
        expect(post?.headers["content-type"]).toMatch(/^application\/json/)
        expect(post?.headers["accept"]).toContain("application/json")
        expect(JSON.parse(post?.rawBody ?? "")).toEqual({
          grant_type: "authorization_code",
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: codeVerifier
        })

        expect(fake.issuedAccessTokens).toHaveLength(1)
        expect(Redacted.value(tokens.accessToken)).toBe(fake.issuedAccessTokens[0])
        expect(Redacted.value(refreshOf(tokens))).toBe(fake.issuedRefreshTokens[0])
        expect(String(tokens.accessToken)).not.toContain("atlat_")
        expect(tokens.scopes).toEqual(["read:me", "read:jira-work", "offline_access"])
        expect(tokens.extra).toEqual({ api_url: fake.config.api_url })

        const profile = yield* provider.fetchUser(tokens)
        expect(profile).toEqual({
          provider: "atlassian",
          id: "712020:1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
          username: "ada",
          name: "Ada Lovelace",
          email: "ada.lovelace@example.com",
          avatarUrl: "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/712020/ada/128"
        })
        const me = fake.requests.find((r) => r.path === "/api/me")
        expect(me?.method).toBe("GET")
        expect(me?.headers["authorization"]).toBe(`Bearer ${fake.issuedAccessTokens[0]}`)
        expect(me?.headers["user-agent"]).toBe("mxcp-ts")
      })
    )

    it.scoped("expires_in → expiresAt = Clock now + expires_in (TestClock)", () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(1_700_000_000_000)
        const { provider } = yield* setup({ expiresIn: 3600 })
        const tokens = yield* login(provider)
        expect(tokens.expiresAt).toBe(1_700_000_000_000 + 3_600_000)
      })
    )

    it.scopedLive("without offline_access no refresh token is issued or invented", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({}, { scope: "read:me" })
        const tokens = yield* login(provider)
        expect(tokens.refreshToken).toBeUndefined()
        expect(tokens.scopes).toEqual(["read:me"])
        expect(fake.issuedRefreshTokens).toHaveLength(0)
      })
    )

    it.scopedLive("username falls back to the email local part, then to account_id; name falls back to the username", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ user: { nickname: null } })
        const tokens = yield* login(provider)
        const byEmail = yield* provider.fetchUser(tokens)
        expect(byEmail.username).toBe("ada.lovelace")
        expect(byEmail.name).toBe("Ada Lovelace")

        fake.setUser({ email: null, name: null, picture: null })
        const byId = yield* provider.fetchUser(tokens)
        expect(byId).toEqual({
          provider: "atlassian",
          id: "712020:1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
          username: "712020:1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
          name: "712020:1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
          email: "",
          avatarUrl: undefined
        })

        fake.setUser({ nickname: "", email: "grace@example.org", name: "" })
        const blank = yield* provider.fetchUser(tokens)
        expect(blank.username).toBe("grace")
        expect(blank.name).toBe("grace")
      })
    )

    it("atlassianUsername: nickname, else email local part, else account_id", () => {
      expect(atlassianUsername({ account_id: "a1", nickname: "nick", email: "x@y" })).toBe("nick")
      expect(atlassianUsername({ account_id: "a1", nickname: null, email: "first.last@example.com" })).toBe("first.last")
      expect(atlassianUsername({ account_id: "a1", email: "@example.com" })).toBe("a1")
      expect(atlassianUsername({ account_id: "a1", nickname: "", email: "" })).toBe("a1")
    })

    it.scopedLive("the fake rejects a form-encoded token request (415); the provider never sends one", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code, codeVerifier } = yield* authorize(provider)
        const raw = yield* Effect.promise(async () => {
          const r = await fetch(fake.config.token_url, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "authorization_code",
              client_id: fake.clientId,
              client_secret: fake.clientSecret,
              code,
              redirect_uri: REDIRECT_URI,
              code_verifier: codeVerifier
            })
          })
          return { status: r.status, json: (await r.json()) as unknown }
        })
        expect(raw.status).toBe(415)
        expect(raw.json).toMatchObject({ error: "invalid_request" })
        // The code was not spent by the refused request.
        yield* provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })
        const posts = tokenRequests(fake)
        expect(posts).toHaveLength(2)
        expect(posts[0]?.headers["content-type"]).toContain("application/x-www-form-urlencoded")
        expect(posts[1]?.headers["content-type"]).toMatch(/^application\/json/)
      })
    )

    it.scopedLive("4xx JSON error (a reused code) → rejected, naming the error but not the code", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code, codeVerifier } = yield* authorize(provider)
        yield* provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })
        const error = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
        expectProviderError(error, "rejected", "exchangeCode")
        expect(error.message).toContain("HTTP 403")
        expect(error.message).toContain("invalid_grant")
        expect(error.message).toContain("Invalid authorization code")
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
        expect(badPkce.message).toContain("code_verifier")

        const wrongSecret = yield* Effect.gen(function* () {
          const context = yield* Layer.build(
            AtlassianProviderNode(fake.providerConfig({ client_secret: Redacted.make("not-the-secret") }))
          )
          const other = Context.get(context, IdentityProvider)
          const again = yield* authorize(other)
          return yield* Effect.flip(other.exchangeCode({ code: again.code, redirectUri: REDIRECT_URI, codeVerifier: again.codeVerifier }))
        })
        expectProviderError(wrongSecret, "rejected", "exchangeCode")
        expect(wrongSecret.message).toContain("HTTP 401")
        expect(wrongSecret.message).toContain("access_denied")
        expect(wrongSecret.message).not.toContain("not-the-secret")
      })
    )

    it.scopedLive("401 from /me (revoked token) → rejected, not retried", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.revokeAccessToken()
        const error = yield* Effect.flip(provider.fetchUser(tokens))
        expectProviderError(error, "rejected", "fetchUser")
        expect(error.message).toContain("HTTP 401")
        expect(fake.calls.me).toBe(1)
      })
    )
  })

  describe("accessible resources (for SQL users)", () => {
    it.scopedLive("the upstream access token and extra.api_url are all SQL needs to list the sites (cloud ids)", () =>
      Effect.gen(function* () {
        const site = fakeAtlassianResource("acme", ["read:jira-work", "read:jira-user"])
        const { fake, provider } = yield* setup({ resources: [site] })
        const tokens = yield* login(provider)
        const apiUrl = tokens.extra["api_url"] ?? ""
        expect(atlassianAccessibleResourcesUrl(apiUrl)).toBe(`${fake.config.api_url}/oauth/token/accessible-resources`)
        expect(atlassianAccessibleResourcesUrl(`${apiUrl}/`)).toBe(`${fake.config.api_url}/oauth/token/accessible-resources`)

        // What `read_json_auto(url, headers = MAP {'Authorization': 'Bearer ' || get_user_external_token()})` does.
        const list = (token: string) =>
          Effect.promise(async () => {
            const r = await fetch(atlassianAccessibleResourcesUrl(apiUrl), { headers: { Authorization: `Bearer ${token}` } })
            return { status: r.status, json: (await r.json()) as unknown }
          })
        const answer = yield* list(Redacted.value(tokens.accessToken))
        expect(answer.status).toBe(200)
        expect(answer.json).toEqual([site])
        expect(fake.calls.resources).toBe(1)

        // After a refresh the new access token is the one to use.
        const next = yield* provider.refresh(refreshOf(tokens), tokens)
        expect(next.extra["api_url"]).toBe(fake.config.api_url)
        expect((yield* list(Redacted.value(next.accessToken))).json).toEqual([site])
        expect((yield* list("not-a-token")).status).toBe(401)
      })
    )
  })

  describe("rotating refresh tokens", () => {
    it.scopedLive("refresh twice: each returns a new refresh token (JSON body) and the old one is dead upstream", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ expiresIn: 600 })
        const first = yield* login(provider)
        const r0 = Redacted.value(refreshOf(first))

        const before = Date.now()
        const second = yield* provider.refresh(refreshOf(first), first)
        const r1 = Redacted.value(refreshOf(second))
        expect(r1).toBe(fake.issuedRefreshTokens[1])
        expect(r1).not.toBe(r0)
        expect(Redacted.value(second.accessToken)).toBe(fake.issuedAccessTokens[1])
        expect(second.expiresAt).toBeGreaterThanOrEqual(before + 600_000)
        expect(second.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000)
        expect(second.scopes).toEqual(["read:me", "read:jira-work", "offline_access"])
        expect(second.extra).toEqual({ api_url: fake.config.api_url })
        expect(fake.isRefreshTokenActive(r0)).toBe(false)
        expect(fake.isRefreshTokenActive(r1)).toBe(true)

        const refreshPost = tokenRequests(fake)[1]
        expect(refreshPost?.headers["content-type"]).toMatch(/^application\/json/)
        expect(JSON.parse(refreshPost?.rawBody ?? "")).toEqual({
          grant_type: "refresh_token",
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          refresh_token: r0
        })

        const third = yield* provider.refresh(refreshOf(second), second)
        const r2 = Redacted.value(refreshOf(third))
        expect(r2).toBe(fake.issuedRefreshTokens[2])
        expect(new Set([r0, r1, r2]).size).toBe(3)
        expect(fake.isRefreshTokenActive(r1)).toBe(false)
        expect(fake.calls.tokenRefresh).toBe(2)

        // The newest access token works; both spent refresh tokens are refused as revoked.
        expect((yield* provider.fetchUser(third)).username).toBe("ada")
        expect(yield* Effect.flip(provider.refresh(refreshOf(first), first))).toBeInstanceOf(UpstreamGrantRevoked)
        expect(yield* Effect.flip(provider.refresh(refreshOf(second), second))).toBeInstanceOf(UpstreamGrantRevoked)
        // The current one still works.
        yield* provider.refresh(refreshOf(third), third)
      })
    )

    it.scopedLive("a refresh answer without refresh_token keeps the old one (and scopes when none are given)", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const first = yield* login(provider)
        fake.fail("token", { kind: "missing_refresh_token" }, 1)
        const second = yield* provider.refresh(refreshOf(first), first)
        expect(second.refreshToken).toBe(first.refreshToken)
        expect(Redacted.value(second.accessToken)).toBe(fake.issuedAccessTokens[1])

        fake.fail(
          "token",
          { kind: "status", status: 200, contentType: "application/json", body: '{"access_token":"atlat_plain","token_type":"Bearer"}' },
          1
        )
        const third = yield* provider.refresh(refreshOf(second), second)
        expect(Redacted.value(third.accessToken)).toBe("atlat_plain")
        expect(third.refreshToken).toBe(second.refreshToken)
        expect(third.scopes).toEqual(second.scopes)
        expect(third.expiresAt).toBeUndefined()
      })
    )

    it.scopedLive("E42: revoked refresh token (403 invalid_grant, as documented) → UpstreamGrantRevoked", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const first = yield* login(provider)
        fake.revokeRefreshToken()
        const error = yield* Effect.flip(provider.refresh(refreshOf(first), first))
        expect(error).toBeInstanceOf(UpstreamGrantRevoked)
        expect(error.provider).toBe("atlassian")
        expect(fake.calls.tokenRefresh).toBe(1)
      })
    )

    it.scopedLive("E42: invalid_grant with HTTP 400 → UpstreamGrantRevoked; other refusals → rejected", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ refreshErrorStatus: 400 })
        const first = yield* login(provider)
        fake.revokeRefreshToken(Redacted.value(refreshOf(first)))
        expect(yield* Effect.flip(provider.refresh(refreshOf(first), first))).toBeInstanceOf(UpstreamGrantRevoked)
        expect(tokenRequests(fake).length).toBe(2)

        fake.fail(
          "token",
          {
            kind: "status",
            status: 403,
            contentType: "application/json",
            body: '{"error":"unauthorized_client","error_description":"refresh_token is invalid"}'
          },
          1
        )
        const refused = yield* Effect.flip(provider.refresh(refreshOf(first), first))
        expectProviderError(refused, "rejected", "refresh")
        expect(refused.message).toContain("unauthorized_client")
      })
    )

    it.scopedLive("refresh: 503 → unavailable and not retried (a retried rotation could spend the token twice)", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const first = yield* login(provider)
        fake.fail("token", { kind: "status", status: 503 })
        expectProviderError(yield* Effect.flip(provider.refresh(refreshOf(first), first)), "unavailable", "refresh")
        expect(fake.calls.tokenRefresh).toBe(1)
        expect(fake.isRefreshTokenActive(Redacted.value(refreshOf(first)))).toBe(true)
      })
    )
  })

  describe("C28: upstream failures are clear errors within the timeout", () => {
    tokenEndpointContract(atlassian)
    userEndpoint.failures()

    it.scopedLive("C28: refresh hangs → unavailable after the 1 s timeout", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({}, { timeout: 1 })
        const first = yield* login(provider)
        fake.fail("token", { kind: "hang" })
        const started = Date.now()
        expectProviderError(yield* Effect.flip(provider.refresh(refreshOf(first), first)), "unavailable", "refresh")
        expect(Date.now() - started).toBeLessThan(3000)
      })
    )

  })

  describe("retries", () => {
    userEndpoint.retries()

    it.scopedLive("GET /me: bounded retries (3 attempts) on 5xx, 429 and dropped connections, then unavailable", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        for (const failure of [
          { kind: "status", status: 500 },
          { kind: "status", status: 429 },
          { kind: "drop" }
        ] as const) {
          fake.clearFailures()
          fake.resetCounters()
          fake.fail("me", failure)
          expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "unavailable", "fetchUser")
          expect(fake.calls.me).toBe(3)
        }
      })
    )
  })

  it.scopedLive("logs name the failing call and carry no token, code or secret", () =>
    Effect.gen(function* () {
      const { lines, run } = captureLogs()

      const { fake, provider } = yield* setup()
      const { code, codeVerifier } = yield* authorize(provider)
      const tokens: UpstreamTokens = yield* run(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
      yield* run(provider.fetchUser(tokens))
      const next = yield* run(provider.refresh(refreshOf(tokens), tokens))
      // The spent refresh token: revoked upstream.
      yield* Effect.flip(run(provider.refresh(refreshOf(tokens), tokens)))
      fake.fail("token", { kind: "status", status: 500 })
      yield* Effect.flip(run(provider.refresh(refreshOf(next), next)))
      yield* Effect.flip(run(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })))
      fake.fail("me", { kind: "malformed_json" })
      yield* Effect.flip(run(provider.fetchUser(next)))

      const all = lines.join("\n")
      expect(all).toContain("Atlassian call: token exchange (POST token_url)")
      expect(all).toContain("user lookup (GET /me)")
      expect(all).toContain("token refresh (POST token_url) failed: the refresh token is no longer valid")
      expect(all).toContain("Atlassian token refresh (POST token_url) failed: HTTP 500")
      expect(all).toContain("Atlassian user lookup (GET /me) failed: the response is not JSON")
      expect(all).toContain('"provider":"atlassian"')
      expect(all).toContain('"operation":"refresh"')
      const secrets = [fake.clientSecret, code, codeVerifier, ...fake.issuedAccessTokens, ...fake.issuedRefreshTokens]
      expect(secrets.length).toBeGreaterThan(5)
      for (const secret of secrets) expect(all).not.toContain(secret)
      expect(all).not.toContain("atlat_")
      expect(all).not.toContain("atlrt_")
    })
  )
})
