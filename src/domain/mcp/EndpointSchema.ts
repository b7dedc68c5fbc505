/**
 * The MXCP endpoint file format (`mxcp: 1` and exactly one of `tool:`, `resource:`, `prompt:`)
 * as effect Schemas, plus the pure steps from a parsed YAML document to endpoint definitions:
 * decode, semantic checks (parameter specs, defaults, URI templates, prompt placeholders), and
 * conversion. Reading files (the YAML and `source.file`) is the loader's job.
 *
 * One concept: the Schema of an endpoint file (tool, resource, prompt) and its load-time checks.
 */
import { Either, ParseResult, Schema } from "effect"
import type {
  EndpointLimits,
  ParameterSpec,
  PromptDefinition,
  PromptMessage,
  ResourceDefinition,
  ToolDefinition,
  TypeSpec
} from "./Endpoint.js"
import { toInputSchema, toOutputSchema } from "./InputSchema.js"
import { FORMATS } from "./Formats.js"
import { describeValue, parameterProblems, typeSpecProblems } from "./Parameters.js"
import { compilePolicies, type EndpointPolicies, type PoliciesYaml as PoliciesYamlType } from "./Policies.js"
import { compilePrompt, templatePlaceholders } from "./PromptTemplate.js"
import { parseUriTemplate, templateVariables } from "./UriTemplate.js"

// ---------------------------------------------------------------------------------------------
// Building blocks with messages that read well in `mxcp validate`

const got = (issue: ParseResult.ParseIssue): string => ` (got ${describeValue(issue.actual)})`

/** A schema for values satisfying `guard`, failing with `must be <expected> (got ...)`. */
const check = <A>(guard: (u: unknown) => u is A, expected: string) =>
  Schema.declare(guard, { message: (issue) => `must be ${expected}${got(issue)}` })

const oneOf = <const L extends ReadonlyArray<string | number>>(values: L, expected?: string) =>
  check(
    (u): u is L[number] => values.some((v) => v === u),
    expected ?? `one of ${values.join(", ")}`
  )

const Str = check((u): u is string => typeof u === "string", "a string")
const Bool = check((u): u is boolean => typeof u === "boolean", "true or false")
const Num = check((u): u is number => typeof u === "number" && Number.isFinite(u), "a number")
const NonNegInt = check(
  (u): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0,
  "a non-negative integer"
)
const PositiveInt = check(
  (u): u is number => typeof u === "number" && Number.isSafeInteger(u) && u > 0,
  "a positive integer"
)
const Anything = Schema.Unknown

const List = <S extends Schema.Schema.Any>(item: S) =>
  Schema.Array(item).annotations({ message: (issue) => ({ message: `must be a list${got(issue)}`, override: false }) })

const Mapping = <F extends Schema.Struct.Fields>(fields: F) =>
  Schema.Struct(fields).annotations({
    message: (issue) => ({ message: `must be a mapping${got(issue)}`, override: false })
  })

const opt = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.-]*$/
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Tool and prompt names: letters, digits, `_`, `.`, `-`; not starting with a digit. */
export const EndpointName = check(
  (u): u is string => typeof u === "string" && IDENTIFIER.test(u),
  "a name of letters, digits, _, . and - that does not start with a digit or symbol"
)
/** Parameter names bind in SQL as `$name`. */
export const ParameterName = check(
  (u): u is string => typeof u === "string" && PARAM_NAME.test(u) && u !== "__proto__",
  "a parameter name of letters, digits and _ that does not start with a digit"
)

export const TYPE_NAMES = ["string", "number", "integer", "boolean", "array", "object"] as const
export const TypeName = oneOf(TYPE_NAMES)
export const FormatName = oneOf(Object.keys(FORMATS) as ReadonlyArray<string>)

/** `mxcp: 1` (older MXCP projects wrote `"1.0.0"`; also accepted). */
export const MxcpVersion = oneOf([1, "1", "1.0.0"], "1")

