/**
 * Property: for generated parameter specs and generated arguments (right and wrong types, extra
 * keys, nulls, huge numbers, odd strings), `validateArguments` never throws; it returns Right
 * exactly when an independent oracle says the arguments are acceptable, and then the object's
 * keys are exactly the declared parameters that were given or defaulted, each value as given (or
 * the default) and satisfying its spec; otherwise Left with a non-empty message.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import type { ParameterSpec, TypeSpec } from "../../src/domain/mcp/Endpoint.js"
import { validateArguments } from "../../src/domain/mcp/Parameters.js"

// ---------------------------------------------------------------------------------------------
// An independent oracle for the subset of specs generated below

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

const isCalendarDate = (s: string): boolean => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false
  const d = new Date(`${s}T00:00:00Z`)
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s
}

const formatOk = (format: string, s: string): boolean =>
  format === "date"
    ? isCalendarDate(s)
    : format === "uuid"
    ? /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)
    : true

const oracle = (s: TypeSpec, v: unknown): boolean => {
  let ok: boolean
  switch (s.type) {
    case "string": {
      if (typeof v !== "string") return false
      const len = Array.from(v).length
      ok = (s.minLength === undefined || len >= s.minLength) &&
        (s.maxLength === undefined || len <= s.maxLength) &&
        (s.pattern === undefined || new RegExp(s.pattern, "u").test(v)) &&
        (s.format === undefined || formatOk(s.format, v))
      break
    }
    case "integer":
    case "number": {
      if (typeof v !== "number" || !Number.isFinite(v)) return false
      if (s.type === "integer" && !Number.isSafeInteger(v)) return false
      ok = (s.minimum === undefined || v >= s.minimum) && (s.maximum === undefined || v <= s.maximum)
      break
    }
    case "boolean":
      ok = typeof v === "boolean"
      break
    case "array": {
      if (!Array.isArray(v)) return false
      const items = s.items
      ok = (s.minItems === undefined || v.length >= s.minItems) &&
        (s.maxItems === undefined || v.length <= s.maxItems) &&
        (items === undefined || v.every((x) => oracle(items, x)))
      break
    }
    case "object": {
      if (!isPlainObject(v)) return false
      const props = s.properties ?? {}
      ok = (s.required ?? []).every((k) => Object.hasOwn(v, k) && v[k] !== undefined) &&
        Object.entries(v).every(([k, x]) => {
          if (x === undefined) return true
          const sub = Object.hasOwn(props, k) ? props[k] : undefined
          return sub !== undefined ? oracle(sub, x) : s.additionalProperties !== false
        })
      break
    }
  }
  return ok && (s.enum === undefined || s.enum.some((e) => sameValue(e, v)))
}

// ---------------------------------------------------------------------------------------------
// Generators

const weird: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(null, 1e308, -1e308, 2 ** 53, 2 ** 60, -0, 0.1, "", "5", "1.5", "true", "2024-02-30", "😀", "\u0000", "a\nb"),
  fc.fullUnicodeString({ maxLength: 6 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.array(fc.jsonValue(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 })
)

/** A spec of `type` with at most two of the given constraints, so values can often satisfy it. */
const fewOf = (type: TypeSpec["type"], constraints: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<TypeSpec> =>
  fc.subarray(Object.keys(constraints), { maxLength: 2 }).chain((keys) =>
    fc.record({
      type: fc.constant(type),
      ...Object.fromEntries(keys.map((k) => [k, constraints[k] as fc.Arbitrary<unknown>]))
    }) as fc.Arbitrary<TypeSpec>
  )

const stringSpec = fewOf("string", {
  minLength: fc.nat(3),
  maxLength: fc.integer({ min: 0, max: 8 }),
  pattern: fc.constantFrom("^[a-z]*$", "\\d", "^.{0,3}$", "é"),
  enum: fc.array(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  format: fc.constantFrom("date", "uuid")
})
const integerSpec = fewOf("integer", {
  minimum: fc.integer({ min: -100, max: 100 }),
  maximum: fc.integer({ min: -100, max: 100 }),
  enum: fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 3 })
})
const numberSpec = fewOf("number", {
  minimum: fc.double({ min: -100, max: 100, noNaN: true }),
  maximum: fc.double({ min: -100, max: 100, noNaN: true })
})
const booleanSpec = fc.record({ type: fc.constant("boolean" as const) })
const scalarSpec: fc.Arbitrary<TypeSpec> = fc.oneof(stringSpec, integerSpec, numberSpec, booleanSpec)
const arraySpec: fc.Arbitrary<TypeSpec> = fewOf("array", { items: scalarSpec, minItems: fc.nat(2), maxItems: fc.nat(4) })
const objectSpec: fc.Arbitrary<TypeSpec> = fc
  .dictionary(fc.constantFrom("x", "y", "z"), scalarSpec, { maxKeys: 3 })
  .chain((properties) =>
    fc.record(
      {
        type: fc.constant("object" as const),
        properties: fc.constant(properties),
        required: fc.subarray(Object.keys(properties)),
        additionalProperties: fc.boolean()
      },
      { requiredKeys: ["type", "properties"] }
    )
  )
