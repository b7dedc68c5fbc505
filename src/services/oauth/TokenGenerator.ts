import { Context } from "effect"
import type { Effect } from "effect"

export declare namespace TokenGenerator {
  export interface Shape {
    /** An opaque secret: base64url of 32 random bytes (256 bits). Tokens, codes, states, CSRF. */
    readonly token: Effect.Effect<string>
    /** A non-secret unique id (client ids, grant and flow ids): base64url of 16 random bytes. */
    readonly id: Effect.Effect<string>
  }
}

/** Randomness for every token this server mints (swap for a deterministic one in tests). */
export class TokenGenerator extends Context.Tag("mxcp/TokenGenerator")<TokenGenerator, TokenGenerator.Shape>() {}
