/**
 * `ClientRegistry`: clients pre-registered in config plus clients registered through RFC 7591.
 *
 * Decisions:
 * - Config clients are never stored. A config client with `client_secret` is confidential (only
 *   `sha256Hex(secret)` is kept; `client_secret_basic` and `client_secret_post` accepted); one
 *   without is public (`none`). `find` looks config clients up first, so a dynamic client can never
 *   shadow one, and `register` never hands out an id that a config client (or a stored client)
 *   already uses. When two config entries share an id, the first wins.
 * - Dynamic clients live behind `DynamicClientStore`: `DynamicClientStoreMemory` (the default of
 *   `ClientRegistryLive`) or `DynamicClientStoreSqlite` with `auth.persistence`, chosen through
 *   `ClientRegistryWithStore`, with `makeClientRegistry` unchanged.
 * - `register`: id from `TokenGenerator.id`; a secret from `TokenGenerator.token` unless the method
 *   is `none`. Only the secret's hash is stored; the plaintext is returned once in
 *   `Registration.clientSecret`. A client without `client_name` is named after its id.
 * - Hard cap (checklist K6): never more than `maxDynamicClients` (default 10 000) dynamic clients
 *   are stored, whatever the number of source addresses, and the check is atomic with the insert
 *   (`DynamicClientStore.insert`: one transaction in SQLite, across processes; one critical
 *   section in memory). At the cap, a registration first evicts the oldest clients that are not
 *   in use (no unrevoked grant: no session, no login between callback and code exchange) and were
 *   registered at least `unusedClientTtlMs` (default 24 h) ago. A client younger than that is
 *   never evicted, even when unused: a flood of registrations must not push out clients whose
 *   users are still logging in. When nothing may be evicted, the registration is refused with
 *   `RegistryFull` (503 with `Retry-After`: the seconds until the oldest unused client reaches
 *   the TTL, or `FULL_RETRY_AFTER_S` when every stored client is in use). Existing clients and
 *   sessions keep working meanwhile; the per-address `/register` limit bounds how fast the cap
 *   fills. An evicted client's id is unknown from then on (MCP clients register again). "In
 *   use" is read when evicting: a client older than the TTL whose first login finishes at that
 *   very moment can still be evicted, and that login's code exchange then fails with
 *   `invalid_client` (the user starts over; the client registers again).
 */
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import type { ClientConfig } from "../../domain/config/UserConfig.js"
import type { RegisteredClientMetadata } from "../../domain/oauth/ClientMetadata.js"
import type { OAuthClient } from "../../domain/oauth/Records.js"
import { sha256Hex } from "../../domain/oauth/Tokens.js"
import { ClientRegistry, type Registration, RegistryFull } from "../../services/oauth/ClientRegistry.js"
import { TokenGenerator } from "../../services/oauth/TokenGenerator.js"
import { StoreError, TokenStore } from "../../services/oauth/TokenStore.js"
import { methodFn } from "../server/Tracing.js"

/** Default cap on stored dynamic clients. */
export const MAX_DYNAMIC_CLIENTS = 10_000

/** Default age after which a dynamic client may be evicted when the store is full. */
export const UNUSED_CLIENT_TTL_MS = 24 * 60 * 60 * 1000

/** `Retry-After` of a refused registration when every stored client is in use (room appears when a session ends). */
export const FULL_RETRY_AFTER_S = 60

/** Draws of a client id before giving up (a collision of 128 random bits is theoretical). */
const MAX_ID_ATTEMPTS = 5

export interface ClientRegistryOptions {
  readonly clients: ReadonlyArray<ClientConfig>
  readonly maxDynamicClients?: number
  readonly unusedClientTtlMs?: number
}

/** The limits `DynamicClientStore.insert` enforces. */
export interface InsertLimits {
  /** Most dynamic clients stored, the new one included. */
  readonly max: number
  /** Only clients created at or before this time (and not in use) may be evicted to make room. */
  readonly evictCreatedBefore: number
}

export type InsertOutcome =
  | { readonly _tag: "Inserted"; readonly evicted: number }
  /** Nothing stored. `oldestUnusedCreatedAt`: creation time of the oldest client not in use, if any. */
  | { readonly _tag: "Full"; readonly oldestUnusedCreatedAt: number | undefined }

/**
 * Storage of dynamically registered clients. "In use" means: the client has an unrevoked grant;
 * a client in use is never deleted by `deleteOldestUnused` or `insert`.
 */
export interface DynamicClientStore {
  readonly get: (clientId: string) => Effect.Effect<Option.Option<OAuthClient>, StoreError>
  /** Insert or replace by `clientId`, without any limit (seeding, tests); the registry uses `insert`. */
  readonly put: (client: OAuthClient) => Effect.Effect<void, StoreError>
  readonly count: Effect.Effect<number, StoreError>
  /** Delete the oldest client created at or before `createdBefore` that is not in use; true when one was deleted. */
  readonly deleteOldestUnused: (createdBefore: number) => Effect.Effect<boolean, StoreError>
  /**
   * Store a new client (its id unused) so that at most `limits.max` clients are stored, in one
   * atomic step that concurrent callers (and other processes sharing the store) cannot interleave
   * with: when full, evict the oldest clients not in use created at or before
   * `limits.evictCreatedBefore`; when that does not make room, store nothing (`Full`).
   */
  readonly insert: (client: OAuthClient, limits: InsertLimits) => Effect.Effect<InsertOutcome, StoreError>
}

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