const typeSpec: fc.Arbitrary<TypeSpec> = fc.oneof(scalarSpec, arraySpec, objectSpec)

/** Values shaped like the spec wants (often valid), mixed with anything at all. */
const valueFor = (s: TypeSpec): fc.Arbitrary<unknown> => {
  const typed = ((): fc.Arbitrary<unknown> => {
    const fromEnum = s.enum !== undefined && s.enum.length > 0 ? [fc.constantFrom(...s.enum)] : []
    const around = (bounds: ReadonlyArray<number | undefined>, deltas: ReadonlyArray<number>) => {
      const values = bounds.flatMap((b) => (b === undefined ? [] : deltas.map((d) => b + d)))
      return values.length > 0 ? [fc.constantFrom(...values)] : []
    }
    switch (s.type) {
      case "string":
        return fc.oneof(
          fc.string({ maxLength: 6 }),
          fc.string({ unit: fc.constantFrom("a", "z", "7", "é", "😀", " "), maxLength: 9 }),
          fc.constantFrom("2024-01-31", "2023-02-29", "123e4567-e89b-12d3-a456-426614174000", "7"),
          ...fromEnum,
          ...around([s.minLength, s.maxLength], [-1, 0, 1]).map((len) =>
            fc.tuple(len, fc.constantFrom("a", "😀", "7")).map(([n, unit]) => unit.repeat(Math.max(0, n as number)))
          )
        )
      case "integer":
        return fc.oneof(
          fc.integer({ min: -150, max: 150 }),
          fc.constantFrom(2 ** 53 - 1, 2 ** 53, 1.5),
          ...fromEnum,
          ...around([s.minimum, s.maximum], [-1, 0, 1])
        )
      case "number":
        return fc.oneof(
          fc.double({ min: -150, max: 150, noNaN: true }),
          fc.integer({ min: -150, max: 150 }),
          ...around([s.minimum, s.maximum], [-1, -Number.EPSILON * 100, 0, Number.EPSILON * 100, 1])
        )
      case "boolean":
        return fc.boolean()
      case "array":
        return fc.array(s.items === undefined ? weird : valueFor(s.items), { maxLength: 5 })
      case "object":
        return fc.record(
          Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, sub]) => [k, valueFor(sub)])),
          { requiredKeys: [] }
        ).chain((base) =>
          fc.option(weird, { nil: undefined }).map((extra) => (extra === undefined ? base : { ...base, w: extra }))
        )
    }
  })()
  return fc.oneof({ weight: 4, arbitrary: typed }, { weight: 1, arbitrary: weird })
}

const NAMES = ["a", "b", "c", "limit", "q", "constructor", "toString"] as const

const paramsArb: fc.Arbitrary<ReadonlyArray<ParameterSpec>> = fc
  .uniqueArray(fc.constantFrom(...NAMES), { maxLength: 4 })
  .chain((names) =>
    fc.tuple(
      ...names.map((name) =>
        typeSpec.chain((spec) =>
          fc.record({ mode: fc.constantFrom("none", "null", "value"), candidate: valueFor(spec) }).map(
            ({ candidate, mode }): ParameterSpec =>
              mode === "none"
                ? { ...spec, name, hasDefault: false }
                : mode === "value" && oracle(spec, candidate)
                ? { ...spec, name, hasDefault: true, default: candidate }
                : { ...spec, name, hasDefault: true, default: null }
          )
        )
      )
    )
  )

