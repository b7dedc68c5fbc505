/**
 * The SQL text of the SQL token store (`SqlTokenStore.ts`), for each dialect: column lists
 * (constants, the order of the row MAC's columns plus `mac`) and the statements built from them.
 * Every value is a bound parameter. The statements are written once, with `?` placeholders, and
 * `statementsFor` renders them for SQLite (as written) or PostgreSQL (`$1, $2, ...`). The one
 * construct the two dialects spell differently is "insert or replace a row issued under a grant,
 * unless that grant is revoked" (`insertUnlessRevoked`).
 */
import {
  AccessTokenRows,
  AuthRequestRows,
  CodeRows,
  GrantRows,
  RefreshTokenRows,
  type AccessTokenRow,
  type StoredGrantRow
} from "./SealedRows.js"

/** The SQL dialects the OAuth store speaks. */
export type SqlDialect = "sqlite" | "postgres"

/** The stored columns of each table: the row MAC's columns (`SealedRows.ts`), `mac`, and mutable flags. */
export const AUTH_REQUEST_COLUMNS = [...AuthRequestRows.columns, "mac"] as const
export const GRANT_COLUMNS = [...GrantRows.columns, "mac", "revoked"] as const
export const CODE_COLUMNS = [...CodeRows.columns, "mac"] as const
export const ACCESS_COLUMNS = [...AccessTokenRows.columns, "mac"] as const
export const REFRESH_COLUMNS = [...RefreshTokenRows.columns, "mac"] as const

export const UPSTREAM_COLUMNS = [
  "upstream_access_sealed",
  "upstream_refresh_sealed",
  "upstream_expires_at",
  "upstream_scopes",
  "upstream_extra",
  "key_id",
  "mac"
] as const

export const placeholders = (n: number): string => Array.from({ length: n }, () => "?").join(", ")
export const excluded = (columns: ReadonlyArray<string>): string => columns.map((c) => `${c} = excluded.${c}`).join(", ")
export const assignments = (columns: ReadonlyArray<string>): string => columns.map((c) => `${c} = ?`).join(", ")

/** Values of `row` in `columns` order. */
export const valuesOf = <K extends string>(row: { readonly [P in K]: unknown }, columns: ReadonlyArray<K>): Array<unknown> =>
  columns.map((c) => row[c])

/**
 * `text` with its `?` placeholders numbered for PostgreSQL (`$1`, `$2`, ...). The statements here
 * hold no `?` anywhere else (no string literals, no JSON operators).
 */
export const numbered = (text: string): string => {
  let n = 0
  return text.replace(/\?/g, () => `$${++n}`)
}

/** An access token with its grant's columns (prefixed `g_`; all null when the grant is gone). */
export type AccessWithGrantRow = AccessTokenRow & { readonly [K in `g_${(typeof GRANT_COLUMNS)[number]}`]: unknown }

/** The grant part of a joined row, if the grant exists. */
export const joinedGrant = (row: AccessWithGrantRow): StoredGrantRow | undefined =>
  row.g_id === null || row.g_id === undefined
    ? undefined
    : (Object.fromEntries(GRANT_COLUMNS.map((c) => [c, row[`g_${c}`]])) as unknown as StoredGrantRow)

/** A table issued under a grant: its key column and the mutable flags a replaced row starts over with. */
interface IssuedTable {
  readonly table: string
  readonly columns: ReadonlyArray<string>
  readonly key: string
  /** Mutable flags a replaced row starts over with (SQLite's OR REPLACE does that by itself). */
  readonly reset?: string
}

/**
 * Insert (or replace) a row issued under a grant, unless that grant is known to be revoked (the
 * grant's id is the last parameter). PostgreSQL: the grant row is locked (`FOR UPDATE`) first, so
 * a revocation committing meanwhile is waited for and seen (without it, a statement that started
 * before the revocation committed could insert a token after the revocation deleted the others);
 * an exclusive lock rather than a shared one, because the `live_until` trigger then updates that
 * row (two shared holders upgrading would deadlock). SQLite serialises writers anyway.
 */
const insertUnlessRevoked = (dialect: SqlDialect, t: IssuedTable): string =>
  dialect === "sqlite"
    ? `INSERT OR REPLACE INTO ${t.table} (${t.columns.join(", ")})
  SELECT ${placeholders(t.columns.length)}
  WHERE NOT EXISTS (SELECT 1 FROM grants WHERE id = ? AND revoked = 1)`
    : numbered(`INSERT INTO ${t.table} (${t.columns.join(", ")})
  SELECT ${placeholders(t.columns.length)}
  WHERE NOT EXISTS (SELECT 1 FROM (SELECT revoked FROM grants WHERE id = ? FOR UPDATE) g WHERE g.revoked = 1)
  ON CONFLICT (${t.key}) DO UPDATE SET ${excluded(t.columns.filter((c) => c !== t.key))}${t.reset === undefined ? "" : `, ${t.reset}`}`)

