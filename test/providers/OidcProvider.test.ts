/**
 * The OIDC provider layer and its Google and Keycloak presets against a real OpenID Provider
 * (`oidc-provider` on 127.0.0.1, `test/support/fakes/OpenIdProvider.ts`): the login through the
 * provider's own authorize URL, the ID token checks refused one by one (a key the provider never
 * published, another audience, another login's nonce, expired), key rotation mid-run, userinfo,
 * upstream refresh, discovery and key set failures, and claim mappings on the claims it serves.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { GoogleConfig, KeycloakConfig, OidcConfig } from "../../src/domain/config/UserConfig.js"
import { challengeFromVerifier } from "../../src/domain/oauth/Pkce.js"
import { googleSpec } from "../../src/layers/oauth/providers/GoogleProvider.js"
import { keycloakSpec } from "../../src/layers/oauth/providers/KeycloakProvider.js"
import { OidcProvider, oidcSpec } from "../../src/layers/oauth/providers/OidcProvider.js"
import { IdentityProvider, ProviderError, UpstreamGrantRevoked } from "../../src/services/oauth/IdentityProvider.js"
import { type OpenIdProviderOptions, type RunningOpenIdProvider, startOpenIdProvider } from "../support/fakes/OpenIdProvider.js"
import { captureLogs, closedPort, newVerifier, refreshOf } from "./ProviderContract.js"

type Kind = "oidc" | "google" | "keycloak"

const layoutOf = { oidc: "default", google: "google", keycloak: "keycloak" } as const

const scopedIdP = (options: OpenIdProviderOptions) =>
  Effect.acquireRelease(
    Effect.promise(() => startOpenIdProvider(options)),
    (idp) => Effect.promise(() => idp.stop())
  )

/** The provider block of `kind` for `idp`, with `overrides`, decoded as the loader decodes it. */
const blockFor = (kind: Kind, idp: RunningOpenIdProvider, overrides: Record<string, unknown>) => ({
  client_id: idp.clientId,
  client_secret: idp.clientSecret,
  ...idp.config,
  timeout: 3,
  ...(kind === "oidc" ? { scope: "openid profile email groups offline_access" } : {}),
  ...overrides
})

const specFor = (kind: Kind, idp: RunningOpenIdProvider, overrides: Record<string, unknown> = {}) => {
  const block = blockFor(kind, idp, overrides)
  switch (kind) {
    case "oidc":
      return oidcSpec(Schema.decodeUnknownSync(OidcConfig)(block))
    case "google":
      return googleSpec(Schema.decodeUnknownSync(GoogleConfig)(block))
    case "keycloak":
      return keycloakSpec(Schema.decodeUnknownSync(KeycloakConfig)(block))
  }
}

const redirectUriOf = (kind: Kind) => `http://127.0.0.1:8000/${kind}/callback`

const setup = (kind: Kind, options: OpenIdProviderOptions = {}, overrides: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const idp = yield* scopedIdP({ layout: layoutOf[kind], ...options })
    const context = yield* Layer.build(OidcProvider(specFor(kind, idp, overrides)).pipe(Layer.provide(NodeHttpClient.layerUndici)))
    return { idp, provider: Context.get(context, IdentityProvider) }
  })

/** Through the provider's authorize URL, login and consent at the IdP: the code and its verifier. */
const authorize = (kind: Kind, idp: RunningOpenIdProvider, provider: IdentityProvider.Shape, state = "st-1") =>
  Effect.gen(function* () {
    if (provider.ready !== undefined) yield* provider.ready
    const codeVerifier = newVerifier()
    const url = provider.authorizeUrl({ state, redirectUri: redirectUriOf(kind), codeChallenge: challengeFromVerifier(codeVerifier) })
    const back = yield* Effect.promise(() => idp.authorize(url))
    expect(back.searchParams.get("state")).toBe(state)
    const code = back.searchParams.get("code")
    expect(code, back.toString()).not.toBeNull()
    return { code: code ?? "", codeVerifier, url: new URL(url) }
  })

