/**
 * The production `TokenGenerator`: every token, code, state and id comes from the operating
 * system's CSPRNG (`node:crypto.randomBytes`).
 *
 * - `token`: 32 random bytes (256 bits) as unpadded base64url, 43 characters (`tokenFromBytes`).
 * - `id`: 16 random bytes (128 bits) as unpadded base64url, 22 characters. Ids are not secrets,
 *   but 128 random bits make them unique without coordination.
 */
import { randomBytes } from "node:crypto"
import { Effect, Layer } from "effect"
import { TOKEN_BYTES, tokenFromBytes } from "../../domain/oauth/Tokens.js"
import { TokenGenerator } from "../../services/oauth/TokenGenerator.js"

/** Random bytes in an id (128 bits). */
export const ID_BYTES = 16

export const TokenGeneratorCrypto: Layer.Layer<TokenGenerator> = Layer.succeed(
  TokenGenerator,
  TokenGenerator.of({
    token: Effect.sync(() => tokenFromBytes(randomBytes(TOKEN_BYTES))),
    id: Effect.sync(() => randomBytes(ID_BYTES).toString("base64url"))
  })
)
