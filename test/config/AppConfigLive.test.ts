import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { AppConfigFromFiles, AppConfigFromValues, loadAppConfig } from "../../src/layers/config/AppConfigLive.js"
import { AppConfig } from "../../src/services/config/AppConfig.js"
import { configErrorLines } from "../../src/domain/config/ConfigError.js"
import {
  formatConfigError,
  GitHubExampleUserConfig,
  loadError,
  overrides,
  project,
  SiteMinimal,
  tempDir,
  write,
  writeUserConfig
} from "./helpers.js"

const authYaml = (profile: string, auth: string, projectName = "demo") =>
  `mxcp: 1
projects:
  ${projectName}:
    profiles:
      ${profile}:
        auth:
${auth.split("\n").map((l) => (l === "" ? l : `          ${l}`)).join("\n")}
`

describe("AppConfigFromFiles: finding the files", () => {
  it.scoped("walks up from a subfolder to the nearest mxcp-site.yml", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const sub = path.join(projectDir, "tools", "deep")
      write(sub, "x.yml", "")
      const config = yield* loadAppConfig(overrides(sub, homeDir))
      expect(config.projectRoot).toBe(projectDir)
      expect(config.siteFile).toBe(path.join(projectDir, "mxcp-site.yml"))
      expect(config.site.project).toBe("demo")
    }))

  it.scoped("fails naming the folder when there is no mxcp-site.yml", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const e = yield* loadError(overrides(root, root))
      expect(e.file).toBe(root)
      expect(e.message).toContain("no mxcp-site.yml found")
      expect(e.fix).toContain("project folder")
    }))

  it.scoped("a missing user config means defaults", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.userFile).toBeNull()
      expect(config.auth.provider).toBe("none")
      expect(config.profile).toBe("default")
      expect(config.serve).toEqual({
        host: "127.0.0.1",
        port: 8000,
        transport: "streamable-http",
        scheme: "http",
        schemeFromConfig: false,
        baseUrl: null,
        trustProxy: false,
        stateless: false,
        readonly: false,
        sqlTools: false,
        exposeExternalToken: false,
        debug: false
      })
      expect(config.duckdb).toEqual({ path: path.join(projectDir, "data", "db-default.duckdb"), readonly: false })
      expect(config.warnings).toEqual([])
    }))

  it.scoped("reads ~/.mxcp/config.yml from the home folder", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const file = writeUserConfig(homeDir, "mxcp: 1\ntransport:\n  http:\n    port: 9100\n")
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.userFile).toBe(file)
      expect(config.serve.port).toBe(9100)
    }))

  it.scoped("an explicit --config that does not exist is an error", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const e = yield* loadError(overrides(projectDir, homeDir, { configPath: "nope.yml" }))
      expect(e.file).toBe(path.join(projectDir, "nope.yml"))
      expect(e.message).toBe("user config file not found")
      expect(e.fix).toContain("--config")
    }))

  it.scoped("MXCP_CONFIG is honored, and --config wins over it", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(homeDir, "mxcp: 1\ntransport:\n  http:\n    port: 9001\n")
      const fromEnv = write(root, "env.yml", "mxcp: 1\ntransport:\n  http:\n    port: 9002\n")
      const fromFlag = write(root, "flag.yml", "mxcp: 1\ntransport:\n  http:\n    port: 9003\n")
      const env = { MXCP_CONFIG: fromEnv }
      const viaEnv = yield* loadAppConfig(overrides(projectDir, homeDir, { env }))
      expect(viaEnv.userFile).toBe(fromEnv)
      expect(viaEnv.serve.port).toBe(9002)
      const viaFlag = yield* loadAppConfig(overrides(projectDir, homeDir, { env, configPath: fromFlag }))
      expect(viaFlag.userFile).toBe(fromFlag)
      expect(viaFlag.serve.port).toBe(9003)
      const missing = yield* loadError(overrides(projectDir, homeDir, { env: { MXCP_CONFIG: "/no/such.yml" } }))
      expect(missing).toMatchObject({ file: "/no/such.yml", message: "user config file not found" })
    }))
})

