/**
 * Migration 2: when a refresh token was rotated, for the reuse grace (`auth.refresh_reuse_grace`).
 *
 * - `refresh_tokens.retired_at` (epoch ms) is set together with `retired = 1` by a rotation. A
 *   token retired before this migration has none: it is never within the grace, so presenting
 *   it again revokes its grant exactly as before.
 * - Like `retired`, it is a mutable flag, not covered by the row MAC. Editing it (which needs
 *   write access to the file) can at most let a retired token be answered again while its
 *   successor is still unused, with that successor: no wider scope, no other grant.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export const M0002RefreshRetiredAt = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE refresh_tokens ADD COLUMN retired_at INTEGER`
})
