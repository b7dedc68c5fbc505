import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import {
  challengeFromVerifier,
  checkCodeChallenge,
  checkCodeVerifier,
  isValidChallenge,
  isValidVerifier,
  verifyPkce
} from "../../src/domain/oauth/Pkce.js"

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".split("")

const verifierArb = FastCheck.array(FastCheck.constantFrom(...alphabet), { minLength: 43, maxLength: 128 }).map((cs) =>
  cs.join("")
)

/** A change to a verifier: replace, insert or delete one character, or flip the case of one. */
interface Mutation {
  readonly kind: "replace" | "insert" | "delete" | "flipCase" | "truncate"
  readonly at: number
  readonly char: string
}

const mutationArb: FastCheck.Arbitrary<Mutation> = FastCheck.record({
  kind: FastCheck.constantFrom("replace", "insert", "delete", "flipCase", "truncate"),
  at: FastCheck.nat(),
  char: FastCheck.constantFrom(...alphabet, " ", "=", "+", "/", "é")
})

const mutate = (v: string, m: Mutation): string => {
  const i = m.at % v.length
  const c = v[i] ?? ""
  switch (m.kind) {
    case "replace":
      return v.slice(0, i) + m.char + v.slice(i + 1)
    case "insert":
      return v.slice(0, i) + m.char + v.slice(i)
    case "delete":
      return v.slice(0, i) + v.slice(i + 1)
    case "flipCase":
      return v.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + v.slice(i + 1)
    case "truncate":
      return v.slice(0, i)
  }
}

// RFC 7636 Appendix B.
const rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
const rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

describe("PKCE S256", () => {
  it("matches the RFC 7636 Appendix B example", () => {
    expect(challengeFromVerifier(rfcVerifier)).toBe(rfcChallenge)
    expect(verifyPkce(rfcVerifier, rfcChallenge)).toBe(true)
  })

  it("verifier format: 43-128 unreserved characters", () => {
    expect(isValidVerifier("a".repeat(43))).toBe(true)
    expect(isValidVerifier("a".repeat(128))).toBe(true)
    expect(isValidVerifier("a".repeat(42))).toBe(false)
    expect(isValidVerifier("a".repeat(129))).toBe(false)
    expect(isValidVerifier(`${"a".repeat(42)}-._~`)).toBe(true)
    expect(isValidVerifier(`${"a".repeat(42)}+`)).toBe(false)
    expect(isValidVerifier(`${"a".repeat(42)} `)).toBe(false)
    expect(isValidVerifier(`${"a".repeat(42)}é`)).toBe(false)
  })

  it("challenge format: 43 canonical base64url characters", () => {
    expect(isValidChallenge(rfcChallenge)).toBe(true)
    expect(isValidChallenge(`${rfcChallenge}=`)).toBe(false)
    expect(isValidChallenge(rfcChallenge.slice(1))).toBe(false)
    expect(isValidChallenge(rfcChallenge.replace("-", "+"))).toBe(false)
    expect(isValidChallenge(rfcVerifier)).toBe(true) // same shape; verification is what binds them
    expect(isValidChallenge(`${rfcChallenge.slice(0, 42)}N`)).toBe(false) // non-canonical tail
  })

  it.prop("round trip: every valid verifier verifies against its own challenge", [verifierArb], ([v]) => {
    expect(isValidVerifier(v)).toBe(true)
    const c = challengeFromVerifier(v)
    expect(isValidChallenge(c)).toBe(true)
    expect(verifyPkce(v, c)).toBe(true)
  })

  it.prop("any mutated verifier fails", [verifierArb, mutationArb], ([v, m]) => {
    const mutated = mutate(v, m)
    FastCheck.pre(mutated !== v)
    expect(verifyPkce(mutated, challengeFromVerifier(v))).toBe(false)
  })

  it.prop("two different verifiers never share a challenge", [verifierArb, verifierArb], ([a, b]) => {
    FastCheck.pre(a !== b)
    expect(verifyPkce(a, challengeFromVerifier(b))).toBe(false)
  })

  it("the verifier itself is not a valid proof (plain is not accepted)", () => {
    const v = "x".repeat(43)
    expect(verifyPkce(v, v)).toBe(false)
  })

  it("B14 /authorize: missing challenge, missing method, plain or unknown method → invalid_request", () => {
    const cases: ReadonlyArray<readonly [string | undefined, string | undefined]> = [
      [undefined, "S256"],
      ["", "S256"],
      [rfcChallenge, undefined],
      [rfcChallenge, ""],
      [rfcChallenge, "plain"],
      [rfcChallenge, "s256"],
      [rfcChallenge, "S512"],
      ["short", "S256"],
      [`${rfcChallenge}=`, "S256"]
    ]
    for (const [challenge, method] of cases) {
      const r = checkCodeChallenge(challenge, method)
      expect(Either.isLeft(r), `${challenge} ${method}`).toBe(true)
      if (Either.isLeft(r)) expect(r.left.errorCode).toBe("invalid_request")
    }
    expect(checkCodeChallenge(rfcChallenge, "S256")).toStrictEqual(Either.right(rfcChallenge))
  })

  it("D33 /token: wrong verifier → invalid_grant, missing verifier → invalid_request", () => {
    expect(Either.isRight(checkCodeVerifier(rfcVerifier, rfcChallenge))).toBe(true)
    const missing = checkCodeVerifier(undefined, rfcChallenge)
    expect(Either.isLeft(missing) && missing.left.errorCode).toBe("invalid_request")
    const empty = checkCodeVerifier("", rfcChallenge)
    expect(Either.isLeft(empty) && empty.left.errorCode).toBe("invalid_request")
    for (const wrong of [`${rfcVerifier.slice(0, -1)}l`, "wrong-verifier", rfcChallenge, "a".repeat(200)]) {
      const r = checkCodeVerifier(wrong, rfcChallenge)
      expect(Either.isLeft(r) && r.left.errorCode, wrong).toBe("invalid_grant")
    }
  })
})
