import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import { validateArguments } from "../../src/domain/mcp/Parameters.js"
import { EndpointCatalogFiles, EndpointCatalogFromDefinitions, loadCatalog } from "../../src/layers/mcp/EndpointCatalogFiles.js"
import { CatalogError, EndpointCatalog } from "../../src/services/mcp/EndpointCatalog.js"

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true })
})

/** A throwaway project folder with the given files (paths relative to the root). */
const project = (files: Record<string, string>): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mxcp-endpoints-"))
  roots.push(root)
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(root, rel)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, text)
  }
  return root
}

const paths = { tools: "tools", resources: "resources", prompts: "prompts" }
const load = (files: Record<string, string>) => loadCatalog({ projectRoot: project(files), paths })
const problemsOf = (files: Record<string, string>) =>
  load(files).pipe(
    Effect.flip,
    Effect.map((e) => e.problems.map((p) => `${p.file}: ${p.message}`))
  )

const tool = (body: string) => `mxcp: 1\ntool:\n${body.replace(/^/gm, "  ")}\n`
const okTool = (name: string) => tool(`name: ${name}\ndescription: d\nsource:\n  code: SELECT 1 AS x`)

describe("loadCatalog: good projects", () => {
  it.effect("loads tools, resources and prompts from their folders (recursively, .yml and .yaml)", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/a.yml": tool(`name: get_user
description: Get a user
parameters:
  - name: id
    type: integer
    description: User id
    minimum: 1
  - name: limit
    type: integer
    description: Max rows
    default: 10
    maximum: 100
return:
  type: object
tags: [users]
annotations:
  title: Get user
  readOnlyHint: true
source:
  file: ../sql/get_user.sql`),
        "tools/nested/deeper/b.yaml": okTool("second"),
        "sql/get_user.sql": "SELECT * FROM users WHERE id = $id LIMIT $limit",
        "resources/user.yml": `mxcp: 1
resource:
  uri: users://{id}
  description: A user
  parameters:
    - name: id
      type: integer
      description: id
  source:
    code: SELECT * FROM users WHERE id = $id
`,
        "prompts/p.yml": `mxcp: 1
prompt:
  name: greet
  description: Greets
  parameters:
    - name: who
      type: string
      description: whom
  messages:
    - role: system
      prompt: "You are nice."
    - role: user
      prompt: "Say hi to {{ who }}"
    - role: assistant
      prompt: ok
`,
        "tools/README.md": "not yaml"
      })
      expect(catalog.tools.map((t) => t.name)).toEqual(["get_user", "second"])
      const t = catalog.tools[0]!
      expect(t.sql).toBe("SELECT * FROM users WHERE id = $id LIMIT $limit")
      expect(t.returns).toEqual({ type: "object" })
      expect(t.tags).toEqual(["users"])
      expect(t.annotations).toEqual({ title: "Get user", readOnlyHint: true })
      expect(path.isAbsolute(t.file)).toBe(true)
      expect(t.inputSchema).toEqual({
        type: "object",
        properties: {
          id: { type: "integer", description: "User id", minimum: 1 },
          limit: { type: "integer", description: "Max rows", maximum: 100, default: 10 }
        },
        required: ["id"],
        additionalProperties: false
      })
      expect(catalog.resources).toHaveLength(1)
      expect(catalog.resources[0]!.mimeType).toBe("application/json")
      expect(catalog.resources[0]!.name).toBe("users://{id}")
      expect(catalog.prompts[0]!.messages.map((m) => m.role)).toEqual(["user", "user", "assistant"])
      expect(catalog.warnings).toEqual([
        "prompts/p.yml: prompt messages with role: system are served with role user (MCP prompts have no system role)"
      ])
    }))

  it.effect("a missing folder holds nothing; an endpoint of any kind may sit in any folder", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/prompt-here.yml": "mxcp: 1\nprompt:\n  name: p\n  messages: [{prompt: hi}]\n"
      })
      expect(catalog.tools).toEqual([])
      expect(catalog.prompts.map((p) => p.name)).toEqual(["p"])
      const empty = yield* loadCatalog({ projectRoot: project({}), paths })
      expect(empty).toEqual({ tools: [], resources: [], prompts: [], warnings: [] })
    }))

  it.effect("the same folder listed twice loads each file once", () =>
    Effect.gen(function* () {
      const root = project({ "endpoints/a.yml": okTool("a") })
      const catalog = yield* loadCatalog({ projectRoot: root, paths: { tools: "endpoints", resources: "endpoints", prompts: "./endpoints" } })
      expect(catalog.tools.map((t) => t.name)).toEqual(["a"])
    }))

  it.effect("python endpoints are skipped with one warning naming the file", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/py.yml": tool("name: py\nlanguage: python\nsource:\n  file: ../python/x.py\nbogus_key: 1"),
        "tools/ok.yml": okTool("ok")
      })
      expect(catalog.tools.map((t) => t.name)).toEqual(["ok"])
      expect(catalog.warnings).toEqual(["tools/py.yml: tool uses language: python, which is not supported; skipped"])
    }))

  it.effect("tests and metadata are accepted with one warning each; policies are compiled, not ignored", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/t.yml": `mxcp: 1
metadata:
  title: T
tool:
  name: t
  source: {code: SELECT 1}
  tests:
    - name: smoke
      arguments: []
  policies:
    input:
      - condition: "true"
        action: deny
`
      })
      expect(catalog.tools).toHaveLength(1)
      expect(catalog.warnings).toEqual([
        "tools/t.yml: 'metadata' is not supported yet and is ignored",
        "tools/t.yml: 'tool.tests' is not supported yet and is ignored"
      ])
      expect(catalog.tools[0]?.policies?.input.map((r) => [r.condition, r.action])).toEqual([["true", "deny"]])
    }))

  it.effect("enabled: false endpoints are skipped silently", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/off.yml": tool("name: off\nenabled: false\nsource:\n  file: missing.sql"),
        "tools/on.yml": okTool("on")
      })
      expect(catalog.tools.map((t) => t.name)).toEqual(["on"])
      expect(catalog.warnings).toEqual([])
    }))

  it.effect("a loaded tool's parameters validate arguments", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/a.yml": tool(`name: search
parameters:
  - name: q
    type: string
    description: query
    minLength: 2
  - name: limit
    type: integer
    description: rows
    default: 10
    maximum: 100
source:
  code: SELECT $q, $limit`)
      })
      const params = catalog.tools[0]!.parameters
      expect(validateArguments(params, { q: "ab" })).toEqual(Either.right({ q: "ab", limit: 10 }))
      expect(validateArguments(params, { q: "ab", limit: 500 })).toEqual(
        Either.left("Parameter 'limit' must be <= 100 (got 500)")
      )
    }))
})

describe("loadCatalog: each kind of bad file gives its message", () => {
  it.effect("YAML syntax error with line:column", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({ "tools/bad.yml": "mxcp: 1\ntool:\n  name: [unclosed\n  source: x\n" })
      expect(problems.length).toBeGreaterThan(0)
      expect(problems[0]).toMatch(/^tools\/bad\.yml: YAML syntax error at line \d+:\d+: /)
    }))

  it.effect("duplicate YAML keys are syntax errors too", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({ "tools/dup.yml": "mxcp: 1\ntool:\n  name: a\n  name: b\n  source: {code: x}\n" })
      expect(problems).toEqual([expect.stringMatching(/^tools\/dup\.yml: YAML syntax error at line 4:3: .*unique/i)])
    }))

  it.effect("a YAML alias bomb is a problem, not a hang", () =>
    Effect.gen(function* () {
      const levels = Array.from({ length: 8 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(", ")}]`)
      const problems = yield* problemsOf({ "tools/bomb.yml": ["l0: &l0 [x]", ...levels, "mxcp: 1"].join("\n") + "\n" })
      expect(problems).toEqual([expect.stringMatching(/^tools\/bomb\.yml: YAML error: .*alias/i)])
    }))

  it.effect("empty file", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({ "tools/empty.yml": "# nothing\n" })
      expect(problems).toEqual([
        "tools/empty.yml: the file is empty (expected `mxcp: 1` and one of tool, resource, prompt)"
      ])
    }))

  it.effect("not a mapping", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({ "tools/list.yml": "- a\n- b\n" })
      expect(problems).toEqual([
        "tools/list.yml: the file must be a mapping with `mxcp: 1` and one of tool, resource, prompt (got an array of 2 items)"
      ])
    }))

  it.effect("missing mxcp, and a wrong version", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/a.yml": "tool:\n  name: a\n  source: {code: SELECT 1}\n",
        "tools/b.yml": "mxcp: 2\ntool:\n  name: b\n  source: {code: SELECT 1}\n"
      })
      expect(problems).toEqual([
        "tools/a.yml: missing required key 'mxcp' (every endpoint file starts with `mxcp: 1`)",
        "tools/b.yml: mxcp: must be 1 (got 2)"
      ])
    }))

  it.effect("two kinds in one file, and none", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/two.yml": "mxcp: 1\ntool:\n  name: a\n  source: {code: x}\nprompt:\n  name: p\n",
        "tools/none.yml": "mxcp: 1\n"
      })
      expect(problems).toEqual([
        "tools/none.yml: expected exactly one of tool, resource, prompt (found none)",
        "tools/two.yml: expected exactly one of tool, resource, prompt (found tool and prompt)"
      ])
    }))

  it.effect("unknown keys are named, at every level", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/u.yml": `mxcp: 1
extra: 1
tool:
  name: u
  descripton: typo
  parameters:
    - name: p
      type: string
      description: d
      minLenght: 3
  source: {code: SELECT 1}
`
      })
      expect(problems).toEqual([
        "tools/u.yml: unknown key 'extra' (allowed: mxcp, tool, resource, prompt, metadata)",
        expect.stringMatching(/^tools\/u\.yml: tool: unknown key 'descripton' \(allowed: name, description, /),
        expect.stringMatching(/^tools\/u\.yml: tool\.parameters\[0\]: unknown key 'minLenght' \(allowed: name, type, /)
      ])
    }))

  it.effect("bad type name", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/t.yml": tool(`name: t
parameters:
  - name: p
    type: strnig
    description: d
return:
  type: list
source: {code: SELECT 1}`)
      })
      expect(problems).toEqual([
        'tools/t.yml: tool.parameters[0].type: must be one of string, number, integer, boolean, array, object (got "strnig")',
        'tools/t.yml: tool.return.type: must be one of string, number, integer, boolean, array, object (got "list")'
      ])
    }))

  it.effect("bad tool name and parameter name", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/t.yml": tool(`name: "bad name"
parameters:
  - name: 1st
    type: string
source: {code: SELECT 1}`)
      })
      expect(problems).toEqual([
        'tools/t.yml: tool.name: must be a name of letters, digits, _, . and - that does not start with a digit or symbol (got "bad name")',
        'tools/t.yml: tool.parameters[0].name: must be a parameter name of letters, digits and _ that does not start with a digit (got "1st")'
      ])
    }))

  it.effect("missing source, both code and file, neither", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/a.yml": tool("name: a"),
        "tools/b.yml": tool("name: b\nsource:\n  code: SELECT 1\n  file: b.sql"),
        "tools/c.yml": tool("name: c\nsource: {}"),
        "tools/d.yml": tool("name: d\nsource:\n  code: '   '")
      })
      expect(problems).toEqual([
        "tools/a.yml: tool: missing required key 'source'",
        "tools/b.yml: tool.source: give exactly one of 'code' or 'file' (got both)",
        "tools/c.yml: tool.source: give exactly one of 'code' or 'file' (got neither)",
        "tools/d.yml: tool.source.code is empty"
      ])
    }))

  it.effect("missing SQL file, resolved relative to the YAML file", () =>
    Effect.gen(function* () {
      const root = project({ "tools/sub/a.yml": tool("name: a\nsource:\n  file: queries/a.sql") })
      const error = yield* loadCatalog({ projectRoot: root, paths }).pipe(Effect.flip)
      expect(error.problems).toEqual([
        {
          file: "tools/sub/a.yml",
          message: `tool.source.file: 'queries/a.sql' not found (looked for ${path.join(root, "tools/sub/queries/a.sql")})`
        }
      ])
    }))

  it.effect("bad regex pattern is a load-time problem", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/r.yml": tool(`name: r
parameters:
  - name: code
    type: string
    description: d
    pattern: "[A-Z"
source: {code: SELECT 1}`)
      })
      expect(problems).toEqual([
        expect.stringMatching(/^tools\/r\.yml: tool\.parameters\.code: pattern "\[A-Z" is not a valid regular expression \(/)
      ])
    }))

  it.effect("a default that violates its own spec", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/d.yml": tool(`name: d
parameters:
  - name: limit
    type: integer
    description: d
    maximum: 100
    default: 500
  - name: status
    type: string
    description: d
    enum: [open, closed]
    default: pending
  - name: maybe
    type: string
    description: null is always a fine default
    default: null
source: {code: SELECT 1}`)
      })
      expect(problems).toEqual([
        "tools/d.yml: tool.parameters.limit: default 500 does not satisfy the parameter's own spec: must be <= 100 (got 500)",
        'tools/d.yml: tool.parameters.status: default "pending" does not satisfy the parameter\'s own spec: must be one of "open", "closed" (got "pending")'
      ])
    }))

  it.effect("inconsistent specs: min > max, enum of the wrong type, unknown format, duplicate parameter", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/s.yml": tool(`name: s
parameters:
  - name: a
    type: integer
    minimum: 10
    maximum: 1
  - name: b
    type: integer
    enum: [1, "two"]
  - name: a
    type: string
source: {code: SELECT 1}`),
        "tools/f.yml": tool(`name: f
parameters:
  - name: when
    type: string
    format: phone
source: {code: SELECT 1}`)
      })
      expect(problems).toEqual([
        'tools/f.yml: tool.parameters[0].format: must be one of date, time, date-time, timestamp, duration, email, uri, uuid (got "phone")',
        "tools/s.yml: tool.parameters.a: minimum 10 is greater than maximum 1",
        'tools/s.yml: tool.parameters.b: enum value "two" must be an integer (got "two")',
        "tools/s.yml: tool.parameters.a: parameter 'a' is declared more than once"
      ])
    }))

  it.effect("duplicate names name both files", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/a.yml": okTool("same"),
        "tools/b.yml": okTool("same"),
        "prompts/p1.yml": "mxcp: 1\nprompt:\n  name: same\n",
        "prompts/p2.yml": "mxcp: 1\nprompt:\n  name: same\n",
        "resources/r1.yml": "mxcp: 1\nresource:\n  uri: data://x\n  source: {code: SELECT 1}\n",
        "resources/r2.yml": "mxcp: 1\nresource:\n  uri: data://x\n  source: {code: SELECT 2}\n"
      })
      expect(problems).toEqual([
        "prompts/p2.yml: duplicate prompt name 'same': also defined in prompts/p1.yml",
        "resources/r2.yml: duplicate resource URI 'data://x': also defined in resources/r1.yml",
        "tools/b.yml: duplicate tool name 'same': also defined in tools/a.yml"
      ])
    }))

  it.effect("resource template variables must be exactly the declared parameters", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "resources/r.yml": `mxcp: 1
resource:
  uri: data://users/{id}/{tab}
  parameters:
    - name: id
      type: integer
      description: d
    - name: extra
      type: string
      description: d
  source: {code: SELECT 1}
`,
        "resources/bad.yml": "mxcp: 1\nresource:\n  uri: data://x/{+path}\n  source: {code: SELECT 1}\n",
        "resources/list.yml": `mxcp: 1
resource:
  uri: data://tags/{tags}
  parameters: [{name: tags, type: array, description: d}]
  source: {code: SELECT 1}
`
      })
      expect(problems).toEqual([
        "resources/bad.yml: resource.uri: '{+path}' uses an RFC 6570 operator; only simple '{name}' variables are supported",
        "resources/list.yml: resource.parameters.tags: a URI template variable must be a string, number, integer or boolean (not array)",
        "resources/r.yml: resource.uri: template variable '{tab}' is not a declared parameter",
        "resources/r.yml: resource.parameters.extra: not used in the URI template 'data://users/{id}/{tab}' (resource parameters come from the URI)"
      ])
    }))

  it.effect("prompt placeholders must name declared parameters", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "prompts/p.yml": "mxcp: 1\nprompt:\n  name: p\n  messages:\n    - prompt: 'Hi {{ nobody }}'\n"
      })
      expect(problems).toEqual([
        "prompts/p.yml: prompt.messages[0].prompt: placeholder '{{nobody}}' is not a declared parameter"
      ])
    }))

  it.effect("collects every problem of every file into one CatalogError", () =>
    Effect.gen(function* () {
      const error = yield* load({
        "tools/a.yml": "mxcp: 1\ntool: [",
        "tools/b.yml": tool("name: b"),
        "tools/c.yml": okTool("c"),
        "prompts/d.yml": "mxcp: 1\nprompt:\n  name: d\n  bad: 1\n"
      }).pipe(Effect.flip)
      expect(error).toBeInstanceOf(CatalogError)
      expect(error.problems.map((p) => p.file)).toEqual(["prompts/d.yml", "tools/a.yml", "tools/b.yml"])
      expect(error.message.split("\n")).toHaveLength(3)
    }))
})

describe("layers", () => {
  it.effect("EndpointCatalogFiles provides the catalog, or fails with CatalogError", () =>
    Effect.gen(function* () {
      const root = project({ "tools/a.yml": okTool("a") })
      const catalog = yield* EndpointCatalog.pipe(Effect.provide(EndpointCatalogFiles({ projectRoot: root, paths })))
      expect(catalog.tools.map((t) => t.name)).toEqual(["a"])
      const bad = project({ "tools/a.yml": "mxcp: 1\n" })
      const error = yield* EndpointCatalog.pipe(
        Effect.provide(EndpointCatalogFiles({ projectRoot: bad, paths })),
        Effect.flip
      )
      expect(error._tag).toBe("CatalogError")
    }))

  it.effect("EndpointCatalogFromDefinitions fills missing lists", () =>
    Effect.gen(function* () {
      const catalog = yield* EndpointCatalog.pipe(Effect.provide(EndpointCatalogFromDefinitions({ warnings: ["w"] })))
      expect(catalog).toEqual({ tools: [], resources: [], prompts: [], warnings: ["w"] })
    }))
})

describe("loadCatalog: MXCP source.language", () => {
  it.effect("MXCP keys: tool.source.language: sql is accepted; source.language: python is skipped with a warning", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/a.yml": tool("name: a\ndescription: d\nsource:\n  language: sql\n  code: SELECT 1 AS x"),
        "tools/p.yml": tool("name: p\ndescription: d\nsource:\n  language: python\n  file: ../python/p.py")
      })
      expect(catalog.tools.map((t) => t.name)).toEqual(["a"])
      expect(catalog.warnings.join("\n")).toMatch(/tools\/p\.yml: tool uses language: python, which is not supported; skipped/)
    })
  )
})
