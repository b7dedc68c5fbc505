/**
 * `ClientRegistry`: clients pre-registered in config plus clients registered through RFC 7591.
 *
 * Decisions:
 * - Config clients are never stored. A config client with `client_secret` is confidential (only
 *   `sha256Hex(secret)` is kept; `client_secret_basic` and `client_secret_post` accepted); one
 *   without is public (`none`). `find` looks config clients up first, so a dynamic client can never
 *   shadow one, and `register` never hands out an id that a config client (or a stored client)
 *   already uses. When two config entries share an id, the first wins.
 * - Dynamic clients live behind `DynamicClientStore`, a four-method seam: `DynamicClientStoreMemory`
 *   (the default of `ClientRegistryLive`) or `DynamicClientStoreSqlite` with `auth.persistence`,
 *   chosen through `ClientRegistryWithStore`, with `makeClientRegistry` unchanged.
 * - `register`: id from `TokenGenerator.id`; a secret from `TokenGenerator.token` unless the method
 *   is `none`. Only the secret's hash is stored; the plaintext is returned once in
 *   `Registration.clientSecret`. A client without `client_name` is named after its id.
 * - Bounded storage (soft cap): when `maxDynamicClients` (default 10 000) are stored, registering
 *   first evicts the oldest client created at least `unusedClientTtlMs` (default 24 h) ago. The
 *   contract has no "client used" signal, so age alone makes a client evictable: a dynamic client
 *   older than the TTL may be forgotten under a registration flood (it re-registers, as MCP clients
 *   do when their `client_id` is rejected). When nothing is old enough, the client is registered
 *   anyway and a warning is logged: the `/register` rate limit is the defence against a flood,
 *   and refusing legitimate registrations would be worse than exceeding the cap.
 */
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import type { ClientConfig } from "../domain/config/UserConfig.js"
import type { RegisteredClientMetadata } from "../domain/oauth/ClientMetadata.js"
import type { OAuthClient } from "../domain/oauth/Records.js"
import { sha256Hex } from "../domain/oauth/Tokens.js"
import { ClientRegistry, type Registration } from "../services/ClientRegistry.js"
import { TokenGenerator } from "../services/TokenGenerator.js"
import type { StoreError } from "../services/TokenStore.js"
import { methodFn } from "./Tracing.js"

/** Default cap on stored dynamic clients. */
export const MAX_DYNAMIC_CLIENTS = 10_000

/** Default age after which a dynamic client may be evicted when the store is full. */
export const UNUSED_CLIENT_TTL_MS = 24 * 60 * 60 * 1000

/** Draws of a client id before giving up (a collision of 128 random bits is theoretical). */
const MAX_ID_ATTEMPTS = 5

export interface ClientRegistryOptions {
  readonly clients: ReadonlyArray<ClientConfig>
  readonly maxDynamicClients?: number
  readonly unusedClientTtlMs?: number
}

/** Storage of dynamically registered clients. */
export interface DynamicClientStore {
  readonly get: (clientId: string) => Effect.Effect<Option.Option<OAuthClient>, StoreError>
  /** Insert or replace by `clientId`. */
  readonly put: (client: OAuthClient) => Effect.Effect<void, StoreError>
  readonly count: Effect.Effect<number, StoreError>
  /**
   * Delete the oldest client created at or before `createdBefore` that the store does not know to
   * be in use; true when one was deleted. A store without usage tracking treats every client as
   * unused.
   */
  readonly deleteOldestUnused: (createdBefore: number) => Effect.Effect<boolean, StoreError>
}

/** Dynamic clients in process memory (lost on restart); no usage tracking. */
export const DynamicClientStoreMemory: Effect.Effect<DynamicClientStore> = Effect.sync(() => {
  /** Insertion order = registration order: the first entry is the oldest. */
  const clients = new Map<string, OAuthClient>()
  return {
    get: (clientId) => Effect.sync(() => Option.fromNullable(clients.get(clientId))),
    put: (client) =>
      Effect.sync(() => {
        clients.set(client.clientId, client)
      }),
    count: Effect.sync(() => clients.size),
    deleteOldestUnused: (createdBefore) =>
      Effect.sync(() => {
        for (const [id, client] of clients) {
          if (client.createdAt <= createdBefore) {
            clients.delete(id)
            return true
          }
        }
        return false
      })
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

  const makeRoom = fn("ClientRegistry.makeRoom")(function*(now: number) {
    const stored = yield* dynamic.count
    if (stored < maxDynamic) return
    const evicted = yield* dynamic.deleteOldestUnused(now - unusedTtl)
    if (!evicted) {
      yield* Effect.logWarning("dynamic client store is full and no client is old enough to evict").pipe(
        Effect.annotateLogs({ stored, cap: maxDynamic })
      )
    }
  })

  const register = fn("ClientRegistry.register")(function*(
    metadata: RegisteredClientMetadata,
    allowedScopes: ReadonlyArray<string>
  ) {
    const now = yield* Clock.currentTimeMillis
    yield* makeRoom(now)
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
    yield* dynamic.put(client)
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

/** The registry with dynamic clients in memory. */
export const ClientRegistryLive = (options: ClientRegistryOptions): Layer.Layer<ClientRegistry, never, TokenGenerator> =>
  ClientRegistryWithStore(options, DynamicClientStoreMemory)
