/**
 * Endpoint definitions after loading: what the MCP server serves. The YAML schemas that produce
 * these live in `EndpointSchema.ts`; these are the resolved, ready-to-serve shapes.
 */
import type { EndpointPolicies } from "./Policies.js"

/** A JSON-Schema-like type description, MXCP style (`type`, `format`, `items`, `properties`...). */
export interface TypeSpec {
  readonly type: "string" | "number" | "integer" | "boolean" | "array" | "object"
  readonly description?: string | undefined
  readonly format?: string | undefined
  readonly enum?: ReadonlyArray<unknown> | undefined
  readonly minimum?: number | undefined
  readonly maximum?: number | undefined
  readonly minLength?: number | undefined
  readonly maxLength?: number | undefined
  readonly pattern?: string | undefined
  readonly minItems?: number | undefined
  readonly maxItems?: number | undefined
  readonly items?: TypeSpec | undefined
  readonly properties?: Readonly<Record<string, TypeSpec>> | undefined
  readonly required?: ReadonlyArray<string> | undefined
  /** MXCP/JSON Schema extras: strict bounds, step, array uniqueness, open/closed nested objects. */
  readonly exclusiveMinimum?: number | undefined
  readonly exclusiveMaximum?: number | undefined
  readonly multipleOf?: number | undefined
  readonly uniqueItems?: boolean | undefined
  /** Nested objects only (default true, as in MXCP); top-level arguments never allow extras. */
  readonly additionalProperties?: boolean | undefined
  /** Example values, passed through to the input schema for clients. */
  readonly examples?: ReadonlyArray<unknown> | undefined
  /** MXCP's marking for `filter_sensitive_fields` (return types); never sent to clients. */
  readonly sensitive?: boolean | undefined
}

export interface ParameterSpec extends TypeSpec {
  readonly name: string
  /** Present when the YAML gave a default (which makes the parameter optional). */
  readonly default?: unknown
  readonly hasDefault: boolean
}

/** An endpoint's own result cap (`limits:` in its YAML); unset fields fall back to the site's. */
export interface EndpointLimits {
  readonly maxRows?: number | undefined
  readonly maxResultBytes?: number | undefined
}

export interface ToolDefinition {
  readonly kind: "tool"
  readonly name: string
  readonly description: string
  readonly parameters: ReadonlyArray<ParameterSpec>
  /** Return type; undefined means "list of rows". */
  readonly returns: TypeSpec | undefined
  /** The SQL to run (inline `code`, or the contents of `file`). */
  readonly sql: string
  readonly tags: ReadonlyArray<string>
  readonly annotations: Readonly<Record<string, unknown>>
  /** JSON Schema (draft 2020-12 subset) for MCP `inputSchema`. */
  readonly inputSchema: { readonly type: "object"; readonly [k: string]: unknown }
  /** JSON Schema for MCP `outputSchema`: present for an `object` return type. */
  readonly outputSchema?: { readonly type: "object"; readonly [k: string]: unknown } | undefined
  /** The YAML file it came from (absolute). */
  readonly file: string
  readonly limits?: EndpointLimits | undefined
  /** Compiled `policies`, when the YAML has rules. */
  readonly policies?: EndpointPolicies | undefined
}

export interface ResourceDefinition {
  readonly kind: "resource"
  /** URI or URI template, e.g. `data://users/{id}`. */
  readonly uri: string
  readonly name: string
  readonly description: string
  readonly mimeType: string
  readonly parameters: ReadonlyArray<ParameterSpec>
  readonly returns: TypeSpec | undefined
  readonly sql: string
  readonly file: string
  readonly limits?: EndpointLimits | undefined
  /** Compiled `policies`, when the YAML has rules. */
  readonly policies?: EndpointPolicies | undefined
}

export interface PromptMessage {
  readonly role: "user" | "assistant"
  /** A Jinja template (rendered with nunjucks; see PromptTemplate.ts) over the prompt's arguments. */
  readonly prompt: string
}

export interface PromptDefinition {
  readonly kind: "prompt"
  readonly name: string
  readonly description: string
  readonly parameters: ReadonlyArray<ParameterSpec>
  readonly messages: ReadonlyArray<PromptMessage>
  readonly file: string
  /** Compiled `policies`, when the YAML has rules. */
  readonly policies?: EndpointPolicies | undefined
}

/** One problem in one endpoint file. */
export interface EndpointProblem {
  readonly file: string
  readonly message: string
}
