/**
 * The at-rest crypto of the SQLite store: AES-256-GCM sealing bound to a row, row MACs, key ids.
 */
import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { decodeKey, keyIdOf, makeSecretBox } from "../../src/layers/oauth/store/SecretBox.js"

const key = randomBytes(32)
const box = makeSecretBox(key)

describe("SecretBox: sealing", () => {
  it("round-trips, with a fresh IV each time, and never contains the plaintext", () => {
    const secret = "gho_upstream-access-token-0123456789"
    const a = box.seal(secret, "grants\0upstream_access\0g1")
    const b = box.seal(secret, "grants\0upstream_access\0g1")
    expect(a.equals(b)).toBe(false)
    expect(a.includes(Buffer.from(secret))).toBe(false)
    expect(box.open(a, "grants\0upstream_access\0g1")).toBe(secret)
    expect(box.open(b, "grants\0upstream_access\0g1")).toBe(secret)
    expect(box.open(box.seal("", "x"), "x")).toBe("")
  })

  it("G55: any flipped byte, another row or field, or a truncated value does not open", () => {
    const sealed = box.seal("secret-value", "grants\0upstream_access\0g1")
    for (let i = 0; i < sealed.length; i++) {
      const tampered = Buffer.from(sealed)
      tampered[i] = (tampered[i] ?? 0) ^ 0x01
      expect(box.open(tampered, "grants\0upstream_access\0g1")).toBeUndefined()
    }
    expect(box.open(sealed, "grants\0upstream_access\0g2")).toBeUndefined()
    expect(box.open(sealed, "grants\0upstream_refresh\0g1")).toBeUndefined()
    expect(box.open(sealed.subarray(0, 20), "grants\0upstream_access\0g1")).toBeUndefined()
    expect(box.open(Buffer.alloc(0), "grants\0upstream_access\0g1")).toBeUndefined()
  })

  it("G56: another key neither opens a value nor verifies a MAC, and has another id", () => {
    const other = makeSecretBox(randomBytes(32))
    const sealed = box.seal("secret-value", "aad")
    expect(other.open(sealed, "aad")).toBeUndefined()
    expect(other.verify("codes", ["a", 1], box.mac("codes", ["a", 1]))).toBe(false)
    expect(other.keyId).not.toBe(box.keyId)
  })
})

describe("SecretBox: row MACs", () => {
  it("verify the same parts only", () => {
    const parts = ["hash", "grant", "client", '["mxcp:access"]', null, 1000, Buffer.from([1, 2, 3])]
    const mac = box.mac("access_tokens", parts)
    expect(mac.length).toBe(16)
    expect(box.verify("access_tokens", parts, mac)).toBe(true)
    expect(box.verify("refresh_tokens", parts, mac)).toBe(false)
    expect(box.verify("access_tokens", ["hash", "grant2", ...parts.slice(2)], mac)).toBe(false)
    expect(box.verify("access_tokens", [...parts.slice(0, 5), 1001, parts[6] ?? null], mac)).toBe(false)
    // Field boundaries matter: moving a character from one field to the next changes the MAC.
    expect(box.verify("t", ["ab", "c"], box.mac("t", ["a", "bc"]))).toBe(false)
    expect(box.verify("t", [null], box.mac("t", ["null"]))).toBe(false)
    expect(box.verify("access_tokens", parts, null)).toBe(false)
    expect(box.verify("access_tokens", parts, mac.subarray(0, 8))).toBe(false)
  })
})

describe("SecretBox: keys", () => {
  it("the key id is 16 hex characters, stable for a key", () => {
    expect(box.keyId).toMatch(/^[0-9a-f]{16}$/)
    expect(keyIdOf(key)).toBe(box.keyId)
    expect(makeSecretBox(Buffer.from(key)).keyId).toBe(box.keyId)
  })

  it("decodes 32-byte base64 keys in either alphabet, with or without padding", () => {
    const raw = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i))
    for (const text of [raw.toString("base64"), raw.toString("base64url"), `${raw.toString("base64")}\n`]) {
      expect(decodeKey(text)?.equals(raw)).toBe(true)
    }
    expect(decodeKey(randomBytes(16).toString("base64"))).toBeUndefined()
    expect(decodeKey("not base64 at all!")).toBeUndefined()
    expect(() => makeSecretBox(randomBytes(16))).toThrow(RangeError)
  })
})
