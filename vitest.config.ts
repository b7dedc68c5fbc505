import { defineConfig } from "vitest/config"

/**
 * Projects in one run (one JSON report): every test against the default layers, and the whole
 * OAuth suite again with the harness servers keeping their OAuth state in SQLite
 * (`MXCP_TEST_PERSISTENCE=sqlite`); with `MXCP_TEST_LONG=1` also in PostgreSQL
 * (`oauth-postgres`) and the long multi-instance runs, so every token store passes the same
 * end-to-end tests. Run one of them with `npx vitest run --project default`.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
    projects: [
      {
        extends: true,
        test: { name: "default", include: ["test/**/*.test.ts"], exclude: ["test/postgres-long/**", "**/node_modules/**"] }
      },
      {
        extends: true,
        test: {
          name: "oauth-sqlite",
          include: ["test/oauth/**/*.test.ts"],
          env: { MXCP_TEST_PERSISTENCE: "sqlite" }
        }
      },
      // The long runs, not part of `npm test` (it stays under 15 minutes on 2 cores); `.ci/run`
      // runs them after it (`MXCP_TEST_LONG=1 npx vitest run --project oauth-postgres --project
      // postgres-long`): the whole OAuth suite against PostgreSQL (one throwaway cluster for the
      // run, a schema per server), and the multi-instance, race and fault runs (real server
      // processes, nginx, PostgreSQL stopped under load). The PostgreSQL store contract and the
      // cross-instance races (test/postgres) are in `default`.
      ...(process.env["MXCP_TEST_LONG"] === "1"
        ? [
          {
            extends: true as const,
            test: {
              name: "oauth-postgres",
              include: ["test/oauth/**/*.test.ts"],
              env: { MXCP_TEST_PERSISTENCE: "postgres" },
              globalSetup: ["test/support/PostgresGlobalSetup.ts"]
            }
          },
          { extends: true as const, test: { name: "postgres-long", include: ["test/postgres-long/**/*.test.ts"] } }
        ]
        : [])
    ]
  }
})
