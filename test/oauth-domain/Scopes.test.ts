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

  it("B17 scopes beyond the client's allowed set are left out (never widened); nothing allowed → invalid_scope", () => {
    // interface.md section 4: a token's scopes = requested ∩ allowed. Only an empty
    // intersection (or a malformed scope) is invalid_scope.
    for (const req of ["admin", "READ", "admin delete", "read\"x", "mxcp:access read\"x"]) {
      const r = grantScopes(req, allowed)
      expect(Either.isLeft(r), req).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left.errorCode).toBe("invalid_scope")
        expect(r.left.status).toBe(400)
      }
    }
    const r = grantScopes("admin delete", allowed)
    expect(Either.isLeft(r) && r.left.description).toContain("admin")
    expect(granted("read admin", allowed)).toStrictEqual(Either.right(["read"]))
    expect(granted("mxcp:access read write delete", allowed)).toStrictEqual(Either.right(["mxcp:access", "read", "write"]))
  })

  it("Scope intersection: requested ∩ allowed, in the requested order; an empty intersection is invalid_scope", () => {
    expect(granted("mxcp:admin mxcp:access", ["mxcp:access"])).toStrictEqual(Either.right(["mxcp:access"]))
    expect(granted("write admin read", allowed)).toStrictEqual(Either.right(["write", "read"]))
    const empty = grantScopes("mxcp:admin", ["mxcp:access"])
    expect(Either.isLeft(empty) && empty.left.errorCode).toBe("invalid_scope")
    // A client allowed nothing gets nothing, and asking for anything is refused.
    expect(granted(undefined, [])).toStrictEqual(Either.right([]))
    expect(Either.isLeft(grantScopes("mxcp:access", []))).toBe(true)
  })

  it("E39 refresh: narrower allowed, wider cut back to the original grant (allowed = originally granted)", () => {
    const original = ["mxcp:access", "read"]
    expect(granted("read", original)).toStrictEqual(Either.right(["read"]))
    expect(granted("read write", original)).toStrictEqual(Either.right(["read"]))
    expect(Either.isLeft(grantScopes("write", original))).toBe(true)
  })

  it.prop("the granted set is always requested ∩ allowed (or everything allowed when nothing is requested)", [
    FastCheck.uniqueArray(scopeArb, { maxLength: 6 }),
    FastCheck.option(FastCheck.array(scopeArb, { maxLength: 6 }), { nil: undefined })
  ], ([allowedScopes, requested]) => {
    const raw = requested === undefined ? undefined : requested.join(" ")
    const r = grantScopes(raw, allowedScopes)
    const asked = [...new Set(requested ?? [])]
    const both = asked.filter((s) => allowedScopes.includes(s))
    expect(Either.isLeft(r)).toBe(asked.length > 0 && both.length === 0)
    if (Either.isRight(r)) {
      for (const s of r.right) expect(allowedScopes).toContain(s)
      expect(Array.from(r.right)).toEqual(asked.length > 0 ? both : allowedScopes)
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
