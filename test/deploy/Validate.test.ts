/**
 * Issue 6, `mxcp validate` checks the selected profile's auth setup: a complete provider block
 * with every `${VAR}` set, the exact callback URL to register, the OAuth state files (read-only:
 * validate creates nothing), and a warning for plain http on a non-loopback base URL. Exit 1 on
 * any problem, 0 otherwise. Real `node dist/main.js validate` processes.
 */
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { copyExample } from "../support/Project.js"
import { runCli } from "../support/ServerProcess.js"

/** Run `validate --config <file>` on a project copy whose user config is `yaml`. */
const validate = async (
  yaml: string,
  options: { readonly args?: ReadonlyArray<string>; readonly env?: Record<string, string>; readonly before?: (dir: string) => void } = {}
) => {
  const project = copyExample()
  try {
    const config = join(project.dir, "user-config.yml")
    writeFileSync(config, yaml)
    options.before?.(project.dir)
    const entries = readdirSync(project.dir).sort()
    const result = await runCli(project.dir, ["validate", "--config", config, ...(options.args ?? [])], options.env ?? {})
    return { ...result, dir: project.dir, created: readdirSync(project.dir).sort().filter((e) => !entries.includes(e)) }
  } finally {
    project.cleanup()
  }
}

/** A user config with `auth` (YAML lines indented for the auth block) and optional transport lines. */
const withAuth = (auth: string, http = "") => `mxcp: 1
${http === "" ? "" : `transport:\n  http:\n${http}`}projects:
  quickstart:
    profiles:
      default:
        auth:
${auth}`

const github = `          provider: github
          github:
            client_id: gh-client
            client_secret: \${GH_SECRET}
`

// Each test runs its own processes: run them side by side.
describe.concurrent("validate checks the auth setup", () => {
  it("prints the exact callback URL to register (base_url + callback_path) and exits 0", async () => {
    const r = await validate(withAuth(github, "    base_url: https://mcp.example.com/\n"), { env: { GH_SECRET: "s3cret" } })
    expect(r.stderr).toBe("Warning: projects.quickstart.profiles.default.auth.persistence is not set: every restart logs users out (set it for production)\n")
    expect(r.code).toBe(0)
    const lines = r.stdout.split("\n")
    expect(lines).toContain("Auth: github (profile default)")
    expect(lines).toContain("OAuth issuer: https://mcp.example.com")
    expect(lines).toContain("Callback URL to register with GitHub: https://mcp.example.com/github/callback")
    expect(r.stdout).toMatch(/^OK: 4 tools, 1 resources, 1 prompts/m)
    expect(r.stdout).not.toContain("s3cret")
  })

  it("without base_url: the configured scheme, host and port; the selected profile and its callback_path", async () => {
    const yaml = `mxcp: 1
transport:
  http: {host: mcp.internal, port: 8443, scheme: https}
projects:
  quickstart:
    profiles:
      default: {}
      prod:
        auth:
          provider: salesforce
          salesforce:
            client_id: sf-client
            client_secret: sf-secret
            callback_path: /oauth/sf
`
    const r = await validate(yaml, { args: ["--profile", "prod"] })
    expect(r.code).toBe(0)
    expect(r.stdout.split("\n")).toContain("Auth: salesforce (profile prod)")
    expect(r.stdout.split("\n")).toContain("Callback URL to register with Salesforce: https://mcp.internal:8443/oauth/sf")
  })

  it("an incomplete provider block or an unset variable: one line naming the key, exit 1", async () => {
    const incomplete = await validate(withAuth("          provider: atlassian\n          atlassian:\n            client_id: at-client\n"))
    expect(incomplete.code).toBe(1)
    expect(incomplete.stderr).toContain("Atlassian OAuth configuration is incomplete")
    expect(incomplete.stderr).toContain("projects.quickstart.profiles.default.auth.atlassian.client_secret")
    const unset = await validate(withAuth(github))
    expect(unset.code).toBe(1)
    expect(unset.stderr).toContain("Environment variable GH_SECRET is not set")
    expect(unset.stderr).toContain("github.client_secret")
  })

  it("plain http on a non-loopback base URL with auth on: a warning (exit 0)", async () => {
    const remote = await validate(withAuth(github, "    base_url: http://mcp.example.com\n"), { env: { GH_SECRET: "x" } })
    expect(remote.code).toBe(0)
    expect(remote.stderr).toMatch(/^Warning: the base URL http:\/\/mcp\.example\.com uses plain http on a non-loopback host/m)
    expect(remote.stdout.split("\n")).toContain("Callback URL to register with GitHub: http://mcp.example.com/github/callback")
  })

  it("persistence: a missing folder is fine and is not created; a group-readable database or a bad key file fails", async () => {
    const persisted = `${github}          persistence:\n            path: state/deep/oauth.db\n`
    const fresh = await validate(withAuth(persisted), { env: { GH_SECRET: "x" } })
    expect(fresh.code).toBe(0)
    expect(fresh.stdout.split("\n")).toContain(`OAuth state: ${join(fresh.dir, "state/deep/oauth.db")}`)
    expect(fresh.created).toEqual([])
    // Loopback http (the defaults): no warning at all.
    expect(fresh.stderr).toBe("")
    expect(fresh.stdout.split("\n")).toContain("Callback URL to register with GitHub: http://127.0.0.1:8000/github/callback")

    const exposed = await validate(withAuth(persisted), {
      env: { GH_SECRET: "x" },
      before: (dir) => {
        mkdirSync(join(dir, "state/deep"), { recursive: true })
        writeFileSync(join(dir, "state/deep/oauth.db"), "")
        chmodSync(join(dir, "state/deep/oauth.db"), 0o640)
        writeFileSync(join(dir, "state/deep/oauth.db.key"), "not a key\n", { mode: 0o600 })
      }
    })
    expect(exposed.code).toBe(1)
    const db = join(exposed.dir, "state/deep/oauth.db")
    expect(exposed.stderr).toContain(`Error: ${db}: the OAuth database is accessible by other users (mode 0640)`)
    expect(exposed.stderr).toContain(`chmod 600 ${db}`)
    expect(exposed.stderr).toContain(`Error: ${db}.key: the encryption key file does not hold 32 base64-encoded bytes`)
    expect(exposed.stdout).not.toMatch(/^OK:/m)
  })

  it("endpoint problems and auth problems (a persistence path under a file) are all reported in one run", async () => {
    const r = await validate(withAuth(`${github}          persistence:\n            path: mxcp-site.yml/oauth.db\n`), {
      env: { GH_SECRET: "x" },
      before: (dir) => writeFileSync(join(dir, "tools/broken.yml"), "mxcp: 1\ntool:\n  name: [unclosed\n")
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/tools\/broken\.yml: YAML syntax error/)
    expect(r.stderr).toContain("is not a folder")
  })
})
