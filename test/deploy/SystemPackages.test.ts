/**
 * Newcomer (issue 17): the README's test command passes on a fresh machine by itself. `npm test`
 * and `.ci/run` share one step, `scripts/system-packages.sh`, that installs the Debian packages
 * the tests drive (nginx, chromium) when it can, and otherwise says in one line what to install.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const repoRoot = join(import.meta.dirname, "..", "..")
const script = join(repoRoot, "scripts", "system-packages.sh")

const run = (env: Record<string, string>, asUser?: string) => {
  const command = asUser === undefined ? ["bash", script] : ["runuser", "-u", asUser, "--", "bash", script]
  const [bin, ...args] = command
  return spawnSync(bin!, args, {
    encoding: "utf8",
    // PATH without sudo's usual folders would not change the result: `nobody` has no password-less sudo.
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env },
    timeout: 20_000
  })
}

describe("Newcomer: the system packages the tests need", () => {
  it("Newcomer npm test runs the shared install step first, and .ci/run uses the same step", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }
    expect(pkg.scripts["test"]?.startsWith("bash scripts/system-packages.sh && ")).toBe(true)
    expect(readFileSync(join(repoRoot, ".ci", "run"), "utf8")).toContain("bash scripts/system-packages.sh")
  })

  it("Newcomer with everything installed the step is silent and succeeds", () => {
    const result = run({})
    expect(result.status).toBe(0)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe("")
  })

  it.runIf(process.getuid?.() === 0)(
    "Newcomer when a package is missing and it cannot install, one line says exactly what to install",
    () => {
      const result = run({ MXCP_CHROMIUM_BIN: "/nonexistent/chromium" }, "nobody")
      expect(result.status).toBe(1)
      const lines = result.stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain("chromium")
      expect(lines[0]).toContain("sudo apt-get install -y chromium")
      expect(lines[0]).not.toContain("nginx")
    }
  )
})