describe("AppConfigFromFiles: errors", () => {
  it.scoped("an unset variable: exact message, the file and the key", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const file = writeUserConfig(
        homeDir,
        authYaml("default", "provider: github\ngithub:\n  client_id: \"${GITHUB_CLIENT_ID}\"\n  client_secret: x\n")
      )
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e.message).toBe("Environment variable GITHUB_CLIENT_ID is not set")
      expect(e.file).toBe(file)
      expect(e.key).toBe("projects.demo.profiles.default.auth.github.client_id")
      expect(formatConfigError(e)).toBe(
        `${file}: projects.demo.profiles.default.auth.github.client_id: Environment variable GITHUB_CLIENT_ID is not set (fix: set GITHUB_CLIENT_ID in the environment before starting the server)`
      )
    }))

  it.scoped("interpolates from the given env", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(
        homeDir,
        authYaml(
          "default",
          "provider: github\ngithub:\n  client_id: \"${GH_ID}\"\n  client_secret: \"${GH_SECRET}\"\n  scope: \"${A} ${B}\"\n"
        )
      )
      const env = { GH_ID: "the-id", GH_SECRET: "the-secret", A: "read:user", B: "user:email" }
      const config = yield* loadAppConfig(overrides(projectDir, homeDir, { env }))
      expect(config.auth.github?.client_id).toBe("the-id")
      expect(config.auth.github?.scope).toBe("read:user user:email")
      const s = config.auth.github?.client_secret
      expect(s && Redacted.value(s)).toBe("the-secret")
      expect(String(s)).not.toContain("the-secret")
    }))

  it.scoped("a typo in a github block is an unknown key", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(homeDir, authYaml("default", "provider: github\ngithub:\n  client_idd: a\n  client_secret: b\n"))
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e.key).toBe("projects.demo.profiles.default.auth.github.client_idd")
      expect(formatConfigError(e)).toContain('unknown key "client_idd"')
    }))

  it.scoped("a top-level typo in either file is an unknown key", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, `${SiteMinimal}profle: prod\n`)
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e).toMatchObject({ file: path.join(projectDir, "mxcp-site.yml"), key: "profle" })
      write(projectDir, "mxcp-site.yml", SiteMinimal)
      const file = writeUserConfig(homeDir, "mxcp: 1\ntransprot:\n  provider: stdio\n")
      const e2 = yield* loadError(overrides(projectDir, homeDir))
      expect(e2).toMatchObject({ file, key: "transprot", message: 'unknown key "transprot"' })
      expect(e2.fix).toContain("known keys: mxcp, transport, projects, logging")
    }))

  it.scoped("a wrong type (port: abc) says what was expected", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const file = writeUserConfig(homeDir, "mxcp: 1\ntransport:\n  http:\n    port: abc\n")
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(formatConfigError(e)).toBe(
        `${file}: transport.http.port: invalid value "abc" (fix: expected an integer)`
      )
    }))

  it.scoped("mxcp: 2 is rejected", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, "mxcp: 2\nproject: demo\n")
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e).toMatchObject({ key: "mxcp", message: "unsupported version 2" })
      write(projectDir, "mxcp-site.yml", SiteMinimal)
      writeUserConfig(homeDir, "mxcp: 2\n")
      const e2 = yield* loadError(overrides(projectDir, homeDir))
      expect(e2).toMatchObject({ key: "mxcp", message: "unsupported version 2", fix: "set mxcp: 1" })
    }))

  it.scoped("a YAML syntax error gives the file, line and column", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const file = writeUserConfig(homeDir, "mxcp: 1\ntransport:\n  http: {port: 8000\n  provider: stdio\n")
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e.file).toBe(file)
      expect(e.message).toMatch(/^invalid YAML at line 4, column 3: /)
      expect(e.fix).toBe("fix the YAML syntax at line 4, column 3")
      const dup = project(path.join(root, "dup"), "mxcp: 1\nproject: a\nproject: b\n")
      const e2 = yield* loadError(overrides(dup.projectDir, dup.homeDir))
      expect(e2.message).toMatch(/^invalid YAML at line 3, column 1: /)
      expect(e2.file).toBe(path.join(dup.projectDir, "mxcp-site.yml"))
    }))

  it.scoped("an empty mxcp-site.yml is an error; an empty user config is defaults", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, "# nothing\n")
      const e = yield* loadError(overrides(projectDir, homeDir))
      expect(e.message).toBe("the file is empty")
      write(projectDir, "mxcp-site.yml", SiteMinimal)
      writeUserConfig(homeDir, "# nothing yet\n")
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.auth.provider).toBe("none")
    }))
})

