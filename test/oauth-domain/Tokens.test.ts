import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { randomBytes } from "node:crypto"
import {
  constantTimeEqual,
  constantTimeEqualHex,
  isBase64Url32,
  looksLikeOurToken,
  sha256Hex,
  TOKEN_BYTES,
  TOKEN_LENGTH,
  tokenFromBytes
} from "../../src/domain/oauth/Tokens.js"

describe("token format", () => {
  it("a token is 43 base64url characters carrying 256 random bits", () => {
    const t = tokenFromBytes(randomBytes(TOKEN_BYTES))
    expect(t).toHaveLength(TOKEN_LENGTH)
    expect(t).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(Buffer.from(t, "base64url")).toHaveLength(32)
    expect(looksLikeOurToken(t)).toBe(true)
  })

  it("tokenFromBytes refuses anything but 32 bytes", () => {
    expect(() => tokenFromBytes(new Uint8Array(16))).toThrow(RangeError)
    expect(() => tokenFromBytes(new Uint8Array(33))).toThrow(RangeError)
  })

  it.prop("every 32-byte value encodes to a token that passes the format check", [
    FastCheck.uint8Array({ minLength: 32, maxLength: 32 })
  ], ([bytes]) => {
    const t = tokenFromBytes(bytes)
    expect(looksLikeOurToken(t)).toBe(true)
    expect(Buffer.from(t, "base64url").equals(Buffer.from(bytes))).toBe(true)
  })

  it("rejects other shapes: provider tokens, JWTs, padding, wrong length, non-canonical tail", () => {
    const valid = tokenFromBytes(new Uint8Array(32).fill(7))
    for (
      const s of [
        "",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
        `${valid}=`,
        valid.slice(0, 42),
        `${valid}A`,
        `${valid.slice(0, 42)}B`, // low bits set: not a canonical encoding of 32 bytes
        `${valid.slice(0, 42)}+`,
        ` ${valid.slice(1)}`
      ]
    ) {
      expect(looksLikeOurToken(s), s).toBe(false)
    }
    expect(isBase64Url32(valid)).toBe(true)
  })
})

describe("hashing and constant-time comparison", () => {
  it("sha256Hex is the lowercase hex SHA-256", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  })

  it("A9 constantTimeEqualHex compares digests exactly, different lengths are unequal", () => {
    const h = sha256Hex("secret")
    expect(constantTimeEqualHex(h, sha256Hex("secret"))).toBe(true)
    expect(constantTimeEqualHex(h, sha256Hex("secreT"))).toBe(false)
    expect(constantTimeEqualHex(h, h.slice(0, 63))).toBe(false)
    expect(constantTimeEqualHex(h, h.toUpperCase())).toBe(false)
    expect(constantTimeEqualHex("", "")).toBe(true)
    expect(constantTimeEqualHex("é", "ab")).toBe(false)
  })

  it.prop("A9 constantTimeEqual agrees with === for any strings", [FastCheck.string(), FastCheck.string()], ([a, b]) => {
    expect(constantTimeEqual(a, b)).toBe(a === b)
    expect(constantTimeEqual(a, a)).toBe(true)
  })
})
