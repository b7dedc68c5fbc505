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
 * - Client ID Metadata Documents (`metadataDocuments`, off when absent): an id that is an https
 *   URL with a path is resolved from its document (`ClientMetadataFetcher`), never stored. The
 *   validated client is cached in memory for the document's `Cache-Control` lifetime (at most
 *   24 h; `MAX_CACHED_DOCUMENTS` entries, the oldest dropped first) and fetched again once
 *   expired. A refused document is not cached (each attempt fetches again; the per-address
 *   `/authorize` limit bounds how often). Config clients still come first, so a config client
 *   whose id is a URL is never fetched. Only `token_endpoint_auth_method: none` documents are
 *   accepted for now: `private_key_jwt` needs client assertions at /token, which this server does
 *   not verify yet.
 */
import { Clock, Effect, Either, Layer, Option, Redacted } from "effect"
import type { ClientConfig } from "../../domain/config/UserConfig.js"
import { cacheLifetimeMs, cimdClientId, cimdHostAllowed, validateCimdDocument } from "../../domain/oauth/ClientIdMetadata.js"
import type { RegisteredClientMetadata } from "../../domain/oauth/ClientMetadata.js"
import type { OAuthClient } from "../../domain/oauth/Records.js"
import { sha256Hex } from "../../domain/oauth/Tokens.js"
import type { ClientMetadataFetcher } from "../../services/oauth/ClientMetadataFetcher.js"
import { ClientMetadataRefused, ClientRegistry, type Registration, RegistryFull } from "../../services/oauth/ClientRegistry.js"
import { TokenGenerator } from "../../services/oauth/TokenGenerator.js"
import type { TokenStore } from "../../services/oauth/TokenStore.js"
import { methodFn } from "../server/Tracing.js"
import type { DynamicClientStore } from "./store/DynamicClientStore.js"
import { DynamicClientStoreMemory } from "./store/DynamicClientStoreMemory.js"

/** Default cap on stored dynamic clients. */
export const MAX_DYNAMIC_CLIENTS = 10_000

/** Default age after which a dynamic client may be evicted when the store is full. */
export const UNUSED_CLIENT_TTL_MS = 24 * 60 * 60 * 1000

/** `Retry-After` of a refused registration when every stored client is in use (room appears when a session ends). */
export const FULL_RETRY_AFTER_S = 60

/** Draws of a client id before giving up (a collision of 128 random bits is theoretical). */
const MAX_ID_ATTEMPTS = 5

/** Metadata-document clients kept in the cache at most. */
export const MAX_CACHED_DOCUMENTS = 1_000

/** Client ID Metadata Document clients (`auth.cimd`). */
export interface MetadataDocumentOptions {
  readonly fetcher: ClientMetadataFetcher.Shape
  /** `auth.cimd.allowed_hosts` (empty: any host). */
  readonly allowedHosts: ReadonlyArray<string>
  /** The scopes such a client may be granted, from its document's `scope` (the DCR rule). */
  readonly allowedScopes: (scope: string | undefined) => ReadonlyArray<string>
}

export interface ClientRegistryOptions {
  readonly clients: ReadonlyArray<ClientConfig>
  /** Client ID Metadata Documents; absent: off (a URL id is an ordinary, unknown id). */
  readonly metadataDocuments?: MetadataDocumentOptions | undefined
  readonly maxDynamicClients?: number
  readonly unusedClientTtlMs?: number
}

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

  const documents = options.metadataDocuments
  const cached = new Map<string, { readonly client: OAuthClient; readonly expiresAt: number }>()

  /** The client a metadata document describes: cached, or fetched and validated. */
  const metadataClient = (docs: MetadataDocumentOptions, clientId: string, url: URL) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const hit = cached.get(clientId)
      if (hit !== undefined && hit.expiresAt > now) return hit.client
      cached.delete(clientId)
      if (!cimdHostAllowed(url.hostname, docs.allowedHosts)) {
        return yield* new ClientMetadataRefused({ reason: `the host ${url.hostname} is not in auth.cimd.allowed_hosts` })
      }
      const fetched = yield* docs.fetcher.fetch(url).pipe(
        Effect.mapError((e) => new ClientMetadataRefused({ reason: e.reason }))
      )
      let json: unknown
      try {
        json = JSON.parse(fetched.body)
      } catch {
        return yield* new ClientMetadataRefused({ reason: "the metadata document is not valid JSON" })
      }
      const doc = validateCimdDocument(json, clientId)
      if (Either.isLeft(doc)) return yield* new ClientMetadataRefused({ reason: doc.left })
      const d = doc.right
      if (d.authMethod !== "none") {
        return yield* new ClientMetadataRefused({
          reason: "token_endpoint_auth_method private_key_jwt is not supported by this server; use none"
        })
      }
      const fetchedAt = yield* Clock.currentTimeMillis
      const client: OAuthClient = {
        clientId,
        name: d.clientName,
        secretHash: undefined,
        redirectUris: [...d.redirectUris],
        grantTypes: [...d.grantTypes],
        scopes: [...docs.allowedScopes(d.scope)],
        authMethods: ["none"],
        source: "metadata",
        ...(d.clientUri === undefined ? {} : { clientUri: d.clientUri }),
        ...(d.logoUri === undefined ? {} : { logoUri: d.logoUri }),
        createdAt: fetchedAt
      }
      const ttl = cacheLifetimeMs(fetched.cacheControl)
      if (ttl > 0) {
        if (cached.size >= MAX_CACHED_DOCUMENTS) {
          const oldest = cached.keys().next()
          if (oldest.done !== true) cached.delete(oldest.value)
        }
        cached.set(clientId, { client, expiresAt: fetchedAt + ttl })
      }
      yield* Effect.logInfo("Client metadata document fetched").pipe(
        Effect.annotateLogs({ client_id: clientId, cache_seconds: Math.round(ttl / 1000) })
      )
      return client
    })

  const find = fn("ClientRegistry.find")(function*(clientId: string) {
    const fromConfig = configClients.get(clientId)
    if (fromConfig !== undefined) return Option.some(fromConfig)
    if (documents !== undefined) {
      const kind = cimdClientId(clientId)
      if (kind._tag === "Refused") return yield* new ClientMetadataRefused({ reason: kind.reason })
      if (kind._tag === "Document") return Option.some(yield* metadataClient(documents, clientId, kind.url))
    }
    return yield* dynamic.get(clientId)
  })

  const known = fn("ClientRegistry.known")(function*(clientId: string) {
    if (configClients.has(clientId)) return true
    if (documents !== undefined && cimdClientId(clientId)._tag === "Document") return true
    return Option.isSome(yield* dynamic.get(clientId))
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

  return ClientRegistry.of({ find, known, register, configScopes })
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
