/**
 * Issue 14, policies: load-time checks (real endpoint files on disk) and the call path of the
 * real `McpEndpoints` over a real in-memory DuckDB, with users built as the bearer check builds
 * them. The MXCP examples run end to end over HTTP in test/mcp/Policies.test.ts.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import type { CurrentUser } from "../../src/domain/oauth/Identity.js"
import { AppConfigFromValues } from "../../src/layers/config/AppConfigLive.js"
import { DuckDbSessionMemory } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { EndpointCatalogFiles, loadCatalog } from "../../src/layers/mcp/EndpointCatalogFiles.js"
import { McpEndpointsLive } from "../../src/layers/mcp/McpEndpointsLive.js"
import { McpEndpoints, McpProtocolError } from "../../src/services/mcp/McpEndpoints.js"

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true })
})

const project = (files: Record<string, string>): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mxcp-policies-"))
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

/** A tool file: `body` is the block under `tool:` (unindented). */
const tool = (body: string) => `mxcp: 1\ntool:\n${body.replace(/^/gm, "  ")}\n`
const policyTool = (policies: string, extra = "") =>
  tool(`name: t
description: d
parameters:
  - name: employee_id
    type: string
    description: id
${extra}source:
  code: SELECT $employee_id AS id
policies:
${policies.replace(/^/gm, "  ")}`)

// ---------------------------------------------------------------------------------------------
// Users as the bearer check gives them (role, permissions and capabilities only where an
// identity carries them)

const user = (id: string, username: string, email: string, extra: Record<string, unknown> = {}): CurrentUser =>
  ({ provider: "github", id, username, email, name: username, externalToken: `upstream-token-of-${username}`, ...extra }) as CurrentUser

const alice = user("101", "alice", "alice@example.com")
const bob = user("202", "bob", "bob@sensitive.com")
const admin = user("900", "root", "root@example.com", { role: "admin", permissions: ["pii.view"] })
const adminNoPii = user("901", "ops", "ops@example.com", { role: "admin" })
const guest = user("303", "gail", "gail@example.com", { role: "guest" })
const billing = user("404", "bill", "bill@example.com", { capabilities: ["billing.manage"] })

// ---------------------------------------------------------------------------------------------
// The project: MXCP's employee examples

const EMPLOYEES = `SELECT * FROM (VALUES
  ('101', 'Alice', 'alice@example.com', 'HR', 95000.5, '123-45-6789', {'phone': '555-0101', 'city': 'Zurich'}, '202'),
  ('202', 'Bob', 'bob@sensitive.com', 'Eng', 88000.0, '987-65-4321', {'phone': '555-0202', 'city': 'Basel'}, '101'),
  ('900', 'Root', 'root@example.com', 'IT', 1.0, '000-00-0000', {'phone': '555-0900', 'city': 'Bern'}, '900')
) t(id, name, email, department, salary, ssn, profile, manager_id)`

const EMPLOYEE_RETURN = `type: object
properties:
  id: {type: string}
  name: {type: string}
  email: {type: string}
  department: {type: string}
  salary: {type: number, sensitive: true}
  ssn: {type: string, sensitive: true}
  profile:
    type: object
    properties:
      phone: {type: string, sensitive: true}
      city: {type: string}
  manager_id: {type: string}`

