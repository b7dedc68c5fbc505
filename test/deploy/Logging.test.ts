/**
 * Issue 6, logging: `logging: {level, format}` in the user config and `--debug`, the access log
 * (one info line per HTTP request), logs on stderr only. Real server processes on loopback; the
 * authenticated access-log fields and the secret-free logs in both formats are in
 * test/oauth/Logs.test.ts.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel, Redacted } from "effect"
import { jsonLineLogger, minimumLevelFor } from "../../src/layers/server/LoggerStderr.js"
import { copyExample, mainJs } from "../support/Project.js"
import { freePort, isolatedEnv, startServer, waitUntil } from "../support/ServerProcess.js"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"

const initialize = (url: string) =>
  fetch(`${url}/mcp`, {
    method: "POST",
    headers: MCP_HEADERS,
    body: initializeBody("logging-test", { protocolVersion: "2025-03-26" })
  })

/** The non-empty lines of a log. */
const linesOf = (log: string): Array<string> => log.split("\n").filter((l) => l.trim() !== "")

/** Every line parsed as JSON; fails the test on a line that is not. */
const jsonLines = (log: string): Array<Record<string, unknown>> =>
  linesOf(log).map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      throw new Error(`not a JSON log line: ${line}`)
    }
  })

/** A user config file in the project copy; its path. */
const userConfig = (dir: string, yaml: string): string => {
  const path = join(dir, "user-config.yml")
  writeFileSync(path, `mxcp: 1\n${yaml}`)
  return path
}

// Each test runs its own server process: run them side by side.
describe.concurrent("logging (server processes)", () => {
  it("text format: one access-log line per request: method, path without query, status, duration, client", async () => {
    const project = copyExample()
    const server = await startServer(project.dir)
    try {
      expect((await fetch(`${server.url}/health?access_token=query-secret-health-0123456789`)).status).toBe(200)
      expect((await fetch(`${server.url}/no/such/path?code=query-secret-code-0123456789`)).status).toBe(404)
      const init = await initialize(server.url)
      expect(init.status).toBe(200)
      await init.text()
      await waitUntil("the access-log lines", () => server.stderr().includes('message="POST /mcp 200"'))
      const log = server.stderr()
      const line = (message: string) => linesOf(log).find((l) => l.includes(`message="${message}"`)) ?? ""
      const health = line("GET /health 200")
      expect(health).toMatch(/^timestamp=\S+ level=INFO /)
      expect(health).toContain(" method=GET")
      expect(health).toContain(" path=/health")
      expect(health).toContain(" status=200")
      expect(health).toMatch(/ duration_ms=\d+(\.\d)?( |$)/)
      expect(health).toContain(" client=127.0.0.1")
      expect(health).not.toContain("user=")
      expect(line("GET /no/such/path 404")).toContain(" path=/no/such/path")
      expect(line("POST /mcp 200")).toContain(" status=200")
      // Query strings (codes, states, tokens) are never logged; logs never touch stdout.
      expect(log).not.toContain("query-secret")
      expect(log).not.toContain("?")
      expect(server.stdout()).toBe("")
    } finally {
      await server.stop()
      project.cleanup()
    }
  })

  it("json format: every stderr line is one JSON object; --debug wins over logging.level", async () => {
    const project = copyExample()
    // `telemetry` is an MXCP key this server accepts with a warning: a warning line to look at.
    const config = userConfig(project.dir, "telemetry: {enabled: false}\nlogging:\n  level: error\n  format: json\n")
    const server = await startServer(project.dir, ["--config", config, "--debug"])
    try {
      expect((await fetch(`${server.url}/health?state=query-secret-state-0123456789`)).status).toBe(200)
      await waitUntil("the access-log line", () => server.stderr().includes('"message":"GET /health 200"'))
    } finally {
      expect(await server.stop()).toBe(0)
      project.cleanup()
    }
    const log = server.stderr()
    expect(server.stdout()).toBe("")
    const lines = jsonLines(log)
    for (const line of lines) {
      expect(line["timestamp"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(["debug", "info", "warning", "error", "critical"]).toContain(line["level"])
      expect(typeof line["message"]).toBe("string")
    }
    const access = lines.find((l) => l["message"] === "GET /health 200")
    expect(access).toMatchObject({ level: "info", method: "GET", path: "/health", status: 200, client: "127.0.0.1" })
    expect(typeof access?.["duration_ms"]).toBe("number")
    expect(lines.find((l) => String(l["message"]).includes("listening on"))?.["level"]).toBe("info")
    expect(lines.some((l) => l["level"] === "warning" && String(l["message"]).includes("telemetry"))).toBe(true)
    // --debug: the shutdown's debug lines are there although the config says error.
    expect(lines.some((l) => l["level"] === "debug")).toBe(true)
    expect(lines.some((l) => l["message"] === "Shutting down: draining in-flight requests")).toBe(true)
    expect(log).not.toContain("query-secret")
  })

  it("logging.level warning: warnings only, no info lines (so no access log)", async () => {
    const project = copyExample()
    const config = userConfig(project.dir, "telemetry: {enabled: false}\nlogging:\n  level: warning\n")
    const port = await freePort()
    const proc: ChildProcess = spawn(process.execPath, [mainJs, "serve", "--port", String(port), "--config", config], {
      cwd: project.dir,
      env: isolatedEnv({}),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    let stdout = ""
    proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.stdout?.on("data", (d: Buffer) => (stdout += d.toString()))
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)))
    try {
      await waitUntil("the server to answer /health", () =>
        fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status === 200, () => false), 20_000)
      expect((await initialize(`http://127.0.0.1:${port}`)).status).toBe(200)
      proc.kill("SIGTERM")
      expect(await exited).toBe(0)
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL")
      project.cleanup()
    }
    expect(stdout).toBe("")
    expect(stderr).toMatch(/level=WARN .*telemetry/)
    expect(stderr).not.toContain("level=INFO")
    expect(stderr).not.toContain("level=DEBUG")
  })

  it("stdio transport with json logs: stdout carries only JSON-RPC, every stderr line is JSON", async () => {
    const project = copyExample()
    const config = userConfig(project.dir, "logging:\n  format: json\n")
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [mainJs, "serve", "--transport", "stdio", "--config", config, "--debug"],
      cwd: project.dir,
      env: isolatedEnv({}) as Record<string, string>,
      stderr: "pipe"
    })
    let stderr = ""
    transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()))
    const client = new Client({ name: "logging-test", version: "1.0.0" })
    try {
      await client.connect(transport)
      const result = await client.callTool({ name: "count_products", arguments: {} })
      expect(result.isError).toBeFalsy()
    } finally {
      await client.close()
      project.cleanup()
    }
    const lines = jsonLines(stderr)
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.some((l) => String(l["message"]).includes("ready on stdio"))).toBe(true)
  })
})

