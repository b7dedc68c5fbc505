/**
 * PostgreSQL migration 3: the rate-limit windows every instance counts in (`RateLimitsPostgres`),
 * so a limit per client address holds for the whole deployment. PostgreSQL only: with SQLite or
 * in memory the windows live in each process's memory.
 *
 * - One row per limit and client address: the window's start (epoch ms) and its count. A request
 *   is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, so the count is exact however many
 *   instances count at once.
 * - Rows of windows that are over are deleted by the sweep (`started_at` index).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export const Pg0003RateWindows = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE rate_windows (
    limiter TEXT NOT NULL,
    address TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (limiter, address)
  )`
  yield* sql`CREATE INDEX rate_windows_started_at ON rate_windows (started_at)`
})