const login = (kind: Kind, idp: RunningOpenIdProvider, provider: IdentityProvider.Shape) =>
  Effect.gen(function* () {
    const { code, codeVerifier } = yield* authorize(kind, idp, provider)
    return yield* provider.exchangeCode({ code, redirectUri: redirectUriOf(kind), codeVerifier })
  })

const expectProviderError = (error: ProviderError | UpstreamGrantRevoked, kind: ProviderError["kind"], operation: string) => {
  expect(error).toBeInstanceOf(ProviderError)
  if (error._tag !== "ProviderError") return
  expect(error.kind).toBe(kind)
  expect(error.operation).toBe(operation)
}


/** The claims of a compact JWT (no check: the test reads what the IdP issued). */
const jwtClaims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>

/** Replace the next token answer's ID token with one the test signs: the IdP's claims changed by `change`. */
const swapIdToken = (
  idp: RunningOpenIdProvider,
  change: (claims: Record<string, unknown>) => Record<string, unknown>,
  key?: Awaited<ReturnType<RunningOpenIdProvider["strangerKey"]>>
) =>
  idp.rewriteToken(async (body) => ({
    ...body,
    id_token: await idp.sign(change(jwtClaims(String(body["id_token"]))), key === undefined ? {} : { key })
  }))

/** Authorize, then the code exchange's failure. */
const exchangeFailure = (kind: Kind, idp: RunningOpenIdProvider, provider: IdentityProvider.Shape) =>
  Effect.gen(function* () {
    const { code, codeVerifier } = yield* authorize(kind, idp, provider)
    return yield* Effect.flip(provider.exchangeCode({ code, redirectUri: redirectUriOf(kind), codeVerifier }))
  })

const nowSeconds = () => Math.floor(Date.now() / 1000)

