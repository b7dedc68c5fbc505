/**
 * Records of the OAuth store as SQLite rows, and back. Pure functions over a `SecretBox`: the
 * SQLite layers and the benchmark's bulk loader share them, so the on-disk format lives here.
 *
 * Every table is one `sealedTable`: its name, its immutable columns in the order the row MAC
 * covers them (`key_id` last), and how a record becomes a row and back.
 * - Encoding seals the secret fields (bound to table, field and row id) and computes the row MAC
 *   over every immutable column (mutable flags such as `used`, `revoked`, `live_until` are not
 *   covered).
 * - Decoding returns `undefined` for a row that is not exactly what this key wrote: another key
 *   id, a MAC or seal that does not verify, a JSON column that does not decode. Callers treat it
 *   as absent (and end the session it belongs to); decoding never throws.
 *
 * One concept: the on-disk rows of the OAuth store, one `sealedTable` per table.
 */
import { Option, Redacted, Schema } from "effect"
import type { UpstreamTokens } from "../../../domain/oauth/Identity.js"
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

/** A JSON column's decoder: the value, or undefined when the text is not JSON of that shape. */
const jsonColumn = <A>(schema: Schema.Schema<A>) => {
  const decode = Schema.decodeOption(Schema.parseJson(schema))
  return (text: string): A | undefined => Option.getOrUndefined(decode(text))
}

const strings = jsonColumn(Schema.Array(Schema.String))
const stringRecord = jsonColumn(Schema.Record({ key: Schema.String, value: Schema.String }))
const userProfile = jsonColumn(Schema.Struct({
  /** `github`, `atlassian`, `salesforce`, `google`, `keycloak`, an OIDC `provider_name`, `test`. */
  provider: Schema.NonEmptyString,
  id: Schema.String,
  username: Schema.String,
  email: Schema.String,
  name: Schema.String,
  avatarUrl: Schema.optional(Schema.String),
  capabilities: Schema.optional(Schema.Array(Schema.String))
}))
const grantTypes = jsonColumn(Schema.Array(Schema.Literal("authorization_code", "refresh_token")))
const authMethods = jsonColumn(Schema.Array(Schema.Literal("none", "client_secret_post", "client_secret_basic")))

const json = (v: unknown): string => JSON.stringify(v)

// ---------------------------------------------------------------------------------------------
// The sealed-row helper

interface SignedRow {
  readonly key_id: string
  readonly mac: Uint8Array
}

/** What a table's `toRow` and `fromRow` get: sealing and opening bound to the table and the row. */
export interface Seals {
  /** Encrypt one field's value (AAD: table, field, row id). */
  readonly seal: (field: string, plaintext: string) => Buffer
  /** Open a sealed field; undefined when it does not open. */
  readonly open: (field: string, sealed: Uint8Array) => string | undefined
  /** Open an optional sealed column: `null` stays undefined; a failed open is `false`. */
  readonly openOptional: (field: string, sealed: Uint8Array | null) => string | undefined | false
}

export interface SealedTable<Rec, Row extends SignedRow, Stored extends Row = Row> {
  readonly table: string
  /** The columns the row MAC covers, in its order (`key_id` last). */
  readonly columns: ReadonlyArray<Exclude<keyof Row, "mac">>
  /** The row for `rec`, sealed and signed under `box`. */
  readonly encode: (box: SecretBox, rec: Rec) => Row
  /** `row` signed afresh under `box` (after changing some of its columns). */
  readonly sign: (box: SecretBox, row: Omit<Row, "mac" | "key_id">) => Row
  /** The row verifies under this key (MAC and key id). */
  readonly verifies: (box: SecretBox, row: Row) => boolean
  /** Sealing and opening for the row with id `rowId`. */
  readonly seals: (box: SecretBox, rowId: string) => Seals
  /** The record, or undefined when the row does not verify or does not decode. */
  readonly decode: (box: SecretBox, row: Stored) => Rec | undefined
}

