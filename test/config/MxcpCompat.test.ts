/**
 * Issue 17, MXCP compatibility of the config files: MXCP keys this server accepts
 * (`sql_tools.<tool>.description`, `auth.mode: issuer`), MXCP keys and values it refuses as not
 * supported (never "check the spelling"), and config errors collected per file (unset `${VAR}`
 * included), keys checked before `${VAR}` expansion.
 */
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import { configErrorLines } from "../../src/domain/config/ConfigError.js"
import { resolvePersistence } from "../../src/domain/config/Persistence.js"
import { decodeAuthConfig, loadAppConfig } from "../../src/layers/config/AppConfigLive.js"
import { loadError, overrides, project, SiteMinimal, tempDir, writeUserConfig } from "./helpers.js"

const userWithAuth = (auth: string) => `mxcp: 1
projects:
  demo:
    profiles:
      default:
        auth:
${auth.split("\n").map((l) => (l === "" ? l : `          ${l}`)).join("\n")}
`

describe("MXCP keys this server rejected as unknown", () => {
  it.scoped("MXCP keys: sql_tools.execute_sql_query|list_tables|get_table_schema with a description are accepted", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(
        root,
        `${SiteMinimal}sql_tools:
  enabled: true
  execute_sql_query:
    description: Run SQL against the sales warehouse
  list_tables:
    description: Tables of the warehouse
  get_table_schema: {description: Columns of one table}
`
      )
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.site.sql_tools.execute_sql_query?.description).toBe("Run SQL against the sales warehouse")
      expect(config.site.sql_tools.list_tables?.description).toBe("Tables of the warehouse")
      expect(config.site.sql_tools.get_table_schema?.description).toBe("Columns of one table")
      // Inside, unknown keys are still typos.
      project(root, `${SiteMinimal}sql_tools:\n  list_tables:\n    descripton: x\n`)
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e.key).toBe("sql_tools.list_tables.descripton")
      expect(e.message).toBe('unknown key "descripton"')
    }))

  it.scoped("MXCP keys: auth.mode: issuer (MXCP's default) is accepted; verifier is not supported, said in those words", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(homeDir, userWithAuth("mode: issuer\nprovider: none"))
      expect((yield* loadAppConfig(overrides(projectDir, homeDir))).auth.mode).toBe("issuer")
      const file = writeUserConfig(homeDir, userWithAuth("mode: verifier\nprovider: none"))
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e.file).toBe(file)
      expect(e.key).toBe("projects.demo.profiles.default.auth.mode")
      expect(e.message).toMatch(/^MXCP key "mode: verifier" is not supported by this server: /)
      expect(e.fix).not.toContain("spelling")
    }))

  it.scoped("MXCP keys: an MXCP key or value that is not implemented says so, never 'check the spelling'", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(
        homeDir,
        `mxcp: 1
transport:
  provider: sse
projects:
  demo:
    profiles:
      default:
        auth:
          mode: verifier
`
      )
      const lines = configErrorLines(yield* loadError(overrides(projectDir, homeDir)))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/: transport\.provider: MXCP key "provider: sse" is not supported by this server: /)
      for (const line of lines) expect(line).not.toContain("spelling")
      // With the transport fixed, the unsupported auth mode says so too.
      writeUserConfig(homeDir, "mxcp: 1\nprojects:\n  demo:\n    profiles:\n      default:\n        auth:\n          mode: verifier\n")
      const mode = configErrorLines(yield* loadError(overrides(projectDir, homeDir)))
      expect(mode).toHaveLength(1)
      expect(mode[0]).toMatch(/auth\.mode: MXCP key "mode: verifier" is not supported by this server: /)
      expect(mode[0]).not.toContain("spelling")
      // Keys that can be ignored say the same, as a warning.
      writeUserConfig(homeDir, "mxcp: 1\nvault: {enabled: false}\n")
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.warnings).toEqual([
        `${path.join(homeDir, ".mxcp", "config.yml")}: vault: MXCP key "vault" is not supported by this server: ignored`
      ])
    }))
})

