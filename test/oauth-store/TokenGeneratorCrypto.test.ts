import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { isBase64Url32, TOKEN_LENGTH } from "../../src/domain/oauth/Tokens.js"
import { TokenGeneratorCrypto } from "../../src/layers/oauth/TokenGeneratorCrypto.js"
import { TokenGenerator } from "../../src/services/oauth/TokenGenerator.js"

describe("TokenGeneratorCrypto", () => {
  it.effect("tokens are 43-character canonical base64url strings of 32 bytes", () =>
    Effect.gen(function*() {
      const gen = yield* TokenGenerator
      const token = yield* gen.token
      expect(token).toHaveLength(TOKEN_LENGTH)
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(isBase64Url32(token)).toBe(true)
      expect(Buffer.from(token, "base64url")).toHaveLength(32)
    }).pipe(Effect.provide(TokenGeneratorCrypto)))

  it.effect("1000 tokens are all distinct and well formed", () =>
    Effect.gen(function*() {
      const gen = yield* TokenGenerator
      const tokens = yield* Effect.replicateEffect(gen.token, 1000)
      expect(new Set(tokens).size).toBe(1000)
      expect(tokens.every(isBase64Url32)).toBe(true)
    }).pipe(Effect.provide(TokenGeneratorCrypto)))

  it.effect("ids are 22-character base64url strings of 16 bytes, all distinct", () =>
    Effect.gen(function*() {
      const gen = yield* TokenGenerator
      const ids = yield* Effect.replicateEffect(gen.id, 1000)
      expect(new Set(ids).size).toBe(1000)
      for (const id of ids) {
        expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
        expect(Buffer.from(id, "base64url")).toHaveLength(16)
      }
    }).pipe(Effect.provide(TokenGeneratorCrypto)))
})