// ---------------------------------------------------------------------------------------------
// Type specs

/** A `type` block as written in YAML (parameters, return types, nested items and properties). */
export interface TypeSpecYaml {
  readonly type: TypeSpec["type"]
  readonly description?: string
  readonly format?: string
  readonly sensitive?: boolean
  readonly enum?: ReadonlyArray<unknown>
  readonly examples?: ReadonlyArray<unknown>
  readonly minimum?: number
  readonly maximum?: number
  readonly exclusiveMinimum?: number
  readonly exclusiveMaximum?: number
  readonly multipleOf?: number
  readonly minLength?: number
  readonly maxLength?: number
  readonly pattern?: string
  readonly minItems?: number
  readonly maxItems?: number
  readonly uniqueItems?: boolean
  readonly items?: TypeSpecYaml
  readonly properties?: { readonly [key: string]: TypeSpecYaml }
  readonly required?: ReadonlyArray<string>
  readonly additionalProperties?: boolean
}

const typeFields = {
  type: TypeName,
  description: opt(Str),
  format: opt(FormatName),
  /** Fields (of return types) that `filter_sensitive_fields` drops; on parameters it changes nothing. */
  sensitive: opt(Bool),
  enum: opt(List(Anything)),
  examples: opt(List(Anything)),
  minimum: opt(Num),
  maximum: opt(Num),
  exclusiveMinimum: opt(Num),
  exclusiveMaximum: opt(Num),
  multipleOf: opt(Num),
  minLength: opt(NonNegInt),
  maxLength: opt(NonNegInt),
  pattern: opt(Str),
  minItems: opt(NonNegInt),
  maxItems: opt(NonNegInt),
  uniqueItems: opt(Bool),
  items: opt(Schema.suspend((): Schema.Schema<TypeSpecYaml> => TypeSpecYaml)),
  properties: opt(
    Schema.Record({ key: Schema.String, value: Schema.suspend((): Schema.Schema<TypeSpecYaml> => TypeSpecYaml) })
      .annotations({ message: (issue) => ({ message: `must be a mapping${got(issue)}`, override: false }) })
  ),
  required: opt(List(Str)),
  additionalProperties: opt(Bool)
}

export const TypeSpecYaml: Schema.Schema<TypeSpecYaml> = Mapping(typeFields)

/** A parameter: a type block plus `name` and `default` (`description` is optional here, unlike MXCP). */
export const ParameterYaml = Mapping({
  name: ParameterName,
  ...typeFields,
  default: opt(Anything)
})
export type ParameterYaml = typeof ParameterYaml.Type

// ---------------------------------------------------------------------------------------------
// Endpoint blocks

const Language = oneOf(["sql", "python"])

/** `source`: inline `code` or a `file`; MXCP also lets `language` stand here (`sql`, the default). */
export const SourceYaml = Mapping({ code: opt(Str), file: opt(Str), language: opt(Language) })
export type SourceYaml = typeof SourceYaml.Type

export const ToolAnnotationsYaml = Mapping({
  title: opt(Str),
  readOnlyHint: opt(Bool),
  destructiveHint: opt(Bool),
  idempotentHint: opt(Bool),
  openWorldHint: opt(Bool)
})

/**
 * mxcp-ts `limits` of a tool or resource: its result cap (rows, bytes of JSON), over the site's
 * `limits`. A result past it is a tool error (a JSON-RPC error for a resource).
 */
export const LimitsYaml = Mapping({ max_rows: opt(PositiveInt), max_result_bytes: opt(PositiveInt) })
export type LimitsYaml = typeof LimitsYaml.Type

/** One policy rule (`Policies.ts` gives its meaning); the action is checked when compiling. */
export const PolicyRuleYaml = Mapping({ condition: Str, action: Str, reason: opt(Str), fields: opt(List(Str)) })

