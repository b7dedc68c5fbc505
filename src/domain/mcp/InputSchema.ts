/** The JSON Schema of a tool's input, for MCP `tools/list`, from its parameter specs. Pure. */
import type { ParameterSpec, TypeSpec } from "./Endpoint.js"
import { setOwn } from "./Parameters.js"

type JsonSchema = { readonly [k: string]: unknown }

/** Input schema for MCP `tools/list`, from the parameter specs. */
export interface InputSchema {
  readonly type: "object"
  readonly properties: Readonly<Record<string, JsonSchema>>
  readonly required: ReadonlyArray<string>
  readonly additionalProperties: false
  readonly [k: string]: unknown
}

const typeSchema = (spec: TypeSpec): Record<string, unknown> => {
  const out: Record<string, unknown> = { type: spec.type }
  const copy = (key: keyof TypeSpec, value: unknown = spec[key]) => {
    if (value !== undefined) setOwn(out, key, value)
  }
  copy("description")
  copy("format", spec.format === "timestamp" ? "date-time" : spec.format)
  copy("enum", spec.enum === undefined ? undefined : [...spec.enum])
  copy("minimum")
  copy("maximum")
  copy("exclusiveMinimum")
  copy("exclusiveMaximum")
  copy("multipleOf")
  copy("minLength")
  copy("maxLength")
  copy("pattern")
  copy("minItems")
  copy("maxItems")
  copy("uniqueItems")
  copy("items", spec.items === undefined ? undefined : typeSchema(spec.items))
  copy(
    "properties",
    spec.properties === undefined
      ? undefined
      : Object.fromEntries(Object.entries(spec.properties).map(([k, v]) => [k, typeSchema(v)]))
  )
  copy("required", spec.required === undefined ? undefined : [...spec.required])
  copy("additionalProperties")
  copy("examples", spec.examples === undefined ? undefined : [...spec.examples])
  return out
}

/**
 * A `default: null` stays `type: <t>` (not `[t, "null"]`, which several LLM clients reject): the
 * parameter is simply optional, though an explicit `null` is accepted too.
 */
const parameterSchema = (p: ParameterSpec): JsonSchema => {
  const out = typeSchema(p)
  if (p.hasDefault) out["default"] = p.default
  return out
}

/** JSON Schema for MCP `inputSchema`: declared parameters, required = those without default. */
export const toInputSchema = (params: ReadonlyArray<ParameterSpec>): InputSchema => ({
  type: "object",
  properties: Object.fromEntries(params.map((p) => [p.name, parameterSchema(p)])),
  required: params.filter((p) => !p.hasDefault).map((p) => p.name),
  additionalProperties: false
})