describe("logging (in process)", () => {
  it("config levels map to Effect levels; --debug wins", () => {
    expect(minimumLevelFor({ debug: false })).toBe(LogLevel.Info)
    expect(minimumLevelFor({ debug: false, level: "debug" })).toBe(LogLevel.Debug)
    expect(minimumLevelFor({ debug: false, level: "warning" })).toBe(LogLevel.Warning)
    expect(minimumLevelFor({ debug: false, level: "error" })).toBe(LogLevel.Error)
    expect(minimumLevelFor({ debug: false, level: "critical" })).toBe(LogLevel.Fatal)
    expect(minimumLevelFor({ debug: true, level: "critical" })).toBe(LogLevel.Debug)
  })

  it.effect("json lines: annotations as fields (never replacing the core ones), Redacted stays redacted, spans", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.map(jsonLineLogger, (line) => lines.push(line)))
      yield* Effect.logWarning("something happened", "twice").pipe(
        Effect.annotateLogs({ client_id: "c-1", level: "spoofed", message: "spoofed", secret: Redacted.make("hunter2-secret") }),
        Effect.withLogSpan("Test.op"),
        Effect.provide(capture)
      )
      yield* Effect.logFatal("boom").pipe(Effect.provide(capture))
      expect(lines).toHaveLength(2)
      const first = JSON.parse(lines[0]!) as Record<string, unknown>
      expect(first).toMatchObject({ level: "warning", message: "something happened twice", client_id: "c-1" })
      expect(first["secret"]).toBe("<redacted>")
      expect(lines[0]).not.toContain("hunter2")
      expect(typeof (first["spans"] as Record<string, unknown>)["Test.op"]).toBe("number")
      expect((JSON.parse(lines[1]!) as Record<string, unknown>)["level"]).toBe("critical")
    }))
})