/** `policies: {input: [...], output: [...]}` of a tool, resource or prompt. */
export const PoliciesYaml: Schema.Schema<PoliciesYamlType> = Mapping({
  input: opt(List(PolicyRuleYaml)),
  output: opt(List(PolicyRuleYaml))
})

/** MXCP keys accepted but not implemented (one warning each; top-level `metadata` likewise). */
const unsupported = { tests: opt(Anything), policies: opt(PoliciesYaml) }

export const ToolYaml = Mapping({
  name: EndpointName,
  description: opt(Str),
  tags: opt(List(Str)),
  annotations: opt(ToolAnnotationsYaml),
  parameters: opt(List(ParameterYaml)),
  return: opt(TypeSpecYaml),
  language: opt(Language),
  source: SourceYaml,
  enabled: opt(Bool),
  limits: opt(LimitsYaml),
  ...unsupported
})
export type ToolYaml = typeof ToolYaml.Type

export const ResourceYaml = Mapping({
  uri: Str,
  name: opt(Str),
  description: opt(Str),
  tags: opt(List(Str)),
  mime_type: opt(Str),
  parameters: opt(List(ParameterYaml)),
  return: opt(TypeSpecYaml),
  language: opt(Language),
  source: SourceYaml,
  enabled: opt(Bool),
  limits: opt(LimitsYaml),
  ...unsupported
})
export type ResourceYaml = typeof ResourceYaml.Type

export const PromptMessageYaml = Mapping({
  /** MCP prompts have no `system` role: it is served as `user` (with a warning). */
  role: opt(oneOf(["user", "assistant", "system"])),
  prompt: Str,
  type: opt(Str)
})

export const PromptYaml = Mapping({
  name: EndpointName,
  description: opt(Str),
  tags: opt(List(Str)),
  parameters: opt(List(ParameterYaml)),
  messages: opt(List(PromptMessageYaml)),
  enabled: opt(Bool),
  ...unsupported
})
export type PromptYaml = typeof PromptYaml.Type

/** The top level of an endpoint file; the kind blocks are decoded separately. */
export const EndpointDocumentYaml = Mapping({
  mxcp: MxcpVersion,
  tool: opt(Anything),
  resource: opt(Anything),
  prompt: opt(Anything),
  metadata: opt(Anything)
})

