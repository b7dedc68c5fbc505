/**
 * Token format and hashing rules.
 *
 * Access tokens, refresh tokens, authorization codes, upstream `state` values and client secrets
 * are all opaque: base64url (no padding) of 32 random bytes, i.e. 256 bits, 43 characters. The
 * random bytes come from a generator service; this module only encodes, checks the shape, and
 * hashes. Only `sha256Hex(token)` is ever stored; lookups and comparisons use the hash.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto"

/** Random bytes in every token we mint (256 bits). */
export const TOKEN_BYTES = 32

/** Length of a token: base64url without padding of `TOKEN_BYTES` bytes. */
export const TOKEN_LENGTH = 43

/**
 * 43 base64url characters whose last character carries only 4 data bits (the low 2 bits are zero):
 * exactly the canonical, unpadded base64url encodings of 32 bytes.
 */
const canonicalBase64Url32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/

/** True when `s` is the canonical unpadded base64url encoding of exactly 32 bytes. */
export const isBase64Url32 = (s: string): boolean => canonicalBase64Url32.test(s)

/** Encodes random bytes from the generator service as a token. Requires exactly `TOKEN_BYTES` bytes. */
export const tokenFromBytes = (bytes: Uint8Array): string => {
  if (bytes.length !== TOKEN_BYTES) {
    throw new RangeError(`a token needs exactly ${TOKEN_BYTES} random bytes, got ${bytes.length}`)
  }
  return Buffer.from(bytes).toString("base64url")
}

/**
 * A token derived from `input` under a secret `key`: base64url of HMAC-SHA256(key, label NUL
 * input), so 256 bits and the same shape as a minted token. Without the key the result is
 * unpredictable from `input`; with the same key and input it is the same token again. Used for
 * the tokens of a refresh rotation, so that a retry of that rotation can be answered with the
 * same tokens although only their hashes are stored (see `TokenStore.successorTokens`).
 */
export const deriveToken = (key: Uint8Array, label: string, input: string): string =>
  tokenFromBytes(createHmac("sha256", key).update(label, "utf8").update("\u0000").update(input, "utf8").digest())

/**
 * Shape check before any store lookup: a bearer or refresh token we could have minted. Anything
 * else (an upstream provider token, a JWT, garbage) is rejected without touching storage.
 */
export const looksLikeOurToken = (s: string): boolean => isBase64Url32(s)

/** Lowercase hex SHA-256 of the UTF-8 bytes of `s`: what the store keeps instead of the token. */
export const sha256Hex = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex")

/**
 * Constant-time equality of two hex digests (as produced by `sha256Hex`). Different lengths are
 * unequal immediately: the length of a digest is not secret. Case-sensitive.
 */
export const constantTimeEqualHex = (a: string, b: string): boolean => {
  const ab = Buffer.from(a, "utf8")
  const bb = Buffer.from(b, "utf8")
  return ab.length === bb.length && timingSafeEqual(ab, bb)
}

/**
 * Constant-time equality of two arbitrary secrets (client secrets, PKCE challenges): compares their
 * SHA-256 digests, so neither the content nor the length of the secret leaks through timing.
 */
export const constantTimeEqual = (a: string, b: string): boolean =>
  timingSafeEqual(createHash("sha256").update(a, "utf8").digest(), createHash("sha256").update(b, "utf8").digest())