const sealedTable = <Rec, Row extends SignedRow, Stored extends Row = Row>(spec: {
  readonly table: string
  /** The immutable columns, in the order the MAC covers them (`key_id` last). */
  readonly columns: ReadonlyArray<Exclude<keyof Row, "mac">>
  readonly idOf: (rec: Rec) => string
  readonly rowIdOf: (row: Row) => string
  readonly toRow: (rec: Rec, seals: Seals) => Omit<Row, "mac" | "key_id">
  readonly fromRow: (row: Stored, seals: Seals) => Rec | undefined
}): SealedTable<Rec, Row, Stored> => {
  const { table, columns } = spec
  const parts = (row: Omit<Row, "mac">): ReadonlyArray<MacPart> =>
    columns.map((column) => (row as Record<PropertyKey, unknown>)[column] as MacPart)
  const seals = (box: SecretBox, rowId: string): Seals => {
    const aad = (field: string) => `${table}\u0000${field}\u0000${rowId}`
    return {
      seal: (field, plaintext) => box.seal(plaintext, aad(field)),
      open: (field, sealed) => box.open(sealed, aad(field)),
      openOptional: (field, sealed) => (sealed === null ? undefined : (box.open(sealed, aad(field)) ?? false))
    }
  }
  const sign = (box: SecretBox, unsigned: Omit<Row, "mac" | "key_id">): Row => {
    const row = { ...unsigned, key_id: box.keyId } as Omit<Row, "mac">
    return { ...row, mac: box.mac(table, parts(row)) } as unknown as Row
  }
  const verifies = (box: SecretBox, row: Row): boolean => row.key_id === box.keyId && box.verify(table, parts(row), row.mac)
  return {
    table,
    columns,
    encode: (box, rec) => sign(box, spec.toRow(rec, seals(box, spec.idOf(rec)))),
    sign,
    verifies,
    seals,
    decode: (box, row) => (verifies(box, row) ? spec.fromRow(row, seals(box, spec.rowIdOf(row))) : undefined)
  }
}

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