describe("Config errors: every problem of a file, one line each", () => {
  it.scoped("Config errors: every problem per file is reported, unset ${VAR} included, one line each", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, `${SiteMinimal}sql_tool: {enabled: true}\nprofiles:\n  default:\n    duckdb: {threads: none}\n`)
      const userFile = writeUserConfig(
        homeDir,
        `mxcp: 1
transport:
  http:
    port: "\${MXCP_TEST_PORT_UNSET}"
    trust_proxi: true
projects:
  demo:
    profiles:
      default:
        auth:
          provider: github
          github:
            client_id: "\${MXCP_TEST_ID_UNSET}"
            client_secret: "\${MXCP_TEST_SECRET_UNSET}"
`
      )
      const lines = configErrorLines(yield* loadError(overrides(projectDir, homeDir)))
      const siteFile = path.join(projectDir, "mxcp-site.yml")
      expect(lines).toEqual([
        `${siteFile}: sql_tool: unknown key "sql_tool" (fix: remove it or check the spelling; known keys: mxcp, project, profile, sql_tools, paths, limits, profiles)`,
        `${siteFile}: profiles.default.duckdb.threads: invalid value "none" (fix: expected an integer)`,
        expect.stringMatching(new RegExp(`^${userFile}: transport\\.http\\.trust_proxi: unknown key "trust_proxi"`)),
        `${userFile}: transport.http.port: Environment variable MXCP_TEST_PORT_UNSET is not set (fix: set MXCP_TEST_PORT_UNSET in the environment before starting the server)`,
        `${userFile}: projects.demo.profiles.default.auth.github.client_id: Environment variable MXCP_TEST_ID_UNSET is not set (fix: set MXCP_TEST_ID_UNSET in the environment before starting the server)`,
        `${userFile}: projects.demo.profiles.default.auth.github.client_secret: Environment variable MXCP_TEST_SECRET_UNSET is not set (fix: set MXCP_TEST_SECRET_UNSET in the environment before starting the server)`
      ])
    }))
})

describe("MXCP keys: persistence.auth_encryption_key", () => {
  const KEY = Buffer.alloc(32, 7).toString("base64")

  it.effect("MXCP keys: persistence.auth_encryption_key is accepted as an alias of encryption_key (sqlite and postgres)", () =>
    Effect.gen(function*() {
      const sqlite = yield* decodeAuthConfig({ persistence: { path: "/tmp/x.db", auth_encryption_key: KEY } }, "config.yml")
      const a = resolvePersistence(sqlite.persistence!, "config.yml", "auth.persistence")
      expect(Either.isRight(a) && a.right.type === "sqlite" && a.right.encryption_key !== undefined &&
        Redacted.value(a.right.encryption_key)).toBe(KEY)
      const pg = yield* decodeAuthConfig(
        { persistence: { type: "postgres", url: "postgres://u:p@127.0.0.1:5432/db", auth_encryption_key: KEY } },
        "config.yml"
      )
      const b = resolvePersistence(pg.persistence!, "config.yml", "auth.persistence")
      expect(Either.isRight(b) && b.right.type === "postgres" && Redacted.value(b.right.encryption_key)).toBe(KEY)
    }))

  it.effect("MXCP keys: auth_encryption_key and encryption_key together are an error naming the key", () =>
    Effect.gen(function*() {
      const both = yield* decodeAuthConfig({ persistence: { path: "/tmp/x.db", auth_encryption_key: KEY, encryption_key: KEY } }, "config.yml")
      const r = resolvePersistence(both.persistence!, "config.yml", "auth.persistence")
      expect(Either.isLeft(r) && r.left.key).toBe("auth.persistence.auth_encryption_key")
      expect(Either.isLeft(r) && r.left.message).not.toContain(KEY)
    }))
})