describe("AppConfigFromFiles: provider blocks", () => {
  const cases = [
    ["github", "GitHub"],
    ["atlassian", "Atlassian"],
    ["salesforce", "Salesforce"]
  ] as const
  for (const [provider, display] of cases) {
    it.scoped(`${provider}: incomplete configuration names the missing keys`, () =>
      Effect.gen(function*() {
        const root = yield* tempDir
        const { homeDir, projectDir } = project(root, SiteMinimal)
        const file = writeUserConfig(homeDir, authYaml("default", `provider: ${provider}\n`))
        const e = yield* loadError(overrides(projectDir, homeDir))
        expect(e.message).toBe(`${display} OAuth configuration is incomplete`)
        expect(e.file).toBe(file)
        expect(e.key).toBe(`projects.demo.profiles.default.auth.${provider}`)
        expect(e.fix).toContain("client_id and client_secret")

        writeUserConfig(homeDir, authYaml("default", `provider: ${provider}\n${provider}:\n  client_id: abc\n`))
        const e2 = yield* loadError(overrides(projectDir, homeDir))
        expect(e2.message).toBe(`${display} OAuth configuration is incomplete`)
        expect(e2.key).toBe(`projects.demo.profiles.default.auth.${provider}.client_secret`)
        expect(e2.fix).toContain("client_secret")

        writeUserConfig(
          homeDir,
          authYaml("default", `provider: ${provider}\n${provider}:\n  client_id: abc\n  client_secret: def\n`)
        )
        const ok = yield* loadAppConfig(overrides(projectDir, homeDir))
        expect(ok.auth.provider).toBe(provider)
        expect(ok.auth[provider]?.client_id).toBe("abc")
      }))
  }

  it.scoped("an empty client_id or client_secret (e.g. an empty env var) counts as missing", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(
        homeDir,
        authYaml("default", "provider: github\ngithub:\n  client_id: \"${ID}\"\n  client_secret: s\n")
      )
      const e = yield* loadError(overrides(projectDir, homeDir, { env: { ID: "" } }))
      expect(e).toMatchObject({
        message: "GitHub OAuth configuration is incomplete",
        key: "projects.demo.profiles.default.auth.github.client_id"
      })
      writeUserConfig(
        homeDir,
        authYaml("default", "provider: github\ngithub:\n  client_id: i\n  client_secret: \"${SECRET}\"\n")
      )
      const e2 = yield* loadError(overrides(projectDir, homeDir, { env: { SECRET: "" } }))
      expect(e2.key).toBe("projects.demo.profiles.default.auth.github.client_secret")
    }))

  it.scoped("only the selected profile's provider must be complete", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(homeDir, `${authYaml("other", "provider: github\n")}      default:\n`)
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.auth.provider).toBe("none")
    }))
})