// ---------------------------------------------------------------------------------------------
// Parse-issue formatting

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`),
    ""
  )

/** One line per schema issue: `tool.parameters[0].type: must be one of ... (got "strnig")`. */
export const formatParseError = (error: ParseResult.ParseError, prefix: ReadonlyArray<PropertyKey> = []): Array<string> => {
  const lines = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
    const path = [...prefix, ...issue.path]
    const last = path[path.length - 1]
    const parent = formatPath(path.slice(0, -1))
    const where = parent === "" ? "" : `${parent}: `
    switch (issue._tag) {
      case "Unexpected": {
        const allowed = /expected: (.*)$/.exec(issue.message)?.[1]?.replace(/"/g, "").split(" | ").join(", ")
        return `${where}unknown key '${String(last)}'${allowed === undefined ? "" : ` (allowed: ${allowed})`}`
      }
      case "Missing":
        return `${where}missing required key '${String(last)}'`
      default: {
        const at = formatPath(path)
        return at === "" ? issue.message : `${at}: ${issue.message}`
      }
    }
  })
  return [...new Set(lines)]
}

const decode = <A, I>(schema: Schema.Schema<A, I>, value: unknown, prefix: ReadonlyArray<PropertyKey>) =>
  Either.mapLeft(
    Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })(value),
    (e) => formatParseError(e, prefix)
  )

// ---------------------------------------------------------------------------------------------
// From YAML to definitions

export type DecodedEndpoint =
  | { readonly kind: "tool"; readonly yaml: ToolYaml }
  | { readonly kind: "resource"; readonly yaml: ResourceYaml }
  | { readonly kind: "prompt"; readonly yaml: PromptYaml }

export interface EndpointDecodeResult {
  /** Present when the schema decoded; it may still have (semantic) problems. */
  readonly endpoint: DecodedEndpoint | undefined
  readonly problems: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  /** Set when the file is deliberately not served (`policy`: a rule this server cannot enforce). */
  readonly skipped?: "python" | "disabled" | "policy" | undefined
  /** The endpoint's compiled policies, when it has any. */
  readonly policies?: EndpointPolicies | undefined
}

const KINDS = ["tool", "resource", "prompt"] as const

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const result = (
  endpoint: DecodedEndpoint | undefined,
  problems: ReadonlyArray<string>,
  warnings: ReadonlyArray<string> = [],
  skipped?: "python" | "disabled" | "policy",
  policies?: EndpointPolicies
): EndpointDecodeResult => ({ endpoint, problems, warnings, skipped, policies })

/**
 * Decodes and checks a parsed endpoint document. Problems and warnings are messages without the
 * file name. `python` endpoints are skipped with a warning, `enabled: false` ones silently.
 */
export const decodeEndpointDocument = (doc: unknown): EndpointDecodeResult => {
  if (doc === null || doc === undefined) {
    return result(undefined, ["the file is empty (expected `mxcp: 1` and one of tool, resource, prompt)"])
  }
  if (!isRecord(doc)) {
    return result(undefined, [
      `the file must be a mapping with \`mxcp: 1\` and one of tool, resource, prompt (got ${describeValue(doc)})`
    ])
  }
  const top = decode(EndpointDocumentYaml, doc, [])
  const kinds = KINDS.filter((k) => Object.hasOwn(doc, k))
  const problems: Array<string> = Either.isLeft(top)
    ? top.left.map((l) =>
      l === "missing required key 'mxcp'" ? "missing required key 'mxcp' (every endpoint file starts with `mxcp: 1`)" : l
    )
    : []
  if (Object.hasOwn(doc, "policies")) {
    // MXCP's own docs show this placement, and MXCP then ignores the rules without a word.
    const at = problems.findIndex((p) => p.startsWith("unknown key 'policies'"))
    const hint = `'policies' must be inside the ${kinds[0] ?? "tool"} block ` +
      "(at the top level of the file its rules would be ignored)"
    if (at >= 0) problems.splice(at, 1, hint)
    else problems.push(hint)
  }
  if (kinds.length === 0) problems.push("expected exactly one of tool, resource, prompt (found none)")
  if (kinds.length > 1) problems.push(`expected exactly one of tool, resource, prompt (found ${kinds.join(" and ")})`)
  const kind = kinds.length === 1 ? kinds[0] : undefined
  if (kind === undefined) return result(undefined, problems)

  const block = doc[kind]
  const source = isRecord(block) ? block["source"] : undefined
  if (isRecord(block) && (block["language"] === "python" || (isRecord(source) && source["language"] === "python"))) {
    return result(undefined, [], [`${kind} uses language: python, which is not supported; skipped`], "python")
  }
  if (isRecord(block) && block["enabled"] === false) return result(undefined, [], [], "disabled")

  const warnings: Array<string> = []
  if (Object.hasOwn(doc, "metadata")) warnings.push("'metadata' is not supported yet and is ignored")
  if (isRecord(block)) {
    if (Object.hasOwn(block, "tests")) warnings.push(`'${kind}.tests' is not supported yet and is ignored`)
  }

  const decoded: Either.Either<DecodedEndpoint, Array<string>> =
    kind === "tool"
      ? Either.map(decode(ToolYaml, block, ["tool"]), (yaml) => ({ kind, yaml }))
      : kind === "resource"
      ? Either.map(decode(ResourceYaml, block, ["resource"]), (yaml) => ({ kind, yaml }))
      : Either.map(decode(PromptYaml, block, ["prompt"]), (yaml) => ({ kind, yaml }))
  if (Either.isLeft(decoded)) return result(undefined, [...problems, ...decoded.left], warnings)
  const endpoint = decoded.right
  const semantic = endpointProblems(endpoint)
  if (endpoint.kind === "prompt" && (endpoint.yaml.messages ?? []).some((m) => m.role === "system")) {
    warnings.push("prompt messages with role: system are served with role user (MCP prompts have no system role)")
  }
  const compiled = compilePolicies(endpoint.yaml.policies, {
    kind: endpoint.kind,
    parameters: (endpoint.yaml.parameters ?? []).map(toParameterSpec),
    returns: endpoint.kind === "prompt" || endpoint.yaml.return === undefined ? undefined : toTypeSpec(endpoint.yaml.return)
  })
  warnings.push(...compiled.warnings.map((w) => `${kind}.${w}`))
  const allProblems = [...problems, ...semantic.map((p) => `${kind}.${p}`), ...compiled.problems.map((p) => `${kind}.${p}`)]
  if (allProblems.length === 0 && compiled.unsupported.length > 0) {
    const name = endpoint.kind === "resource" ? endpoint.yaml.uri : endpoint.yaml.name
    for (const reason of compiled.unsupported) warnings.push(`${kind} '${name}' is not served: ${kind}.${reason}`)
    return result(undefined, [], warnings, "policy")
  }
  return result(endpoint, allProblems, warnings, undefined, compiled.policies)
}