const FILES: Record<string, string> = {
  "tools/employee_profile.yml": tool(`name: employee_profile
description: One employee (MXCP's policy example)
parameters:
  - name: employee_id
    type: string
    description: Employee ID
return:
${EMPLOYEE_RETURN.replace(/^/gm, "  ")}
source:
  code: ${JSON.stringify(`${EMPLOYEES} WHERE id = $employee_id`)}
policies:
  input:
    - condition: "user.role == 'guest'"
      action: deny
      reason: "Guests cannot query employee profiles."
    - condition: "employee_id != user.user_id && user.role != 'admin'"
      action: deny
      reason: "Users can only view their own profile"
  output:
    - condition: "!('pii.view' in user.permissions)"
      action: mask_fields
      fields: [ssn, not_a_column]
    - condition: "user.role != 'admin'"
      action: filter_sensitive_fields
      reason: "Non-admin users cannot see sensitive data"`),
  "tools/list_employees.yml": tool(`name: list_employees
description: Every employee (arrays of rows)
return:
  type: array
  items:
${EMPLOYEE_RETURN.replace(/^/gm, "    ")}
source:
  code: ${JSON.stringify(`${EMPLOYEES} ORDER BY id`)}
policies:
  output:
    - condition: "user.role != 'admin'"
      action: filter_fields
      fields: [salary, manager_id]
    - condition: "user.role != 'admin'"
      action: filter_sensitive_fields
    - condition: "response.exists(r, r.email.endsWith('@sensitive.com')) && !('pii.view' in user.permissions)"
      action: mask_fields
      fields: [email]`),
  "tools/contact.yml": tool(`name: contact
description: Output deny on the response (MXCP's example)
parameters:
  - name: employee_id
    type: string
    description: Employee ID
return:
  type: object
source:
  code: ${JSON.stringify(`SELECT id, email FROM (${EMPLOYEES}) WHERE id = $employee_id`)}
policies:
  output:
    - condition: "response.email.endsWith('@sensitive.com')"
      action: deny
      reason: "Emails from sensitive.com must not be exposed."`),
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
  "tools/not_boolean.yml": tool(`name: not_boolean
description: A condition that gives a string
source:
  code: SELECT 'ran' AS status
policies:
  input:
    - condition: "user.role"
      action: deny`),
  "tools/numbers.yml": tool(`name: numbers
description: int and double in conditions
parameters:
  - name: count
    type: integer
    description: n
  - name: amount
    type: number
    description: x
source:
  code: SELECT $count AS count, $amount AS amount
policies:
  input:
    - condition: "count * 2 == 6 && amount > 2 && amount == 2.5"
      action: deny
      reason: "count 3 with amount 2.5"
    - condition: "count + 1 > 10"
      action: deny
      reason: "count too large"`),
  "tools/domain_only.yml": tool(`name: domain_only
description: Email domain restriction (MXCP's example)
source:
  code: SELECT 'ran' AS status
policies:
  input:
    - condition: "!user.email.endsWith('@example.com')"
      action: deny
      reason: "Only example.com accounts"`),
  "tools/anonymous_check.yml": tool(`name: anonymous_check
description: Deny anonymous users (MXCP's example)
source:
  code: SELECT 'ran' AS status
policies:
  input:
    - condition: "user.user_id == null"
      action: deny
      reason: "Authentication required"`),
  "tools/billing.yml": tool(`name: billing
description: Capabilities from claim mappings
source:
  code: SELECT 'ran' AS status
policies:
  input:
    - condition: "!('billing.manage' in user.capabilities)"
      action: deny
      reason: "Needs billing.manage"`),
  "tools/whoami_policy.yml": tool(`name: whoami_policy
description: The user object, echoed through an output rule that never fires
return:
  type: object
source:
  code: SELECT 1 AS x
policies:
  output:
    - condition: "user.role == 'nobody' && user.provider == 'x' && user.name == 'x' && user.username == 'x' && user.email == 'x'"
      action: deny`),
  "resources/employee.yml": `mxcp: 1
resource:
  uri: employee://{employee_id}
  description: One employee
  parameters:
    - name: employee_id
      type: string
      description: Employee ID
  return:
${EMPLOYEE_RETURN.replace(/^/gm, "    ")}
  source:
    code: ${JSON.stringify(`${EMPLOYEES} WHERE id = $employee_id`)}
  policies:
    input:
      - condition: "employee_id != user.user_id"
        action: deny
        reason: "Only your own record"
    output:
      - condition: "true"
        action: filter_sensitive_fields
`,
  "prompts/pitch.yml": `mxcp: 1
prompt:
  name: pitch
  description: A pitch
  parameters:
    - name: topic
      type: string
      description: Topic
  messages:
    - role: user
      prompt: "Write about {{topic}}"
  policies:
    input:
      - condition: "user.user_id == null"
        action: deny
        reason: "Log in first"
    output:
      - condition: "response.exists(m, m.content.contains('forbidden'))"
        action: deny
        reason: "That topic is off limits"
`
}

const root = project(FILES)
const Endpoints = McpEndpointsLive.pipe(
  Layer.provide(
    Layer.mergeAll(
      EndpointCatalogFiles({ projectRoot: root, paths }),
      DuckDbSessionMemory,
      AppConfigFromValues({ projectRoot: root, site: { mxcp: 1, project: "p" } })
    )
  )
)

