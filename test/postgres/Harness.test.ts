/**
 * The throwaway PostgreSQL cluster the postgres tests run against (test/support/Postgres.ts):
 * it starts, answers SQL, survives a crash with its data, and leaves nothing behind.
 */
import { existsSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type PostgresCluster, startPostgres } from "../support/Postgres.js"

describe("throwaway PostgreSQL cluster", () => {
  let pg: PostgresCluster
  beforeAll(async () => {
    pg = await startPostgres()
  }, 60_000)
  afterAll(() => pg?.stop())

  it("answers SQL on its own port, in its own database", () => {
    expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/mxcp`)
    expect(pg.psql("select current_database()", "mxcp")).toBe("mxcp")
    expect(pg.psql("show fsync")).toBe("off")
  })

  it("recovers committed data after an immediate (crash) stop", () => {
    pg.psql("create table t(a int); insert into t values (41), (1)", "mxcp")
    pg.crash()
    expect(pg.running()).toBe(false)
    pg.start()
    expect(pg.psql("select sum(a) from t", "mxcp")).toBe("42")
  })

  it("creates further databases on demand", () => {
    const url = pg.databaseUrl("other")
    expect(url.endsWith("/other")).toBe(true)
    expect(pg.psql("select 1", "other")).toBe("1")
  })

  it("stop() removes the cluster", async () => {
    const extra = await startPostgres({ database: "x" })
    const folder = new URL(`file://${extra.psql("show data_directory")}`).pathname
    expect(existsSync(folder)).toBe(true)
    extra.stop()
    expect(existsSync(folder)).toBe(false)
  }, 60_000)
})
