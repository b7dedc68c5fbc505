import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SiteConfig } from "../../src/domain/config/SiteConfig.js"
import { decodeConfig } from "../../src/domain/config/ConfigDecode.js"

const file = "/p/mxcp-site.yml"
const decode = (raw: unknown) => decodeConfig(SiteConfig, file, raw)
const fail = (raw: unknown) => Effect.flip(decode(raw))

describe("SiteConfig", () => {
  it.effect("applies the documented defaults", () =>
    Effect.gen(function*() {
      const site = yield* decode({ mxcp: 1, project: "demo" })
      expect(site).toEqual({
        mxcp: 1,
        project: "demo",
        profile: "default",
        sql_tools: { enabled: false, expose_external_token: false },
        paths: { tools: "tools", resources: "resources", prompts: "prompts" },
        profiles: {}
      })
    }))

  it.effect("decodes every implemented key", () =>
    Effect.gen(function*() {
      const site = yield* decode({
        mxcp: "1",
        project: "demo",
        profile: "prod",
        sql_tools: { enabled: true, expose_external_token: "true" },
        paths: { tools: "t", resources: "r", prompts: "p" },
        profiles: {
          prod: { duckdb: { path: "db/prod.duckdb", readonly: true } },
          mem: { duckdb: { path: ":memory:" } },
          empty: null
        }
      })
      expect(site.mxcp).toBe(1)
      expect(site.sql_tools).toEqual({ enabled: true, expose_external_token: true })
      expect(site.paths).toEqual({ tools: "t", resources: "r", prompts: "p" })
      expect(site.profiles["prod"]).toEqual({ duckdb: { path: "db/prod.duckdb", readonly: true } })
      expect(site.profiles["mem"]).toEqual({ duckdb: { path: ":memory:", readonly: false } })
      expect(site.profiles["empty"]).toEqual({ duckdb: { readonly: false } })
    }))

  it.effect("rejects mxcp: 2", () =>
    Effect.gen(function*() {
      const e = yield* fail({ mxcp: 2, project: "demo" })
      expect(e).toMatchObject({ file, key: "mxcp", message: "unsupported version 2", fix: "set mxcp: 1" })
    }))

  it.effect("requires mxcp and project", () =>
    Effect.gen(function*() {
      expect(yield* fail({ project: "demo" })).toMatchObject({ key: "mxcp", message: 'missing required key "mxcp"' })
      expect(yield* fail({ mxcp: 1 })).toMatchObject({ key: "project", message: 'missing required key "project"' })
    }))

  it.effect("names an unknown top-level key and lists the known ones", () =>
    Effect.gen(function*() {
      const e = yield* fail({ mxcp: 1, project: "demo", sql_tool: { enabled: true } })
      expect(e.key).toBe("sql_tool")
      expect(e.message).toBe('unknown key "sql_tool"')
      expect(e.fix).toContain("remove it or check the spelling")
      expect(e.fix).toContain("sql_tools")
    }))

  it.effect("names an unknown nested key with its dotted path", () =>
    Effect.gen(function*() {
      const e = yield* fail({ mxcp: 1, project: "demo", profiles: { prod: { duckdb: { pth: "x" } } } })
      expect(e.key).toBe("profiles.prod.duckdb.pth")
      expect(e.fix).toBe("remove it or check the spelling; known keys: path, readonly, init_sql, threads, memory_limit, query_timeout")
    }))

  it.effect("takes duckdb.threads as a positive integer, also from a ${VAR} string", () =>
    Effect.gen(function*() {
      const site = yield* decode({ mxcp: 1, project: "demo", profiles: { a: { duckdb: { threads: 2 } }, b: { duckdb: { threads: "3" } } } })
      expect(site.profiles["a"]?.duckdb.threads).toBe(2)
      expect(site.profiles["b"]?.duckdb.threads).toBe(3)
      const zero = yield* fail({ mxcp: 1, project: "demo", profiles: { prod: { duckdb: { threads: 0 } } } })
      expect(zero).toMatchObject({ key: "profiles.prod.duckdb.threads", fix: "expected a positive integer" })
      const half = yield* fail({ mxcp: 1, project: "demo", profiles: { prod: { duckdb: { threads: 1.5 } } } })
      expect(half.key).toBe("profiles.prod.duckdb.threads")
    }))

  it.effect("reports a wrong type with what was expected", () =>
    Effect.gen(function*() {
      const e = yield* fail({ mxcp: 1, project: "demo", sql_tools: { enabled: "yes" } })
      expect(e).toMatchObject({ key: "sql_tools.enabled", message: 'invalid value "yes"', fix: "expected true or false" })
      const e2 = yield* fail({ mxcp: 1, project: "demo", paths: ["tools"] })
      expect(e2).toMatchObject({ key: "paths", fix: "expected a mapping" })
    }))
})
