/**
 * Issue 13: claim mappings to capabilities and the OpenID Connect rules without I/O.
 */
import { describe, expect, it } from "@effect/vitest"
import { claimValues, deriveCapabilities, resolveClaim } from "../../src/domain/oauth/Capabilities.js"
import {
  acceptedAlgorithms,
  idTokenClaimProblem,
  issuerOfConfigUrl,
  keycloakConfigUrl,
  keycloakIssuer,
  nonceForChallenge,
  profileFromClaims
} from "../../src/domain/oauth/OidcRules.js"

const claims = {
  sub: "u1",
  groups: ["admins", "finance"],
  "https://example.com/roles": ["billing-manager"],
  "realm_access.roles": ["top-level-wins"],
  realm_access: { roles: ["nested-role"] },
  resource_access: { app: { roles: ["editor"] } },
  scope: "openid calendar.readonly  email",
  level: 3,
  active: true,
  dept: "finance"
}

describe("claim mappings", () => {
  it("claim paths: a top-level name first (URI-style names contain dots), then a dotted path", () => {
    expect(resolveClaim(claims, "https://example.com/roles")).toEqual(["billing-manager"])
    expect(resolveClaim(claims, "realm_access.roles")).toEqual(["top-level-wins"])
    expect(resolveClaim(claims, "resource_access.app.roles")).toEqual(["editor"])
    expect(resolveClaim(claims, "resource_access.other.roles")).toBeUndefined()
    expect(resolveClaim(claims, "constructor")).toBeUndefined()
    expect(resolveClaim(claims, "groups.length")).toBeUndefined()
  })

  it("claim values: list elements, whitespace-separated words, scalars as text, nothing for objects", () => {
    expect(claimValues(["a", 1, { x: 1 }, null])).toEqual(["a", "1"])
    expect(claimValues("openid  calendar.readonly")).toEqual(["openid", "calendar.readonly"])
    expect(claimValues(true)).toEqual(["true"])
    expect(claimValues({ a: 1 })).toEqual([])
  })

  it("capabilities of list, URI-style, nested, space-separated and scalar claims, each once; missing paths named", () => {
    const result = deriveCapabilities(
      {
        groups: { admins: ["admin", "billing.read"], nobody: ["never"] },
        "https://example.com/roles": { "billing-manager": ["billing.read", "billing.manage"] },
        "resource_access.app.roles": { editor: ["edit"] },
        scope: { "calendar.readonly": ["calendar.read"] },
        level: { "3": ["level3"] },
        active: { true: ["active"] },
        dept: { finance: ["dept.finance"] },
        "missing.claim": { x: ["y"] },
        sub: { toString: ["proto"] }
      },
      claims
    )
    expect(result.capabilities).toEqual([
      "admin",
      "billing.read",
      "billing.manage",
      "edit",
      "calendar.read",
      "level3",
      "active",
      "dept.finance"
    ])
    expect(result.missingPaths).toEqual(["missing.claim"])
  })
})

describe("OIDC rules", () => {
  it("the issuer a config URL promises; Keycloak's URLs from server_url and realm", () => {
    expect(issuerOfConfigUrl("https://idp.example.com/tenant/.well-known/openid-configuration")).toBe("https://idp.example.com/tenant")
    expect(issuerOfConfigUrl("https://idp.example.com/discovery?tenant=1")).toBeUndefined()
    expect(keycloakIssuer("https://kc.example.com/auth/", "my realm")).toBe("https://kc.example.com/auth/realms/my%20realm")
    expect(keycloakConfigUrl("https://kc.example.com", "r")).toBe("https://kc.example.com/realms/r/.well-known/openid-configuration")
  })

  it("the nonce is bound to the login's PKCE challenge", () => {
    expect(nonceForChallenge("a")).not.toBe(nonceForChallenge("b"))
    expect(nonceForChallenge("a")).toBe(nonceForChallenge("a"))
    expect(nonceForChallenge("a")).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it("ID token claims beyond the JWT checks: sub, nonce, azp", () => {
    const ok = { sub: "u", nonce: "n", aud: "app" }
    expect(idTokenClaimProblem(ok, { clientId: "app", nonce: "n" })).toBeUndefined()
    expect(idTokenClaimProblem({ ...ok, sub: "" }, { clientId: "app" })).toContain("no sub")
    expect(idTokenClaimProblem(ok, { clientId: "app", nonce: "m" })).toContain("nonce is not this login's")
    expect(idTokenClaimProblem({ sub: "u" }, { clientId: "app", nonce: "n" })).toContain("no nonce")
    expect(idTokenClaimProblem({ ...ok, aud: ["app", "x"] }, { clientId: "app" })).toContain("no azp")
    expect(idTokenClaimProblem({ ...ok, azp: "x" }, { clientId: "app" })).toContain("azp")
    expect(idTokenClaimProblem(ok, { clientId: "app", sub: "other" })).toContain("another user's")
  })

  it("the user of the claims: preferred_username, else email, else sub", () => {
    expect(profileFromClaims("okta", { sub: "u", preferred_username: "al", email: "a@x" })).toMatchObject({ provider: "okta", id: "u", username: "al", name: "al" })
    expect(profileFromClaims("okta", { sub: "u", email: "a@x", name: "Al" })).toMatchObject({ username: "a@x", name: "Al" })
    expect(profileFromClaims("okta", { sub: "u" })?.username).toBe("u")
    expect(profileFromClaims("okta", { email: "a@x" })).toBeUndefined()
  })

  it("only asymmetric algorithms are accepted; RS256 when none are advertised", () => {
    expect(acceptedAlgorithms(undefined)).toEqual(["RS256"])
    expect(acceptedAlgorithms(["HS256", "none", "ES256", "RS256"])).toEqual(["ES256", "RS256"])
  })
})
