import { Effect, Option } from "effect"
import type { OAuthClient } from "../../../domain/oauth/Records.js"
import { StoreError, TokenStore } from "../../../services/oauth/TokenStore.js"
import type { DynamicClientStore, InsertOutcome } from "./DynamicClientStore.js"

/**
 * Dynamic clients in process memory (lost on restart). Whether a client is in use comes from the
 * `TokenStore` (`clientInUse`); `deleteOldestUnused` and `insert` run under one lock, so a
 * concurrent registration never sees a half-done eviction.
 */
export const DynamicClientStoreMemory: Effect.Effect<DynamicClientStore, never, TokenStore> = Effect.gen(function*() {
  const tokens = yield* TokenStore
  const lock = yield* Effect.makeSemaphore(1)
  /** Insertion order = registration order: the first entry is the oldest. */
  const clients = new Map<string, OAuthClient>()

  /** The first (oldest) stored client not in use that satisfies `eligible`. */
  const oldestUnused = (eligible: (client: OAuthClient) => boolean) =>
    Effect.gen(function*() {
      for (const client of clients.values()) {
        if (eligible(client) && !(yield* tokens.clientInUse(client.clientId))) return client
      }
      return undefined
    })

  const evictOne = (createdBefore: number) =>
    Effect.map(oldestUnused((c) => c.createdAt <= createdBefore), (client) => {
      if (client === undefined) return false
      clients.delete(client.clientId)
      return true
    })

  return {
    get: (clientId) => Effect.sync(() => Option.fromNullable(clients.get(clientId))),
    put: (client) =>
      Effect.sync(() => {
        clients.set(client.clientId, client)
      }),
    count: Effect.sync(() => clients.size),
    deleteOldestUnused: (createdBefore) => lock.withPermits(1)(evictOne(createdBefore)),
    insert: (client, limits) =>
      lock.withPermits(1)(
        Effect.gen(function*() {
          if (clients.has(client.clientId)) {
            return yield* new StoreError({ operation: "insertClient", message: "the client id is already stored" })
          }
          let evicted = 0
          while (clients.size >= limits.max && (yield* evictOne(limits.evictCreatedBefore))) evicted++
          if (clients.size >= limits.max) {
            const oldest = yield* oldestUnused(() => true)
            return { _tag: "Full", oldestUnusedCreatedAt: oldest?.createdAt } satisfies InsertOutcome
          }
          clients.set(client.clientId, client)
          return { _tag: "Inserted", evicted } satisfies InsertOutcome
        })
      )
  }
})