/** Every log line of `effect` (debug and up), with its level and annotations. */
const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
    const capture = Logger.make(({ annotations, logLevel, message }) => {
      const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
      lines.push({ level: logLevel.label, message: text, annotations: Object.fromEntries(annotations) })
    })
    const value = yield* effect.pipe(
      Logger.withMinimumLogLevel(LogLevel.Debug),
      Effect.provide(Logger.replace(Logger.defaultLogger, capture))
    )
    return { value, lines }
  })

const call = (name: string, args: Record<string, unknown>, who: CurrentUser | undefined) =>
  Effect.flatMap(McpEndpoints, (e) => e.callTool(name, args, { user: who }))

const json = (r: { readonly content: ReadonlyArray<{ readonly text: string }> }): unknown => JSON.parse(r.content[0]?.text ?? "null")

// ---------------------------------------------------------------------------------------------

describe("Policies at load", () => {
  it.effect("Policies: a condition that does not compile is a load error naming the file, the rule index and the CEL error", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/t.yml": policyTool(`input:
  - condition: "user.role == 'admin'"
    action: deny
  - condition: "user.role == "
    action: deny`)
      })
      expect(problems).toEqual([
        "tools/t.yml: tool.policies.input[1].condition: CEL error: Unexpected token: EOF (at character 14)"
      ])
    }))

  it.effect("Policies: unknown variables, misspelt user fields and non-boolean conditions are load errors", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/t.yml": policyTool(`input:
  - condition: "response.id == '1'"
    action: deny
  - condition: "user.emial.endsWith('@x.com')"
    action: deny
  - condition: "size(employee_id) + 1"
    action: deny
output:
  - condition: "employee_id == '1'"
    action: deny`)
      })
      expect(problems).toEqual([
        "tools/t.yml: tool.policies.input[0].condition: CEL error: Unknown variable: response (at character 1)",
        "tools/t.yml: tool.policies.input[1].condition: CEL error: No such key: emial (at character 6)",
        "tools/t.yml: tool.policies.input[2].condition: must be a boolean expression (this one gives int)",
        "tools/t.yml: tool.policies.output[0].condition: CEL error: Unknown variable: employee_id (at character 1)"
      ])
    }))

  it.effect("Policies: unknown actions, rules that cannot act, and unknown rule keys are load errors", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/t.yml": policyTool(`output:
  - condition: "true"
    action: dney
  - condition: "true"
    action: filter_fields
  - condition: "true"
    action: filter_sensitive_fields
  - condition: ""
    action: deny`),
        "tools/u.yml": policyTool(`input:
  - condition: "true"
    action: deny
    reson: typo`).replace("name: t", "name: u")
      })
      expect(problems).toEqual([
        "tools/t.yml: tool.policies.output[0].action: must be one of deny, filter_fields, mask_fields, filter_sensitive_fields (got \"dney\")",
        "tools/t.yml: tool.policies.output[1].fields: filter_fields needs the list of fields it applies to (e.g. fields: [ssn, salary])",
        "tools/t.yml: tool.policies.output[2].action: filter_sensitive_fields needs the endpoint's return type, with the sensitive fields marked `sensitive: true`",
        "tools/t.yml: tool.policies.output[3].condition: is empty (write a CEL expression, e.g. user.role != 'admin')",
        "tools/u.yml: tool.policies.input[0]: unknown key 'reson' (allowed: condition, action, reason, fields)"
      ])
    }))

  it.effect("Policies: 'policies' at the top level of the file (where MXCP ignores it) is refused with a hint", () =>
    Effect.gen(function* () {
      const problems = yield* problemsOf({
        "tools/t.yml": `mxcp: 1
tool:
  name: t
  source: {code: SELECT 1}
policies:
  input:
    - condition: "true"
      action: deny
`
      })
      expect(problems).toEqual([
        "tools/t.yml: 'policies' must be inside the tool block (at the top level of the file its rules would be ignored)"
      ])
    }))

  it.effect("Policies: a rule this server cannot enforce keeps its endpoint from being served, with a warning; the rest serves", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/t.yml": policyTool(`input:
  - condition: "user.role != 'admin'"
    action: filter_fields
    fields: [salary]`),
        "prompts/p.yml": `mxcp: 1
prompt:
  name: p
  messages: [{role: user, prompt: hi}]
  policies:
    output:
      - condition: "true"
        action: mask_fields
        fields: [content]
`,
        "tools/ok.yml": tool("name: ok\nsource:\n  code: SELECT 1 AS x")
      })
      expect(catalog.tools.map((t) => t.name)).toEqual(["ok"])
      expect(catalog.prompts).toEqual([])
      expect(catalog.warnings).toEqual([
        "prompts/p.yml: prompt 'p' is not served: prompt.policies.output[0].action: mask_fields is not supported on prompts (their output policies can only deny)",
        "tools/t.yml: tool 't' is not served: tool.policies.input[0].action: filter_fields applies to output policies only (input policies can only deny)"
      ])
    }))

  it.effect("Policies: a parameter named user is shadowed by the caller, with a load warning", () =>
    Effect.gen(function* () {
      const files = {
        "tools/t.yml": tool(`name: shadow
parameters:
  - name: user
    type: string
    description: a parameter that collides
source:
  code: SELECT $user AS given
policies:
  input:
    - condition: "user.user_id != '101'"
      action: deny
      reason: "only 101"`)
      }
      const catalog = yield* load(files)
      expect(catalog.warnings).toEqual([
        "tools/t.yml: tool.parameters.user: shadowed by the caller in input policies (conditions see the caller as `user`, not this argument); rename the parameter"
      ])
      // The caller decides, whatever the argument says; the SQL still gets the argument.
      const dir = project(files)
      const endpoints = McpEndpointsLive.pipe(
        Layer.provide(
          Layer.mergeAll(
            EndpointCatalogFiles({ projectRoot: dir, paths }),
            DuckDbSessionMemory,
            AppConfigFromValues({ projectRoot: dir, site: { mxcp: 1, project: "p" } })
          )
        )
      )
      const asBob = yield* call("shadow", { user: "101" }, bob).pipe(Effect.provide(endpoints))
      expect(asBob).toMatchObject({ isError: true, content: [{ text: "only 101" }] })
      const asAlice = yield* call("shadow", { user: "anything" }, alice).pipe(Effect.provide(endpoints))
      expect(json(asAlice)).toEqual([{ given: "anything" }])
    }))

  it.effect("Policies: with sql_tools enabled, startup warns that execute_sql_query bypasses the policies, naming the endpoints", () =>
    Effect.gen(function* () {
      const dir = project({
        "tools/t.yml": policyTool(`input:
  - condition: "user.role != 'admin'"
    action: deny`),
        "tools/open.yml": tool(`name: open
source:
  code: SELECT 1 AS x`)
      })
      const endpointsWith = (enabled: boolean) =>
        McpEndpointsLive.pipe(
          Layer.provide(
            Layer.mergeAll(
              EndpointCatalogFiles({ projectRoot: dir, paths }),
              DuckDbSessionMemory,
              AppConfigFromValues({ projectRoot: dir, site: { mxcp: 1, project: "p", sql_tools: { enabled } } })
            )
          )
        )
      const warningsOf = (enabled: boolean) =>
        withLogs(Effect.provide(McpEndpoints, endpointsWith(enabled))).pipe(
          Effect.map(({ lines }) => lines.filter((l) => l.level === "WARN").map((l) => l.message))
        )
      expect(yield* warningsOf(true)).toEqual([
        "sql_tools is enabled: execute_sql_query reads every table with no policy applied, so the policies of tool t " +
          "can be bypassed; set sql_tools.enabled: false where they must hold"
      ])
      expect(yield* warningsOf(false)).toEqual([])
    }))

  it.effect("Policies: filter_sensitive_fields on a return type without sensitive fields loads with a warning", () =>
    Effect.gen(function* () {
      const catalog = yield* load({
        "tools/t.yml": policyTool(`output:
  - condition: "true"
    action: filter_sensitive_fields
    fields: [x]`, "return:\n  type: object\n")
      })
      expect(catalog.tools).toHaveLength(1)
      expect(catalog.warnings).toEqual([
        "tools/t.yml: tool.policies.output[0].fields: ignored by action filter_sensitive_fields",
        "tools/t.yml: tool.policies.output[0]: no part of the return type is marked `sensitive: true`, so filter_sensitive_fields removes nothing"
      ])
    }))
})

layer(Endpoints)("Policies in the call path (McpEndpoints, real DuckDB)", (it) => {
  it.effect("Policies input deny: self-only (employee_id == user.user_id), admins see anyone, guests no one", () =>
    Effect.gen(function* () {
      const own = yield* call("employee_profile", { employee_id: "101" }, alice)
      expect(own.isError).toBeUndefined()
      expect(json(own)).toMatchObject({ id: "101", name: "Alice" })
      const other = yield* call("employee_profile", { employee_id: "202" }, alice)
      expect(other).toEqual({ content: [{ type: "text", text: "Users can only view their own profile" }], isError: true })
      const asAdmin = yield* call("employee_profile", { employee_id: "202" }, admin)
      expect(json(asAdmin)).toMatchObject({ id: "202" })
      const asGuest = yield* call("employee_profile", { employee_id: "303" }, guest)
      expect(asGuest.content[0]?.text).toBe("Guests cannot query employee profiles.")
    }))

  it.effect("Policies output: mask_fields and filter_sensitive_fields, nested sensitive fields too; structuredContent follows", () =>
    Effect.gen(function* () {
      const own = yield* call("employee_profile", { employee_id: "101" }, alice)
      const expected = {
        id: "101",
        name: "Alice",
        email: "alice@example.com",
        department: "HR",
        profile: { city: "Zurich" },
        manager_id: "202"
      }
      expect(json(own)).toEqual(expected)
      expect(own.structuredContent).toEqual(expected)
      expect(own.content[0]?.text).not.toMatch(/123-45-6789|95000|555-0101/)
      // An admin without pii.view: sensitive fields stay, ssn masked.
      const ops = yield* call("employee_profile", { employee_id: "101" }, adminNoPii)
      expect(json(ops)).toMatchObject({ salary: 95000.5, ssn: "****", profile: { phone: "555-0101", city: "Zurich" } })
      // With pii.view, everything.
      const full = yield* call("employee_profile", { employee_id: "101" }, admin)
      expect(json(full)).toMatchObject({ salary: 95000.5, ssn: "123-45-6789", profile: { phone: "555-0101" } })
    }))

  it.effect("Policies output on arrays of rows: each row filtered; response.exists(...) sees the whole list", () =>
    Effect.gen(function* () {
      // One row has a sensitive.com email, so the email of every row is masked (MXCP's mask_fields).
      const rows = yield* call("list_employees", {}, alice)
      expect(json(rows)).toEqual([
        { id: "101", name: "Alice", email: "****", department: "HR", profile: { city: "Zurich" } },
        { id: "202", name: "Bob", email: "****", department: "Eng", profile: { city: "Basel" } },
        { id: "900", name: "Root", email: "****", department: "IT", profile: { city: "Bern" } }
      ])
      const all = (yield* call("list_employees", {}, admin)) as { content: ReadonlyArray<{ text: string }> }
      expect((json(all) as Array<unknown>)[1]).toMatchObject({ email: "bob@sensitive.com", salary: 88000, ssn: "987-65-4321" })
    }))

  it.effect("Policies output deny on the response (MXCP's sensitive.com example)", () =>
    Effect.gen(function* () {
      expect(json(yield* call("contact", { employee_id: "101" }, alice))).toEqual({ id: "101", email: "alice@example.com" })
      const blocked = yield* call("contact", { employee_id: "202" }, alice)
      expect(blocked).toEqual({ content: [{ type: "text", text: "Emails from sensitive.com must not be exposed." }], isError: true })
    }))

  it.effect("Policies: a denial is logged at info with endpoint, rule, user and reason, never the arguments", () =>
    Effect.gen(function* () {
      const { value, lines } = yield* withLogs(call("employee_profile", { employee_id: "202-secret-argument" }, alice))
      expect(value.isError).toBe(true)
      const denial = lines.filter((l) => l.message.startsWith("Policy denied"))
      expect(denial).toEqual([
        {
          level: "INFO",
          message: "Policy denied tool employee_profile",
          annotations: {
            endpoint: "employee_profile",
            kind: "tool",
            rule: "policies.input[1]",
            user: "github:alice",
            reason: "Users can only view their own profile"
          }
        }
      ])
      expect(JSON.stringify(lines)).not.toContain("202-secret-argument")
      expect(JSON.stringify(lines)).not.toContain("upstream-token-of-alice")
    }))

  it.effect("Policies: an evaluation error denies (fails closed) and is logged at error; so does a non-boolean result", () =>
    Effect.gen(function* () {
      expect(json(yield* call("code_check", { code: "2" }, alice))).toEqual([{ status: "ran" }])
      expect((yield* call("code_check", { code: "7" }, alice)).content[0]?.text).toBe("Code too high")
      const { value, lines } = yield* withLogs(call("code_check", { code: "not-a-number-secret" }, alice))
      expect(value).toEqual({
        content: [{ type: "text", text: "Access denied: policies.input[0] could not be evaluated (the server log says why)" }],
        isError: true
      })
      const errors = lines.filter((l) => l.level === "ERROR")
      expect(errors).toEqual([
        {
          level: "ERROR",
          message: "Policy rule could not be evaluated; tool code_check denied",
          annotations: {
            endpoint: "code_check",
            kind: "tool",
            rule: "policies.input[0]",
            user: "github:alice",
            error: "int() type error: cannot convert to int (at character 1)"
          }
        }
      ])
      expect(JSON.stringify(lines)).not.toContain("not-a-number-secret")
      const notBool = yield* call("not_boolean", {}, alice)
      expect(notBool.isError).toBe(true)
      expect(notBool.content[0]?.text).toContain("could not be evaluated")
    }))

  it.effect("Policies: anonymous users (auth off) are role anonymous with a null user_id; MXCP's deny-anonymous rule works", () =>
    Effect.gen(function* () {
      const anon = yield* call("anonymous_check", {}, undefined)
      expect(anon.content[0]?.text).toBe("Authentication required")
      expect(json(yield* call("anonymous_check", {}, alice))).toEqual([{ status: "ran" }])
      // Self-only for a caller without an id: denied.
      const profile = yield* call("employee_profile", { employee_id: "101" }, undefined)
      expect(profile.content[0]?.text).toBe("Users can only view their own profile")
      // A rule on the email of an anonymous caller cannot be evaluated: denied, not skipped.
      const domain = yield* call("domain_only", {}, undefined)
      expect(domain.content[0]?.text).toContain("could not be evaluated")
    }))

  it.effect("Policies: JSON integers are CEL ints and fractions doubles, so int arithmetic and mixed comparisons work", () =>
    Effect.gen(function* () {
      expect((yield* call("numbers", { count: 3, amount: 2.5 }, alice)).content[0]?.text).toBe("count 3 with amount 2.5")
      expect((yield* call("numbers", { count: 10, amount: 1 }, alice)).content[0]?.text).toBe("count too large")
      expect(json(yield* call("numbers", { count: 2, amount: 2.5 }, alice))).toEqual([{ count: 2, amount: 2.5 }])
    }))

  it.effect("Policies: user.capabilities come from the identity when it has them (claim mappings), else empty", () =>
    Effect.gen(function* () {
      expect(json(yield* call("billing", {}, billing))).toEqual([{ status: "ran" }])
      expect((yield* call("billing", {}, alice)).content[0]?.text).toBe("Needs billing.manage")
      expect((yield* call("billing", {}, undefined)).content[0]?.text).toBe("Needs billing.manage")
      // The identity fields are all there for a logged-in user (the rule reads each one).
      expect(json(yield* call("whoami_policy", {}, alice))).toEqual({ x: 1 })
    }))

  it.effect("Policies on resources and prompts: a denial is a JSON-RPC error (-32003) with the reason; output rules apply", () =>
    Effect.gen(function* () {
      const endpoints = yield* McpEndpoints
      const own = yield* endpoints.readResource("employee://101", { user: alice })
      const text = own.contents[0]?.text ?? ""
      expect(JSON.parse(text)).toEqual({
        id: "101",
        name: "Alice",
        email: "alice@example.com",
        department: "HR",
        profile: { city: "Zurich" },
        manager_id: "202"
      })
      const other = yield* Effect.exit(endpoints.readResource("employee://202", { user: alice }))
      expect(other).toEqual(Exit.fail(new McpProtocolError({ code: -32003, message: "Only your own record" })))

      const pitch = yield* endpoints.getPrompt("pitch", { topic: "widgets" }, { user: alice })
      expect(pitch.messages[0]?.content.text).toBe("Write about widgets")
      const anon = yield* Effect.exit(endpoints.getPrompt("pitch", { topic: "widgets" }, {}))
      expect(anon).toEqual(Exit.fail(new McpProtocolError({ code: -32003, message: "Log in first" })))
      const forbidden = yield* Effect.exit(endpoints.getPrompt("pitch", { topic: "forbidden things" }, { user: alice }))
      expect(forbidden).toEqual(Exit.fail(new McpProtocolError({ code: -32003, message: "That topic is off limits" })))
    }))
})
