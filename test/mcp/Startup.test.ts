import { afterEach, describe, expect, it } from "@effect/vitest"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { copyExample, writeFile } from "../support/Project.js"
import { runCli, startServer, waitUntil } from "../support/ServerProcess.js"

const PYTHON_TOOL = "mxcp: 1\ntool:\n  name: py_tool\n  language: python\n  source:\n    file: ../python/x.py\n"

const userConfig = (http: string, auth = "") =>
  `mxcp: 1\ntransport:\n  http:\n${http.split("\n").map((l) => `    ${l}`).join("\n")}\n` +
  (auth === "" ? "" : `projects:\n  quickstart:\n    profiles:\n      default:\n        auth:\n${auth.split("\n").map((l) => `          ${l}`).join("\n")}\n`)

const GITHUB = "provider: github\ngithub:\n  client_id: test-id\n  client_secret: test-secret"

describe("Startup: what serve and validate say (real server process)", () => {
  const projects: Array<{ cleanup: () => void }> = []
  const project = () => {
    const p = copyExample()
    projects.push(p)
    return p
  }
  afterEach(() => {
    for (const p of projects.splice(0)) p.cleanup()
  }, 60_000)

  it("Serve warnings: serve prints the endpoint-level warnings validate prints, once at startup", async () => {
    const p = project()
    writeFile(p.dir, "tools/py_tool.yml", PYTHON_TOOL)
    const validated = await runCli(p.dir, ["validate"])
    expect(validated.code).toBe(0)
    const warning = /tools\/py_tool\.yml: tool uses language: python, which is not supported; skipped/
    expect(validated.stderr).toMatch(warning)
    const server = await startServer(p.dir)
    try {
      const log = server.stderr()
      expect(log.match(new RegExp(warning.source, "g"))).toHaveLength(1)
    } finally {
      await server.stop()
    }
  }, 60_000)

  it("Startup line: project, profile, auth: none in plain words and the endpoint counts", async () => {
    const p = project()
    const server = await startServer(p.dir)
    try {
      expect(server.stderr()).toMatch(
        /listening on http:\/\/127\.0\.0\.1:\d+\/mcp \(project quickstart, profile default, auth: none \(no login: anyone who reaches the server can call every endpoint\), 4 tools \(\+3 SQL tools\), 1 resource, 1 prompt\)/
      )
    } finally {
      await server.stop()
    }
  }, 60_000)

  it("Unknown profile: serve --profile nosuch and validate --profile nosuch are errors naming the profiles; no db-nosuch.duckdb", async () => {
    const p = project()
    for (const command of ["serve", "validate"]) {
      const r = await runCli(p.dir, [command, "--profile", "nosuch", ...(command === "serve" ? ["--port", "0"] : [])])
      expect(r.code).toBe(1)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toMatch(/unknown profile "nosuch"; the profiles of project quickstart are: default/)
    }
    expect(existsSync(join(p.dir, "data", "db-nosuch.duckdb"))).toBe(false)
  }, 60_000)

  it("Proxy pin: host 0.0.0.0 with trust_proxy and neither base_url nor allowed_hosts warns loudly at startup and in validate", async () => {
    const p = project()
    const loud = /WARNING: host 0\.0\.0\.0 with trust_proxy and neither base_url nor allowed_hosts: anyone who reaches this port/
    const open = writeFile(p.dir, "open.yml", userConfig("host: 0.0.0.0\ntrust_proxy: true"))
    const validated = await runCli(p.dir, ["validate", "--config", open])
    expect(validated.code).toBe(0)
    expect(validated.stderr).toMatch(loud)
    const server = await startServer(p.dir, ["--config", open])
    try {
      await waitUntil("the warning", () => loud.test(server.stderr()), 5_000)
    } finally {
      await server.stop()
    }
  }, 60_000)

  it("Proxy pin: no warning when base_url or allowed_hosts pins the name, or the host is loopback", async () => {
    const p = project()
    for (const http of [
      "host: 0.0.0.0\ntrust_proxy: true\nallowed_hosts: [mcp.example.com]",
      "host: 0.0.0.0\ntrust_proxy: true\nbase_url: https://mcp.example.com",
      "trust_proxy: true"
    ]) {
      const quiet = await runCli(p.dir, ["validate", "--config", writeFile(p.dir, "pinned.yml", userConfig(http))])
      expect(quiet.code).toBe(0)
      expect(quiet.stderr + quiet.stdout).not.toMatch(/with trust_proxy and neither/)
    }
  }, 60_000)

  it("Callback host: validate and startup say which host the callback uses and that localhost and 127.0.0.1 differ for cookies", async () => {
    const p = project()
    mkdirSync(join(p.dir, "state"), { recursive: true })
    const config = writeFile(p.dir, "auth.yml", userConfig("port: 8123", GITHUB))
    const note = /The OAuth callback uses host 127\.0\.0\.1: http:\/\/127\.0\.0\.1:(\d+)\/github\/callback; localhost and 127\.0\.0\.1 are different hosts for cookies/
    const validated = await runCli(p.dir, ["validate", "--config", config])
    expect(validated.code).toBe(0)
    expect(validated.stdout).toMatch(note)
    expect(validated.stdout).toContain("http://127.0.0.1:8123/github/callback")
    const server = await startServer(p.dir, ["--config", config])
    try {
      await waitUntil("the callback note", () => note.test(server.stderr()), 5_000)
      expect(server.stderr()).toMatch(/profile default, auth: github, 4 tools/)
    } finally {
      await server.stop()
    }
  }, 60_000)
})
