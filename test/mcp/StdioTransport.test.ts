import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { describe, expect, it } from "@effect/vitest"
import { copyExample, mainJs } from "../support/Project.js"
import { isolatedEnv } from "../support/ServerProcess.js"

describe("stdio transport (spawned node dist/main.js serve --transport stdio)", () => {
  it("lists and calls tools, reads a resource, gets a prompt; logs never touch stdout", async () => {
    const project = copyExample()
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [mainJs, "serve", "--transport", "stdio", "--debug"],
      cwd: project.dir,
      env: isolatedEnv({}) as Record<string, string>,
      stderr: "pipe"
    })
    let stderr = ""
    transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()))
    const client = new Client({ name: "mxcp-test", version: "1.0.0" })
    try {
      await client.connect(transport)
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name)).toContain("list_products")
      const result = await client.callTool({ name: "list_products", arguments: { limit: 2 } })
      const rows = JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as Array<{ name: string }>
      expect(rows.map((r) => r.name)).toEqual(["Wool Socks", "Water Bottle"])
      const read = await client.readResource({ uri: "products://1" })
      expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ id: 1 })
      const prompt = await client.getPrompt({ name: "product_pitch", arguments: { product_name: "Socks", tone: "formal" } })
      expect((prompt.messages[0]!.content as { text: string }).text).toContain("formal")
    } finally {
      await client.close()
      project.cleanup()
    }
    expect(stderr).toMatch(/ready on stdio/)
  })
})
