/**
 * Property (issue 14): for random return types with random `sensitive: true` markings and random
 * rows, `filter_sensitive_fields` never returns a sensitive value. Every value standing where
 * the type says `sensitive` carries a marker string; so does a value of the wrong shape where
 * the declared type holds sensitive parts (its sensitive field cannot be found to be removed).
 * Nothing with a marker may come back; values that are not sensitive (and of the right shape)
 * all come back, undeclared fields of closed objects excepted; a type without markings changes
 * nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { TypeSpec } from "../../src/domain/mcp/Endpoint.js"
import { filterSensitiveFields, hasSensitive } from "../../src/domain/mcp/FieldFilters.js"

const SECRET = "SECRET-"

/** Types: scalars, objects (open or closed) with 0-4 properties, arrays; `sensitive` on about 1 in 4. */
const typeArb: fc.Arbitrary<TypeSpec> = fc.letrec<{ type: TypeSpec }>((tie) => ({
  type: fc
    .tuple(
      fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.constantFrom<TypeSpec>({ type: "string" }, { type: "integer" }, { type: "number" }, { type: "boolean" }),
        fc
          .record({
            properties: fc.dictionary(fc.constantFrom("id", "name", "ssn", "salary", "profile", "tags", "__proto__", "x y"), tie("type"), {
              maxKeys: 4
            }),
            closed: fc.boolean()
          })
          .map(({ closed, properties }): TypeSpec => ({
            type: "object",
            properties,
            ...(closed ? { additionalProperties: false } : {})
          })),
        tie("type").map((items): TypeSpec => ({ type: "array", items }))
      ),
      fc.integer({ min: 0, max: 3 })
    )
    .map(([spec, roll]) => (roll === 0 ? { ...spec, sensitive: true } : spec))
})).type

/** A value of another shape than `spec` declares, every string in it a marker. */
const secretOfOtherShape = (spec: TypeSpec, n: number): unknown =>
  spec.type === "object"
    ? n % 2 === 0 ? `${SECRET}${n}` : [{ ssn: `${SECRET}${n}` }]
    : spec.type === "array"
    ? n % 2 === 0 ? `${SECRET}${n}` : { ssn: `${SECRET}${n}`, nested: [`${SECRET}${n}`] }
    : { ssn: `${SECRET}${n}` }

/** Any JSON value, every string in it a marker: what may stand where something sensitive is. */
const secretJson = (n: number): unknown => {
  switch (n % 4) {
    case 0:
      return `${SECRET}${n}`
    case 1:
      return [`${SECRET}${n}`, { k: `${SECRET}${n}` }]
    case 2:
      return { ssn: `${SECRET}${n}`, nested: [`${SECRET}${n}`] }
    default:
      return [[{ deep: `${SECRET}${n}` }]]
  }
}

/** A scalar that is not sensitive: never a marker. */
const plainScalar = (spec: TypeSpec, n: number): unknown =>
  spec.type === "string" ? `ok-${n}` : spec.type === "boolean" ? n % 2 === 0 : spec.type === "integer" ? n : n + 0.5

/**
 * A value for `spec`. `wrong` rolls decide where a value of the wrong shape stands instead; when
 * the declared type there holds sensitive parts, that value carries markers too.
 */
const valueArb = (spec: TypeSpec): fc.Arbitrary<unknown> =>
  fc.tuple(fc.nat(1000), fc.integer({ min: 0, max: 9 })).chain(([n, roll]) => {
    if (spec.sensitive === true) return fc.constant(secretJson(n))
    if (roll === 0) return fc.constant(null)
    if (roll === 1 && spec.type !== "string") {
      // The wrong shape: a string, a list, or an object where something else was declared.
      return fc.constant(hasSensitive(spec) ? secretOfOtherShape(spec, n) : `ok-wrong-${n}`)
    }
    switch (spec.type) {
      case "object": {
        const props = Object.entries(spec.properties ?? {})
        return fc
          .tuple(
            fc.tuple(...props.map(([, p]) => valueArb(p))),
            fc.subarray(props.map(([k]) => k)),
            fc.boolean()
          )
          .map(([values, present, extra]) => {
            const row: Record<string, unknown> = {}
            props.forEach(([k], i) => {
              if (present.includes(k)) Object.defineProperty(row, k, { value: values[i], enumerable: true, writable: true, configurable: true })
            })
            // An undeclared column: kept for open objects, dropped for closed ones.
            if (extra) row["undeclared"] = `ok-extra-${n}`
            return row
          })
      }
      case "array":
        return fc.array(valueArb(spec.items ?? { type: "string" }), { maxLength: 4 })
      default:
        return fc.constant(plainScalar(spec, n))
    }
  })

