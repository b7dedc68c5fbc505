/**
 * PostgreSQL migration 1: the OAuth state tables, the same tables, columns and meaning as SQLite's
 * `M0001OAuthState` (one row format for both: `SealedRows.ts`), in PostgreSQL's types.
 *
 * - Times are epoch milliseconds (BIGINT, read back as JS numbers). Scope lists and the user
 *   profile are JSON text (compared byte for byte by the row MAC, so not `jsonb`, which would
 *   reorder keys). Sealed values and MACs are BYTEA. Flags (`used`, `revoked`, `retired`) are
 *   INTEGER 0/1, as in SQLite, so the statements are the same.
 * - `auth_requests.seq` and `dynamic_clients.seq` are identity columns: insertion order, for
 *   dropping the oldest pending request at the cap and ordering clients created in the same
 *   millisecond (SQLite uses the rowid).
 * - `grants.live_until` (latest expiry of anything issued under the grant) is kept by one
 *   trigger function on the three token tables, on insert and on the upsert's update.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export const Pg0001OAuthState = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  yield* sql`CREATE TABLE auth_requests (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    client_state_sealed BYTEA,
    code_challenge TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    csrf_hash TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('consent', 'upstream')),
    upstream_state_hash TEXT UNIQUE,
    upstream_verifier_sealed BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL
  )`
  yield* sql`CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at)`

  yield* sql`CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_provider TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_profile TEXT NOT NULL,
    upstream_access_sealed BYTEA NOT NULL,
    upstream_refresh_sealed BYTEA,
    upstream_expires_at BIGINT,
    upstream_scopes TEXT NOT NULL,
    upstream_extra TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    created_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    live_until BIGINT NOT NULL DEFAULT 0
  )`
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
    expires_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
  )`
  yield* sql`CREATE INDEX codes_grant_id ON codes (grant_id)`
  yield* sql`CREATE INDEX codes_expires_at ON codes (expires_at)`

  yield* sql`CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    resource TEXT,
    expires_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL
  )`
  yield* sql`CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id)`
  yield* sql`CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at)`

  yield* sql`CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL,
    retired INTEGER NOT NULL DEFAULT 0
  )`
  yield* sql`CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id)`
  yield* sql`CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at)`

  yield* sql.unsafe(`CREATE FUNCTION grants_live_until() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
      UPDATE grants SET live_until = GREATEST(live_until, NEW.expires_at) WHERE id = NEW.grant_id;
      RETURN NULL;
    END
  $body$`)
  for (const table of ["codes", "access_tokens", "refresh_tokens"]) {
    yield* sql.unsafe(`CREATE TRIGGER ${table}_live_until AFTER INSERT OR UPDATE OF expires_at, grant_id ON ${table}
      FOR EACH ROW EXECUTE FUNCTION grants_live_until()`)
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
    created_at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    mac BYTEA NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
  )`
  yield* sql`CREATE INDEX dynamic_clients_created_at ON dynamic_clients (created_at, seq)`
})
