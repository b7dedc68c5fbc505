/**
 * Issue 14, policies end to end: the examples of MXCP's policy documentation (email domain
 * restriction, admin-only, self-only `employee_id == user.user_id`, masking by permission,
 * sensitive fields) served over real HTTP on loopback to the real MCP SDK client, users logged
 * in through the fake GitHub; two users calling the same tools interleaved, each getting their
 * own outcome. The CLI refuses a condition that does not compile, naming file, rule and error.
 */
import { McpError } from "@modelcontextprotocol/sdk/types.js"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { login } from "../support/OAuthFlows.js"
import { copyExample } from "../support/Project.js"
import { runCli } from "../support/ServerProcess.js"
import { callTool, mcpClient, type ToolOutcome } from "../oauth/RowHelpers.js"

const tool = (body: string) => `mxcp: 1\ntool:\n${body.replace(/^/gm, "  ")}\n`

const EMPLOYEES = `SELECT * FROM (VALUES
  ('101', 'Alice', 'alice@example.com', 95000, '123-45-6789', '555-0101'),
  ('202', 'Bob', 'bob@other.org', 88000, '987-65-4321', '555-0202')
) t(id, name, email, salary, ssn, phone)`

const FILES: Record<string, string> = {
  // Email domain restriction.
  "tools/company_news.yml": tool(`name: company_news
description: For company accounts only
source:
  code: SELECT 'all hands on Friday' AS news
policies:
  input:
    - condition: "!user.email.endsWith('@example.com')"
      action: deny
      reason: "Only example.com accounts may read company news"`),
  // Admin-only (a GitHub login carries no role: MXCP's default role is 'user').
  "tools/admin_report.yml": tool(`name: admin_report
description: Admins only
source:
  code: SELECT 42 AS secret_metric
policies:
  input:
    - condition: "user.role != 'admin'"
      action: deny
      reason: "Admins only"`),
  // Self-only, with sensitive fields filtered and the rest masked without pii.view.
  "tools/employee_profile.yml": tool(`name: employee_profile
description: One employee
parameters:
  - name: employee_id
    type: string
    description: Employee ID
return:
  type: object
  properties:
    id: {type: string}
    name: {type: string}
    email: {type: string}
    salary: {type: number, sensitive: true}
    ssn: {type: string, sensitive: true}
    phone: {type: string}
source:
  code: ${JSON.stringify(`${EMPLOYEES} WHERE id = $employee_id`)}
policies:
  input:
    - condition: "employee_id != user.user_id && user.role != 'admin'"
      action: deny
      reason: "Users can only view their own profile"
  output:
    - condition: "user.role != 'admin'"
      action: filter_sensitive_fields
    - condition: "!('pii.view' in user.permissions)"
      action: mask_fields
      fields: [phone]`),
  // Masking by permission over a list of rows.
  "tools/directory.yml": tool(`name: directory
description: Everyone
return:
  type: array
  items:
    type: object
    properties:
      id: {type: string}
      name: {type: string}
      ssn: {type: string, sensitive: true}
source:
  code: ${JSON.stringify(`SELECT id, name, email, ssn, phone FROM (${EMPLOYEES}) ORDER BY id`)}
policies:
  output:
    - condition: "!('pii.view' in user.permissions)"
      action: mask_fields
      fields: [ssn, phone]
    - condition: "!response.exists(r, r.email == user.email)"
      action: filter_fields
      fields: [email]`),
  "tools/code_check.yml": tool(`name: code_check
description: A condition that cannot be evaluated for some arguments
parameters:
  - name: code
    type: string
    description: A code
source:
  code: SELECT 'ran' AS status
policies:
  input:
    - condition: "int(code) > 3"
      action: deny
      reason: "Code too high"`),
  "tools/not_served.yml": tool(`name: not_served
description: An input rule that is not a denial
source:
  code: SELECT 1 AS x
policies:
  input:
    - condition: "true"
      action: mask_fields
      fields: [x]`),
  "resources/employee.yml": `mxcp: 1
resource:
  uri: employee://{employee_id}
  description: One employee
  parameters:
    - name: employee_id
      type: string
      description: Employee ID
  return:
    type: object
  source:
    code: ${JSON.stringify(`SELECT id, name FROM (${EMPLOYEES}) WHERE id = $employee_id`)}
  policies:
    input:
      - condition: "employee_id != user.user_id"
        action: deny
        reason: "Only your own record"
`
}

type Who = "alice" | "bob"

