import { describe, expect, it } from "@effect/vitest"
import { copyExample, writeFile } from "../support/Project.js"
import { runCli } from "../support/ServerProcess.js"

const ANSI = /\u001b\[/

describe("CLI usage (real process, output not a terminal)", () => {
  it("CLI: mxcp test and any unknown subcommand print a one-line usage error and the command list, no internal error object", async () => {
    for (const command of ["test", "nosuch"]) {
      const r = await runCli(process.cwd(), [command])
      expect(r.code).toBe(1)
      expect(r.stdout).toBe("")
      expect(r.stderr.trim().split("\n")).toEqual([
        `Error: unknown command '${command}'. Usage: mxcp <command> [options]; commands: serve, validate (mxcp --help)`
      ])
    }
  })

  it("CLI: help has no ANSI colours, reads mxcp serve, lists no filler and no --log-level", async () => {
    const root = await runCli(process.cwd(), ["--help"])
    const serve = await runCli(process.cwd(), ["serve", "--help"])
    const validate = await runCli(process.cwd(), ["validate", "-h"])
    for (const r of [root, serve, validate]) {
      expect(r.code).toBe(0)
      expect(r.stdout).not.toMatch(ANSI)
      expect(r.stdout).not.toMatch(/A true or false value|This setting is optional|A user-defined piece of text|--log-level|--wizard|--completions/)
    }
    expect(root.stdout).toMatch(/^Usage: mxcp <command> \[options\]$/m)
    expect(root.stdout).toMatch(/^ {2}serve +Serve the MCP project/m)
    expect(serve.stdout).toMatch(/^Usage: mxcp serve \[options\]$/m)
    expect(serve.stdout).toMatch(/^ {2}--port <number> +Port to listen on \(default 8000\)$/m)
    expect(serve.stdout).toMatch(/--stateless/)
    expect(validate.stdout).toMatch(/^Usage: mxcp validate \[options\]$/m)
  })

  it("CLI: --port abc gives one plain line", async () => {
    const r = await runCli(process.cwd(), ["serve", "--port", "abc"])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr).not.toMatch(ANSI)
    expect(r.stderr.trim().split("\n")).toEqual(["Error: --port needs a port number from 0 to 65535 (got 'abc')"])
  })

  it("CLI: an unknown option is one plain line without an error object", async () => {
    const r = await runCli(process.cwd(), ["validate", "--bogus"])
    expect(r.code).toBe(1)
    expect(r.stderr).not.toMatch(ANSI)
    expect(r.stderr).not.toMatch(/_tag/)
    expect(r.stderr.trim().split("\n")).toEqual(["Received unknown argument: '--bogus'"])
  })

  it("CLI: --debug adds no 'Fiber terminated' noise to a config error", async () => {
    const project = copyExample()
    try {
      const bad = writeFile(project.dir, "bad.yml", "mxcp: 1\nbogus: 1\n")
      const r = await runCli(project.dir, ["serve", "--debug", "--port", "0", "--config", bad])
      expect(r.code).toBe(1)
      expect(r.stderr).not.toMatch(/Fiber terminated/)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toMatch(/^Error: .*bad\.yml: bogus: unknown key "bogus"/)
    } finally {
      project.cleanup()
    }
  })
})