const unique = (xs: Iterable<string>): ReadonlyArray<string> => Array.from(new Set(xs))

/** A config entry as an `OAuthClient` (defaults were applied when the config was decoded). */
export const configClient = (config: ClientConfig, createdAt: number): OAuthClient => {
  const secret = config.client_secret
  return {
    clientId: config.client_id,
    name: config.name,
    secretHash: secret === undefined ? undefined : sha256Hex(Redacted.value(secret)),
    redirectUris: [...config.redirect_uris],
    grantTypes: [...config.grant_types],
    scopes: [...config.scopes],
    authMethods: secret === undefined ? ["none"] : ["client_secret_basic", "client_secret_post"],
    source: "config",
    createdAt
  }
}

/** The registry over config clients and a dynamic-client store. */
export const makeClientRegistry = Effect.fn("ClientRegistry.make")(function*(
  options: ClientRegistryOptions,
  dynamic: DynamicClientStore
) {
  const fn = yield* methodFn
  const generator = yield* TokenGenerator
  const startedAt = yield* Clock.currentTimeMillis
  const maxDynamic = options.maxDynamicClients ?? MAX_DYNAMIC_CLIENTS
  const unusedTtl = options.unusedClientTtlMs ?? UNUSED_CLIENT_TTL_MS

  const configClients = new Map<string, OAuthClient>()
  for (const c of options.clients) {
    if (!configClients.has(c.client_id)) configClients.set(c.client_id, configClient(c, startedAt))
  }
  const configScopes = unique(options.clients.flatMap((c) => c.scopes))

  const find = fn("ClientRegistry.find")(function*(clientId: string) {
    const fromConfig = configClients.get(clientId)
    if (fromConfig !== undefined) return Option.some(fromConfig)
    return yield* dynamic.get(clientId)
  })

  /** An id no config or stored client has; a generator that keeps colliding is a defect. */
  const freshClientId = Effect.gen(function*() {
    for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
      const id = yield* generator.id
      if (!configClients.has(id) && Option.isNone(yield* dynamic.get(id))) return id
    }
    return yield* Effect.dieMessage("TokenGenerator.id keeps returning client ids that are already in use")
  })

  const register = fn("ClientRegistry.register")(function*(
    metadata: RegisteredClientMetadata,
    allowedScopes: ReadonlyArray<string>
  ) {
    const now = yield* Clock.currentTimeMillis
    const clientId = yield* freshClientId
    const method = metadata.token_endpoint_auth_method
    const clientSecret = method === "none" ? undefined : yield* generator.token
    const client: OAuthClient = {
      clientId,
      name: metadata.client_name ?? clientId,
      secretHash: clientSecret === undefined ? undefined : sha256Hex(clientSecret),
      redirectUris: [...metadata.redirect_uris],
      grantTypes: [...metadata.grant_types],
      scopes: [...allowedScopes],
      authMethods: [method],
      source: "dynamic",
      ...(metadata.client_uri === undefined ? {} : { clientUri: metadata.client_uri }),
      ...(metadata.logo_uri === undefined ? {} : { logoUri: metadata.logo_uri }),
      createdAt: now
    }
    const outcome = yield* dynamic.insert(client, { max: maxDynamic, evictCreatedBefore: now - unusedTtl })
    if (outcome._tag === "Full") {
      const evictableAt = outcome.oldestUnusedCreatedAt === undefined ? undefined : outcome.oldestUnusedCreatedAt + unusedTtl
      const retryAfterSeconds = evictableAt === undefined ? FULL_RETRY_AFTER_S : Math.max(1, Math.ceil((evictableAt - now) / 1000))
      yield* Effect.logWarning("Dynamic client registration refused: the store is full and no client may be evicted").pipe(
        Effect.annotateLogs({ cap: maxDynamic, retry_after: retryAfterSeconds })
      )
      return yield* new RegistryFull({ retryAfterSeconds })
    }
    if (outcome.evicted > 0) {
      yield* Effect.logInfo("Unused dynamic clients evicted to make room").pipe(
        Effect.annotateLogs({ evicted: outcome.evicted, cap: maxDynamic })
      )
    }
    const registration: Registration = { client, clientSecret, issuedAt: now }
    return registration
  })

  return ClientRegistry.of({ find, register, configScopes })
})

/** The registry over a given dynamic-client store (built with the layer, e.g. one that needs a database). */
export const ClientRegistryWithStore = <E, R>(
  options: ClientRegistryOptions,
  store: Effect.Effect<DynamicClientStore, E, R>
): Layer.Layer<ClientRegistry, E, TokenGenerator | R> =>
  Layer.effect(
    ClientRegistry,
    Effect.gen(function*() {
      const dynamic = yield* store
      return yield* makeClientRegistry(options, dynamic)
    })
  )

/** The registry with dynamic clients in memory (whether a client is in use comes from the `TokenStore`). */
export const ClientRegistryLive = (
  options: ClientRegistryOptions
): Layer.Layer<ClientRegistry, never, TokenGenerator | TokenStore> => ClientRegistryWithStore(options, DynamicClientStoreMemory)
