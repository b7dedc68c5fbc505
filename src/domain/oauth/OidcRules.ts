/**
 * The OpenID Connect rules that need no I/O: where a provider's issuer and discovery document are,
 * the `nonce` of one login, the ID token claims beyond what a JWT library checks (`nonce`, `azp`,
 * `sub`), the user from the claims, and the scopes of an access token's claims. Signatures, `iss`,
 * `aud` and `exp` are checked with `jose` in `layers/oauth/providers/OidcKeys.ts`.
 */
import { createHash } from "node:crypto"
import type { UpstreamProviderName, UserProfile } from "./Identity.js"

/** The discovery document's path under an issuer (OpenID Connect Discovery 1.0, section 4). */
export const DISCOVERY_PATH = "/.well-known/openid-configuration"

const trimSlash = (s: string): string => s.replace(/\/+$/, "")

/**
 * The issuer a discovery URL promises: the URL without `/.well-known/openid-configuration`
 * (Discovery 4.3: the document's `issuer` must be exactly that). Undefined for a URL of
 * another shape, where only the document itself says who the issuer is.
 */
export const issuerOfConfigUrl = (configUrl: string): string | undefined => {
  const url = new URL(configUrl)
  if (!url.pathname.endsWith(DISCOVERY_PATH) || url.search !== "") return undefined
  return `${url.origin}${url.pathname.slice(0, -DISCOVERY_PATH.length)}`
}

/** Keycloak's issuer for `realm` on `serverUrl`: `{server_url}/realms/{realm}`. */
export const keycloakIssuer = (serverUrl: string, realm: string): string =>
  `${trimSlash(serverUrl)}/realms/${encodeURIComponent(realm)}`

/** Keycloak's discovery document for `realm`. */
export const keycloakConfigUrl = (serverUrl: string, realm: string): string => `${keycloakIssuer(serverUrl, realm)}${DISCOVERY_PATH}`

/**
 * The `nonce` sent with one login: derived from that login's PKCE challenge, which comes from a
 * fresh secret verifier (so the nonce is unpredictable and bound to the login) and is known again
 * at the code exchange from the verifier, with nothing more to store.
 */
export const nonceForChallenge = (codeChallenge: string): string =>
  createHash("sha256").update(`mxcp-ts oidc nonce\u0000${codeChallenge}`, "utf8").digest("base64url")

const stringClaim = (claims: Readonly<Record<string, unknown>>, name: string): string | undefined => {
  const value = claims[name]
  return typeof value === "string" && value !== "" ? value : undefined
}

/**
 * The ID token checks of OpenID Connect Core 3.1.3.7 a JWT library leaves to the client: `sub`
 * present; `nonce` equal to the login's; with several audiences, `azp` present; `azp`, when
 * present, our client. Why the token is refused, or undefined.
 */
export const idTokenClaimProblem = (
  claims: Readonly<Record<string, unknown>>,
  expected: { readonly clientId: string; readonly nonce?: string | undefined; readonly sub?: string | undefined }
): string | undefined => {
  const sub = stringClaim(claims, "sub")
  if (sub === undefined) return "it has no sub claim"
  if (expected.sub !== undefined && sub !== expected.sub) return "its sub is not the user's (another user's token)"
  if (expected.nonce !== undefined && claims["nonce"] !== expected.nonce) {
    return claims["nonce"] === undefined ? "it has no nonce (it was not issued for this login)" : "its nonce is not this login's (a replayed or injected token)"
  }
  const aud = claims["aud"]
  const azp = claims["azp"]
  if (Array.isArray(aud) && aud.length > 1 && azp === undefined) return "it has several audiences but no azp claim"
  if (azp !== undefined && azp !== expected.clientId) return "its azp (authorized party) is another client"
  return undefined
}

/**
 * The user of merged OIDC claims: `sub` as the id; `preferred_username`, else `email`, else `sub`
 * as the username; `email`; `name`, else the username.
 */
export const profileFromClaims = (
  provider: UpstreamProviderName,
  claims: Readonly<Record<string, unknown>>
): UserProfile | undefined => {
  const sub = stringClaim(claims, "sub")
  if (sub === undefined) return undefined
  const email = stringClaim(claims, "email") ?? ""
  const username = stringClaim(claims, "preferred_username") ?? (email !== "" ? email : sub)
  return {
    provider,
    id: sub,
    username,
    email,
    name: stringClaim(claims, "name") ?? username,
    avatarUrl: stringClaim(claims, "picture")
  }
}

/** An access token's scopes from its claims: `scope` (space-separated, RFC 9068) or `scp` (a list or a string). */
export const scopesOfClaims = (claims: Readonly<Record<string, unknown>>): ReadonlyArray<string> => {
  const value = claims["scope"] ?? claims["scp"]
  if (typeof value === "string") return value.split(/\s+/).filter((s) => s !== "")
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === "string" && s !== "")
  return []
}

/** Three base64url parts separated by dots: a JWS compact serialization (a JWT), as far as its shape goes. */
export const looksLikeJwt = (token: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)

/** Signature algorithms accepted for ID tokens and access tokens: asymmetric ones only. */
export const ASYMMETRIC_ALGORITHMS: ReadonlyArray<string> = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519"
]

/** The algorithms to accept from a provider that advertises `advertised` (default RS256, the OIDC default). */
export const acceptedAlgorithms = (advertised: ReadonlyArray<string> | undefined): ReadonlyArray<string> => {
  const offered = advertised === undefined || advertised.length === 0 ? ["RS256"] : advertised
  return offered.filter((alg) => ASYMMETRIC_ALGORITHMS.includes(alg))
}
