/**
 * What output policies do to a result, MXCP's way: `filter_fields` drops named fields,
 * `mask_fields` replaces their values with `"****"` (both on the object, or on each object of a
 * list; other values pass unchanged; a name the result lacks is ignored), and
 * `filter_sensitive_fields` drops every value whose declared type says `sensitive: true`, at any
 * depth of objects and arrays. Pure; inputs are never modified.
 */
import type { TypeSpec } from "./Endpoint.js"
import { setOwn } from "./Parameters.js"

export const MASK = "****"

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Applies `f` to the object, or to each object of a list; anything else is returned as is. */
const eachObject = (value: unknown, f: (row: Readonly<Record<string, unknown>>) => Record<string, unknown>): unknown =>
  Array.isArray(value) ? value.map((item) => (isRecord(item) ? f(item) : item)) : isRecord(value) ? f(value) : value

/** The result without the named top-level fields (of the object, or of each object in a list). */
export const filterFields = (value: unknown, fields: ReadonlyArray<string>): unknown => {
  const drop = new Set(fields)
  return eachObject(value, (row) => {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(row)) if (!drop.has(k)) setOwn(out, k, v)
    return out
  })
}

/** The result with the named top-level fields that it has set to `"****"`. */
export const maskFields = (value: unknown, fields: ReadonlyArray<string>): unknown => {
  const mask = new Set(fields)
  return eachObject(value, (row) => {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(row)) setOwn(out, k, mask.has(k) ? MASK : v)
    return out
  })
}

/** Whether the type, or anything nested in it, is marked `sensitive: true`. */
export const hasSensitive = (spec: TypeSpec): boolean =>
  spec.sensitive === true ||
  (spec.items !== undefined && hasSensitive(spec.items)) ||
  (spec.properties !== undefined && Object.values(spec.properties).some(hasSensitive))

/** Marks "drop this value" inside the recursion (distinct from a JSON `null`). */
const DROP: unique symbol = Symbol("drop")

const sensitiveFree = (value: unknown, spec: TypeSpec): unknown => {
  if (spec.sensitive === true) return DROP
  if (spec.type === "object" && isRecord(value)) {
    const properties = spec.properties ?? {}
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      if (!Object.hasOwn(properties, k)) {
        // Undeclared fields stay, as in MXCP, unless the object is closed.
        if (spec.additionalProperties !== false) setOwn(out, k, v)
        continue
      }
      const kept = sensitiveFree(v, properties[k] as TypeSpec)
      if (kept !== DROP) setOwn(out, k, kept)
    }
    return out
  }
  if (spec.type === "array" && Array.isArray(value)) {
    const items = spec.items
    if (items === undefined) return value
    return value.map((item) => sensitiveFree(item, items)).filter((item) => item !== DROP)
  }
  // A scalar, or a JSON null, where the type says so; or a value of another shape where nothing
  // sensitive was declared.
  if (value === null || !hasSensitive(spec)) return value
  // The value is not the declared shape, and the declared shape holds something sensitive: what
  // would have been filtered cannot be found, so none of the value is returned (MXCP returns it
  // unchanged, which can leak).
  return DROP
}

/**
 * The result without any value whose declared type (the endpoint's `return`) is marked
 * `sensitive: true`, in nested objects and arrays too. A result that is itself sensitive becomes
 * `null`. Undeclared fields stay in open objects and go from closed ones
 * (`additionalProperties: false`), as in MXCP. A value whose shape does not match a declared type
 * with sensitive parts is dropped whole, so a sensitive value is never returned.
 */
export const filterSensitiveFields = (value: unknown, returns: TypeSpec): unknown => {
  const kept = sensitiveFree(value, returns)
  return kept === DROP ? null : kept
}
