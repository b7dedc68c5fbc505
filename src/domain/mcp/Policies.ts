/**
 * Endpoint policies as MXCP writes them (`policies: {input: [...], output: [...]}`, each rule
 * `{condition, action, reason, fields}`): compiled once at load (CEL, `@marcbachmann/cel-js`,
 * type-checked against the variables the stage offers), then evaluated per call. Input rules see
 * `user` and every parameter at the top level; output rules see `user` and `response`. A rule
 * fires when its condition is `true`; a condition that cannot be evaluated, or that gives
 * anything but a boolean, denies (fail closed). Pure.
 *
 * One concept: an endpoint's policy rules, from YAML to compiled CEL to a verdict per call.
 */
import { Environment } from "@marcbachmann/cel-js"
import type { ParameterSpec, TypeSpec } from "./Endpoint.js"
import { filterFields, filterSensitiveFields, hasSensitive, maskFields } from "./FieldFilters.js"
import { setOwn } from "./Parameters.js"

// ---------------------------------------------------------------------------------------------
// The YAML shape (decoded by `EndpointSchema.ts`)

export interface PolicyRuleYaml {
  readonly condition: string
  readonly action: string
  readonly reason?: string
  readonly fields?: ReadonlyArray<string>
}

export interface PoliciesYaml {
  readonly input?: ReadonlyArray<PolicyRuleYaml>
  readonly output?: ReadonlyArray<PolicyRuleYaml>
}

export const POLICY_ACTIONS = ["deny", "filter_fields", "mask_fields", "filter_sensitive_fields"] as const
export type PolicyAction = (typeof POLICY_ACTIONS)[number]
export type PolicyStage = "input" | "output"

// ---------------------------------------------------------------------------------------------
// Compiled rules

export interface PolicyRule {
  readonly stage: PolicyStage
  /** Position in its list, as in `policies.input[0]`. */
  readonly index: number
  readonly condition: string
  readonly action: PolicyAction
  readonly reason: string | undefined
  /** For `filter_fields` and `mask_fields`; empty otherwise. */
  readonly fields: ReadonlyArray<string>
  /** The compiled condition; throws when it cannot be evaluated. */
  readonly evaluate: (context: Readonly<Record<string, unknown>>) => unknown
  /**
   * Whether the condition names `response` (output rules): only then is the result converted
   * for CEL, which for a large result costs far more than the evaluation itself.
   */
  readonly readsResponse: boolean
}

export interface EndpointPolicies {
  readonly input: ReadonlyArray<PolicyRule>
  readonly output: ReadonlyArray<PolicyRule>
}

/** `policies.input[0]`: how logs and messages name a rule. */
export const ruleLabel = (rule: Pick<PolicyRule, "stage" | "index">): string => `policies.${rule.stage}[${rule.index}]`

export interface PolicyCompileTarget {
  readonly kind: "tool" | "resource" | "prompt"
  readonly parameters: ReadonlyArray<ParameterSpec>
  /** The declared return type (`filter_sensitive_fields` reads its `sensitive` markings). */
  readonly returns: TypeSpec | undefined
}

export interface PolicyCompileResult {
  /** Undefined when the endpoint has no rules (or when there are problems). */
  readonly policies: EndpointPolicies | undefined
  /** Load errors (`policies.input[0].condition: ...`): the project does not start. */
  readonly problems: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  /** Rules this server cannot enforce: the endpoint is not served, and these say why. */
  readonly unsupported: ReadonlyArray<string>
}

/** The `user` of every condition. Identity fields the user lacks are null; lists are empty. */
const USER_SCHEMA = {
  user_id: "dyn",
  username: "dyn",
  email: "dyn",
  name: "dyn",
  provider: "dyn",
  role: "dyn",
  permissions: "list<dyn>",
  capabilities: "list<dyn>"
} as const

/** Declaring an environment is the costly part; each endpoint clones this one. */
let baseEnvironment: Environment | undefined
const environmentFor = (variables: ReadonlyArray<string>): Environment => {
  baseEnvironment ??= new Environment().registerVariable({ name: "user", schema: USER_SCHEMA })
  const env = baseEnvironment.clone()
  for (const name of variables) env.registerVariable(name, "dyn")
  return env
}

/** One line from a CEL error: its summary, and where in the condition it is. */
const celMessage = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const e = error as Error & { readonly summary?: unknown; readonly range?: { readonly start?: unknown } }
  const summary = typeof e.summary === "string" && e.summary !== "" ? e.summary : (e.message.split("\n")[0] ?? e.message)
  return typeof e.range?.start === "number" ? `${summary} (at character ${e.range.start + 1})` : summary
}

const quoted = (s: string) => JSON.stringify(s)

/**
 * Compiles an endpoint's `policies` block. Actions that do not apply where they stand (an input
 * rule that is not `deny`, which MXCP accepts and ignores; a prompt's output rule that is not
 * `deny`) are `unsupported`. An unknown action, a condition that does not compile or type-check,
 * and a rule that cannot do anything (`filter_fields` without `fields`, `filter_sensitive_fields`
 * without a return type) are `problems`.
 */
