/**
 * Records of the OAuth store as SQLite rows, and back. Pure functions over a `SecretBox`: the
 * SQLite layers and the benchmark's bulk loader share them, so the on-disk format lives here.
 *
 * - Encoding seals the secret fields (bound to table, field and row id) and computes the row MAC
 *   over every immutable column (mutable flags such as `used`, `revoked`, `live_until` are not
 *   covered).
 * - Decoding returns `undefined` for a row that is not exactly what this key wrote: another key
 *   id, a MAC or seal that does not verify, malformed JSON. Callers treat it as absent (and end
 *   the session it belongs to); decoding never throws.
 */
import { Redacted } from "effect"
import type { UpstreamProviderName, UpstreamTokens, UserProfile } from "../../../domain/oauth/Identity.js"
import type {
  AccessTokenRecord,
  AuthRequestRecord,
  CodeRecord,
  GrantRecord,
  OAuthClient,
  RefreshTokenRecord
} from "../../../domain/oauth/Records.js"
import type { MacPart, SecretBox } from "./SecretBox.js"

// ---------------------------------------------------------------------------------------------
// JSON columns

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

const isStringArray = (v: unknown): v is ReadonlyArray<string> => Array.isArray(v) && v.every((x) => typeof x === "string")

const strings = (text: string): ReadonlyArray<string> | undefined => {
  const v = parse(text)
  return isStringArray(v) ? v : undefined
}

const stringRecord = (text: string): Readonly<Record<string, string>> | undefined => {
  const v = parse(text)
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") return undefined
    out[k] = x
  }
  return out
}

const PROVIDERS: ReadonlyArray<UpstreamProviderName> = ["github", "atlassian", "salesforce", "test"]

const userProfile = (text: string): UserProfile | undefined => {
  const v = parse(text)
  if (typeof v !== "object" || v === null) return undefined
  const o = v as Record<string, unknown>
  const str = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : undefined)
  const provider = PROVIDERS.find((p) => p === o["provider"])
  const id = str("id")
  const username = str("username")
  const email = str("email")
  const name = str("name")
  if (provider === undefined || id === undefined || username === undefined || email === undefined || name === undefined) {
    return undefined
  }
  const avatarUrl = str("avatarUrl")
  return { provider, id, username, email, name, ...(avatarUrl === undefined ? {} : { avatarUrl }) }
}

const json = (v: unknown): string => JSON.stringify(v)

/** Additional authenticated data of a sealed field: where it lives. */
const aad = (table: string, field: string, rowId: string): string => `${table}\u0000${field}\u0000${rowId}`

/** Open an optional sealed column: `null` stays undefined; a failed open is `false`. */
const openOptional = (box: SecretBox, sealed: Uint8Array | null, where: string): string | undefined | false =>
  sealed === null ? undefined : (box.open(sealed, where) ?? false)

// ---------------------------------------------------------------------------------------------
// auth_requests

export interface AuthRequestRow {
  readonly id: string
  readonly client_id: string
  readonly redirect_uri: string
  readonly client_state_sealed: Uint8Array | null
  readonly code_challenge: string
  readonly scopes: string
  readonly resource: string | null
  readonly csrf_hash: string
  readonly binding_hash: string
  readonly status: string
  readonly upstream_state_hash: string | null
  readonly upstream_verifier_sealed: Uint8Array | null
  readonly created_at: number
  readonly expires_at: number
  readonly key_id: string
  readonly mac: Uint8Array
}

const authRequestParts = (r: Omit<AuthRequestRow, "mac">): ReadonlyArray<MacPart> => [
  r.id,
  r.client_id,
  r.redirect_uri,
  r.client_state_sealed,
  r.code_challenge,
  r.scopes,
  r.resource,
  r.csrf_hash,
  r.binding_hash,
  r.status,
  r.upstream_state_hash,
  r.upstream_verifier_sealed,
  r.created_at,
  r.expires_at,
  r.key_id
]

export const encodeAuthRequest = (box: SecretBox, rec: AuthRequestRecord): AuthRequestRow => {
  const row: Omit<AuthRequestRow, "mac"> = {
    id: rec.id,
    client_id: rec.clientId,
    redirect_uri: rec.redirectUri,
    client_state_sealed:
      rec.clientState === undefined ? null : box.seal(rec.clientState, aad("auth_requests", "client_state", rec.id)),
    code_challenge: rec.codeChallenge,
    scopes: json(rec.scopes),
    resource: rec.resource ?? null,
    csrf_hash: rec.csrfHash,
    binding_hash: rec.bindingHash,
    status: rec.status,
    upstream_state_hash: rec.upstreamStateHash ?? null,
    upstream_verifier_sealed:
      rec.upstreamVerifier === undefined
        ? null
        : box.seal(rec.upstreamVerifier, aad("auth_requests", "upstream_verifier", rec.id)),
    created_at: rec.createdAt,
    expires_at: rec.expiresAt,
    key_id: box.keyId
  }
  return { ...row, mac: box.mac("auth_requests", authRequestParts(row)) }
}

