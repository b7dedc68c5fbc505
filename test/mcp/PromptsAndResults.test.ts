import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { copyExample, writeFile } from "../support/Project.js"
import { type RunningServer, runCli, startServer } from "../support/ServerProcess.js"

const JINJA_PROMPT = `mxcp: 1
prompt:
  name: incident
  description: Jinja features MXCP prompts use.
  parameters:
    - name: title
      type: string
    - name: urgent
      type: boolean
      default: false
    - name: tags
      type: array
      items: { type: string }
      default: []
  messages:
    - role: user
      prompt: "{% if urgent %}URGENT: {% endif %}{{ title | upper }}{% for t in tags %} #{{ t }}{% endfor %} <{{ title }}>"
`

const BROKEN_AT_RENDER = `mxcp: 1
prompt:
  name: calls_a_string
  parameters:
    - name: title
      type: string
  messages:
    - role: user
      prompt: "{{ title() }}"
`

const STRING_TOOL = `mxcp: 1
tool:
  name: as_json_text
  description: A string that happens to hold JSON.
  return:
    type: string
  source:
    code: SELECT '{"m":2.5}' AS s
`

const OBJECT_TOOL = `mxcp: 1
tool:
  name: product_card
  description: An object with declared properties.
  parameters:
    - name: id
      type: integer
      default: null
  return:
    type: object
    properties:
      id: { type: integer }
      name: { type: string }
      note: { type: string }
    required: [id, name]
  source:
    code: SELECT id, name, NULL::VARCHAR AS note FROM products WHERE id = coalesce($id, 1)
`

const textOf = (result: unknown): string =>
  (result as { content: Array<{ type: string; text: string }> }).content[0]!.text

describe("Prompts and results (real server process, real SDK client)", () => {
  let project: ReturnType<typeof copyExample>
  let server: RunningServer
  let client: Client

  beforeAll(async () => {
    project = copyExample()
    writeFile(project.dir, "prompts/incident.yml", JINJA_PROMPT)
    writeFile(project.dir, "prompts/calls_a_string.yml", BROKEN_AT_RENDER)
    writeFile(project.dir, "tools/as_json_text.yml", STRING_TOOL)
    writeFile(project.dir, "tools/product_card.yml", OBJECT_TOOL)
    server = await startServer(project.dir)
    client = new Client({ name: "mxcp-test", version: "1.0.0" })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)))
  })
  afterAll(async () => {
    await client?.close()
    await server?.stop()
    project?.cleanup()
  })

  it("Prompts with Jinja: {% if %}, filters and {% for %} are rendered with the arguments, autoescape off", async () => {
    const got = await client.getPrompt({ name: "incident", arguments: { title: "db <down>", urgent: "true", tags: '["ops","db"]' } as never })
    expect((got.messages[0]!.content as { text: string }).text).toBe("URGENT: DB <DOWN> #ops #db <db <down>>")
    const plain = await client.getPrompt({ name: "incident", arguments: { title: "x" } })
    expect((plain.messages[0]!.content as { text: string }).text).toBe("X <x>")
  })

  it("Prompts with Jinja: a rendering error is an MCP error naming the prompt, the server keeps serving", async () => {
    await expect(client.getPrompt({ name: "calls_a_string", arguments: { title: "t" } })).rejects.toThrow(
      /Prompt calls_a_string: message 0 could not be rendered/
    )
    const again = await client.getPrompt({ name: "incident", arguments: { title: "y" } })
    expect((again.messages[0]!.content as { text: string }).text).toBe("Y <y>")
  })

  it("Results: a return type string sends the string itself as the text (no second JSON encoding)", async () => {
    const result = await client.callTool({ name: "as_json_text", arguments: {} })
    expect(result.isError).toBeFalsy()
    expect(textOf(result)).toBe('{"m":2.5}')
    expect(result.structuredContent).toBeUndefined()
  })

  it("Results: tools/list carries outputSchema for object return types and structuredContent matches it", async () => {
    const { tools } = await client.listTools()
    const card = tools.find((t) => t.name === "product_card")!
    expect(card.outputSchema).toEqual({
      type: "object",
      properties: { id: { type: ["integer", "null"] }, name: { type: ["string", "null"] }, note: { type: ["string", "null"] } },
      required: ["id", "name"]
    })
    expect(tools.find((t) => t.name === "get_product")!.outputSchema).toEqual({ type: "object" })
    expect(tools.find((t) => t.name === "count_products")!.outputSchema).toBeUndefined()
    expect(tools.find((t) => t.name === "as_json_text")!.outputSchema).toBeUndefined()
    // The SDK client checks structuredContent against the published outputSchema itself.
    const result = await client.callTool({ name: "product_card", arguments: { id: 2 } })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toEqual({ id: 2, name: "Rain Jacket", note: null })
  })

  it("Input schema: a default: null parameter is published without the \"type\":\"string\",\"default\":null contradiction", async () => {
    const { tools } = await client.listTools()
    const card = tools.find((t) => t.name === "product_card")!
    expect(card.inputSchema).toEqual({ type: "object", properties: { id: { type: "integer" } }, required: [], additionalProperties: false })
    expect(JSON.stringify(tools)).not.toContain('"default":null')
  })
})

describe("Prompts with Jinja: load-time checks", () => {
  it("Prompts with Jinja: a template that does not compile is a load error naming the file", async () => {
    const project = copyExample()
    try {
      mkdirSync(join(project.dir, "prompts"), { recursive: true })
      writeFile(project.dir, "prompts/broken.yml", BROKEN_AT_RENDER.replace('"{{ title() }}"', '"{% if title %}no end"').replace("calls_a_string", "broken"))
      const out = await runCli(project.dir, ["validate"])
      expect(out.code).not.toBe(0)
      const text = out.stdout + out.stderr
      expect(text).toMatch(/prompts\/broken\.yml/)
      expect(text).toMatch(/messages\[0\]\.prompt: the template does not compile/)
    } finally {
      project.cleanup()
    }
  })
})