export const compilePolicies = (yaml: PoliciesYaml | undefined, target: PolicyCompileTarget): PolicyCompileResult => {
  const problems: Array<string> = []
  const warnings: Array<string> = []
  const unsupported: Array<string> = []
  const inputRules = yaml?.input ?? []
  const outputRules = yaml?.output ?? []
  if (inputRules.length === 0 && outputRules.length === 0) return { policies: undefined, problems, warnings, unsupported }

  const paramNames = target.parameters.map((p) => p.name)
  if (inputRules.length > 0 && paramNames.includes("user")) {
    warnings.push(
      "parameters.user: shadowed by the caller in input policies (conditions see the caller as `user`, not this " +
        "argument); rename the parameter"
    )
  }
  const inputEnv = environmentFor(paramNames.filter((n) => n !== "user"))
  const outputEnv = environmentFor(["response"])

  const compile = (stage: PolicyStage, rules: ReadonlyArray<PolicyRuleYaml>, env: Environment): Array<PolicyRule> => {
    const out: Array<PolicyRule> = []
    rules.forEach((rule, index) => {
      const at = ruleLabel({ stage, index })
      const action = POLICY_ACTIONS.find((a) => a === rule.action)
      if (action === undefined) {
        problems.push(`${at}.action: must be one of ${POLICY_ACTIONS.join(", ")} (got ${quoted(rule.action)})`)
        return
      }
      if (stage === "input" && action !== "deny") {
        unsupported.push(`${at}.action: ${action} applies to output policies only (input policies can only deny)`)
        return
      }
      if (stage === "output" && target.kind === "prompt" && action !== "deny") {
        unsupported.push(`${at}.action: ${action} is not supported on prompts (their output policies can only deny)`)
        return
      }
      const fields = rule.fields ?? []
      if ((action === "filter_fields" || action === "mask_fields") && fields.length === 0) {
        problems.push(`${at}.fields: ${action} needs the list of fields it applies to (e.g. fields: [ssn, salary])`)
        return
      }
      if (action !== "filter_fields" && action !== "mask_fields" && rule.fields !== undefined) {
        warnings.push(`${at}.fields: ignored by action ${action}`)
      }
      if (action === "filter_sensitive_fields") {
        if (target.returns === undefined) {
          problems.push(
            `${at}.action: filter_sensitive_fields needs the endpoint's return type, with the sensitive fields marked ` +
              "`sensitive: true`"
          )
          return
        }
        if (!hasSensitive(target.returns)) {
          warnings.push(`${at}: no part of the return type is marked \`sensitive: true\`, so filter_sensitive_fields removes nothing`)
        }
      }
      if (rule.condition.trim() === "") {
        problems.push(`${at}.condition: is empty (write a CEL expression, e.g. user.role != 'admin')`)
        return
      }
      let evaluate: PolicyRule["evaluate"]
      try {
        const parsed = env.parse(rule.condition)
        const checked = parsed.check()
        if (!checked.valid) {
          problems.push(`${at}.condition: CEL error: ${celMessage(checked.error)}`)
          return
        }
        if (checked.type !== undefined && checked.type !== "bool" && checked.type !== "dyn") {
          problems.push(`${at}.condition: must be a boolean expression (this one gives ${checked.type})`)
          return
        }
        evaluate = parsed
      } catch (e) {
        problems.push(`${at}.condition: CEL error: ${celMessage(e)}`)
        return
      }
      // A variable can only be reached by its name, so a condition without the word never reads
      // it (the word inside a string literal only costs a needless conversion).
      const readsResponse = stage === "output" && /\bresponse\b/.test(rule.condition)
      out.push({ stage, index, condition: rule.condition, action, reason: rule.reason, fields, evaluate, readsResponse })
    })
    return out
  }
  const input = compile("input", inputRules, inputEnv)
  const output = compile("output", outputRules, outputEnv)
  const policies = problems.length === 0 && unsupported.length === 0 ? { input, output } : undefined
  return { policies, problems, warnings, unsupported }
}

// ---------------------------------------------------------------------------------------------
// The user, as conditions see it

/** `user` in conditions, with MXCP's field names. */
export interface PolicyUser {
  readonly user_id: string | null
  readonly username: string | null
  readonly email: string | null
  readonly name: string | null
  readonly provider: string | null
  readonly role: string
  readonly permissions: ReadonlyArray<string>
  readonly capabilities: ReadonlyArray<string>
}

/** The caller as identity (structurally: any identity type with these fields fits). */
export interface PolicyIdentity {
  readonly provider: string
  readonly id: string
  readonly username: string
  readonly email: string
  readonly name: string
}

/** With auth off, MXCP's anonymous user: role `anonymous`, no permissions, the rest null. */
export const ANONYMOUS: PolicyUser = {
  user_id: null,
  username: null,
  email: null,
  name: null,
  provider: null,
  role: "anonymous",
  permissions: [],
  capabilities: []
}