const sourceProblems = (source: SourceYaml): Array<string> => {
  const hasCode = source.code !== undefined
  const hasFile = source.file !== undefined
  if (hasCode && hasFile) return ["source: give exactly one of 'code' or 'file' (got both)"]
  if (!hasCode && !hasFile) return ["source: give exactly one of 'code' or 'file' (got neither)"]
  if (hasCode && (source.code as string).trim() === "") return ["source.code is empty"]
  if (hasFile && (source.file as string).trim() === "") return ["source.file is empty"]
  return []
}

/** Semantic problems of a decoded endpoint, relative to its block (`parameters.x: ...`). */
export const endpointProblems = (endpoint: DecodedEndpoint): ReadonlyArray<string> => {
  const params = (endpoint.yaml.parameters ?? []).map(toParameterSpec)
  const problems: Array<string> = [...parameterProblems(params)]
  switch (endpoint.kind) {
    case "tool": {
      problems.push(...sourceProblems(endpoint.yaml.source))
      if (endpoint.yaml.return !== undefined) problems.push(...typeSpecProblems(toTypeSpec(endpoint.yaml.return), "return"))
      break
    }
    case "resource": {
      const { uri } = endpoint.yaml
      problems.push(...sourceProblems(endpoint.yaml.source))
      if (endpoint.yaml.return !== undefined) problems.push(...typeSpecProblems(toTypeSpec(endpoint.yaml.return), "return"))
      if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(uri)) {
        problems.push(`uri: '${uri}' must be a URI with a scheme and no spaces, like data://users/{id}`)
      }
      const parsed = parseUriTemplate(uri)
      if (Either.isLeft(parsed)) {
        problems.push(`uri: ${parsed.left}`)
        break
      }
      const vars = templateVariables(uri)
      const declared = new Set(params.map((p) => p.name))
      for (const v of vars) {
        if (!declared.has(v)) problems.push(`uri: template variable '{${v}}' is not a declared parameter`)
      }
      for (const p of params) {
        if (!vars.includes(p.name)) {
          problems.push(`parameters.${p.name}: not used in the URI template '${uri}' (resource parameters come from the URI)`)
        } else if (p.type === "array" || p.type === "object") {
          problems.push(`parameters.${p.name}: a URI template variable must be a string, number, integer or boolean (not ${p.type})`)
        }
      }
      break
    }
    case "prompt": {
      const declared = new Set(params.map((p) => p.name))
      ;(endpoint.yaml.messages ?? []).forEach((m, i) => {
        if (m.type !== undefined && m.type !== "text") {
          problems.push(`messages[${i}].type: only 'text' messages are supported (got ${describeValue(m.type)})`)
        }
        const compiled = compilePrompt(m.prompt)
        if (!compiled.ok) {
          problems.push(`messages[${i}].prompt: the template does not compile (Jinja syntax): ${compiled.error}`)
          return
        }
        for (const name of templatePlaceholders(m.prompt)) {
          if (!declared.has(name)) problems.push(`messages[${i}].prompt: placeholder '{{${name}}}' is not a declared parameter`)
        }
      })
      break
    }
  }
  return problems
}

