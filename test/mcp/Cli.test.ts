import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { copyExample } from "../support/Project.js"
import { runCli, startServer } from "../support/ServerProcess.js"

describe("command line", () => {
  it("validate accepts the example project", async () => {
    const project = copyExample()
    try {
      const r = await runCli(project.dir, ["validate"])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/OK: 4 tools, 1 resources, 1 prompts/)
    } finally {
      project.cleanup()
    }
  })

  it("validate reports every broken endpoint file with its path and exits 1", async () => {
    const project = copyExample()
    try {
      writeFileSync(join(project.dir, "tools/broken.yml"), "mxcp: 1\ntool:\n  name: broken\n  source: {code: 'SELECT 1'}\n  parameters:\n    - name: x\n      type: strnig\n")
      writeFileSync(join(project.dir, "tools/bad_yaml.yml"), "mxcp: 1\ntool:\n  name: [unclosed\n")
      const r = await runCli(project.dir, ["validate"])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/tools\/broken\.yml: .*strnig/)
      expect(r.stderr).toMatch(/tools\/bad_yaml\.yml: YAML syntax error at line \d+/)
    } finally {
      project.cleanup()
    }
  })

  it("a missing environment variable fails startup with one clear line naming file and key", async () => {
    const project = copyExample()
    try {
      const config = join(project.dir, "user-config.yml")
      writeFileSync(
        config,
        "mxcp: 1\nprojects:\n  quickstart:\n    profiles:\n      default:\n        auth:\n          provider: github\n          github:\n            client_id: ${MXCP_TEST_UNSET_ID}\n            client_secret: x\n"
      )
      const r = await runCli(project.dir, ["serve", "--config", config, "--port", "0"])
      expect(r.code).toBe(1)
      const lines = r.stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain("Environment variable MXCP_TEST_UNSET_ID is not set")
      expect(lines[0]).toContain(config)
      expect(lines[0]).toContain("github.client_id")
    } finally {
      project.cleanup()
    }
  })

  it("a port in use fails startup with one clear line", async () => {
    const project = copyExample()
    const other = copyExample()
    const first = await startServer(project.dir)
    try {
      const port = new URL(first.url).port
      const r = await runCli(other.dir, ["serve", "--port", port])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/address already in use/)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
    } finally {
      await first.stop()
      project.cleanup()
      other.cleanup()
    }
  })

  it("serve outside a project says where it looked", async () => {
    const project = copyExample()
    try {
      const empty = join(project.dir, "..", `not-a-project-${process.pid}`)
      mkdirSync(empty, { recursive: true })
      const r = await runCli(empty, ["serve", "--port", "0"])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/mxcp-site\.yml/)
    } finally {
      project.cleanup()
    }
  })

  it("--version and --help", async () => {
    const v = await runCli(process.cwd(), ["--version"])
    expect(v.stdout.trim()).toBe("0.1.0")
    const h = await runCli(process.cwd(), ["serve", "--help"])
    expect(h.stdout).toMatch(/--stateless/)
  })
})