const ALICE = { login: "alice", id: 101, name: "Alice", email: "alice@example.com" }
const BOB = { login: "bob", id: 202, name: "Bob", email: "bob@other.org" }

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** Log lines of the in-process server, captured from the runtime its handlers run on. */
const captured = () => {
  const lines: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel.label, message: text, annotations: Object.fromEntries(annotations) })
  })
  const around = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(Logger.withMinimumLogLevel(LogLevel.Info), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  return { lines, around }
}

/** The server, both users logged in through the fake GitHub, and an SDK client for each. */
const setup = Effect.gen(function* () {
  const logs = captured()
  const fake = yield* scopedFakeGitHub()
  const { url } = yield* logs.around(inProcessServer(fake, { files: FILES }))
  fake.setUser(ALICE)
  const aliceTokens = yield* promise(() => login(url))
  fake.setUser(BOB)
  const bobTokens = yield* promise(() => login(url))
  const alice = yield* promise(() => mcpClient(url, aliceTokens.access_token, "alice"))
  yield* Effect.addFinalizer(() => promise(() => alice.client.close()))
  const bob = yield* promise(() => mcpClient(url, bobTokens.access_token, "bob"))
  yield* Effect.addFinalizer(() => promise(() => bob.client.close()))
  const clients = { alice: alice.client, bob: bob.client }
  const upstream = fake.issuedAccessTokens.slice()
  return { clients, logs, upstream }
})

/** What each call should give each user: the tool result, or the denial text. */
interface Case {
  readonly tool: string
  readonly args: Record<string, unknown>
  readonly expect: Readonly<Record<Who, { readonly denied: string } | { readonly result: unknown }>>
}

const CASES: ReadonlyArray<Case> = [
  {
    tool: "company_news",
    args: {},
    expect: {
      alice: { result: [{ news: "all hands on Friday" }] },
      bob: { denied: "Only example.com accounts may read company news" }
    }
  },
  { tool: "admin_report", args: {}, expect: { alice: { denied: "Admins only" }, bob: { denied: "Admins only" } } },
  {
    tool: "employee_profile",
    args: { employee_id: "101" },
    expect: {
      alice: { result: { id: "101", name: "Alice", email: "alice@example.com", phone: "****" } },
      bob: { denied: "Users can only view their own profile" }
    }
  },
  {
    tool: "employee_profile",
    args: { employee_id: "202" },
    expect: {
      alice: { denied: "Users can only view their own profile" },
      bob: { result: { id: "202", name: "Bob", email: "bob@other.org", phone: "****" } }
    }
  },
  {
    tool: "directory",
    args: {},
    expect: {
      alice: {
        result: [
          { id: "101", name: "Alice", email: "alice@example.com", ssn: "****", phone: "****" },
          { id: "202", name: "Bob", email: "bob@other.org", ssn: "****", phone: "****" }
        ]
      },
      bob: {
        result: [
          { id: "101", name: "Alice", email: "alice@example.com", ssn: "****", phone: "****" },
          { id: "202", name: "Bob", email: "bob@other.org", ssn: "****", phone: "****" }
        ]
      }
    }
  }
]

const outcome = (r: ToolOutcome): { readonly denied: string } | { readonly result: unknown } =>
  r.isError ? { denied: r.text } : { result: JSON.parse(r.text) }