describe("OidcProvider (provider: oidc) against oidc-provider", () => {
  it.scopedLive("full login: discovery, authorize with nonce and S256 PKCE, code exchange with Basic auth, ID token checked, userinfo", () =>
    Effect.gen(function* () {
      const { idp, provider } = yield* setup("oidc")
      expect(provider.name).toBe("oidc")
      expect(provider.callbackPath).toBe("/oidc/callback")
      const { code, codeVerifier, url } = yield* authorize("oidc", idp, provider)
      expect(`${url.origin}${url.pathname}`).toBe(`${idp.issuer}/auth`)
      expect(url.searchParams.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(url.searchParams.get("code_challenge_method")).toBe("S256")
      expect(url.searchParams.get("scope")).toBe("openid profile email groups offline_access")
      const tokens = yield* provider.exchangeCode({ code, redirectUri: redirectUriOf("oidc"), codeVerifier })
      const tokenPost = idp.requests.filter((r) => r.endpoint === "token")
      expect(tokenPost).toHaveLength(1)
      expect(tokenPost[0]?.basicAuth).toBe(true)
      expect(tokens.refreshToken).toBeDefined()
      const profile = yield* provider.fetchUser(tokens)
      expect(profile).toMatchObject({
        provider: "oidc",
        id: "alice-sub-0001",
        username: "alice",
        email: "alice@example.com",
        name: "Alice Example"
      })
      expect(idp.calls.userinfo).toBe(1)
    })
  )

  describe("ID token checks, refused one by one (a rejected login, never a session)", () => {
    it.scopedLive("OIDC ID token signed with a key the provider never published → rejected (idToken), after one key set refetch", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        yield* login("oidc", idp, provider)
        expect(idp.calls.jwks).toBe(1)
        const stranger = yield* Effect.promise(() => idp.strangerKey())
        swapIdToken(idp, (claims) => claims, stranger)
        const { lines, run } = captureLogs()
        const error = yield* run(exchangeFailure("oidc", idp, provider))
        expectProviderError(error, "rejected", "idToken")
        expect(error.message).toContain("not in the provider's key set")
        // The cached set, then one refetch for the unknown kid (it could be a rotation), no more.
        expect(idp.calls.jwks).toBe(2)
        expect(lines.some((l) => l.startsWith("WARN") && l.includes("ID token check"))).toBe(true)
        expect(lines.join("\n")).not.toContain("eyJ")
      })
    )

    it.scopedLive("OIDC ID token whose signature does not verify (payload changed after signing) → rejected", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        idp.rewriteToken((body) => {
          const [header, , signature] = String(body["id_token"]).split(".")
          const forged = Buffer.from(JSON.stringify({ ...jwtClaims(String(body["id_token"])), sub: "mallory" })).toString("base64url")
          return { ...body, id_token: `${header}.${forged}.${signature}` }
        })
        const error = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(error, "rejected", "idToken")
        expect(error.message).toContain("signature that does not verify")
      })
    )

    it.scopedLive("OIDC ID token for another audience (aud) → rejected", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        swapIdToken(idp, (claims) => ({ ...claims, aud: "another-client" }))
        const error = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(error, "rejected", "idToken")
        expect(error.message).toContain("another audience")
      })
    )

    it.scopedLive("OIDC ID token with several audiences and azp of another client → rejected", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        swapIdToken(idp, (claims) => ({ ...claims, aud: [idp.clientId, "another-client"], azp: "another-client" }))
        const error = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(error, "rejected", "idToken")
        expect(error.message).toContain("azp")
      })
    )

    it.scopedLive("OIDC ID token with another login's nonce, or none → rejected", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        swapIdToken(idp, (claims) => ({ ...claims, nonce: "nonce-of-another-login" }))
        const wrong = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(wrong, "rejected", "idToken")
        expect(wrong.message).toContain("nonce is not this login's")
        swapIdToken(idp, ({ nonce: _nonce, ...claims }) => claims)
        const missing = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(missing, "rejected", "idToken")
        expect(missing.message).toContain("no nonce")
      })
    )

    it.scopedLive("OIDC expired ID token → rejected; another issuer → rejected", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        swapIdToken(idp, (claims) => ({ ...claims, iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }))
        const expired = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(expired, "rejected", "idToken")
        expect(expired.message).toContain("has expired")
        swapIdToken(idp, (claims) => ({ ...claims, iss: "https://evil.example.com" }))
        const issuer = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(issuer, "rejected", "idToken")
        expect(issuer.message).toContain("another issuer")
      })
    )

    it.scopedLive("OIDC token answer without id_token → bad_response naming openid", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        idp.rewriteToken(({ id_token: _idToken, ...body }) => body)
        const error = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(error, "bad_response", "exchangeCode")
        expect(error.message).toContain("id_token")
      })
    )
  })

  describe("keys, discovery, userinfo and refresh", () => {
    it.scopedLive("OIDC key rotation mid-run: the next login is signed with a new key and verifies after one key set refetch", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        const first = yield* login("oidc", idp, provider)
        expect(idp.calls.jwks).toBe(1)
        const old = idp.signingKey().kid
        const rotated = yield* Effect.promise(() => idp.rotateKeys())
        expect(rotated.kid).not.toBe(old)
        const second = yield* login("oidc", idp, provider)
        expect(idp.calls.jwks).toBe(2)
        // A third login with the same key uses the cached set.
        yield* login("oidc", idp, provider)
        expect(idp.calls.jwks).toBe(2)
        expect((yield* provider.fetchUser(first)).id).toBe("alice-sub-0001")
        expect((yield* provider.fetchUser(second)).id).toBe("alice-sub-0001")
      })
    )

    it.scopedLive("OIDC key set that cannot be fetched → unavailable (jwks), no session; works once it is back", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        idp.fail("jwks", { kind: "status", status: 503 })
        const error = yield* exchangeFailure("oidc", idp, provider)
        expectProviderError(error, "unavailable", "jwks")
        idp.clearFailures()
        const tokens = yield* login("oidc", idp, provider)
        expect((yield* provider.fetchUser(tokens)).username).toBe("alice")
      })
    )

    it.scopedLive("OIDC discovery URL unreachable at startup: the layer starts, ready fails as unavailable (discovery) with a clear log line", () =>
      Effect.gen(function* () {
        const port = yield* closedPort
        const idp = yield* scopedIdP({})
        const { lines, run } = captureLogs()
        const spec = specFor("oidc", idp, { config_url: `http://127.0.0.1:${port}/op/.well-known/openid-configuration`, timeout: 1 })
        const context = yield* run(Layer.build(OidcProvider(spec).pipe(Layer.provide(NodeHttpClient.layerUndici))))
        const provider = Context.get(context, IdentityProvider)
        expect(lines.some((l) => l.startsWith("ERROR") && l.includes("discovery") && l.includes("retrying in the background"))).toBe(true)
        const error = yield* Effect.flip(provider.ready ?? Effect.void)
        expectProviderError(error, "unavailable", "discovery")
        expect(error.message).toContain("could not be reached")
      })
    )

    it.scopedLive("OIDC discovery failing at startup is fetched again on the next login once the IdP answers", () =>
      Effect.gen(function* () {
        const idp = yield* scopedIdP({})
        idp.fail("discovery", { kind: "status", status: 500 }, 3)
        const context = yield* Layer.build(OidcProvider(specFor("oidc", idp, { timeout: 1 })).pipe(Layer.provide(NodeHttpClient.layerUndici)))
        const provider = Context.get(context, IdentityProvider)
        const tokens = yield* login("oidc", idp, provider)
        expect((yield* provider.fetchUser(tokens)).id).toBe("alice-sub-0001")
      })
    )

    it.scopedLive("OIDC discovery document naming another issuer → bad_response naming both", () =>
      Effect.gen(function* () {
        const { provider } = yield* setup("oidc", { discovery: (doc) => ({ ...doc, issuer: "https://idp.example.com" }) })
        const error = yield* Effect.flip(provider.ready ?? Effect.void)
        expectProviderError(error, "bad_response", "discovery")
        expect(error.message).toContain("https://idp.example.com")
      })
    )

    it.scopedLive("OIDC without S256 in code_challenge_methods_supported: no PKCE parameters are sent", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc", {
          discovery: ({ code_challenge_methods_supported: _methods, ...doc }) => doc
        })
        const { code, codeVerifier, url } = yield* authorize("oidc", idp, provider)
        expect(url.searchParams.has("code_challenge")).toBe(false)
        const tokens = yield* provider.exchangeCode({ code, redirectUri: redirectUriOf("oidc"), codeVerifier })
        expect((yield* provider.fetchUser(tokens)).username).toBe("alice")
      })
    )

    it.scopedLive("OIDC userinfo whose sub is another user's → bad_response; userinfo 502 twice is retried", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        const tokens = yield* login("oidc", idp, provider)
        idp.fail("userinfo", { kind: "status", status: 502 }, 2)
        expect((yield* provider.fetchUser(tokens)).email).toBe("alice@example.com")
        expect(idp.calls.userinfo).toBe(3)
        const again = yield* login("oidc", idp, provider)
        idp.fail("userinfo", { kind: "missing_id" }, 1)
        const error = yield* Effect.flip(provider.fetchUser(again))
        expectProviderError(error, "bad_response", "fetchUser")
        expect(error.message).toContain("sub")
      })
    )

    it.scopedLive("OIDC username falls back to email without preferred_username; provider_name names the provider", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc", { account: { preferred_username: undefined } }, { provider_name: "okta" })
        expect(provider.name).toBe("okta")
        const profile = yield* provider.fetchUser(yield* login("oidc", idp, provider))
        expect(profile).toMatchObject({ provider: "okta", username: "alice@example.com", id: "alice-sub-0001" })
      })
    )

    it.scopedLive("OIDC upstream refresh: a new access token (Basic auth), the ID token of the refresh checked; revoked grant → UpstreamGrantRevoked", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc")
        const tokens = yield* login("oidc", idp, provider)
        const refreshed = yield* provider.refresh(refreshOf(tokens), tokens)
        expect(Redacted.value(refreshed.accessToken)).not.toBe(Redacted.value(tokens.accessToken))
        expect(refreshed.refreshToken).toBeDefined()
        expect(idp.requests.filter((r) => r.endpoint === "token").every((r) => r.basicAuth)).toBe(true)
        expect((yield* provider.fetchUser(refreshed)).id).toBe("alice-sub-0001")

        // A refreshed ID token naming another user is refused.
        swapIdToken(idp, (claims) => ({ ...claims, sub: "mallory" }))
        const other = yield* Effect.flip(provider.refresh(refreshOf(refreshed), refreshed))
        expectProviderError(other, "rejected", "idToken")

        const current = yield* login("oidc", idp, provider)
        expect(yield* Effect.promise(() => idp.revoke(Redacted.value(refreshOf(current)), "app"))).toBe(200)
        const revoked = yield* Effect.flip(provider.refresh(refreshOf(current), current))
        expect(revoked).toBeInstanceOf(UpstreamGrantRevoked)
      })
    )
  })

  describe("claim_mappings on the IdP's claims", () => {
    it.scopedLive("OIDC claim_mappings: list, URI-style, nested and space-separated claims give capabilities, each once", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc", {}, {
          claim_mappings: {
            groups: { admins: ["admin"], "finance-team": ["billing.read"] },
            "https://example.com/roles": { "billing-manager": ["billing.manage", "billing.read"] },
            "realm_access.roles": { "report-viewer": ["reports.view"] },
            department: { finance: ["dept.finance"], sales: ["dept.sales"] },
            scope: { groups: ["groups.scope"] }
          }
        })
        const { lines, run } = captureLogs()
        const profile = yield* run(provider.fetchUser(yield* login("oidc", idp, provider)))
        expect(profile.capabilities).toEqual(["admin", "billing.read", "billing.manage", "reports.view", "dept.finance", "groups.scope"])
        expect(lines.some((l) => l.startsWith("DEBUG") && l.includes("User capabilities") && l.includes("reports.view"))).toBe(true)
      })
    )

    it.scopedLive("OIDC claim_mappings on a claim the user lacks: a warning naming the path, the login goes on", () =>
      Effect.gen(function* () {
        const { idp, provider } = yield* setup("oidc", {}, { claim_mappings: { "resource_access.app.roles": { x: ["y"] } } })
        const { lines, run } = captureLogs()
        const profile = yield* run(provider.fetchUser(yield* login("oidc", idp, provider)))
        expect(profile.capabilities ?? []).toEqual([])
        expect(lines.some((l) => l.startsWith("WARN") && l.includes("resource_access.app.roles"))).toBe(true)
      })
    )
  })
})