const setOwn = (o: Record<string, unknown>, k: string, v: unknown) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })

const argsFor = (params: ReadonlyArray<ParameterSpec>): fc.Arbitrary<unknown> => {
  const objectArgs = fc
    .tuple(
      fc.oneof(
        { weight: 2, arbitrary: fc.constant([]) },
        {
          weight: 1,
          arbitrary: fc.array(
            fc.tuple(fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("__proto__", "a", "constructor", "x")), weird),
            { minLength: 1, maxLength: 2 }
          )
        }
      ),
      fc.tuple(...params.map((p) => fc.option(valueFor(p), { nil: undefined, freq: 3 })))
    )
    .map(([extras, values]) => {
      const args: Record<string, unknown> = {}
      for (const [k, v] of extras) setOwn(args, k, v)
      params.forEach((p, i) => {
        const v = values[i]
        if (v !== undefined) setOwn(args, p.name, v)
      })
      return args
    })
  return fc.oneof({ weight: 9, arbitrary: objectArgs }, { weight: 1, arbitrary: weird }, {
    weight: 1,
    arbitrary: fc.constantFrom(undefined, null)
  })
}

const cases = paramsArb.chain((params) => fc.tuple(fc.constant(params), argsFor(params)))

// ---------------------------------------------------------------------------------------------

const given = (args: unknown, name: string): { present: boolean; value: unknown } => {
  if (!isPlainObject(args) || !Object.hasOwn(args, name) || args[name] === undefined) return { present: false, value: undefined }
  return { present: true, value: args[name] }
}

const singleCases = paramsArb
  .filter((ps) => ps.length > 0)
  .map((ps) => ps[0] as ParameterSpec)
  .chain((p) => fc.tuple(fc.constant(p), valueFor(p)))

describe("validateArguments (property)", () => {
  it.prop(
    "one parameter, one value: accepted exactly when the oracle accepts it, and passed through unchanged",
    [singleCases],
    ([[p, value]]) => {
      const result = validateArguments([p], { [p.name]: value })
      const acceptable = value === undefined
        ? p.hasDefault
        : oracle(p, value) || (value === null && p.hasDefault && p.default === null)
      expect(Either.isRight(result), Either.isLeft(result) ? result.left : "accepted").toBe(acceptable)
      if (Either.isRight(result)) expect(Object.is(result.right[p.name], value === undefined ? p.default : value)).toBe(true)
      else expect(result.left).toContain(p.name)
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it.prop(
    "Right iff acceptable; then exactly the given-or-defaulted params, each valid; else a message",
    [cases],
    ([[params, args]]) => {
      let result: Either.Either<Record<string, unknown>, string>
      try {
        result = validateArguments(params, args)
      } catch (e) {
        throw new Error(`validateArguments threw: ${String(e)}`)
      }

      const argsOk = args === undefined || args === null || isPlainObject(args)
      const declared = new Set(params.map((p) => p.name))
      const unknownKeys = isPlainObject(args)
        ? Object.keys(args).filter((k) => !declared.has(k) && args[k] !== undefined)
        : []
      const nullAllowed = (p: ParameterSpec) => p.hasDefault && p.default === null
      const paramsOk = params.every((p) => {
        const g = given(args, p.name)
        if (!g.present) return p.hasDefault
        return oracle(p, g.value) || (g.value === null && nullAllowed(p))
      })
      const acceptable = argsOk && unknownKeys.length === 0 && paramsOk

      if (Either.isLeft(result)) {
        expect(result.left.length).toBeGreaterThan(0)
        expect(acceptable).toBe(false)
        return
      }
      expect(acceptable).toBe(true)
      const out = result.right
      const expectedKeys = params.filter((p) => given(args, p.name).present || p.hasDefault).map((p) => p.name)
      expect(Object.keys(out).sort()).toEqual([...expectedKeys].sort())
      for (const p of params) {
        if (!Object.hasOwn(out, p.name)) continue
        const g = given(args, p.name)
        const value = out[p.name]
        expect(Object.is(value, g.present ? g.value : p.default)).toBe(true)
        expect(oracle(p, value) || (value === null && nullAllowed(p))).toBe(true)
      }
    },
    { fastCheck: { numRuns: 500 } }
  )
})
