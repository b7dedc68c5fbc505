/**
 * `DynamicClientStore` in SQL (SQLite or PostgreSQL, by the `OAuthDatabase`): clients registered
 * through /register (RFC 7591) survive restarts and, with PostgreSQL, are known to every instance.
 * Config clients are never stored (they come from the config at every start, so a client removed
 * from the config is gone).
 *
 * Decisions:
 * - Only the SHA-256 of a client secret is stored (the registry hashes it before `put`); every row
 *   carries a MAC, so an edited row (say, an added redirect URI) is treated as unknown: the MCP
 *   client registers again. Rows written under another key are unknown the same way.
 * - Usage tracking: a client with a live (unrevoked) grant is in use and never evicted by
 *   `deleteOldestUnused` or `insert`; among the others, the oldest goes first.
 * - `insert` is one transaction whose first statement is the INSERT (so SQLite takes the write
 *   lock at once and every other registration, in this process or another, waits): count, evict
 *   what the limits allow in one DELETE, and when the count is still over the cap, roll back.
 *   The cap therefore holds at every commit, however many processes register at once.
 *   PostgreSQL has no such database-wide write lock: there the transaction starts by taking an
 *   advisory lock (`OAuthDatabase.exclusive("dynamic_clients")`), held until it commits, so
 *   registrations on every instance take their turn just the same. `deleteOldestUnused` takes it
 *   too.
 */
import { Data, Effect, Option } from "effect"
import type { OAuthClient } from "../../../domain/oauth/Records.js"
import type { DynamicClientStore, InsertLimits, InsertOutcome } from "./DynamicClientStore.js"
import { OAuthDatabase, toStoreError } from "./OAuthDatabase.js"
import { type ClientRow, ClientRows } from "./SealedRows.js"
import { excluded } from "./TokenStoreSql.js"
import { methodFn } from "../../server/Tracing.js"

/** Rolls `insert`'s transaction back when the cap cannot be kept. */
class StoreFull extends Data.TaggedError("StoreFull")<{ readonly oldestUnusedCreatedAt: number | undefined }> {}

export const DynamicClientStoreSql: Effect.Effect<DynamicClientStore, never, OAuthDatabase> = Effect.gen(function* () {
  const traced = yield* methodFn
  const { box, sql, dialect, exclusive } = yield* OAuthDatabase
  const spanPrefix = dialect === "sqlite" ? "DynamicClientStoreSqlite" : "DynamicClientStorePostgres"
  const fn = (name: string) => traced(`${spanPrefix}.${name}`)
  /** Registration order among clients created in the same millisecond. */
  const tiebreak = sql.literal(dialect === "sqlite" ? "c.rowid" : "c.seq")
  const upsert = (row: ClientRow) =>
    dialect === "sqlite"
      ? sql`INSERT OR REPLACE INTO dynamic_clients ${sql.insert({ ...row })}`
      : sql`INSERT INTO dynamic_clients ${sql.insert({ ...row })} ON CONFLICT (client_id) DO UPDATE SET ${
        sql.literal(excluded([...ClientRows.columns.filter((c) => c !== "client_id"), "mac"]))
      }`

  const get = fn("get")(
    function* (clientId: string) {
      const rows = yield* sql<ClientRow>`SELECT * FROM dynamic_clients WHERE client_id = ${clientId}`
      const row = rows[0]
      if (row === undefined) return Option.none<OAuthClient>()
      const client = ClientRows.decode(box, row)
      if (client === undefined) {
        yield* Effect.logWarning("A stored client could not be verified (tampered, or written under another key); ignored").pipe(
          Effect.annotateLogs({ client_id: clientId })
        )
        return Option.none<OAuthClient>()
      }
      return Option.some(client)
    },
    Effect.mapError(toStoreError("getClient"))
  )

  const put = fn("put")(
    function* (client: OAuthClient) {
      yield* upsert(ClientRows.encode(box, client))
    },
    Effect.mapError(toStoreError("putClient"))
  )

  const count = sql<{ n: number }>`SELECT count(*) AS n FROM dynamic_clients`.pipe(
    Effect.map((rows) => rows[0]?.n ?? 0),
    Effect.mapError(toStoreError("countClients")),
    Effect.withSpan(`${spanPrefix}.count`)
  )

  const countNow = sql<{ n: number }>`SELECT count(*) AS n FROM dynamic_clients`.pipe(Effect.map((rows) => rows[0]?.n ?? 0))

  const insert = fn("insert")(
    function* (client: OAuthClient, limits: InsertLimits) {
      const inserted = yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* exclusive("dynamic_clients")
          yield* sql`INSERT INTO dynamic_clients ${sql.insert({ ...ClientRows.encode(box, client) })}`
          const stored = yield* countNow
          if (stored <= limits.max) return { _tag: "Inserted", evicted: 0 } satisfies InsertOutcome
          const evicted = yield* sql`DELETE FROM dynamic_clients WHERE client_id IN (
            SELECT c.client_id FROM dynamic_clients c
            WHERE c.created_at <= ${limits.evictCreatedBefore} AND c.client_id <> ${client.clientId}
              AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = c.client_id AND g.revoked = 0)
            ORDER BY c.created_at, ${tiebreak} LIMIT ${stored - limits.max}
          ) RETURNING 1`
          if (stored - evicted.length <= limits.max) return { _tag: "Inserted", evicted: evicted.length } satisfies InsertOutcome
          const oldest = yield* sql<{ at: number | null }>`SELECT min(c.created_at) AS at FROM dynamic_clients c
            WHERE c.client_id <> ${client.clientId}
              AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = c.client_id AND g.revoked = 0)`
          // Over the cap: undo the insert (and any eviction) by failing the transaction.
          return yield* new StoreFull({ oldestUnusedCreatedAt: oldest[0]?.at ?? undefined })
        })
      ).pipe(
        Effect.catchTag("StoreFull", (full) =>
          Effect.succeed({ _tag: "Full", oldestUnusedCreatedAt: full.oldestUnusedCreatedAt } satisfies InsertOutcome)
        )
      )
      return inserted as InsertOutcome
    },
    Effect.mapError(toStoreError("insertClient"))
  )

  const deleteOldestUnused = fn("deleteOldestUnused")(
    function* (createdBefore: number) {
      const deleted = yield* sql.withTransaction(
        Effect.zipRight(
          exclusive("dynamic_clients"),
          sql`DELETE FROM dynamic_clients WHERE client_id = (
            SELECT c.client_id FROM dynamic_clients c
            WHERE c.created_at <= ${createdBefore}
              AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = c.client_id AND g.revoked = 0)
            ORDER BY c.created_at, ${tiebreak} LIMIT 1
          ) RETURNING 1`
        )
      )
      return deleted.length > 0
    },
    Effect.mapError(toStoreError("deleteOldestUnused"))
  )

  return { get, put, count, deleteOldestUnused, insert }
})
