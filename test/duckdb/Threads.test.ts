import { describe, expect, it } from "@effect/vitest"
import { availableParallelism } from "node:os"
import { Effect, Layer } from "effect"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"
import { DuckDbSessionNode, serverThreads } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { AppConfigFromValues } from "../../src/layers/config/AppConfigLive.js"
import { DuckDbSessionFromConfig } from "../../src/compose/Project.js"
import { exampleProject } from "../support/Project.js"

/** DuckDB's own reading of its `threads` setting. */
const threadsSetting = Effect.flatMap(DuckDbSession, (db) => db.query("SELECT current_setting('threads') AS t")).pipe(
  Effect.map((rows) => Number(rows[0]?.["t"]))
)

/** The DuckDB session built from a site config (in-memory database) for one transport. */
const fromConfig = (duckdb: Record<string, unknown>, transport: "streamable-http" | "stdio") =>
  DuckDbSessionFromConfig.pipe(
    Layer.provide(
      AppConfigFromValues({
        projectRoot: exampleProject,
        site: { mxcp: 1, project: "threads", profiles: { default: { duckdb: { path: ":memory:", ...duckdb } } } },
        overrides: { transport }
      })
    )
  )

describe("DuckDB threads", () => {
  it("serverThreads leaves one core per pooled connection, and at least one thread", () => {
    expect(serverThreads(2, 4)).toBe(1)
    expect(serverThreads(4, 4)).toBe(1)
    expect(serverThreads(5, 4)).toBe(2)
    expect(serverThreads(16, 4)).toBe(13)
    expect(serverThreads(8, 1)).toBe(8)
    expect(serverThreads(1, 1)).toBe(1)
    expect(serverThreads(16)).toBe(13)
  })

  it.effect("a session opened with `threads` runs DuckDB with that many", () =>
    Effect.gen(function*() {
      expect(yield* threadsSetting.pipe(Effect.provide(DuckDbSessionNode({ path: ":memory:", readonly: false, threads: 3 })))).toBe(3)
      // DuckDB's own default: one thread per core it sees.
      const byDefault = yield* threadsSetting.pipe(Effect.provide(DuckDbSessionNode({ path: ":memory:", readonly: false })))
      expect(byDefault).toBeGreaterThanOrEqual(1)
    }))

  it.effect("serving over HTTP defaults to serverThreads; stdio keeps DuckDB's default; duckdb.threads wins", () =>
    Effect.gen(function*() {
      const duckDbDefault = yield* threadsSetting.pipe(Effect.provide(DuckDbSessionNode({ path: ":memory:", readonly: false })))
      expect(yield* threadsSetting.pipe(Effect.provide(fromConfig({}, "streamable-http")))).toBe(serverThreads(availableParallelism()))
      expect(yield* threadsSetting.pipe(Effect.provide(fromConfig({}, "stdio")))).toBe(duckDbDefault)
      expect(yield* threadsSetting.pipe(Effect.provide(fromConfig({ threads: 2 }, "streamable-http")))).toBe(2)
      expect(yield* threadsSetting.pipe(Effect.provide(fromConfig({ threads: "5" }, "stdio")))).toBe(5)
    }))
})