export interface TokenStoreStatements {
  readonly upsertAuthRequest: string
  readonly updateAuthRequest: string
  readonly upsertGrant: string
  readonly updateUpstream: string
  readonly selectGrant: string
  readonly selectAccessWithGrant: string
  readonly insertCode: string
  readonly insertAccess: string
  readonly insertRefresh: string
  /** Sweep statements: each deletes at most `?` (the batch size) rows and returns a row per deletion. */
  readonly sweeps: ReadonlyArray<{ readonly table: string; readonly text: string; readonly params: "now" | "grants" | "none" }>
}

const SWEEPS: TokenStoreStatements["sweeps"] = [
  {
    table: "auth_requests",
    text: "DELETE FROM auth_requests WHERE seq IN (SELECT seq FROM auth_requests WHERE expires_at <= ? LIMIT ?) RETURNING 1",
    params: "now"
  },
  {
    table: "codes",
    text: "DELETE FROM codes WHERE code_hash IN (SELECT code_hash FROM codes WHERE expires_at <= ? LIMIT ?) RETURNING 1",
    params: "now"
  },
  {
    table: "access_tokens",
    text:
      "DELETE FROM access_tokens WHERE token_hash IN (SELECT token_hash FROM access_tokens WHERE expires_at <= ? LIMIT ?) RETURNING 1",
    params: "now"
  },
  {
    table: "refresh_tokens",
    text:
      "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens WHERE expires_at <= ? LIMIT ?) RETURNING 1",
    params: "now"
  },
  {
    table: "grants",
    text: "DELETE FROM grants WHERE id IN (SELECT id FROM grants WHERE revoked = 1 LIMIT ?) RETURNING id",
    params: "none"
  },
  {
    table: "grants",
    text: `DELETE FROM grants WHERE id IN (
      SELECT g.id FROM grants g
      WHERE g.live_until <= ? AND g.created_at <= ? AND g.revoked = 0
        AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = g.id AND c.used = 0 AND c.expires_at > ?)
        AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id AND a.expires_at > ?)
        AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id AND r.retired = 0 AND r.expires_at > ?)
      LIMIT ?) RETURNING id`,
    params: "grants"
  }
]

const build = (dialect: SqlDialect): TokenStoreStatements => {
  const text = dialect === "sqlite" ? (s: string) => s : numbered
  return {
    upsertAuthRequest: text(`INSERT INTO auth_requests (${AUTH_REQUEST_COLUMNS.join(", ")})
  VALUES (${placeholders(AUTH_REQUEST_COLUMNS.length)})
  ON CONFLICT (id) DO UPDATE SET ${excluded(AUTH_REQUEST_COLUMNS.filter((c) => c !== "id"))}`),
    updateAuthRequest: text(`UPDATE auth_requests SET ${assignments(AUTH_REQUEST_COLUMNS.filter((c) => c !== "id"))}
  WHERE id = ?`),
    upsertGrant: text(`INSERT INTO grants (${GRANT_COLUMNS.join(", ")})
  VALUES (${placeholders(GRANT_COLUMNS.length)})
  ON CONFLICT (id) DO UPDATE SET ${excluded(GRANT_COLUMNS.filter((c) => c !== "id"))}`),
    updateUpstream: text(`UPDATE grants SET ${assignments(UPSTREAM_COLUMNS)} WHERE id = ? AND mac = ? RETURNING id`),
    selectGrant: text("SELECT * FROM grants WHERE id = ?"),
    selectAccessWithGrant: text(`SELECT a.*, ${GRANT_COLUMNS.map((c) => `g.${c} AS g_${c}`).join(", ")}
  FROM access_tokens a LEFT JOIN grants g ON g.id = a.grant_id WHERE a.token_hash = ?`),
    insertCode: insertUnlessRevoked(dialect, { table: "codes", columns: CODE_COLUMNS, key: "code_hash", reset: "used = 0" }),
    insertAccess: insertUnlessRevoked(dialect, { table: "access_tokens", columns: ACCESS_COLUMNS, key: "token_hash" }),
    insertRefresh: insertUnlessRevoked(dialect, {
      table: "refresh_tokens",
      columns: REFRESH_COLUMNS,
      key: "token_hash",
      reset: "retired = 0, retired_at = NULL"
    }),
    sweeps: SWEEPS.map((s) => ({ ...s, text: text(s.text) }))
  }
}

const BY_DIALECT: Readonly<Record<SqlDialect, TokenStoreStatements>> = { sqlite: build("sqlite"), postgres: build("postgres") }

/** The statements of the token store in `dialect`. */
export const statementsFor = (dialect: SqlDialect): TokenStoreStatements => BY_DIALECT[dialect]
