import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, TestClock } from "effect"
import type { SalesforceConfig } from "../../src/domain/config/UserConfig.js"
import type { UpstreamTokens } from "../../src/domain/oauth/Identity.js"
import { challengeFromVerifier } from "../../src/domain/oauth/Pkce.js"
import { SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS, SalesforceProviderNode } from "../../src/layers/oauth/providers/SalesforceProvider.js"
import { IdentityProvider, UpstreamGrantRevoked } from "../../src/services/oauth/IdentityProvider.js"
import { type FakeSalesforce, type FakeSalesforceOptions, scopedFakeSalesforce } from "../support/fakes/FakeSalesforce.js"
import { browse, captureLogs, newVerifier, providerHarness, tokenEndpointContract } from "./ProviderContract.js"

const REDIRECT_URI = "http://127.0.0.1:8000/salesforce/callback"

const salesforce = providerHarness({
  provider: "salesforce",
  redirectUri: REDIRECT_URI,
  tokenPath: "/services/oauth2/token",
  start: (options: FakeSalesforceOptions) => scopedFakeSalesforce(options),
  layer: (fake: FakeSalesforce, overrides: Partial<SalesforceConfig>) => SalesforceProviderNode(fake.providerConfig(overrides))
})
const { setup, authorize, login, exchange, expectProviderError, tokenRequests } = salesforce

const jsonAnswer = (body: unknown) =>
  ({ kind: "status", status: 200, contentType: "application/json;charset=UTF-8", body: JSON.stringify(body) }) as const

const expectedProfile = {
  provider: "salesforce",
  id: "0055g00000Ab1cDAAR",
  username: "astro@example.com.fake",
  name: "Astro Nomical",
  email: "astro@example.com"
} as const

