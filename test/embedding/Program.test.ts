import { spawn } from "node:child_process"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { describe, expect, it } from "@effect/vitest"
import { copyExample, repoRoot } from "../support/Project.js"
import { isolatedEnv, waitUntil } from "../support/ServerProcess.js"

describe("Embedding: the README's program", () => {
  it("Embedding: the README program importing the public entry (mxcp-ts) runs and serves MCP", async () => {
    const project = copyExample()
    const program = join(repoRoot, "test/embedding/program/serve.ts")
    // tsx from the repository; the program resolves "mxcp-ts" to this package's dist (its exports).
    const proc = spawn(process.execPath, ["--import", pathToFileURL(join(repoRoot, "node_modules/tsx/dist/loader.mjs")).href, program], {
      cwd: project.dir,
      env: isolatedEnv({ PORT: "0" }),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    proc.stdout.on("data", (d: Buffer) => (output += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (output += d.toString()))
    const exited = new Promise((r) => proc.once("exit", r))
    try {
      await waitUntil("the server", () => /listening on http:\/\/[^\s"]+\/mcp/.test(output) || proc.exitCode !== null, 20_000)
      const url = /listening on (http:\/\/[^\s"]+)\/mcp/.exec(output)?.[1]
      expect(url, output).toBeDefined()
      expect(output).toContain("embedding app started")
      const client = new Client({ name: "embedding-test", version: "1.0.0" })
      await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name)).toContain("list_products")
      await client.close()
    } finally {
      proc.kill("SIGTERM")
      await exited
      project.cleanup()
    }
  }, 60_000)
})
