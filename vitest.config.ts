import { defineConfig } from "vitest/config"

/**
 * Projects in one run (one JSON report): every test against the default layers, and the whole
 * OAuth suite again with the harness servers keeping their OAuth state in SQLite
 * (`MXCP_TEST_PERSISTENCE=sqlite`) and in PostgreSQL (`oauth-postgres`: one throwaway cluster
 * for the run, a schema per server), so every token store passes the same end-to-end tests.
 * Run one of them with `npx vitest run --project default` (or `--project oauth-postgres`).
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
      {
        extends: true,
        test: {
          name: "oauth-postgres",
          include: ["test/oauth/**/*.test.ts"],
          env: { MXCP_TEST_PERSISTENCE: "postgres" },
          globalSetup: ["test/support/PostgresGlobalSetup.ts"]
        }
      },
      // The long multi-instance, race and fault runs (real server processes, nginx, PostgreSQL
      // stopped under load): not part of `npm test`; `.ci/run` runs them after it
      // (`MXCP_TEST_LONG=1 npx vitest run --project postgres-long`).
      ...(process.env["MXCP_TEST_LONG"] === "1"
        ? [{ extends: true as const, test: { name: "postgres-long", include: ["test/postgres-long/**/*.test.ts"] } }]
        : [])
    ]
  }
})