describe("GoogleProvider (a preset over OIDC) against oidc-provider", () => {
  it.scopedLive("Google login: auth_url/token_url from the block, access_type=offline and prompt=consent, ID token checked, userinfo, refresh", () =>
    Effect.gen(function* () {
      const { idp, provider } = yield* setup("google", {}, { scope: "openid profile email groups offline_access" })
      expect(provider.name).toBe("google")
      expect(provider.callbackPath).toBe("/google/callback")
      const { code, codeVerifier, url } = yield* authorize("google", idp, provider)
      expect(`${url.origin}${url.pathname}`).toBe(idp.config["auth_url"])
      expect(url.searchParams.get("access_type")).toBe("offline")
      expect(url.searchParams.get("prompt")).toBe("consent")
      expect(url.searchParams.get("nonce")).not.toBeNull()
      const tokens = yield* provider.exchangeCode({ code, redirectUri: redirectUriOf("google"), codeVerifier })
      expect(idp.requests.filter((r) => r.endpoint === "token")[0]?.path).toBe(new URL(idp.config["token_url"] ?? "").pathname)
      expect(yield* provider.fetchUser(tokens)).toMatchObject({ provider: "google", id: "alice-sub-0001", username: "alice" })
      const refreshed = yield* provider.refresh(refreshOf(tokens), tokens)
      expect(Redacted.value(refreshed.accessToken)).not.toBe(Redacted.value(tokens.accessToken))
    })
  )

  it.scopedLive("Google ID token for another audience → rejected", () =>
    Effect.gen(function* () {
      const { idp, provider } = yield* setup("google")
      swapIdToken(idp, (claims) => ({ ...claims, aud: "another-client" }))
      expectProviderError(yield* exchangeFailure("google", idp, provider), "rejected", "idToken")
    })
  )

  it.scopedLive("Google defaults are MXCP's (accounts.google.com endpoints, openid profile email)", () =>
    Effect.sync(() => {
      const spec = googleSpec(Schema.decodeUnknownSync(GoogleConfig)({ client_id: "c", client_secret: "s" }))
      expect(spec).toMatchObject({
        authorizationEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
        tokenEndpoint: "https://oauth2.googleapis.com/token",
        configUrl: "https://accounts.google.com/.well-known/openid-configuration",
        expectedIssuer: "https://accounts.google.com",
        extraIssuers: ["accounts.google.com"],
        scope: "openid profile email",
        callbackPath: "/google/callback"
      })
    })
  )
})

