import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Redacted, Schema, TestClock } from "effect"
import { ClientConfig } from "../../src/domain/config/UserConfig.js"
import type { RegisteredClientMetadata } from "../../src/domain/oauth/ClientMetadata.js"
import { isBase64Url32, sha256Hex } from "../../src/domain/oauth/Tokens.js"
import { ClientRegistryLive, makeClientRegistry } from "../../src/layers/oauth/ClientRegistryLive.js"
import { DynamicClientStoreMemory } from "../../src/layers/oauth/store/DynamicClientStoreMemory.js"
import { TokenGeneratorCrypto } from "../../src/layers/oauth/TokenGeneratorCrypto.js"
import { TokenStoreMemory } from "../../src/layers/oauth/store/TokenStoreMemory.js"
import type { GrantRecord } from "../../src/domain/oauth/Records.js"
import { ClientRegistry, RegistryFull } from "../../src/services/oauth/ClientRegistry.js"
import { TokenStore } from "../../src/services/oauth/TokenStore.js"
import { TokenGenerator } from "../../src/services/oauth/TokenGenerator.js"

const decodeClient = Schema.decodeUnknownSync(ClientConfig)

const publicConfig = decodeClient({ client_id: "cli-public", name: "Public CLI" })
const confidentialConfig = decodeClient({
  client_id: "cli-secret",
  name: "Confidential",
  client_secret: "s3cret-value",
  redirect_uris: ["https://app.example.com/cb"],
  grant_types: ["authorization_code", "refresh_token"],
  scopes: ["mxcp:access", "data:read"]
})

const registry = (options: Partial<Parameters<typeof ClientRegistryLive>[0]> = {}) =>
  ClientRegistryLive({ clients: [publicConfig, confidentialConfig], ...options }).pipe(
    Layer.provide(Layer.merge(TokenGeneratorCrypto, TokenStoreMemory))
  )

/** The registry and the token store it asks whether a client is in use, both visible to the test. */
const registryWithStore = (options: Partial<Parameters<typeof ClientRegistryLive>[0]> = {}) =>
  ClientRegistryLive({ clients: [publicConfig, confidentialConfig], ...options }).pipe(
    Layer.provideMerge(Layer.merge(TokenGeneratorCrypto, TokenStoreMemory))
  )

const grantOf = (id: string, clientId: string): GrantRecord => ({
  id,
  clientId,
  user: { provider: "github", id: "1", username: "octocat", email: "o@example.com", name: "Octo" },
  upstream: { accessToken: Redacted.make("gho_x"), scopes: [], extra: {} },
  scopes: ["mxcp:access"],
  resource: undefined,
  createdAt: 0,
  revoked: false
})

const metadata = (overrides: Partial<RegisteredClientMetadata> = {}): RegisteredClientMetadata => ({
  redirect_uris: ["http://127.0.0.1:5555/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
  client_name: "My MCP client",
  ...overrides
})

describe("ClientRegistryLive: config clients", () => {
  it.effect("a public config client gets the documented defaults", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const client = Option.getOrThrow(yield* reg.find("cli-public"))
      expect(client).toMatchObject({
        clientId: "cli-public",
        name: "Public CLI",
        secretHash: undefined,
        redirectUris: ["http://127.0.0.1:49153/oauth/callback", "http://localhost:49153/oauth/callback"],
        grantTypes: ["authorization_code"],
        scopes: ["mxcp:access"],
        authMethods: ["none"],
        source: "config"
      })
    }).pipe(Effect.provide(registry())))

  it.effect("a config client with a secret is confidential and keeps only the secret's hash", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const client = Option.getOrThrow(yield* reg.find("cli-secret"))
      expect(client.secretHash).toBe(sha256Hex("s3cret-value"))
      expect(client.authMethods).toEqual(["client_secret_basic", "client_secret_post"])
      expect(client.redirectUris).toEqual(["https://app.example.com/cb"])
      expect(client.grantTypes).toEqual(["authorization_code", "refresh_token"])
      expect(JSON.stringify(client)).not.toContain("s3cret-value")
    }).pipe(Effect.provide(registry())))

  it.effect("configScopes is the union of the config clients' scopes, in order", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      expect(reg.configScopes).toEqual(["mxcp:access", "data:read"])
    }).pipe(Effect.provide(registry())))

  it.effect("no config clients: no config scopes; unknown ids are None", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      expect(reg.configScopes).toEqual([])
      expect(yield* reg.find("cli-public")).toEqual(Option.none())
    }).pipe(Effect.provide(ClientRegistryLive({ clients: [] }).pipe(Layer.provide(Layer.merge(TokenGeneratorCrypto, TokenStoreMemory))))))
})

