/**
 * The SQL text of `TokenStoreSqlite`: column lists (constants, the order of the row MAC's columns
 * plus `mac`) and the statements built from them. Every value is a bound parameter.
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

export const UPSERT_AUTH_REQUEST = `INSERT INTO auth_requests (${AUTH_REQUEST_COLUMNS.join(", ")})
  VALUES (${placeholders(AUTH_REQUEST_COLUMNS.length)})
  ON CONFLICT (id) DO UPDATE SET ${excluded(AUTH_REQUEST_COLUMNS.filter((c) => c !== "id"))}`

export const UPDATE_AUTH_REQUEST = `UPDATE auth_requests SET ${assignments(AUTH_REQUEST_COLUMNS.filter((c) => c !== "id"))}
  WHERE id = ?`

export const UPSERT_GRANT = `INSERT INTO grants (${GRANT_COLUMNS.join(", ")})
  VALUES (${placeholders(GRANT_COLUMNS.length)})
  ON CONFLICT (id) DO UPDATE SET ${excluded(GRANT_COLUMNS.filter((c) => c !== "id"))}`

export const UPDATE_UPSTREAM = `UPDATE grants SET ${assignments(UPSTREAM_COLUMNS)} WHERE id = ? AND mac = ? RETURNING id`

export const SELECT_GRANT = "SELECT * FROM grants WHERE id = ?"

/** An access token with its grant's columns (prefixed `g_`; all null when the grant is gone). */
export const SELECT_ACCESS_WITH_GRANT = `SELECT a.*, ${GRANT_COLUMNS.map((c) => `g.${c} AS g_${c}`).join(", ")}
  FROM access_tokens a LEFT JOIN grants g ON g.id = a.grant_id WHERE a.token_hash = ?`

export type AccessWithGrantRow = AccessTokenRow & { readonly [K in `g_${(typeof GRANT_COLUMNS)[number]}`]: unknown }

/** The grant part of a joined row, if the grant exists. */
export const joinedGrant = (row: AccessWithGrantRow): StoredGrantRow | undefined =>
  row.g_id === null || row.g_id === undefined
    ? undefined
    : (Object.fromEntries(GRANT_COLUMNS.map((c) => [c, row[`g_${c}`]])) as unknown as StoredGrantRow)

/** Insert (or replace) a row issued under a grant, unless that grant is known to be revoked. */
export const insertUnlessRevoked = (table: string, columns: ReadonlyArray<string>): string =>
  `INSERT OR REPLACE INTO ${table} (${columns.join(", ")})
  SELECT ${placeholders(columns.length)}
  WHERE NOT EXISTS (SELECT 1 FROM grants WHERE id = ? AND revoked = 1)`

export const INSERT_CODE = insertUnlessRevoked("codes", CODE_COLUMNS)
export const INSERT_ACCESS = insertUnlessRevoked("access_tokens", ACCESS_COLUMNS)
export const INSERT_REFRESH = insertUnlessRevoked("refresh_tokens", REFRESH_COLUMNS)

/** Sweep statements: each deletes at most `?` (the batch size) rows and returns a row per deletion. */
export const SWEEPS: ReadonlyArray<{ readonly table: string; readonly text: string; readonly params: "now" | "grants" | "none" }> = [
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