export const AuthRequestRows = sealedTable<AuthRequestRecord, AuthRequestRow>({
  table: "auth_requests",
  columns: [
    "id",
    "client_id",
    "redirect_uri",
    "client_state_sealed",
    "code_challenge",
    "scopes",
    "resource",
    "csrf_hash",
    "binding_hash",
    "status",
    "upstream_state_hash",
    "upstream_verifier_sealed",
    "created_at",
    "expires_at",
    "key_id"
  ],
  idOf: (rec) => rec.id,
  rowIdOf: (row) => row.id,
  toRow: (rec, { seal }) => ({
    id: rec.id,
    client_id: rec.clientId,
    redirect_uri: rec.redirectUri,
    client_state_sealed: rec.clientState === undefined ? null : seal("client_state", rec.clientState),
    code_challenge: rec.codeChallenge,
    scopes: json(rec.scopes),
    resource: rec.resource ?? null,
    csrf_hash: rec.csrfHash,
    binding_hash: rec.bindingHash,
    status: rec.status,
    upstream_state_hash: rec.upstreamStateHash ?? null,
    upstream_verifier_sealed: rec.upstreamVerifier === undefined ? null : seal("upstream_verifier", rec.upstreamVerifier),
    created_at: rec.createdAt,
    expires_at: rec.expiresAt
  }),
  fromRow: (row, { openOptional }) => {
    const clientState = openOptional("client_state", row.client_state_sealed)
    const verifier = openOptional("upstream_verifier", row.upstream_verifier_sealed)
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
})

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

/** The upstream columns of a grant (sealed tokens, plain scopes and extra values). */
const upstreamColumns = (upstream: UpstreamTokens, seal: Seals["seal"]) => ({
  upstream_access_sealed: seal("upstream_access", Redacted.value(upstream.accessToken)),
  upstream_refresh_sealed: upstream.refreshToken === undefined ? null : seal("upstream_refresh", Redacted.value(upstream.refreshToken)),
  upstream_expires_at: upstream.expiresAt ?? null,
  upstream_scopes: json(upstream.scopes),
  upstream_extra: json(upstream.extra)
})

/** The grant row for a record (its `revoked` flag is stored separately). */
export const GrantRows = sealedTable<GrantRecord, GrantRow, StoredGrantRow>({
  table: "grants",
  columns: [
    "id",
    "client_id",
    "user_provider",
    "user_id",
    "user_profile",
    "upstream_access_sealed",
    "upstream_refresh_sealed",
    "upstream_expires_at",
    "upstream_scopes",
    "upstream_extra",
    "scopes",
    "resource",
    "created_at",
    "key_id"
  ],
  idOf: (grant) => grant.id,
  rowIdOf: (row) => row.id,
  toRow: (grant, { seal }) => ({
    id: grant.id,
    client_id: grant.clientId,
    user_provider: grant.user.provider,
    user_id: grant.user.id,
    user_profile: json(grant.user),
    ...upstreamColumns(grant.upstream, seal),
    scopes: json(grant.scopes),
    resource: grant.resource ?? null,
    created_at: grant.createdAt
  }),
  fromRow: (row, { open, openOptional }) => {
    const access = open("upstream_access", row.upstream_access_sealed)
    const refresh = openOptional("upstream_refresh", row.upstream_refresh_sealed)
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
})

/** `row` with new upstream columns, signed afresh. */
export const withUpstream = (box: SecretBox, row: GrantRow, upstream: UpstreamTokens): GrantRow =>
  GrantRows.sign(box, { ...row, ...upstreamColumns(upstream, GrantRows.seals(box, row.id).seal) })

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

export const CodeRows = sealedTable<CodeRecord, CodeRow>({
  table: "codes",
  columns: ["code_hash", "grant_id", "client_id", "redirect_uri", "code_challenge", "scopes", "resource", "expires_at", "key_id"],
  idOf: (rec) => rec.codeHash,
  rowIdOf: (row) => row.code_hash,
  toRow: (rec) => ({
    code_hash: rec.codeHash,
    grant_id: rec.grantId,
    client_id: rec.clientId,
    redirect_uri: rec.redirectUri,
    code_challenge: rec.codeChallenge,
    scopes: json(rec.scopes),
    resource: rec.resource ?? null,
    expires_at: rec.expiresAt
  }),
  fromRow: (row) => {
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
})

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

export const AccessTokenRows = sealedTable<AccessTokenRecord, AccessTokenRow>({
  table: "access_tokens",
  columns: ["token_hash", "grant_id", "client_id", "scopes", "resource", "expires_at", "key_id"],
  idOf: (rec) => rec.tokenHash,
  rowIdOf: (row) => row.token_hash,
  toRow: (rec) => ({
    token_hash: rec.tokenHash,
    grant_id: rec.grantId,
    client_id: rec.clientId,
    scopes: json(rec.scopes),
    resource: rec.resource ?? null,
    expires_at: rec.expiresAt
  }),
  fromRow: (row) => {
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
})

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

export const RefreshTokenRows = sealedTable<RefreshTokenRecord, RefreshTokenRow>({
  table: "refresh_tokens",
  columns: ["token_hash", "grant_id", "client_id", "scopes", "expires_at", "key_id"],
  idOf: (rec) => rec.tokenHash,
  rowIdOf: (row) => row.token_hash,
  toRow: (rec) => ({
    token_hash: rec.tokenHash,
    grant_id: rec.grantId,
    client_id: rec.clientId,
    scopes: json(rec.scopes),
    expires_at: rec.expiresAt
  }),
  fromRow: (row) => {
    const scopes = strings(row.scopes)
    if (scopes === undefined) return undefined
    return { tokenHash: row.token_hash, grantId: row.grant_id, clientId: row.client_id, scopes, expiresAt: row.expires_at }
  }
})

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

export const ClientRows = sealedTable<OAuthClient, ClientRow>({
  table: "dynamic_clients",
  columns: [
    "client_id",
    "name",
    "secret_hash",
    "redirect_uris",
    "grant_types",
    "scopes",
    "auth_methods",
    "client_uri",
    "logo_uri",
    "created_at",
    "key_id"
  ],
  idOf: (client) => client.clientId,
  rowIdOf: (row) => row.client_id,
  toRow: (client) => ({
    client_id: client.clientId,
    name: client.name,
    secret_hash: client.secretHash === undefined ? null : client.secretHash,
    redirect_uris: json(client.redirectUris),
    grant_types: json(client.grantTypes),
    scopes: json(client.scopes),
    auth_methods: json(client.authMethods),
    client_uri: client.clientUri ?? null,
    logo_uri: client.logoUri ?? null,
    created_at: client.createdAt
  }),
  fromRow: (row) => {
    const redirectUris = strings(row.redirect_uris)
    const grants = grantTypes(row.grant_types)
    const scopes = strings(row.scopes)
    const methods = authMethods(row.auth_methods)
    if (redirectUris === undefined || grants === undefined || scopes === undefined || methods === undefined) return undefined
    return {
      clientId: row.client_id,
      name: row.name,
      secretHash: row.secret_hash ?? undefined,
      redirectUris,
      grantTypes: grants,
      scopes,
      authMethods: methods,
      source: "dynamic",
      ...(row.client_uri === null ? {} : { clientUri: row.client_uri }),
      ...(row.logo_uri === null ? {} : { logoUri: row.logo_uri }),
      createdAt: row.created_at
    }
  }
})
