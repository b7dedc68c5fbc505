/**
 * PKCE (RFC 7636), S256 only: `plain` is refused everywhere (OAuth 2.1, RFC 9700 §2.1.1).
 *
 * - /authorize: `checkCodeChallenge(challenge, method)` (B14: missing challenge, missing method,
 *   `plain` or anything else → `invalid_request`).
 * - /token: `checkCodeVerifier(verifier, challenge)` (D33: missing → `invalid_request`; present but
 *   not matching, including malformed → `invalid_grant`).
 */
import { Either } from "effect"
import { createHash } from "node:crypto"
import { InvalidGrant, InvalidRequest } from "./Errors.js"
import { constantTimeEqual, isBase64Url32 } from "./Tokens.js"

/** The only supported `code_challenge_method`. */
export const PKCE_METHOD = "S256"

const verifierPattern = /^[A-Za-z0-9\-._~]{43,128}$/

/** RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`. */
export const isValidVerifier = (verifier: string): boolean => verifierPattern.test(verifier)

/**
 * An S256 challenge: the canonical unpadded base64url of a SHA-256 digest (32 bytes, 43 chars).
 * Non-canonical encodings (last character with non-zero padding bits) are refused so that the
 * string comparison in `verifyPkce` is the same as a byte comparison.
 */
export const isValidChallenge = (challenge: string): boolean => isBase64Url32(challenge)

/** RFC 7636 §4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`. */
export const challengeFromVerifier = (verifier: string): string =>
  createHash("sha256").update(verifier, "ascii").digest("base64url")

/**
 * True when `verifier` is well formed and hashes to `challenge`. The comparison is constant-time
 * over SHA-256 digests of both strings (equal-length buffers), so it leaks neither content nor length.
 */
export const verifyPkce = (verifier: string, challenge: string): boolean => {
  const wellFormed = isValidVerifier(verifier) && isValidChallenge(challenge)
  // Always compare, so a malformed verifier costs the same as a wrong one.
  const equal = constantTimeEqual(challengeFromVerifier(verifier), challenge)
  return wellFormed && equal
}

/**
 * /authorize parameters. Returns the challenge to bind to the code.
 * RFC 7636 §4.3 makes a missing method mean `plain`, which is refused.
 */
export const checkCodeChallenge = (
  challenge: string | undefined,
  method: string | undefined
): Either.Either<string, InvalidRequest> => {
  if (challenge === undefined || challenge === "") {
    return Either.left(new InvalidRequest({ description: "code_challenge is required (PKCE S256)" }))
  }
  if (method === undefined || method === "") {
    return Either.left(
      new InvalidRequest({ description: "code_challenge_method is required and must be S256" })
    )
  }
  if (method !== PKCE_METHOD) {
    return Either.left(
      new InvalidRequest({ description: "code_challenge_method not supported: only S256 is accepted" })
    )
  }
  if (!isValidChallenge(challenge)) {
    return Either.left(
      new InvalidRequest({ description: "code_challenge must be 43 characters of base64url (S256)" })
    )
  }
  return Either.right(challenge)
}

/**
 * /token, `authorization_code` grant. A missing verifier is a malformed request; any present
 * verifier that does not match (including one of the wrong length or alphabet) is `invalid_grant`.
 */
export const checkCodeVerifier = (
  verifier: string | undefined,
  challenge: string
): Either.Either<void, InvalidRequest | InvalidGrant> => {
  if (verifier === undefined || verifier === "") {
    return Either.left(new InvalidRequest({ description: "code_verifier is required" }))
  }
  return verifyPkce(verifier, challenge)
    ? Either.void
    : Either.left(new InvalidGrant({ description: "code_verifier does not match the code_challenge" }))
}