describe("KeycloakProvider (a preset over OIDC) against oidc-provider in Keycloak's layout", () => {
  it.scopedLive("Keycloak login: discovery at {server_url}/realms/{realm}, /protocol/openid-connect endpoints, realm roles mapped", () =>
    Effect.gen(function* () {
      const { idp, provider } = yield* setup("keycloak", {}, {
        scope: "openid profile email groups offline_access",
        claim_mappings: { "realm_access.roles": { "report-viewer": ["reports.view"] } }
      })
      expect(provider.name).toBe("keycloak")
      expect(provider.callbackPath).toBe("/keycloak/callback")
      const { code, codeVerifier, url } = yield* authorize("keycloak", idp, provider)
      expect(url.pathname).toBe("/realms/test/protocol/openid-connect/auth")
      const tokens = yield* provider.exchangeCode({ code, redirectUri: redirectUriOf("keycloak"), codeVerifier })
      const profile = yield* provider.fetchUser(tokens)
      expect(profile).toMatchObject({ provider: "keycloak", id: "alice-sub-0001", username: "alice", capabilities: ["reports.view"] })
      const paths = new Set(idp.requests.map((r) => r.path))
      expect(paths).toContain("/realms/test/.well-known/openid-configuration")
      expect(paths).toContain("/realms/test/protocol/openid-connect/token")
      expect(paths).toContain("/realms/test/protocol/openid-connect/userinfo")
      expect(paths).toContain("/realms/test/protocol/openid-connect/certs")
      const refreshed = yield* provider.refresh(refreshOf(tokens), tokens)
      expect(Redacted.value(refreshed.accessToken)).not.toBe(Redacted.value(tokens.accessToken))
    })
  )

  it.scopedLive("Keycloak with the wrong realm: discovery fails (404), no login starts", () =>
    Effect.gen(function* () {
      const { provider } = yield* setup("keycloak", {}, { realm: "other", timeout: 1 })
      const error = yield* Effect.flip(provider.ready ?? Effect.void)
      expect(error).toBeInstanceOf(ProviderError)
      expect(error.operation).toBe("discovery")
      expect(error.message).toContain("404")
    })
  )

  it.scopedLive("Keycloak expired ID token → rejected", () =>
    Effect.gen(function* () {
      const { idp, provider } = yield* setup("keycloak")
      swapIdToken(idp, (claims) => ({ ...claims, iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }))
      expectProviderError(yield* exchangeFailure("keycloak", idp, provider), "rejected", "idToken")
    })
  )
})