describe("AppConfigFromFiles: selection and settings", () => {
  const site = `mxcp: 1
project: demo
profile: staging
sql_tools:
  enabled: true
  expose_external_token: true
profiles:
  staging:
    duckdb:
      path: db/staging.duckdb
  prod:
    duckdb:
      path: /abs/prod.duckdb
      readonly: true
  mem:
    duckdb:
      path: ":memory:"
  other:
`
  const user = `mxcp: 1
transport:
  provider: stdio
  http:
    host: 0.0.0.0
    port: 9000
    scheme: https
    base_url: https://mcp.example.com/
    trust_proxy: true
    stateless: true
projects:
  demo:
    profiles:
      staging:
        auth:
          provider: none
          clients:
            - client_id: staging-client
              name: Staging
      prod:
        auth:
          provider: github
          github:
            client_id: prod-id
            client_secret: prod-secret
          persistence:
            path: ~/state/oauth.db
`

  it.scoped("the site profile is used by default", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, site)
      writeUserConfig(homeDir, user)
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.profile).toBe("staging")
      expect(config.auth.clients[0]?.client_id).toBe("staging-client")
      expect(config.duckdb).toEqual({ path: path.join(projectDir, "db", "staging.duckdb"), readonly: false })
      expect(config.serve).toEqual({
        host: "0.0.0.0",
        port: 9000,
        transport: "stdio",
        scheme: "https",
        schemeFromConfig: true,
        baseUrl: "https://mcp.example.com",
        trustProxy: true,
        stateless: true,
        readonly: false,
        sqlTools: true,
        exposeExternalToken: true,
        debug: false
      })
    }))

  it.scoped("--profile wins over the site profile", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, site)
      writeUserConfig(homeDir, user)
      const config = yield* loadAppConfig(overrides(projectDir, homeDir, { profile: "prod" }))
      expect(config.profile).toBe("prod")
      expect(config.auth.provider).toBe("github")
      expect(config.auth.persistence?.path).toBe(path.join(homeDir, "state", "oauth.db"))
      expect(config.duckdb).toEqual({ path: "/abs/prod.duckdb", readonly: true })
      expect(config.serve.readonly).toBe(true)
    }))

  it.scoped("a profile without a duckdb path gets data/db-<profile>.duckdb; :memory: is kept", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, site)
      const other = yield* loadAppConfig(overrides(projectDir, homeDir, { profile: "other" }))
      expect(other.duckdb.path).toBe(path.join(projectDir, "data", "db-other.duckdb"))
      const mem = yield* loadAppConfig(overrides(projectDir, homeDir, { profile: "mem" }))
      expect(mem.duckdb.path).toBe(":memory:")
    }))

  it.scoped("flags override the config files", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, site)
      writeUserConfig(homeDir, user)
      const config = yield* loadAppConfig(
        overrides(projectDir, homeDir, {
          host: "127.0.0.2",
          port: 0,
          transport: "streamable-http",
          stateless: false,
          readonly: true,
          sqlTools: false,
          debug: true
        })
      )
      expect(config.serve).toMatchObject({
        host: "127.0.0.2",
        port: 0,
        transport: "streamable-http",
        stateless: false,
        readonly: true,
        sqlTools: false,
        debug: true
      })
      expect(config.duckdb.readonly).toBe(true)
    }))

  it.scoped("persistence path defaults to ~/.mxcp/oauth.db under the home folder", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      writeUserConfig(homeDir, authYaml("default", "persistence:\n  type: sqlite\n"))
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      expect(config.auth.persistence?.path).toBe(path.join(homeDir, ".mxcp", "oauth.db"))
    }))

  it.scoped("a project or profile named like an Object.prototype member is never found on the prototype", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, "mxcp: 1\nproject: constructor\n")
      writeUserConfig(homeDir, authYaml("default", "provider: none\n", "other"))
      const e = yield* loadError(overrides(projectDir, homeDir, { profile: "toString" }))
      const lines = configErrorLines(e)
      expect(lines.some((l) => l.includes('unknown profile "toString"'))).toBe(true)
      expect(lines.some((l) => l.includes('no project "constructor"') && l.includes("this file has: other"))).toBe(true)
    }))

  it.scoped("Unknown profile: --profile nosuch is an error naming the profiles that exist (site and user config)", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, site)
      const file = writeUserConfig(homeDir, user)
      const e = yield* loadError(overrides(projectDir, homeDir, { profile: "nosuch" }))
      expect(e.file).toBe(path.join(projectDir, "mxcp-site.yml"))
      expect(e.message).toBe('unknown profile "nosuch"; the profiles of project demo are: staging, prod, mem, other')
      expect(configErrorLines(e)).toHaveLength(1)
      // A profile only the user config has is a profile too.
      const onlyUser = yield* loadAppConfig(overrides(projectDir, homeDir, { profile: "prod" }))
      expect(onlyUser.profile).toBe("prod")
      expect(file).toContain("config.yml")
    }))

  it.scoped("Unknown profile: a user config with the project but not the selected profile is an error naming its profiles", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, "mxcp: 1\nproject: demo\nprofiles:\n  prd:\n")
      const file = writeUserConfig(homeDir, authYaml("prod", "provider: none\n"))
      const e = yield* loadError(overrides(projectDir, homeDir, { profile: "prd" }))
      expect(e.file).toBe(file)
      expect(e.key).toBe("projects.demo.profiles")
      expect(e.message).toBe('no profile "prd" for project demo; this file has: prod')
    }))

  it.scoped("Unknown profile: a user config copied from the guide (my_project/dev) in another project is an error, not auth off", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, "mxcp: 1\nproject: quickstart\n")
      const file = writeUserConfig(homeDir, GitHubExampleUserConfig)
      const e = yield* loadError(overrides(projectDir, homeDir, { env: { GITHUB_CLIENT_ID: "i", GITHUB_CLIENT_SECRET: "s" } }))
      expect(e.file).toBe(file)
      expect(e.key).toBe("projects")
      expect(e.message).toContain('no project "quickstart"')
      expect(e.message).toContain("this file has: my_project")
      // A user config without projects at all is fine: auth off, as documented.
      writeUserConfig(homeDir, "mxcp: 1\n")
      expect((yield* loadAppConfig(overrides(projectDir, homeDir))).auth.provider).toBe("none")
    }))
})