const cases = typeArb.chain((spec) => fc.tuple(fc.constant(spec), valueArb(spec)))

/** Rows: an array of objects, the shape most endpoints return. */
const rowsCases = typeArb
  .map((s): TypeSpec => ({ type: "array", items: s.type === "object" ? s : { type: "object", properties: { v: s } } }))
  .chain((spec) => fc.tuple(fc.constant(spec), fc.array(valueArb(spec.items as TypeSpec), { maxLength: 6 })))

/** The type without markings and with every object open. */
const strip = (spec: TypeSpec): TypeSpec => {
  const { sensitive: _s, additionalProperties: _a, items, properties, ...rest } = spec
  return {
    ...rest,
    ...(items === undefined ? {} : { items: strip(items) }),
    ...(properties === undefined ? {} : { properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, strip(v)])) })
  }
}

/** Every non-sensitive leaf (`ok-...`) the oracle expects back for a value of the right shape. */
const expectedPlain = (spec: TypeSpec, value: unknown, out: Array<string>): Array<string> => {
  if (spec.sensitive === true || value === null) return out
  if (typeof value === "string" && value.startsWith("ok-")) {
    out.push(value)
    return out
  }
  if (spec.type === "object" && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const p = spec.properties !== undefined && Object.hasOwn(spec.properties, k) ? spec.properties[k] : undefined
      if (p !== undefined) expectedPlain(p, v, out)
      else if (spec.additionalProperties !== false && typeof v === "string") out.push(v)
    }
  }
  if (spec.type === "array" && Array.isArray(value)) for (const v of value) expectedPlain(spec.items ?? { type: "string" }, v, out)
  return out
}

const leaves = (value: unknown, out: Array<string>): Array<string> => {
  if (typeof value === "string") out.push(value)
  else if (Array.isArray(value)) for (const v of value) leaves(v, out)
  else if (typeof value === "object" && value !== null) for (const v of Object.values(value)) leaves(v, out)
  return out
}

describe("filter_sensitive_fields (property)", () => {
  it.prop(
    "Policies: filter_sensitive_fields never returns a sensitive value, and keeps every value that is not",
    [cases],
    ([[spec, value]]) => {
      const before = JSON.stringify(value)
      const out = filterSensitiveFields(value, spec)
      const text = JSON.stringify(out) ?? ""
      expect(text).not.toContain(SECRET)
      const kept = leaves(out, []).filter((s) => s.startsWith("ok-")).sort()
      expect(kept).toEqual(expectedPlain(spec, value, []).sort())
      // The input is left as it was.
      expect(JSON.stringify(value)).toBe(before)
    },
    { fastCheck: { numRuns: 1500 } }
  )

  it.prop(
    "Policies: filter_sensitive_fields on arrays of rows never returns a sensitive value",
    [rowsCases],
    ([[spec, rows]]) => {
      const out = filterSensitiveFields(rows, spec)
      expect(JSON.stringify(out) ?? "").not.toContain(SECRET)
      expect(Array.isArray(out)).toBe(true)
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.prop(
    "Policies: a return type without sensitive markings (and without closed objects) changes nothing",
    [cases],
    ([[spec, value]]) => {
      const plain = strip(spec)
      expect(filterSensitiveFields(value, plain)).toEqual(value)
    },
    { fastCheck: { numRuns: 500 } }
  )
})
