/**
 * Migration 1: the OAuth state tables.
 *
 * - Times are epoch milliseconds (INTEGER). Scope lists and the user profile are JSON text.
 * - Tokens, codes and the upstream `state` appear only as the lowercase hex SHA-256 the callers
 *   pass in (`*_hash`), as primary keys: every lookup is one B-tree search.
 * - `*_sealed` columns hold values sealed by `SecretBox` (AES-256-GCM); `mac` authenticates the
 *   row's immutable columns; `key_id` says which key did both.
 * - `grants.live_until` is the latest expiry of anything issued under the grant, kept by the
 *   triggers below, so the sweep finds grants left without live tokens through an index
 *   instead of scanning every grant.
 * - Codes and refresh tokens stay after use (`used`, `retired`) until they expire, so a replay is
 *   recognised (and revokes the grant).
 * - `auth_requests.seq` (the rowid) is insertion order, for dropping the oldest at the cap.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export const M0001OAuthState = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  yield* sql`CREATE TABLE auth_requests (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    client_state_sealed BLOB,
    code_challenge TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    csrf_hash TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('consent', 'upstream')),
    upstream_state_hash TEXT UNIQUE,
    upstream_verifier_sealed BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL
  )`
  yield* sql`CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at)`

  yield* sql`CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_provider TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_profile TEXT NOT NULL,
    upstream_access_sealed BLOB NOT NULL,
    upstream_refresh_sealed BLOB,
    upstream_expires_at INTEGER,
    upstream_scopes TEXT NOT NULL,
    upstream_extra TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    created_at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    live_until INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID`
  yield* sql`CREATE INDEX grants_live_until ON grants (live_until)`
  yield* sql`CREATE INDEX grants_revoked ON grants (id) WHERE revoked = 1`
  yield* sql`CREATE INDEX grants_client_active ON grants (client_id) WHERE revoked = 0`

  yield* sql`CREATE TABLE codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    expires_at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID`
  yield* sql`CREATE INDEX codes_grant_id ON codes (grant_id)`
  yield* sql`CREATE INDEX codes_expires_at ON codes (expires_at)`

  yield* sql`CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    expires_at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL
  ) WITHOUT ROWID`
  yield* sql`CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id)`
  yield* sql`CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at)`

  yield* sql`CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID`
  yield* sql`CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id)`
  yield* sql`CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at)`

  for (const table of ["codes", "access_tokens", "refresh_tokens"]) {
    yield* sql.unsafe(`CREATE TRIGGER ${table}_live_until AFTER INSERT ON ${table} BEGIN
      UPDATE grants SET live_until = max(live_until, NEW.expires_at) WHERE id = NEW.grant_id;
    END`)
  }

  yield* sql`CREATE TABLE dynamic_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    auth_methods TEXT NOT NULL,
    client_uri TEXT,
    logo_uri TEXT,
    created_at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL
  )`
  yield* sql`CREATE INDEX dynamic_clients_created_at ON dynamic_clients (created_at)`
})