describe("SalesforceProvider", () => {
  describe("authorize URL", () => {
    it.scopedLive("carries response_type=code, client_id, redirect_uri, scope, state and an S256 challenge; the fake accepts it", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ callbackUrls: [REDIRECT_URI] })
        const challenge = challengeFromVerifier(newVerifier())
        const url = new URL(provider.authorizeUrl({ state: "s t&x", redirectUri: REDIRECT_URI, codeChallenge: challenge }))
        expect(`${url.origin}${url.pathname}`).toBe(fake.config.auth_url)
        expect(Object.fromEntries(url.searchParams)).toEqual({
          response_type: "code",
          client_id: fake.clientId,
          redirect_uri: REDIRECT_URI,
          scope: "api refresh_token openid profile email",
          state: "s t&x",
          code_challenge: challenge,
          code_challenge_method: "S256"
        })
        expect(provider.name).toBe("salesforce")
        expect(provider.callbackPath).toBe("/salesforce/callback")

        const { status, location } = yield* browse(url.toString())
        expect(status).toBe(302)
        const back = new URL(location ?? "")
        expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI)
        expect(back.searchParams.get("state")).toBe("s t&x")
        // Salesforce codes are padded base64: the `=` arrive URL-encoded and decode back intact.
        expect(back.searchParams.get("code")).toBe(fake.issuedCodes[0])
        expect(fake.issuedCodes[0]).toMatch(/==$/)
      })
    )

    it.scopedLive("sandbox URLs come from config; the user denying gets access_denied and the state back", () =>
      Effect.gen(function* () {
        const { provider } = yield* setup(
          { denyAuthorization: true },
          { auth_url: "https://test.salesforce.com/services/oauth2/authorize" }
        )
        const sandbox = new URL(provider.authorizeUrl({ state: "s0", redirectUri: REDIRECT_URI, codeChallenge: "c" }))
        expect(`${sandbox.origin}${sandbox.pathname}`).toBe("https://test.salesforce.com/services/oauth2/authorize")

        const { fake, provider: local } = yield* setup({ denyAuthorization: true })
        const url = local.authorizeUrl({ state: "s1", redirectUri: REDIRECT_URI, codeChallenge: challengeFromVerifier(newVerifier()) })
        const { status, location } = yield* browse(url)
        expect(status).toBe(302)
        const back = new URL(location ?? "")
        expect(back.searchParams.get("error")).toBe("access_denied")
        expect(back.searchParams.get("state")).toBe("s1")
        expect(back.searchParams.get("code")).toBeNull()
        expect(fake.calls.authorize).toBe(1)
      })
    )
  })

  describe("code exchange and user", () => {
    it.scopedLive("full login: form exchange (grant_type, PKCE), instance_url and id kept, then the identity URL", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code, codeVerifier } = yield* authorize(provider)
        const tokens = yield* provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })

        expect(fake.issuedAccessTokens).toHaveLength(1)
        expect(Redacted.value(tokens.accessToken)).toBe(fake.issuedAccessTokens[0])
        expect(Redacted.value(tokens.refreshToken ?? Redacted.make(""))).toBe(fake.issuedRefreshTokens[0])
        expect(String(tokens.accessToken)).not.toContain(fake.orgId)
        expect(tokens.scopes).toEqual(["api", "refresh_token", "openid", "profile", "email"])
        expect(tokens.extra).toEqual({ instance_url: fake.baseUrl, id: fake.idUrl() })

        const [post] = tokenRequests(fake)
        expect(post?.method).toBe("POST")
        expect(post?.headers["content-type"]).toContain("application/x-www-form-urlencoded")
        expect(post?.headers["accept"]).toContain("application/json")
        expect(post?.body).toEqual({
          grant_type: "authorization_code",
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: codeVerifier
        })

        const profile = yield* provider.fetchUser(tokens)
        expect(profile).toEqual({ ...expectedProfile, avatarUrl: `${fake.baseUrl}/profilephoto/005/F` })
        const idCall = fake.requests.find((r) => r.path.startsWith("/id/"))
        expect(`${fake.baseUrl}${idCall?.path ?? ""}`).toBe(fake.idUrl())
        expect(idCall?.headers["authorization"]).toBe(`Bearer ${fake.issuedAccessTokens[0]}`)
        expect(idCall?.headers["accept"]).toContain("application/json")
        expect(idCall?.headers["user-agent"]).toBe("mxcp-ts")
        expect(fake.calls.userinfo).toBe(0)
      })
    )

    it.scoped("E44: no expires_in → expiresAt = Clock now + the documented 2 h default (TestClock)", () =>
      Effect.gen(function* () {
        expect(SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS).toBe(2 * 60 * 60 * 1000)
        yield* TestClock.setTime(1_700_000_000_000)
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        expect(tokens.expiresAt).toBe(1_700_000_000_000 + SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS)

        // The wire answer really has no expires_in (the fake speaks Salesforce).
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
          return (await r.json()) as Record<string, unknown>
        })
        expect(Object.keys(raw).sort()).toEqual(
          ["access_token", "id", "instance_url", "issued_at", "refresh_token", "scope", "signature", "token_type"].sort()
        )

        // A refresh answer has none either: a new 2 h window from the refresh time.
        yield* TestClock.adjust("90 minutes")
        const refreshed = yield* provider.refresh(tokens.refreshToken ?? Redacted.make(""), tokens)
        expect(refreshed.expiresAt).toBe(1_700_000_000_000 + 90 * 60_000 + SALESFORCE_DEFAULT_TOKEN_LIFETIME_MS)
      })
    )

    it.scopedLive("no id in the token answer → user from {instance_url}/services/oauth2/userinfo", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ omitIdUrl: true })
        const tokens = yield* login(provider)
        expect(tokens.extra).toEqual({ instance_url: fake.baseUrl })
        const profile = yield* provider.fetchUser(tokens)
        expect(profile).toEqual({ ...expectedProfile, avatarUrl: `${fake.baseUrl}/profilephoto/005/F` })
        expect(fake.calls.id).toBe(0)
        expect(fake.calls.userinfo).toBe(1)
        const call = fake.requests.find((r) => r.path === "/services/oauth2/userinfo")
        expect(call?.headers["authorization"]).toBe(`Bearer ${fake.issuedAccessTokens[0]}`)
      })
    )

    it.scopedLive("the id URL answering 404 or non-JSON → userinfo fallback", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.fail("id", { kind: "status", status: 404, contentType: "text/plain;charset=UTF-8", body: "Bad_Id" }, 1)
        expect(yield* provider.fetchUser(tokens)).toMatchObject(expectedProfile)
        expect(fake.calls.id).toBe(1)
        expect(fake.calls.userinfo).toBe(1)

        fake.fail("id", { kind: "status", status: 200, body: "<html><body>Login</body></html>" }, 1)
        expect(yield* provider.fetchUser(tokens)).toMatchObject(expectedProfile)
        fake.fail("id", { kind: "malformed_json" }, 1)
        expect(yield* provider.fetchUser(tokens)).toMatchObject(expectedProfile)
        expect(fake.calls.id).toBe(3)
        expect(fake.calls.userinfo).toBe(3)
      })
    )

    it.scopedLive("user mapping: username/preferred_username, display_name/name, missing email → ''", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.fail("id", jsonAnswer({ user_id: "005A", username: "u@x.example", display_name: "", email: null }), 1)
        expect(yield* provider.fetchUser(tokens)).toEqual({
          provider: "salesforce",
          id: "005A",
          username: "u@x.example",
          name: "u@x.example",
          email: "",
          avatarUrl: undefined
        })
        fake.fail("id", { kind: "status", status: 404 }, 1)
        fake.fail("userinfo", jsonAnswer({ user_id: "005B", preferred_username: "p@x.example", name: "P Q", email: "p@x.example" }), 1)
        expect(yield* provider.fetchUser(tokens)).toEqual({
          provider: "salesforce",
          id: "005B",
          username: "p@x.example",
          name: "P Q",
          email: "p@x.example",
          avatarUrl: undefined
        })
      })
    )

    it.scopedLive("a reused code → rejected invalid_grant, naming the error but not the code", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code, codeVerifier } = yield* authorize(provider)
        yield* provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })
        const error = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
        expectProviderError(error, "rejected", "exchangeCode")
        expect(error.message).toContain("invalid_grant")
        expect(error.message).toContain("invalid authorization code")
        expect(error.message).not.toContain(code)
        expect(error.message).not.toContain(codeVerifier)
        expect(error.message).not.toContain(fake.clientSecret)
        expect(fake.calls.tokenExchange).toBe(2)

        fake.fail(
          "token",
          { kind: "status", status: 400, contentType: "application/json", body: '{"error":"invalid_grant","error_description":"expired authorization code"}' },
          1
        )
        const expired = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
        expectProviderError(expired, "rejected", "exchangeCode")
        expect(expired.message).toContain("expired authorization code")
      })
    )

    it.scopedLive("a wrong PKCE verifier or client secret → rejected", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const { code } = yield* authorize(provider)
        const badPkce = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier: newVerifier() }))
        expectProviderError(badPkce, "rejected", "exchangeCode")
        expect(badPkce.message).toContain("invalid code verifier")

        const wrongSecret = yield* Effect.gen(function* () {
          const context = yield* Layer.build(
            SalesforceProviderNode(fake.providerConfig({ client_secret: Redacted.make("not-the-secret") }))
          )
          const other = Context.get(context, IdentityProvider)
          const again = yield* authorize(other)
          return yield* Effect.flip(other.exchangeCode({ code: again.code, redirectUri: REDIRECT_URI, codeVerifier: again.codeVerifier }))
        })
        expectProviderError(wrongSecret, "rejected", "exchangeCode")
        expect(wrongSecret.message).toContain("invalid_client")
        expect(wrongSecret.message).not.toContain("not-the-secret")
      })
    )

    it.scopedLive("401 INVALID_SESSION_ID from the id URL (revoked/expired session) → rejected 'refresh it', no retry, no fallback", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.revokeAccessToken()
        const raw = yield* Effect.promise(async () => {
          const r = await fetch(fake.idUrl(), { headers: { Authorization: `Bearer ${fake.issuedAccessTokens[0] ?? ""}` } })
          return { status: r.status, body: await r.text() }
        })
        expect(raw).toEqual({ status: 401, body: '[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]' })
        fake.resetCounters()

        const error = yield* Effect.flip(provider.fetchUser(tokens))
        expectProviderError(error, "rejected", "fetchUser")
        expect(error.message).toContain("HTTP 401")
        expect(error.message).toContain("refresh")
        expect(fake.calls.id).toBe(1)
        expect(fake.calls.userinfo).toBe(0)
      })
    )
  })

  describe("refresh", () => {
    it.scopedLive("form refresh: new access token, the old refresh token kept (no rotation), instance_url and id kept", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const first = yield* login(provider)
        const refreshToken = first.refreshToken ?? Redacted.make("")
        const second = yield* provider.refresh(refreshToken, first)
        expect(fake.calls.tokenRefresh).toBe(1)
        expect(Redacted.value(second.accessToken)).toBe(fake.issuedAccessTokens[1])
        expect(second.refreshToken).toBe(refreshToken)
        expect(fake.issuedRefreshTokens).toHaveLength(1)
        expect(second.extra).toEqual(first.extra)
        expect(second.scopes).toEqual(first.scopes)
        expect(tokenRequests(fake)[1]?.body).toEqual({
          grant_type: "refresh_token",
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          refresh_token: Redacted.value(refreshToken)
        })
        // The new access token works at the identity URL; the refresh token still works.
        expect((yield* provider.fetchUser(second)).id).toBe(expectedProfile.id)
        yield* provider.refresh(refreshToken, second)
      })
    )

    it.scopedLive("a refresh answer with a new refresh token, instance_url or id replaces them; a missing one keeps them", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ rotateRefreshTokens: true })
        const first = yield* login(provider)
        const rotated = yield* provider.refresh(first.refreshToken ?? Redacted.make(""), first)
        expect(Redacted.value(rotated.refreshToken ?? Redacted.make(""))).toBe(fake.issuedRefreshTokens[1])

        fake.fail(
          "token",
          jsonAnswer({
            access_token: "00Dx!moved",
            instance_url: "https://moved.my.salesforce.com",
            id: "https://login.salesforce.com/id/00Dx/005y",
            token_type: "Bearer",
            issued_at: "1"
          }),
          1
        )
        const moved = yield* provider.refresh(rotated.refreshToken ?? Redacted.make(""), rotated)
        expect(moved.extra).toEqual({ instance_url: "https://moved.my.salesforce.com", id: "https://login.salesforce.com/id/00Dx/005y" })
        expect(moved.refreshToken).toBe(rotated.refreshToken)
        expect(moved.scopes).toEqual(rotated.scopes)

        fake.fail("token", jsonAnswer({ access_token: "00Dx!bare", token_type: "Bearer" }), 1)
        const bare = yield* provider.refresh(rotated.refreshToken ?? Redacted.make(""), moved)
        expect(Redacted.value(bare.accessToken)).toBe("00Dx!bare")
        expect(bare.extra).toEqual(moved.extra)
      })
    )

    it.scopedLive("E42: upstream refresh token revoked (invalid_grant) → UpstreamGrantRevoked", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const first = yield* login(provider)
        fake.revokeRefreshToken()
        const error = yield* Effect.flip(provider.refresh(first.refreshToken ?? Redacted.make(""), first))
        expect(error).toBeInstanceOf(UpstreamGrantRevoked)
        expect(error.provider).toBe("salesforce")
        expect(fake.calls.tokenRefresh).toBe(1)
      })
    )

    it.scopedLive("refresh: other refusals → rejected; rate_limit_exceeded and 503 → unavailable, not retried", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const first = yield* login(provider)
        const refreshToken = first.refreshToken ?? Redacted.make("")
        fake.fail("token", { kind: "status", status: 400, contentType: "application/json", body: '{"error":"inactive_user","error_description":"user is inactive"}' }, 1)
        expectProviderError(yield* Effect.flip(provider.refresh(refreshToken, first)), "rejected", "refresh")
        fake.fail("token", { kind: "status", status: 400, contentType: "application/json", body: '{"error":"rate_limit_exceeded","error_description":"too many requests"}' }, 1)
        expectProviderError(yield* Effect.flip(provider.refresh(refreshToken, first)), "unavailable", "refresh")
        fake.resetCounters()
        fake.fail("token", { kind: "status", status: 503 })
        expectProviderError(yield* Effect.flip(provider.refresh(refreshToken, first)), "unavailable", "refresh")
        expect(fake.calls.tokenRefresh).toBe(1)
      })
    )
  })

  describe("C28: upstream failures are clear errors within the timeout", () => {
    tokenEndpointContract(salesforce)

    it.scopedLive("C28: the id URL hangs → unavailable within the 1 s timeout (retries included), no fallback", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({}, { timeout: 1 })
        const tokens = yield* login(provider)
        fake.fail("id", { kind: "hang" })
        const started = Date.now()
        const error = yield* Effect.flip(provider.fetchUser(tokens))
        expectProviderError(error, "unavailable", "fetchUser")
        expect(error.message).toContain("timed out after 1s")
        expect(Date.now() - started).toBeLessThan(3000)
        expect(fake.calls.userinfo).toBe(0)
      })
    )

    it.scopedLive("C28: userinfo hangs → unavailable within the 1 s timeout", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ omitIdUrl: true }, { timeout: 1 })
        const tokens = yield* login(provider)
        fake.fail("userinfo", { kind: "hang" })
        const started = Date.now()
        expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "unavailable", "fetchUserInfo")
        expect(Date.now() - started).toBeLessThan(3000)
      })
    )

    it.scopedLive("malformed JSON, no access_token or no instance_url from the token endpoint → bad_response", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        fake.fail("token", { kind: "malformed_json" }, 1)
        const malformed = yield* exchange(provider)
        expectProviderError(malformed, "bad_response", "exchangeCode")
        expect(malformed.message).not.toContain(fake.orgId)

        fake.fail("token", { kind: "missing_access_token" }, 1)
        const noToken = yield* exchange(provider)
        expectProviderError(noToken, "bad_response", "exchangeCode")
        expect(noToken.message).toContain("access_token")

        fake.fail("token", { kind: "missing_instance_url" }, 1)
        const noInstance = yield* exchange(provider)
        expectProviderError(noInstance, "bad_response", "exchangeCode")
        expect(noInstance.message).toContain("instance_url")
      })
    )

    it.scopedLive("malformed JSON from userinfo → bad_response", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup({ omitIdUrl: true })
        const tokens = yield* login(provider)
        fake.fail("userinfo", { kind: "malformed_json" })
        expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "bad_response", "fetchUserInfo")
        expect(fake.calls.userinfo).toBe(1)
      })
    )

    it.scopedLive("no user_id (id URL or userinfo) → bad_response; no id URL and no instance_url → bad_response", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.fail("id", { kind: "missing_id" }, 1)
        const fromId = yield* Effect.flip(provider.fetchUser(tokens))
        expectProviderError(fromId, "bad_response", "fetchUser")
        expect(fromId.message).toContain("user id")
        expect(fake.calls.userinfo).toBe(0)

        fake.fail("userinfo", { kind: "missing_id" }, 1)
        const fromUserInfo = yield* Effect.flip(provider.fetchUser({ ...tokens, extra: { instance_url: fake.baseUrl } }))
        expectProviderError(fromUserInfo, "bad_response", "fetchUserInfo")
        expect(fromUserInfo.message).toContain("user id")

        const nowhere = yield* Effect.flip(provider.fetchUser({ ...tokens, extra: {} }))
        expectProviderError(nowhere, "bad_response", "fetchUserInfo")
        expect(nowhere.message).toContain("instance_url")
      })
    )
  })

  describe("retries", () => {
    it.scopedLive("GET id URL is retried on 502 (then succeeds); the token POST is never retried", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.fail("id", { kind: "status", status: 502, body: "<html><body>502 Bad Gateway</body></html>" }, 2)
        const profile = yield* provider.fetchUser(tokens)
        expect(profile.id).toBe(expectedProfile.id)
        expect(fake.calls.id).toBe(3)
        expect(fake.calls.userinfo).toBe(0)

        fake.fail("token", { kind: "status", status: 502 })
        const { code, codeVerifier } = yield* authorize(provider)
        fake.resetCounters()
        const error = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
        expectProviderError(error, "unavailable", "exchangeCode")
        expect(fake.calls.token).toBe(1)
        const refreshError = yield* Effect.flip(provider.refresh(tokens.refreshToken ?? Redacted.make(""), tokens))
        expectProviderError(refreshError, "unavailable", "refresh")
        expect(fake.calls.tokenRefresh).toBe(1)
      })
    )

    it.scopedLive("GET id URL and userinfo: bounded retries (3 attempts), then unavailable", () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* setup()
        const tokens = yield* login(provider)
        fake.fail("id", { kind: "status", status: 502 })
        expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "unavailable", "fetchUser")
        expect(fake.calls.id).toBe(3)
        expect(fake.calls.userinfo).toBe(0)

        fake.clearFailures()
        fake.fail("id", { kind: "status", status: 404 })
        fake.fail("userinfo", { kind: "status", status: 500 })
        expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "unavailable", "fetchUserInfo")
        expect(fake.calls.id).toBe(4)
        expect(fake.calls.userinfo).toBe(3)
      })
    )
  })

  it.scopedLive("logs name the failing call and carry no token, code or secret", () =>
    Effect.gen(function* () {
      const { lines, run } = captureLogs()

      const { fake, provider } = yield* setup()
      const { code, codeVerifier } = yield* authorize(provider)
      const tokens: UpstreamTokens = yield* run(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier }))
      fake.fail("id", { kind: "status", status: 404 }, 1)
      yield* run(provider.fetchUser(tokens))
      yield* run(provider.refresh(tokens.refreshToken ?? Redacted.make(""), tokens))
      fake.fail("token", { kind: "status", status: 500 }, 1)
      yield* Effect.flip(run(provider.refresh(tokens.refreshToken ?? Redacted.make(""), tokens)))
      yield* Effect.flip(run(provider.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier })))
      fake.revokeRefreshToken()
      yield* Effect.flip(run(provider.refresh(tokens.refreshToken ?? Redacted.make(""), tokens)))

      const all = lines.join("\n")
      expect(all).toContain("token exchange (POST token_url)")
      expect(all).toContain("identity lookup (GET id URL) answered HTTP 404; falling back to userinfo")
      expect(all).toContain("user info lookup")
      expect(all).toContain("token refresh (POST token_url) failed: HTTP 500")
      expect(all).toContain("token refresh (POST token_url) failed: the refresh token is no longer valid")
      expect(all).toContain('"operation":"refresh"')
      expect(all).toContain('"provider":"salesforce"')
      const secrets = [fake.clientSecret, code, codeVerifier, ...fake.issuedAccessTokens, ...fake.issuedRefreshTokens]
      for (const secret of secrets) expect(all).not.toContain(secret)
      expect(lines.length).toBeGreaterThan(4)
    })
  )
})