const stringList = (u: unknown): ReadonlyArray<string> =>
  Array.isArray(u) ? u.filter((x): x is string => typeof x === "string") : []

/**
 * The `user` of an authenticated caller. `role`, `permissions` and `capabilities` are read from
 * the identity when it carries them (capabilities come from the provider's claim mappings);
 * otherwise the role is MXCP's default `user` and the lists are empty.
 */
export const policyUser = (identity: PolicyIdentity | undefined): PolicyUser => {
  if (identity === undefined) return ANONYMOUS
  const extra = identity as PolicyIdentity & { readonly role?: unknown; readonly permissions?: unknown; readonly capabilities?: unknown }
  return {
    user_id: identity.id,
    username: identity.username,
    email: identity.email,
    name: identity.name,
    provider: identity.provider,
    role: typeof extra.role === "string" && extra.role !== "" ? extra.role : "user",
    permissions: stringList(extra.permissions),
    capabilities: stringList(extra.capabilities)
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/**
 * A JSON value as CEL sees it: a number without a fraction is an `int` (as MXCP's CEL sees JSON
 * integers), other numbers `double`; lists and objects are copied without prototypes.
 */
export const toCel = (value: unknown): unknown => {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : value
  if (Array.isArray(value)) return value.map(toCel)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
    for (const [k, v] of Object.entries(value)) setOwn(out, k, toCel(v))
    return out
  }
  return value
}

/** Why a call may not go on: a rule denied it, or a rule could not be evaluated. */
export type PolicyRefusal =
  | { readonly _tag: "Denied"; readonly rule: PolicyRule; readonly reason: string }
  | { readonly _tag: "Failed"; readonly rule: PolicyRule; readonly error: string }

const DEFAULT_REASON: Readonly<Record<PolicyStage, string>> = {
  input: "Access denied by policy",
  output: "Output blocked by policy"
}

/** Whether `rule` fires on `context`; a refusal when it cannot be evaluated or is not a boolean. */
const fires = (rule: PolicyRule, context: Readonly<Record<string, unknown>>): boolean | PolicyRefusal => {
  let result: unknown
  try {
    result = rule.evaluate(context)
  } catch (e) {
    return { _tag: "Failed", rule, error: celMessage(e) }
  }
  if (typeof result === "boolean") return result
  return { _tag: "Failed", rule, error: `the condition gave ${result === null ? "null" : typeof result}, not a boolean` }
}

const context = (entries: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out = Object.create(null) as Record<string, unknown>
  for (const [k, v] of Object.entries(entries)) setOwn(out, k, v)
  return out
}

/** Input rules, in order, on the validated arguments: undefined when the call may go on. */
export const checkInput = (
  policies: EndpointPolicies,
  user: PolicyUser,
  args: Readonly<Record<string, unknown>>
): PolicyRefusal | undefined => {
  if (policies.input.length === 0) return undefined
  const ctx = context({})
  for (const [k, v] of Object.entries(args)) setOwn(ctx, k, toCel(v))
  // The caller wins over a parameter named `user`.
  setOwn(ctx, "user", toCel(user))
  for (const rule of policies.input) {
    const verdict = fires(rule, ctx)
    if (verdict === false) continue
    if (verdict === true) return { _tag: "Denied", rule, reason: rule.reason ?? DEFAULT_REASON.input }
    return verdict
  }
  return undefined
}

export type OutputVerdict =
  | { readonly _tag: "Allowed"; readonly value: unknown; readonly applied: ReadonlyArray<PolicyRule> }
  | PolicyRefusal

/**
 * Output rules, in order, on the endpoint's result. Every condition sees the result as the
 * endpoint produced it (as in MXCP); the actions of the rules that fire apply one after another.
 */
export const applyOutput = (
  policies: EndpointPolicies,
  user: PolicyUser,
  value: unknown,
  returns: TypeSpec | undefined
): OutputVerdict => {
  if (policies.output.length === 0) return { _tag: "Allowed", value, applied: [] }
  const ctx = context({ user: toCel(user) })
  if (policies.output.some((r) => r.readsResponse)) setOwn(ctx, "response", toCel(value))
  let current = value
  const applied: Array<PolicyRule> = []
  for (const rule of policies.output) {
    const verdict = fires(rule, ctx)
    if (verdict === false) continue
    if (verdict !== true) return verdict
    switch (rule.action) {
      case "deny":
        return { _tag: "Denied", rule, reason: rule.reason ?? DEFAULT_REASON.output }
      case "filter_fields":
        current = filterFields(current, rule.fields)
        break
      case "mask_fields":
        current = maskFields(current, rule.fields)
        break
      case "filter_sensitive_fields":
        // Compilation refuses this action without a return type.
        current = returns === undefined ? null : filterSensitiveFields(current, returns)
        break
    }
    applied.push(rule)
  }
  return { _tag: "Allowed", value: current, applied }
}