describe("AppConfigFromFiles: MXCP keys not implemented here", () => {
  it.scoped("are accepted with one warning each, naming file and key", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(
        root,
        `mxcp: 1
project: demo
extensions: [httpfs]
dbt:
  enabled: true
secrets: [db]
plugin:
  - name: p
    module: m
profiles:
  default:
    duckdb:
      path: ":memory:"
    drift:
      path: drift.json
    audit:
      enabled: true
paths:
  tools: tools
  sql: sql
`
      )
      const userFile = writeUserConfig(
        homeDir,
        `mxcp: 1
vault:
  enabled: true
  token_env: "\${VAULT_TOKEN_NOT_SET}"
onepassword: {enabled: false}
models: {default: gpt-4o}
projects:
  demo:
    profiles:
      default:
        secrets:
          - name: x
            type: env
            parameters: {value: "\${ALSO_NOT_SET}"}
        telemetry: {enabled: false}
        auth:
          provider: none
logging:
  enabled: true
  level: INFO
`
      )
      const config = yield* loadAppConfig(overrides(projectDir, homeDir))
      const siteFile = path.join(projectDir, "mxcp-site.yml")
      const expected = [
        [siteFile, "extensions"],
        [siteFile, "dbt"],
        [siteFile, "secrets"],
        [siteFile, "plugin"],
        [siteFile, "profiles.default.drift"],
        [siteFile, "profiles.default.audit"],
        [siteFile, "paths.sql"],
        [userFile, "vault"],
        [userFile, "onepassword"],
        [userFile, "models"],
        [userFile, "projects.demo.profiles.default.secrets"],
        [userFile, "projects.demo.profiles.default.telemetry"],
        [userFile, "logging.enabled"]
      ]
      expect(config.warnings).toHaveLength(expected.length)
      for (const [file, key] of expected) {
        expect(config.warnings.some((w) => w.startsWith(`${file}: ${key}: `))).toBe(true)
      }
      expect(config.user.logging.level).toBe("info")
      expect(config.duckdb.path).toBe(":memory:")
    }))
})

describe("layers", () => {
  it.scoped("AppConfigFromFiles provides the AppConfig service", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, SiteMinimal)
      const config = yield* Effect.provide(AppConfig, AppConfigFromFiles(overrides(projectDir, homeDir)))
      expect(config.site.project).toBe("demo")
    }))

  it.scoped("AppConfigFromFiles fails with a ConfigError", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const e = yield* Effect.flip(Effect.provide(AppConfig, AppConfigFromFiles(overrides(root, root))))
      expect(e._tag).toBe("ConfigError")
    }))

  it.effect("AppConfigFromValues builds the service from parsed objects", () =>
    Effect.gen(function*() {
      const layer = AppConfigFromValues({
        projectRoot: "/srv/project",
        site: { mxcp: 1, project: "demo", profile: "p" },
        user: {
          projects: {
            demo: {
              profiles: {
                p: { auth: { provider: "github", github: { client_id: "id", client_secret: "${S}" } } }
              }
            }
          }
        },
        overrides: { env: { S: "sec" }, homeDir: "/home/u", port: 1234 }
      })
      const config = yield* Effect.provide(AppConfig, layer)
      expect(config.siteFile).toBe("/srv/project/mxcp-site.yml")
      expect(config.userFile).toBeNull()
      expect(config.auth.provider).toBe("github")
      expect(config.serve.port).toBe(1234)
      expect(config.duckdb.path).toBe("/srv/project/data/db-p.duckdb")
    }))
})

describe("authentication.md examples through the loader", () => {
  const env = {
    GITHUB_CLIENT_ID: "gh-id",
    GITHUB_CLIENT_SECRET: "gh-secret",
    MY_APP_CLIENT_SECRET: "app-secret"
  }

  it.scoped("the GitHub example starts", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, "mxcp: 1\nproject: my_project\nprofile: dev\n")
      writeUserConfig(homeDir, GitHubExampleUserConfig)
      const config = yield* loadAppConfig(overrides(projectDir, homeDir, { env }))
      expect(config.auth.github?.client_id).toBe("gh-id")
    }))

  it.scoped("the pre-registered clients example (github block elided) is reported as incomplete", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const { homeDir, projectDir } = project(root, "mxcp: 1\nproject: my_project\nprofile: dev\n")
      writeUserConfig(
        homeDir,
        `projects:
  my_project:
    profiles:
      dev:
        auth:
          provider: github
          clients:
            - client_id: "aa27466a-fd71-4c2a-9ecf-8b5db5d34384"
              name: "MCP CLI Development Client"
          github:
            # ... GitHub configuration
`
      )
      const e = yield* loadError(overrides(projectDir, homeDir, { env }))
      expect(e.message).toBe("GitHub OAuth configuration is incomplete")
    }))
})