describe("ClientRegistryLive: dynamic registration", () => {
  it.effect("a public client (method none) gets no secret", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const reg = yield* ClientRegistry
      const registration = yield* reg.register(
        metadata({ client_uri: "https://example.com", logo_uri: "https://example.com/logo.png" }),
        ["mxcp:access"]
      )
      expect(registration.clientSecret).toBeUndefined()
      expect(registration.issuedAt).toBe(1_700_000_000_000)
      const { client } = registration
      expect(client.clientId).toMatch(/^[A-Za-z0-9_-]{22}$/)
      expect(client).toMatchObject({
        name: "My MCP client",
        secretHash: undefined,
        redirectUris: ["http://127.0.0.1:5555/callback"],
        grantTypes: ["authorization_code", "refresh_token"],
        scopes: ["mxcp:access"],
        authMethods: ["none"],
        source: "dynamic",
        clientUri: "https://example.com",
        logoUri: "https://example.com/logo.png",
        createdAt: 1_700_000_000_000
      })
      expect(yield* reg.find(client.clientId)).toEqual(Option.some(client))
    }).pipe(Effect.provide(registry())))

  for (const method of ["client_secret_basic", "client_secret_post"] as const) {
    it.effect(`a ${method} client gets a secret once; only its hash is stored`, () =>
      Effect.gen(function*() {
        const reg = yield* ClientRegistry
        const registration = yield* reg.register(metadata({ token_endpoint_auth_method: method }), ["mxcp:access"])
        const secret = registration.clientSecret
        expect(secret).toBeDefined()
        if (secret === undefined) return
        expect(isBase64Url32(secret)).toBe(true)
        const found = Option.getOrThrow(yield* reg.find(registration.client.clientId))
        expect(found.secretHash).toBe(sha256Hex(secret))
        expect(found.authMethods).toEqual([method])
        expect(JSON.stringify(found)).not.toContain(secret)
        expect(JSON.stringify(registration.client)).not.toContain(secret)
      }).pipe(Effect.provide(registry())))
  }

  it.effect("each registration gets a new id and a new secret", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const a = yield* reg.register(metadata({ token_endpoint_auth_method: "client_secret_basic" }), [])
      const b = yield* reg.register(metadata({ token_endpoint_auth_method: "client_secret_basic" }), [])
      expect(a.client.clientId).not.toBe(b.client.clientId)
      expect(a.clientSecret).not.toBe(b.clientSecret)
    }).pipe(Effect.provide(registry())))

  it.effect("a client without client_name is named after its id", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const { client_name: _, ...rest } = metadata()
      const { client } = yield* reg.register(rest, ["mxcp:access"])
      expect(client.name).toBe(client.clientId)
      expect(client.clientUri).toBeUndefined()
    }).pipe(Effect.provide(registry())))
})

describe("ClientRegistryLive: config clients cannot be shadowed", () => {
  /** A generator whose ids come from a fixed list (then a counter). */
  const scriptedIds = (ids: ReadonlyArray<string>) => {
    let n = 0
    return Layer.succeed(
      TokenGenerator,
      TokenGenerator.of({
        id: Effect.sync(() => ids[n++] ?? `generated-${n}`),
        token: Effect.succeed("A".repeat(43))
      })
    )
  }

  it.effect("register never hands out a config client's id", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const { client } = yield* reg.register(metadata(), ["mxcp:access"])
      expect(client.clientId).toBe("fresh-id")
      expect(Option.getOrThrow(yield* reg.find("cli-public")).source).toBe("config")
    }).pipe(
      Effect.provide(
        ClientRegistryLive({ clients: [publicConfig] }).pipe(
          Layer.provide(Layer.merge(scriptedIds(["cli-public", "fresh-id"]), TokenStoreMemory))
        )
      )
    ))

  it.effect("register never reuses an id already in the dynamic store", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const first = yield* reg.register(metadata({ client_name: "first" }), [])
      const second = yield* reg.register(metadata({ client_name: "second" }), [])
      expect(first.client.clientId).toBe("dup")
      expect(second.client.clientId).toBe("other")
      expect(Option.getOrThrow(yield* reg.find("dup")).name).toBe("first")
    }).pipe(
      Effect.provide(ClientRegistryLive({ clients: [] }).pipe(Layer.provide(Layer.merge(scriptedIds(["dup", "dup", "other"]), TokenStoreMemory))))
    ))

  it.effect("a stored dynamic client with a config client's id is never returned", () =>
    Effect.gen(function*() {
      const store = yield* DynamicClientStoreMemory
      yield* store.put({
        clientId: "cli-public",
        name: "Impostor",
        secretHash: undefined,
        redirectUris: ["https://evil.example/cb"],
        grantTypes: ["authorization_code"],
        scopes: ["mxcp:access"],
        authMethods: ["none"],
        source: "dynamic",
        createdAt: 0
      })
      const reg = yield* makeClientRegistry({ clients: [publicConfig] }, store)
      const found = Option.getOrThrow(yield* reg.find("cli-public"))
      expect(found.name).toBe("Public CLI")
      expect(found.source).toBe("config")
    }).pipe(Effect.provide(Layer.merge(TokenGeneratorCrypto, TokenStoreMemory))))
})