describe("Policies end to end (real MCP SDK client, fake GitHub login, in-process server)", () => {
  it.scoped(
    "Policies: MXCP's examples for two users, interleaved and concurrent: each gets their own outcome on the same tools",
    () =>
      Effect.gen(function* () {
        const { clients, logs, upstream } = yield* setup
        // A fixed pseudo-random order (reproducible): every case for both users, four times.
        const plan: Array<{ who: Who; c: Case }> = []
        for (let round = 0; round < 4; round++) {
          for (const c of CASES) for (const who of ["alice", "bob"] as const) plan.push({ who, c })
        }
        let seed = 20261203
        const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
        for (let i = plan.length - 1; i > 0; i--) {
          const j = Math.floor(next() * (i + 1))
          ;[plan[i], plan[j]] = [plan[j]!, plan[i]!]
        }
        const results = yield* promise(() =>
          Promise.all(plan.map(async ({ who, c }) => ({ who, c, got: outcome(await callTool(clients[who], c.tool, c.args)) })))
        )
        expect(results).toHaveLength(plan.length)
        for (const r of results) {
          expect({ who: r.who, tool: r.c.tool, args: r.c.args, got: r.got }).toEqual({
            who: r.who,
            tool: r.c.tool,
            args: r.c.args,
            got: r.c.expect[r.who]
          })
        }
        // No sensitive value went out to either user.
        expect(JSON.stringify(results)).not.toMatch(/123-45-6789|987-65-4321|95000|88000|555-0\d0\d/)

        // Each denial logged once at info: endpoint, rule, user, reason; no arguments, no tokens.
        const denials = logs.lines.filter((l) => l.message.startsWith("Policy denied"))
        const expectedDenials = results.filter((r) => "denied" in r.got).length
        expect(denials).toHaveLength(expectedDenials)
        for (const d of denials) {
          expect(d.level).toBe("INFO")
          expect(Object.keys(d.annotations)).toEqual(expect.arrayContaining(["endpoint", "kind", "rule", "user", "reason"]))
          expect(["github:alice", "github:bob"]).toContain(d.annotations["user"])
        }
        expect(denials.find((d) => d.annotations["endpoint"] === "employee_profile" && d.annotations["user"] === "github:bob"))
          .toMatchObject({ annotations: { rule: "policies.input[0]", reason: "Users can only view their own profile" } })
        const logText = JSON.stringify(logs.lines)
        for (const token of upstream) expect(logText).not.toContain(token)
      }),
    60_000
  )

  it.scoped("Policies: an evaluation error denies through the SDK (isError result) and is logged at error", () =>
    Effect.gen(function* () {
      const { clients, logs } = yield* setup
      expect(outcome(yield* promise(() => callTool(clients.alice, "code_check", { code: "2" })))).toEqual({
        result: [{ status: "ran" }]
      })
      const failed = yield* promise(() => callTool(clients.alice, "code_check", { code: "private-value" }))
      expect(failed).toMatchObject({
        isError: true,
        text: "Access denied: policies.input[0] could not be evaluated (the server log says why)"
      })
      const errors = logs.lines.filter((l) => l.level === "ERROR")
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({
        message: "Policy rule could not be evaluated; tool code_check denied",
        annotations: { rule: "policies.input[0]", user: "github:alice", error: expect.stringContaining("int()") }
      })
      expect(JSON.stringify(logs.lines)).not.toContain("private-value")
    }))

  it.scoped("Policies: a resource denial is a JSON-RPC error with the reason; a rule it cannot enforce hides the tool", () =>
    Effect.gen(function* () {
      const { clients } = yield* setup
      const own = yield* promise(() => clients.alice.readResource({ uri: "employee://101" }))
      expect(JSON.parse((own.contents[0] as { text: string }).text)).toEqual({ id: "101", name: "Alice" })
      const refused = yield* promise(() =>
        clients.bob.readResource({ uri: "employee://101" }).then(
          () => undefined,
          (e: unknown) => e
        )
      )
      expect(refused).toBeInstanceOf(McpError)
      expect(refused).toMatchObject({ code: -32003 })
      expect((refused as Error).message).toContain("Only your own record")
      const tools = yield* promise(() => clients.alice.listTools())
      expect(tools.tools.map((t) => t.name)).not.toContain("not_served")
      expect(tools.tools.map((t) => t.name)).toContain("employee_profile")
    }))
})

describe("Policies and the command line", () => {
  it("Policies: validate and serve refuse a condition that does not compile, naming file, rule index and CEL error", async () => {
    const project = copyExample()
    try {
      mkdirSync(join(project.dir, "tools"), { recursive: true })
      writeFileSync(
        join(project.dir, "tools/bad_policy.yml"),
        tool(`name: bad_policy
source:
  code: SELECT 1 AS x
policies:
  input:
    - condition: "user.role == 'admin'"
      action: deny
    - condition: "user.role == 'admin' &&"
      action: deny`)
      )
      const line = "tools/bad_policy.yml: tool.policies.input[1].condition: CEL error: Unexpected token: EOF"
      const validate = await runCli(project.dir, ["validate"])
      expect(validate.code).toBe(1)
      expect(validate.stderr).toContain(`Error: ${line}`)
      const serve = await runCli(project.dir, ["serve", "--port", "0"])
      expect(serve.code).toBe(1)
      expect(serve.stderr).toContain(line)
    } finally {
      project.cleanup()
    }
  }, 60_000)

  it("Policies: validate says why an endpoint with a rule it cannot enforce is not served, and still passes", async () => {
    const project = copyExample()
    try {
      mkdirSync(join(project.dir, "tools"), { recursive: true })
      writeFileSync(join(project.dir, "tools/not_served.yml"), FILES["tools/not_served.yml"]!)
      const validate = await runCli(project.dir, ["validate"])
      expect(validate.code).toBe(0)
      expect(validate.stderr).toContain(
        "Warning: tools/not_served.yml: tool 'not_served' is not served: tool.policies.input[0].action: mask_fields " +
          "applies to output policies only (input policies can only deny)"
      )
      expect(validate.stdout).toContain("OK: ")
    } finally {
      project.cleanup()
    }
  }, 60_000)
})