export const decodeAuthRequest = (box: SecretBox, row: AuthRequestRow): AuthRequestRecord | undefined => {
  if (row.key_id !== box.keyId || !box.verify("auth_requests", authRequestParts(row), row.mac)) return undefined
  const clientState = openOptional(box, row.client_state_sealed, aad("auth_requests", "client_state", row.id))
  const verifier = openOptional(box, row.upstream_verifier_sealed, aad("auth_requests", "upstream_verifier", row.id))
  const scopes = strings(row.scopes)
  if (clientState === false || verifier === false || scopes === undefined) return undefined
  if (row.status !== "consent" && row.status !== "upstream") return undefined
  return {
    id: row.id,
    clientId: row.client_id,
    redirectUri: row.redirect_uri,
    clientState,
    codeChallenge: row.code_challenge,
    scopes,
    resource: row.resource ?? undefined,
    csrfHash: row.csrf_hash,
    bindingHash: row.binding_hash,
    status: row.status,
    upstreamStateHash: row.upstream_state_hash ?? undefined,
    upstreamVerifier: verifier,
    createdAt: row.created_at,
    expiresAt: row.expires_at
  }
}

// ---------------------------------------------------------------------------------------------
// grants

export interface GrantRow {
  readonly id: string
  readonly client_id: string
  readonly user_provider: string
  readonly user_id: string
  readonly user_profile: string
  readonly upstream_access_sealed: Uint8Array
  readonly upstream_refresh_sealed: Uint8Array | null
  readonly upstream_expires_at: number | null
  readonly upstream_scopes: string
  readonly upstream_extra: string
  readonly scopes: string
  readonly resource: string | null
  readonly created_at: number
  readonly key_id: string
  readonly mac: Uint8Array
}

/** A stored grant with its mutable flag. */
export interface StoredGrantRow extends GrantRow {
  readonly revoked: number
}

const grantParts = (r: Omit<GrantRow, "mac">): ReadonlyArray<MacPart> => [
  r.id,
  r.client_id,
  r.user_provider,
  r.user_id,
  r.user_profile,
  r.upstream_access_sealed,
  r.upstream_refresh_sealed,
  r.upstream_expires_at,
  r.upstream_scopes,
  r.upstream_extra,
  r.scopes,
  r.resource,
  r.created_at,
  r.key_id
]

/** The upstream columns of a grant (sealed tokens, plain scopes and extra values). */
export const encodeUpstream = (box: SecretBox, grantId: string, upstream: UpstreamTokens) => ({
  upstream_access_sealed: box.seal(Redacted.value(upstream.accessToken), aad("grants", "upstream_access", grantId)),
  upstream_refresh_sealed:
    upstream.refreshToken === undefined
      ? null
      : box.seal(Redacted.value(upstream.refreshToken), aad("grants", "upstream_refresh", grantId)),
  upstream_expires_at: upstream.expiresAt ?? null,
  upstream_scopes: json(upstream.scopes),
  upstream_extra: json(upstream.extra)
})

/** The grant row for `grant` (its `revoked` flag is stored separately). */
export const encodeGrant = (box: SecretBox, grant: GrantRecord): GrantRow => {
  const row: Omit<GrantRow, "mac"> = {
    id: grant.id,
    client_id: grant.clientId,
    user_provider: grant.user.provider,
    user_id: grant.user.id,
    user_profile: json(grant.user),
    ...encodeUpstream(box, grant.id, grant.upstream),
    scopes: json(grant.scopes),
    resource: grant.resource ?? null,
    created_at: grant.createdAt,
    key_id: box.keyId
  }
  return { ...row, mac: box.mac("grants", grantParts(row)) }
}

/** `row` with new upstream columns and a fresh MAC. */
export const withUpstream = (box: SecretBox, row: GrantRow, upstream: UpstreamTokens): GrantRow => {
  const next: Omit<GrantRow, "mac"> = { ...row, ...encodeUpstream(box, row.id, upstream), key_id: box.keyId }
  return { ...next, mac: box.mac("grants", grantParts(next)) }
}

/** The row verifies under this key (MAC and key id). */
export const grantRowVerifies = (box: SecretBox, row: GrantRow): boolean =>
  row.key_id === box.keyId && box.verify("grants", grantParts(row), row.mac)

