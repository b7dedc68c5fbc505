/**
 * The config keys of K2 and K4: `sql_tools.allow_writes/max_rows/max_result_bytes`, the site's
 * `limits`, an endpoint's `limits`, `duckdb.memory_limit` and `duckdb.query_timeout`. Decoded
 * by the Schemas, with errors that name the key, and unknown keys still refused.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { memoryLimitSetting, SiteConfig } from "../../src/domain/config/SiteConfig.js"
import { decodeEndpointDocument } from "../../src/domain/mcp/EndpointSchema.js"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"

const file = "/p/mxcp-site.yml"
const decode = (raw: Record<string, unknown>) => decodeConfig(SiteConfig, file, { mxcp: 1, project: "demo", ...raw })
const fail = (raw: Record<string, unknown>) => Effect.flip(decode(raw))

describe("K4 result caps and K2 sandbox settings in mxcp-site.yml", () => {
  it.effect("K4 sql_tools caps, allow_writes and the site's limits decode (also from ${VAR} strings); absent means the defaults", () =>
    Effect.gen(function*() {
      const site = yield* decode({
        sql_tools: { enabled: true, allow_writes: "true", max_rows: 50, max_result_bytes: "65536" },
        limits: { max_rows: 200, max_result_bytes: 1000000 },
        profiles: { prod: { duckdb: { memory_limit: "2GB", query_timeout: 12.5 } }, small: { duckdb: { memory_limit: "25%" } } }
      })
      expect(site.sql_tools).toEqual({ enabled: true, expose_external_token: false, allow_writes: true, max_rows: 50, max_result_bytes: 65536 })
      expect(site.limits).toEqual({ max_rows: 200, max_result_bytes: 1000000 })
      expect(site.profiles["prod"]?.duckdb).toEqual({ readonly: false, memory_limit: "2GB", query_timeout: 12.5 })
      expect(site.profiles["small"]?.duckdb.memory_limit).toBe("25%")
      const bare = yield* decode({})
      expect(bare.limits).toBeUndefined()
      expect(bare.sql_tools).toEqual({ enabled: false, expose_external_token: false })
    }))

  it.effect("K4 bad values name the key and what is expected; unknown keys are still errors", () =>
    Effect.gen(function*() {
      expect(yield* fail({ sql_tools: { max_rows: 0 } })).toMatchObject({ key: "sql_tools.max_rows", fix: "expected a positive integer" })
      expect(yield* fail({ limits: { max_result_bytes: 1.5 } })).toMatchObject({ key: "limits.max_result_bytes" })
      expect(yield* fail({ sql_tools: { allow_writes: "yes" } })).toMatchObject({ key: "sql_tools.allow_writes", fix: "expected true or false" })
      const memory = yield* fail({ profiles: { p: { duckdb: { memory_limit: "lots" } } } })
      expect(memory).toMatchObject({ key: "profiles.p.duckdb.memory_limit" })
      expect(memory.fix).toMatch(/4GB or 512MiB, or a share of the machine's memory such as 50%/)
      expect((yield* fail({ profiles: { p: { duckdb: { memory_limit: "150%" } } } })).key).toBe("profiles.p.duckdb.memory_limit")
      expect((yield* fail({ profiles: { p: { duckdb: { query_timeout: 0 } } } })).key).toBe("profiles.p.duckdb.query_timeout")
      const typo = yield* fail({ limits: { max_row: 5 } })
      expect(typo.key).toBe("limits.max_row")
      expect(typo.fix).toBe("remove it or check the spelling; known keys: max_rows, max_result_bytes")
      const typo2 = yield* fail({ sql_tools: { allow_write: true } })
      expect(typo2.fix).toContain("allow_writes")
    }))

  it("K4 memory_limit: a size passes through, a share is of the machine's memory, unset is half of it", () => {
    const gib = 1024 * 1024 * 1024
    expect(memoryLimitSetting("4GB", 16 * gib)).toBe("4GB")
    expect(memoryLimitSetting("512 MiB", 16 * gib)).toBe("512MiB")
    expect(memoryLimitSetting("25%", 16 * gib)).toBe("4096MiB")
    expect(memoryLimitSetting(undefined, 16 * gib)).toBe("8192MiB")
    expect(memoryLimitSetting("1%", 1 * gib)).toBe("64MiB")
  })
})

describe("K4 an endpoint's limits", () => {
  const doc = (limits: unknown) => ({
    mxcp: 1,
    tool: { name: "t", description: "d", source: { code: "SELECT 1 AS x" }, limits }
  })

  it("K4 limits under a tool or resource decode; bad values and unknown keys are problems naming the path", () => {
    const ok = decodeEndpointDocument(doc({ max_rows: 10, max_result_bytes: 2048 }))
    expect(ok.problems).toEqual([])
    expect(ok.endpoint?.kind === "tool" ? ok.endpoint.yaml.limits : undefined).toEqual({ max_rows: 10, max_result_bytes: 2048 })
    const resource = decodeEndpointDocument({
      mxcp: 1,
      resource: { uri: "data://x", source: { code: "SELECT 1 AS x" }, limits: { max_rows: 1 } }
    })
    expect(resource.problems).toEqual([])
    expect(decodeEndpointDocument(doc({ max_rows: -1 })).problems).toEqual([
      "tool.limits.max_rows: must be a positive integer (got -1)"
    ])
    expect(decodeEndpointDocument(doc({ max_row: 1 })).problems).toEqual([
      "tool.limits: unknown key 'max_row' (allowed: max_rows, max_result_bytes)"
    ])
    expect(decodeEndpointDocument(doc(5)).problems[0]).toMatch(/^tool\.limits: must be a mapping/)
  })
})