describe("ClientRegistryLive: bounded dynamic clients", () => {
  it.effect("K6 when full, the oldest client past the TTL is evicted; if none is, the registration is refused and nothing is stored", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const a = yield* reg.register(metadata({ client_name: "a" }), [])
      yield* TestClock.adjust(10)
      const b = yield* reg.register(metadata({ client_name: "b" }), [])
      // Full (2), and nothing is older than the TTL: refused, with the time until a is evictable.
      yield* TestClock.adjust(490)
      const refused = yield* Effect.flip(reg.register(metadata({ client_name: "c" }), []))
      expect(refused).toBeInstanceOf(RegistryFull)
      expect(refused).toMatchObject({ _tag: "RegistryFull", retryAfterSeconds: 1 })
      for (const r of [a, b]) expect(Option.isSome(yield* reg.find(r.client.clientId))).toBe(true)

      // Now a (t=0) and b (t=10) are past the TTL: each registration evicts the oldest one.
      yield* TestClock.adjust(1500)
      const d = yield* reg.register(metadata({ client_name: "d" }), [])
      expect(yield* reg.find(a.client.clientId)).toEqual(Option.none())
      for (const r of [b, d]) expect(Option.isSome(yield* reg.find(r.client.clientId))).toBe(true)

      const e = yield* reg.register(metadata({ client_name: "e" }), [])
      expect(yield* reg.find(b.client.clientId)).toEqual(Option.none())
      for (const r of [d, e]) expect(Option.isSome(yield* reg.find(r.client.clientId))).toBe(true)

      // d and e are young again: refused, retry when d reaches the TTL.
      yield* TestClock.adjust(100)
      expect(yield* Effect.flip(reg.register(metadata(), []))).toMatchObject({ retryAfterSeconds: 1 })

      // Config clients are never evicted and do not count.
      expect(Option.isSome(yield* reg.find("cli-public"))).toBe(true)
    }).pipe(Effect.provide(registry({ maxDynamicClients: 2, unusedClientTtlMs: 1000 }))))

  it.effect("K6 a client with a live grant is never evicted; when every stored client is in use, Retry-After is 60 s", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const store = yield* TokenStore
      const a = yield* reg.register(metadata({ client_name: "a" }), [])
      const b = yield* reg.register(metadata({ client_name: "b" }), [])
      yield* store.putGrant(grantOf("g-a", a.client.clientId))
      yield* store.putGrant(grantOf("g-b", b.client.clientId))
      yield* TestClock.adjust(5000)
      // Both past the TTL, both in use: nothing may go.
      const refused = yield* Effect.flip(reg.register(metadata(), []))
      expect(refused).toMatchObject({ _tag: "RegistryFull", retryAfterSeconds: 60 })
      // b's session ends: b may go (a stays, with its grant).
      yield* store.revokeGrant("g-b")
      const c = yield* reg.register(metadata({ client_name: "c" }), [])
      expect(Option.isSome(yield* reg.find(a.client.clientId))).toBe(true)
      expect(yield* reg.find(b.client.clientId)).toEqual(Option.none())
      expect(Option.isSome(yield* reg.find(c.client.clientId))).toBe(true)
      // c is young and unused, a is in use: Retry-After is the time until c reaches the TTL.
      yield* TestClock.adjust(250)
      expect(yield* Effect.flip(reg.register(metadata(), []))).toMatchObject({ retryAfterSeconds: 1 })
    }).pipe(Effect.provide(registryWithStore({ maxDynamicClients: 2, unusedClientTtlMs: 1000 }))))

  it.effect("K6 200 concurrent registrations never store more than max_clients", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const outcomes = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => Effect.either(reg.register(metadata({ client_name: `c${i}` }), []))),
        { concurrency: "unbounded" }
      )
      const stored = outcomes.filter(Either.isRight)
      expect(stored).toHaveLength(30)
      for (const o of outcomes.filter(Either.isLeft)) expect(o.left._tag).toBe("RegistryFull")
      for (const o of stored) expect(Option.isSome(yield* reg.find(o.right.client.clientId))).toBe(true)
      // Past the TTL, a second wave evicts as it registers: still never more than 30 stored.
      yield* TestClock.adjust(2000)
      const wave = yield* Effect.all(
        Array.from({ length: 100 }, () => Effect.either(reg.register(metadata(), []))),
        { concurrency: "unbounded" }
      )
      const ids = [...stored, ...wave.filter(Either.isRight)].map((o) => o.right.client.clientId)
      const known = yield* Effect.filter(ids, (id) => Effect.map(reg.find(id), Option.isSome))
      expect(known).toHaveLength(30)
    }).pipe(Effect.provide(registry({ maxDynamicClients: 30, unusedClientTtlMs: 1000 }))))

  it.effect("under the cap nothing is evicted, however old", () =>
    Effect.gen(function*() {
      const reg = yield* ClientRegistry
      const a = yield* reg.register(metadata(), [])
      yield* TestClock.adjust(10 * 24 * 60 * 60 * 1000)
      const b = yield* reg.register(metadata(), [])
      expect(Option.isSome(yield* reg.find(a.client.clientId))).toBe(true)
      expect(Option.isSome(yield* reg.find(b.client.clientId))).toBe(true)
    }).pipe(Effect.provide(registry())))
})