export const decodeGrant = (box: SecretBox, row: StoredGrantRow): GrantRecord | undefined => {
  if (!grantRowVerifies(box, row)) return undefined
  const access = box.open(row.upstream_access_sealed, aad("grants", "upstream_access", row.id))
  const refresh = openOptional(box, row.upstream_refresh_sealed, aad("grants", "upstream_refresh", row.id))
  const user = userProfile(row.user_profile)
  const upstreamScopes = strings(row.upstream_scopes)
  const extra = stringRecord(row.upstream_extra)
  const scopes = strings(row.scopes)
  if (
    access === undefined || refresh === false || user === undefined || upstreamScopes === undefined ||
    extra === undefined || scopes === undefined || user.provider !== row.user_provider || user.id !== row.user_id
  ) {
    return undefined
  }
  const upstream: UpstreamTokens = {
    accessToken: Redacted.make(access),
    ...(refresh === undefined ? {} : { refreshToken: Redacted.make(refresh) }),
    ...(row.upstream_expires_at === null ? {} : { expiresAt: row.upstream_expires_at }),
    scopes: upstreamScopes,
    extra
  }
  return {
    id: row.id,
    clientId: row.client_id,
    user,
    upstream,
    scopes,
    resource: row.resource ?? undefined,
    createdAt: row.created_at,
    revoked: row.revoked !== 0
  }
}

// ---------------------------------------------------------------------------------------------
// codes

export interface CodeRow {
  readonly code_hash: string
  readonly grant_id: string
  readonly client_id: string
  readonly redirect_uri: string
  readonly code_challenge: string
  readonly scopes: string
  readonly resource: string | null
  readonly expires_at: number
  readonly key_id: string
  readonly mac: Uint8Array
}

export interface StoredCodeRow extends CodeRow {
  readonly used: number
}

const codeParts = (r: Omit<CodeRow, "mac">): ReadonlyArray<MacPart> => [
  r.code_hash,
  r.grant_id,
  r.client_id,
  r.redirect_uri,
  r.code_challenge,
  r.scopes,
  r.resource,
  r.expires_at,
  r.key_id
]

export const encodeCode = (box: SecretBox, rec: CodeRecord): CodeRow => {
  const row: Omit<CodeRow, "mac"> = {
    code_hash: rec.codeHash,
    grant_id: rec.grantId,
    client_id: rec.clientId,
    redirect_uri: rec.redirectUri,
    code_challenge: rec.codeChallenge,
    scopes: json(rec.scopes),
    resource: rec.resource ?? null,
    expires_at: rec.expiresAt,
    key_id: box.keyId
  }
  return { ...row, mac: box.mac("codes", codeParts(row)) }
}

export const codeRowVerifies = (box: SecretBox, row: CodeRow): boolean =>
  row.key_id === box.keyId && box.verify("codes", codeParts(row), row.mac)

export const decodeCode = (box: SecretBox, row: CodeRow): CodeRecord | undefined => {
  if (!codeRowVerifies(box, row)) return undefined
  const scopes = strings(row.scopes)
  if (scopes === undefined) return undefined
  return {
    codeHash: row.code_hash,
    grantId: row.grant_id,
    clientId: row.client_id,
    redirectUri: row.redirect_uri,
    codeChallenge: row.code_challenge,
    scopes,
    resource: row.resource ?? undefined,
    expiresAt: row.expires_at
  }
}

// ---------------------------------------------------------------------------------------------
// access_tokens

export interface AccessTokenRow {
  readonly token_hash: string
  readonly grant_id: string
  readonly client_id: string
  readonly scopes: string
  readonly resource: string | null
  readonly expires_at: number
  readonly key_id: string
  readonly mac: Uint8Array
}

const accessTokenParts = (r: Omit<AccessTokenRow, "mac">): ReadonlyArray<MacPart> => [
  r.token_hash,
  r.grant_id,
  r.client_id,
  r.scopes,
  r.resource,
  r.expires_at,
  r.key_id
]

export const encodeAccessToken = (box: SecretBox, rec: AccessTokenRecord): AccessTokenRow => {
  const row: Omit<AccessTokenRow, "mac"> = {
    token_hash: rec.tokenHash,
    grant_id: rec.grantId,
    client_id: rec.clientId,
    scopes: json(rec.scopes),
    resource: rec.resource ?? null,
    expires_at: rec.expiresAt,
    key_id: box.keyId
  }
  return { ...row, mac: box.mac("access_tokens", accessTokenParts(row)) }
}

export const decodeAccessToken = (box: SecretBox, row: AccessTokenRow): AccessTokenRecord | undefined => {
  if (row.key_id !== box.keyId || !box.verify("access_tokens", accessTokenParts(row), row.mac)) return undefined
  const scopes = strings(row.scopes)
  if (scopes === undefined) return undefined
  return {
    tokenHash: row.token_hash,
    grantId: row.grant_id,
    clientId: row.client_id,
    scopes,
    resource: row.resource ?? undefined,
    expiresAt: row.expires_at
  }
}

// ---------------------------------------------------------------------------------------------
// refresh_tokens

