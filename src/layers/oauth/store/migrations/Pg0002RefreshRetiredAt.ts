/**
 * PostgreSQL migration 2: when a refresh token was rotated, for the reuse grace; the same column
 * as SQLite's `M0002RefreshRetiredAt` (see there for what it means and what it does not cover).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export const Pg0002RefreshRetiredAt = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE refresh_tokens ADD COLUMN retired_at BIGINT`
})
