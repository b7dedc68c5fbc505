import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import {
  dcrAllowedScopes,
  defaultDcrScopes,
  formatScopes,
  grantScopes,
  hasAll,
  isValidScopeToken,
  missingScopes,
  MXCP_ACCESS_SCOPE,
  parseProviderScopes,
  parseScopes,
  scopesSupported
} from "../../src/domain/oauth/Scopes.js"

const granted = (requested: string | undefined, allowed: ReadonlyArray<string>) =>
  Either.map(grantScopes(requested, allowed), (s) => Array.from(s))

const scopeArb = FastCheck.stringMatching(/^[a-z][a-z0-9:._-]{0,10}$/)

describe("scope parsing", () => {
  it("splits on spaces, drops empties and duplicates, keeps order", () => {
    expect(parseScopes("b a  b c")).toEqual(["b", "a", "c"])
    expect(parseScopes("")).toEqual([])
    expect(parseScopes(undefined)).toEqual([])
    expect(formatScopes(["a", "b", "a"])).toBe("a b")
  })

  it("E44 provider scopes: GitHub commas, spaces, or both", () => {
    expect(parseProviderScopes("repo,user:email")).toEqual(["repo", "user:email"])
    expect(parseProviderScopes("repo, user:email")).toEqual(["repo", "user:email"])
    expect(parseProviderScopes("api refresh_token openid")).toEqual(["api", "refresh_token", "openid"])
    expect(parseProviderScopes("")).toEqual([])
    expect(parseProviderScopes(undefined)).toEqual([])
  })

  it("scope tokens are NQCHAR", () => {
    expect(isValidScopeToken("mxcp:access")).toBe(true)
    expect(isValidScopeToken("read:jira-work")).toBe(true)
    expect(isValidScopeToken("a\"b")).toBe(false)
    expect(isValidScopeToken("a\\b")).toBe(false)
    expect(isValidScopeToken("a\tb")).toBe(false)
    expect(isValidScopeToken("é")).toBe(false)
    expect(isValidScopeToken("")).toBe(false)
  })

  it.prop("format then parse is the identity on de-duplicated scope lists", [
    FastCheck.uniqueArray(scopeArb, { maxLength: 8 })
  ], ([scopes]) => {
    expect(parseScopes(formatScopes(scopes))).toEqual(scopes)
  })
})

describe("grantScopes", () => {
  const allowed = ["mxcp:access", "read", "write"]

  it("none requested → all allowed", () => {
    expect(granted(undefined, allowed)).toStrictEqual(Either.right(allowed))
    expect(granted("", allowed)).toStrictEqual(Either.right(allowed))
    expect(granted("   ", allowed)).toStrictEqual(Either.right(allowed))
  })

  it("a subset is granted as requested", () => {
    expect(granted("read", allowed)).toStrictEqual(Either.right(["read"]))
    expect(granted("write mxcp:access write", allowed)).toStrictEqual(Either.right(["write", "mxcp:access"]))
  })

  it("B17 scopes beyond the client's allowed set → invalid_scope (never widened)", () => {
    for (const req of ["admin", "read admin", "READ", "mxcp:access read write delete", "read\"x"]) {
      const r = grantScopes(req, allowed)
      expect(Either.isLeft(r), req).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left.errorCode).toBe("invalid_scope")
        expect(r.left.status).toBe(400)
      }
    }
    const r = grantScopes("read admin", allowed)
    expect(Either.isLeft(r) && r.left.description).toContain("admin")
  })

  it("E39 refresh: narrower allowed, wider refused (allowed = originally granted)", () => {
    const original = ["mxcp:access", "read"]
    expect(granted("read", original)).toStrictEqual(Either.right(["read"]))
    expect(Either.isLeft(grantScopes("read write", original))).toBe(true)
  })

  it.prop("the granted set is always within the allowed set", [
    FastCheck.uniqueArray(scopeArb, { maxLength: 6 }),
    FastCheck.option(FastCheck.array(scopeArb, { maxLength: 6 }), { nil: undefined })
  ], ([allowedScopes, requested]) => {
    const raw = requested === undefined ? undefined : requested.join(" ")
    const r = grantScopes(raw, allowedScopes)
    const beyond = (requested ?? []).some((s) => !allowedScopes.includes(s))
    expect(Either.isLeft(r)).toBe(beyond)
    if (Either.isRight(r)) {
      for (const s of r.right) expect(allowedScopes).toContain(s)
      if (requested !== undefined && requested.length > 0) expect(Array.from(r.right)).toEqual([...new Set(requested)])
    }
  })
})

describe("required scopes", () => {
  it("F47 hasAll / missingScopes", () => {
    expect(hasAll(["mxcp:access", "read"], ["read"])).toBe(true)
    expect(hasAll(new Set(["mxcp:access"]), [])).toBe(true)
    expect(hasAll(["mxcp:access"], ["mxcp:access", "read"])).toBe(false)
    expect(missingScopes(["mxcp:access"], ["read", "mxcp:access", "write"])).toEqual(["read", "write"])
  })
})

describe("scopes_supported and DCR allowed scopes", () => {
  it("scopes_supported = mxcp:access ∪ required ∪ pre-registered clients' scopes, stable order", () => {
    expect(scopesSupported([], [])).toEqual([MXCP_ACCESS_SCOPE])
    expect(scopesSupported(["read", "mxcp:access"], [["mxcp:access", "admin"], ["read", "write"]])).toEqual([
      "mxcp:access",
      "read",
      "admin",
      "write"
    ])
  })

  it("a DCR client without scope gets mxcp:access ∪ required", () => {
    expect(defaultDcrScopes(["read"])).toEqual(["mxcp:access", "read"])
    expect(dcrAllowedScopes(undefined, ["mxcp:access", "read", "admin"], ["read"])).toEqual(["mxcp:access", "read"])
    expect(dcrAllowedScopes(" ", ["mxcp:access", "read", "admin"], ["read"])).toEqual(["mxcp:access", "read"])
  })

  it("a DCR client's registered scope is intersected with scopes_supported", () => {
    const supported = ["mxcp:access", "read", "admin"]
    expect(dcrAllowedScopes("admin openid mxcp:access", supported, [])).toEqual(["admin", "mxcp:access"])
    expect(dcrAllowedScopes("openid profile", supported, [])).toEqual([])
  })

  it.prop("DCR allowed scopes never leave scopes_supported", [
    FastCheck.array(scopeArb, { maxLength: 5 }),
    FastCheck.array(FastCheck.array(scopeArb, { maxLength: 3 }), { maxLength: 3 }),
    FastCheck.option(FastCheck.array(scopeArb, { maxLength: 6 }), { nil: undefined })
  ], ([required, clients, registered]) => {
    const supported = scopesSupported(required, clients)
    const allowed = dcrAllowedScopes(registered?.join(" "), supported, required)
    for (const s of allowed) expect(supported).toContain(s)
  })
})