export interface RefreshTokenRow {
  readonly token_hash: string
  readonly grant_id: string
  readonly client_id: string
  readonly scopes: string
  readonly expires_at: number
  readonly key_id: string
  readonly mac: Uint8Array
}

export interface StoredRefreshTokenRow extends RefreshTokenRow {
  readonly retired: number
  /** When it was rotated (migration 2); null while live, and for tokens rotated before. */
  readonly retired_at?: number | null
}

const refreshTokenParts = (r: Omit<RefreshTokenRow, "mac">): ReadonlyArray<MacPart> => [
  r.token_hash,
  r.grant_id,
  r.client_id,
  r.scopes,
  r.expires_at,
  r.key_id
]

export const encodeRefreshToken = (box: SecretBox, rec: RefreshTokenRecord): RefreshTokenRow => {
  const row: Omit<RefreshTokenRow, "mac"> = {
    token_hash: rec.tokenHash,
    grant_id: rec.grantId,
    client_id: rec.clientId,
    scopes: json(rec.scopes),
    expires_at: rec.expiresAt,
    key_id: box.keyId
  }
  return { ...row, mac: box.mac("refresh_tokens", refreshTokenParts(row)) }
}

export const refreshTokenRowVerifies = (box: SecretBox, row: RefreshTokenRow): boolean =>
  row.key_id === box.keyId && box.verify("refresh_tokens", refreshTokenParts(row), row.mac)

export const decodeRefreshToken = (box: SecretBox, row: RefreshTokenRow): RefreshTokenRecord | undefined => {
  if (!refreshTokenRowVerifies(box, row)) return undefined
  const scopes = strings(row.scopes)
  if (scopes === undefined) return undefined
  return {
    tokenHash: row.token_hash,
    grantId: row.grant_id,
    clientId: row.client_id,
    scopes,
    expiresAt: row.expires_at
  }
}

// ---------------------------------------------------------------------------------------------
// dynamic_clients

export interface ClientRow {
  readonly client_id: string
  readonly name: string
  readonly secret_hash: string | null
  readonly redirect_uris: string
  readonly grant_types: string
  readonly scopes: string
  readonly auth_methods: string
  readonly client_uri: string | null
  readonly logo_uri: string | null
  readonly created_at: number
  readonly key_id: string
  readonly mac: Uint8Array
}

const clientParts = (r: Omit<ClientRow, "mac">): ReadonlyArray<MacPart> => [
  r.client_id,
  r.name,
  r.secret_hash,
  r.redirect_uris,
  r.grant_types,
  r.scopes,
  r.auth_methods,
  r.client_uri,
  r.logo_uri,
  r.created_at,
  r.key_id
]

export const encodeClient = (box: SecretBox, client: OAuthClient): ClientRow => {
  const row: Omit<ClientRow, "mac"> = {
    client_id: client.clientId,
    name: client.name,
    secret_hash: client.secretHash === undefined ? null : client.secretHash,
    redirect_uris: json(client.redirectUris),
    grant_types: json(client.grantTypes),
    scopes: json(client.scopes),
    auth_methods: json(client.authMethods),
    client_uri: client.clientUri ?? null,
    logo_uri: client.logoUri ?? null,
    created_at: client.createdAt,
    key_id: box.keyId
  }
  return { ...row, mac: box.mac("dynamic_clients", clientParts(row)) }
}

const GRANT_TYPES = ["authorization_code", "refresh_token"] as const
const AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"] as const

const subsetOf = <A extends string>(allowed: ReadonlyArray<A>, text: string): ReadonlyArray<A> | undefined => {
  const v = strings(text)
  return v !== undefined && v.every((x) => (allowed as ReadonlyArray<string>).includes(x)) ? (v as ReadonlyArray<A>) : undefined
}

export const decodeClient = (box: SecretBox, row: ClientRow): OAuthClient | undefined => {
  if (row.key_id !== box.keyId || !box.verify("dynamic_clients", clientParts(row), row.mac)) return undefined
  const redirectUris = strings(row.redirect_uris)
  const grantTypes = subsetOf(GRANT_TYPES, row.grant_types)
  const scopes = strings(row.scopes)
  const authMethods = subsetOf(AUTH_METHODS, row.auth_methods)
  if (redirectUris === undefined || grantTypes === undefined || scopes === undefined || authMethods === undefined) {
    return undefined
  }
  return {
    clientId: row.client_id,
    name: row.name,
    secretHash: row.secret_hash ?? undefined,
    redirectUris,
    grantTypes,
    scopes,
    authMethods,
    source: "dynamic",
    ...(row.client_uri === null ? {} : { clientUri: row.client_uri }),
    ...(row.logo_uri === null ? {} : { logoUri: row.logo_uri }),
    createdAt: row.created_at
  }
}
