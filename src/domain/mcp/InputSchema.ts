/**
 * The JSON Schemas a tool publishes in MCP `tools/list`: its input (from its parameter specs) and,
 * for an `object` return type, its output (from the return spec). Pure.
 */
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

/** Output schema for MCP `tools/list` (always an object schema). */
export interface OutputSchema {
  readonly type: "object"
  readonly [k: string]: unknown
}

/**
 * The JSON Schema of a type spec (`nullable`: this value admits `null`). With `nullInside`, every
 * nested value (items, properties) also admits `null`, as SQL results do: `type: [t, "null"]`,
 * and `null` added to an `enum`.
 */

const typeSchema = (spec: TypeSpec, nullable = false, nullInside = false): Record<string, unknown> => {
  const out: Record<string, unknown> = { type: nullable ? [spec.type, "null"] : spec.type }
  const copy = (key: keyof TypeSpec, value: unknown = spec[key]) => {
    if (value !== undefined) setOwn(out, key, value)
  }
  copy("description")
  copy("format", spec.format === "timestamp" ? "date-time" : spec.format)
  copy("enum", spec.enum === undefined ? undefined : nullable && !spec.enum.includes(null) ? [...spec.enum, null] : [...spec.enum])
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
  copy("items", spec.items === undefined ? undefined : typeSchema(spec.items, nullInside, nullInside))
  copy(
    "properties",
    spec.properties === undefined
      ? undefined
      : Object.fromEntries(Object.entries(spec.properties).map(([k, v]) => [k, typeSchema(v, nullInside, nullInside)]))
  )
  copy("required", spec.required === undefined ? undefined : [...spec.required])
  copy("additionalProperties")
  copy("examples", spec.examples === undefined ? undefined : [...spec.examples])
  return out
}

/**
 * A `default: null` stays `type: <t>` (not `[t, "null"]`, which several LLM clients reject) and is
 * not published (`"type": "string", "default": null` contradicts itself): the parameter is simply
 * optional (not in `required`), though an explicit `null` is accepted too.
 */
const parameterSchema = (p: ParameterSpec): JsonSchema => {
  const out = typeSchema(p)
  if (p.hasDefault && p.default !== null) out["default"] = p.default
  return out
}

/** JSON Schema for MCP `inputSchema`: declared parameters, required = those without default. */
export const toInputSchema = (params: ReadonlyArray<ParameterSpec>): InputSchema => ({
  type: "object",
  properties: Object.fromEntries(params.map((p) => [p.name, parameterSchema(p)])),
  required: params.filter((p) => !p.hasDefault).map((p) => p.name),
  additionalProperties: false
})

/**
 * JSON Schema for MCP `outputSchema`: the return spec of a tool whose `return` type is `object`
 * (MCP output schemas are objects; other return types publish none). Nested values admit `null`
 * (SQL NULL); the result is checked against the same rules before it is sent
 * (`returnValueProblems`), so `structuredContent` always matches.
 */
export const toOutputSchema = (returns: TypeSpec | undefined): OutputSchema | undefined =>
  returns?.type === "object" ? { ...typeSchema(returns, false, true), type: "object" } : undefined
