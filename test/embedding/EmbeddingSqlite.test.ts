import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import {
  ClientRegistry,
  ClientRegistryWithStore,
  DynamicClientStoreSqlite,
  OAuthDatabaseSqlite,
  TokenGeneratorCrypto,
  TokenStore,
  TokenStoreSqlite
} from "../../src/index.js"

// A host application builds the persistent OAuth state from the public entry point alone:
// one SQLite database, the token store and the client registry on top of it.
const dir = mkdtempSync(join(tmpdir(), "mxcp-embed-sqlite-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const persistent = (path: string) => {
  const database = OAuthDatabaseSqlite({ path })
  return Layer.mergeAll(
    TokenStoreSqlite,
    ClientRegistryWithStore({ clients: [] }, DynamicClientStoreSqlite)
  ).pipe(Layer.provideMerge(TokenGeneratorCrypto), Layer.provideMerge(database))
}

describe("embedding: SQLite persistence from src/index.ts", () => {
  it.effect("a client registered through one layer graph is found by the next one on the same file", () =>
    Effect.gen(function*() {
      const path = join(dir, "state", "oauth.db")
      const registered = yield* Effect.scoped(
        Effect.gen(function*() {
          const registry = yield* ClientRegistry
          yield* TokenStore
          return yield* registry.register(
            {
              redirect_uris: ["http://127.0.0.1:5555/callback"],
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code"],
              token_endpoint_auth_method: "client_secret_post",
              client_name: "Embedded app"
            },
            ["mxcp:access"]
          )
        }).pipe(Effect.provide(persistent(path)))
      )
      expect(registered.clientSecret).toEqual(expect.any(String))
      const again = yield* Effect.scoped(
        Effect.flatMap(ClientRegistry, (registry) => registry.find(registered.client.clientId)).pipe(
          Effect.provide(persistent(path))
        )
      )
      const client = Option.getOrThrow(again)
      expect(client.name).toBe("Embedded app")
      expect(client.source).toBe("dynamic")
      // The secret is kept only as its hash.
      expect(client.secretHash).not.toBe(registered.clientSecret)
    }))
})
