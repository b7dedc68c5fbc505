import type { UpstreamTokens, UserProfile } from "./Identity.js"

/**
 * What the token store keeps. Every token, code, state and CSRF value is stored only as its
 * SHA-256 hex hash (`...Hash` fields) and looked up by that hash; the plaintext exists only in
 * the response that hands it out. Times are epoch millis from `Clock`.
 */

/** An /authorize request that passed validation, waiting for consent and then the upstream login. */
export interface AuthRequestRecord {
  readonly id: string
  readonly clientId: string
  readonly redirectUri: string
  /** The client's own `state`, echoed back verbatim. */
  readonly clientState: string | undefined
  readonly codeChallenge: string
  readonly scopes: ReadonlyArray<string>
  readonly resource: string | undefined
  /** Hash of the CSRF token embedded in the consent form. */
  readonly csrfHash: string
  /** Hash of the browser-binding cookie value set with the consent page (or at the redirect). */
  readonly bindingHash: string
  /** `consent`: waiting for the user's decision; `upstream`: sent to the provider. */
  readonly status: "consent" | "upstream"
  /** Hash of the single-use `state` we sent upstream (set when status becomes `upstream`). */
  readonly upstreamStateHash: string | undefined
  /** PKCE verifier for the upstream leg (secret: the SQLite store encrypts it). */
  readonly upstreamVerifier: string | undefined
  readonly createdAt: number
  readonly expiresAt: number
}

/** One login: a user, their upstream tokens, and what the client was granted. */
export interface GrantRecord {
  readonly id: string
  readonly clientId: string
  readonly user: UserProfile
  readonly upstream: UpstreamTokens
  readonly scopes: ReadonlyArray<string>
  readonly resource: string | undefined
  readonly createdAt: number
  readonly revoked: boolean
}

/** An authorization code: single use, short-lived, bound to client, redirect URI, PKCE and resource. */
export interface CodeRecord {
  readonly codeHash: string
  readonly grantId: string
  readonly clientId: string
  readonly redirectUri: string
  readonly codeChallenge: string
  readonly scopes: ReadonlyArray<string>
  readonly resource: string | undefined
  readonly expiresAt: number
}

export interface AccessTokenRecord {
  readonly tokenHash: string
  readonly grantId: string
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  readonly resource: string | undefined
  readonly expiresAt: number
}

export interface RefreshTokenRecord {
  readonly tokenHash: string
  readonly grantId: string
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: number
}

/** A client: from config (never stored) or registered through /register (stored). */
export interface OAuthClient {
  readonly clientId: string
  readonly name: string
  /** SHA-256 hex of the secret; undefined for public clients. */
  readonly secretHash: string | undefined
  readonly redirectUris: ReadonlyArray<string>
  readonly grantTypes: ReadonlyArray<"authorization_code" | "refresh_token">
  /** Scopes this client may be granted. */
  readonly scopes: ReadonlyArray<string>
  /** Accepted client authentication methods at /token and /revoke. */
  readonly authMethods: ReadonlyArray<"none" | "client_secret_post" | "client_secret_basic">
  /** `metadata`: a Client ID Metadata Document client (its id is the document's https URL; never stored). */
  readonly source: "config" | "dynamic" | "metadata"
  readonly clientUri?: string | undefined
  readonly logoUri?: string | undefined
  readonly createdAt: number
}

/** Outcome of atomically redeeming a code or rotating a refresh token. */
export type RedeemResult<A> =
  | { readonly _tag: "Redeemed"; readonly record: A }
  /** It existed but was already used: the caller must revoke the grant (replay). */
  | { readonly _tag: "AlreadyUsed"; readonly grantId: string; readonly clientId: string }
  | { readonly _tag: "NotFound" }

/**
 * Outcome of rotating a refresh token (`TokenStore.rotateRefreshToken`): as `RedeemResult`, plus
 * `Replayed`, a retry of a rotation that already happened (the client never saw its answer).
 */
export type RotateResult =
  | RedeemResult<RefreshTokenRecord>
  | {
    readonly _tag: "Replayed"
    /** The retired token that was presented again. */
    readonly record: RefreshTokenRecord
    /** Its successor, still live and unused: what the first rotation handed out. */
    readonly successor: RefreshTokenRecord
    /** The access token the first rotation handed out, when it is still valid. */
    readonly access: AccessTokenRecord | undefined
  }
