/**
 * `auth.persistence` as the config decodes it: `sweep_interval` (seconds, optional: 60 when
 * absent), next to the existing `type`, `path` and `encryption_key`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { AuthConfig, DefaultSweepInterval } from "../../src/domain/config/UserConfig.js"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"
import { SWEEP_INTERVAL } from "../../src/compose/OAuth.js"

const file = "/home/u/.mxcp/config.yml"

describe("auth.persistence.sweep_interval", () => {
  it.effect("is optional, seconds, and accepts a numeric string (from ${VAR})", () =>
    Effect.gen(function* () {
      expect((yield* decodeConfig(AuthConfig, file, { persistence: {} })).persistence?.sweep_interval).toBeUndefined()
      expect(DefaultSweepInterval).toBe(60)
      expect(Duration.toSeconds(SWEEP_INTERVAL)).toBe(60)
      expect((yield* decodeConfig(AuthConfig, file, { persistence: { sweep_interval: 30 } })).persistence?.sweep_interval).toBe(30)
      expect((yield* decodeConfig(AuthConfig, file, { persistence: { sweep_interval: "5" } })).persistence?.sweep_interval).toBe(5)
    }))

  it.effect("refuses zero, negative and non-numeric values, naming the key", () =>
    Effect.gen(function* () {
      for (const bad of [0, -1, "soon"]) {
        const e = yield* Effect.flip(decodeConfig(AuthConfig, file, { persistence: { sweep_interval: bad } }))
        expect(e.key).toBe("persistence.sweep_interval")
      }
    }))
})
