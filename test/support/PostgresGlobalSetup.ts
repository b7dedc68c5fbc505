/**
 * Global setup of the `oauth-postgres` vitest project: one throwaway PostgreSQL cluster for the
 * whole run (test/support/Postgres.ts), its URL in `MXCP_TEST_PG_URL` for the test workers
 * (every harness server then takes a schema of its own on it), stopped at the end.
 */
import { type PostgresCluster, startPostgres } from "./Postgres.js"

let cluster: PostgresCluster | undefined

export const setup = async (): Promise<void> => {
  cluster = await startPostgres({ database: "mxcp_oauth_suite" })
  process.env["MXCP_TEST_PG_URL"] = cluster.url
}

export const teardown = (): void => {
  cluster?.stop()
  cluster = undefined
}
