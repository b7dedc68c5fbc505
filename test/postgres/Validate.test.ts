/**
 * `mxcp validate` with `auth.persistence.type: postgres` (real `node dist/main.js validate`
 * processes, a real cluster): the block alone without `--check-connection`; with it, connected
 * and the schema version, or a problem for an unreachable database or a newer schema; the
 * password in no output.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { LATEST_PG_MIGRATION } from "../../src/layers/oauth/store/OAuthDatabasePostgres.js"
import { PG_TEST_KEY } from "../persistence/TempDatabase.js"
import { type PostgresCluster, startPostgres } from "../support/Postgres.js"
import { copyExample } from "../support/Project.js"
import { runCli } from "../support/ServerProcess.js"

let pg: PostgresCluster
beforeAll(async () => {
  pg = await startPostgres()
}, 60_000)
afterAll(() => pg?.stop())

const PASSWORD = "Pa55-word-validate"

const validate = async (url: string, schema: string, args: ReadonlyArray<string>) => {
  const project = copyExample()
  try {
    const config = join(project.dir, "user-config.yml")
    writeFileSync(
      config,
      `mxcp: 1
projects:
  quickstart:
    profiles:
      default:
        auth:
          provider: github
          github:
            client_id: gh-client
            client_secret: s3cret
          persistence:
            type: postgres
            url: "${url}"
            encryption_key: "${PG_TEST_KEY}"
            schema: ${schema}
`
    )
    return await runCli(project.dir, ["validate", "--config", config, ...args])
  } finally {
    project.cleanup()
  }
}

describe("validate with a postgres store", () => {
  it("without --check-connection: the block is checked, the database is not asked", async () => {
    const r = await validate(`postgres://app:${PASSWORD}@127.0.0.1:1/mxcp`, "v_none", [])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("OAuth state: PostgreSQL postgres://app:***@127.0.0.1:1/mxcp, schema v_none")
    expect(r.stdout).toContain("connection not checked")
    expect(r.stdout + r.stderr).not.toContain(PASSWORD)
  }, 30_000)

  it("--check-connection: an empty schema, a current one, an unreachable database, a newer schema", async () => {
    const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${pg.port}/${pg.database}`
    const empty = await validate(url, "v_schema", ["--check-connection"])
    expect(empty.code).toBe(0)
    expect(empty.stdout).toContain("no OAuth tables yet")
    // Read-only: nothing was created.
    expect(pg.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'v_schema'", pg.database)).toBe("0")

    pg.psql(
      `CREATE SCHEMA v_schema; CREATE TABLE v_schema.oauth_migrations (migration_id integer PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), name text NOT NULL);
       INSERT INTO v_schema.oauth_migrations (migration_id, name) SELECT g, 'm' || g FROM generate_series(1, ${LATEST_PG_MIGRATION}) g`,
      pg.database
    )
    const current = await validate(url, "v_schema", ["--check-connection"])
    expect(current.code).toBe(0)
    expect(current.stdout).toContain(`schema version ${LATEST_PG_MIGRATION} (current)`)

    pg.psql(`INSERT INTO v_schema.oauth_migrations (migration_id, name) VALUES (${LATEST_PG_MIGRATION + 1}, 'future')`, pg.database)
    const newer = await validate(url, "v_schema", ["--check-connection"])
    expect(newer.code).toBe(1)
    expect(newer.stderr).toContain("auth.persistence.schema")
    expect(newer.stderr).toContain("newer than this mxcp-ts knows")

    const down = await validate(`postgres://app:${PASSWORD}@127.0.0.1:1/mxcp`, "v_schema", ["--check-connection"])
    expect(down.code).toBe(1)
    expect(down.stderr).toContain("auth.persistence.url")
    expect(down.stderr).toContain("cannot connect to PostgreSQL at 127.0.0.1:1")
    for (const r of [empty, current, newer, down]) expect(r.stdout + r.stderr).not.toContain(PASSWORD)
  }, 60_000)
})