/** A YAML type block as a `TypeSpec` (`sensitive` is kept only where it is true). */
export const toTypeSpec = (t: TypeSpecYaml): TypeSpec => {
  const { sensitive, items, properties, ...rest } = t
  return {
    ...rest,
    ...(sensitive === true ? { sensitive } : {}),
    ...(items === undefined ? {} : { items: toTypeSpec(items) }),
    ...(properties === undefined
      ? {}
      : { properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, toTypeSpec(v)])) })
  }
}

export const toParameterSpec = (p: ParameterYaml): ParameterSpec => {
  const { name, default: _default, ...type } = p
  const hasDefault = Object.hasOwn(p, "default")
  return { ...toTypeSpec(type), name, hasDefault, ...(hasDefault ? { default: p.default } : {}) }
}

/** The resolved tool; `sql` is the inline code or the contents of `source.file`. */
export const toToolDefinition = (
  yaml: ToolYaml,
  sql: string,
  file: string,
  policies?: EndpointPolicies
): ToolDefinition => {
  const parameters = (yaml.parameters ?? []).map(toParameterSpec)
  const returns = yaml.return === undefined ? undefined : toTypeSpec(yaml.return)
  const outputSchema = toOutputSchema(returns)
  return {
    kind: "tool",
    name: yaml.name,
    description: yaml.description ?? "",
    parameters,
    returns,
    sql,
    tags: yaml.tags ?? [],
    annotations: { ...yaml.annotations },
    inputSchema: toInputSchema(parameters),
    ...(outputSchema === undefined ? {} : { outputSchema }),
    file,
    ...toLimits(yaml.limits),
    ...(policies === undefined ? {} : { policies })
  }
}

const toLimits = (limits: LimitsYaml | undefined): { readonly limits?: EndpointLimits } =>
  limits === undefined
    ? {}
    : {
      limits: {
        ...(limits.max_rows === undefined ? {} : { maxRows: limits.max_rows }),
        ...(limits.max_result_bytes === undefined ? {} : { maxResultBytes: limits.max_result_bytes })
      }
    }

export const toResourceDefinition = (
  yaml: ResourceYaml,
  sql: string,
  file: string,
  policies?: EndpointPolicies
): ResourceDefinition => ({
  kind: "resource",
  uri: yaml.uri,
  name: yaml.name ?? yaml.uri,
  description: yaml.description ?? "",
  mimeType: yaml.mime_type ?? "application/json",
  parameters: (yaml.parameters ?? []).map(toParameterSpec),
  returns: yaml.return === undefined ? undefined : toTypeSpec(yaml.return),
  sql,
  file,
  ...toLimits(yaml.limits),
  ...(policies === undefined ? {} : { policies })
})

export const toPromptDefinition = (yaml: PromptYaml, file: string, policies?: EndpointPolicies): PromptDefinition => ({
  kind: "prompt",
  name: yaml.name,
  description: yaml.description ?? "",
  parameters: (yaml.parameters ?? []).map(toParameterSpec),
  messages: (yaml.messages ?? []).map(
    (m): PromptMessage => ({ role: m.role === "assistant" ? "assistant" : "user", prompt: m.prompt })
  ),
  file,
  ...(policies === undefined ? {} : { policies })
})
