import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { ParameterSpec, TypeSpec } from "../../src/domain/mcp/Endpoint.js"
import { toInputSchema } from "../../src/domain/mcp/InputSchema.js"
import { decodeArguments, validateArguments } from "../../src/domain/mcp/Parameters.js"
import { shapeResult } from "../../src/domain/mcp/ResultShape.js"

const param = (name: string, spec: TypeSpec, extra: { default?: unknown } = {}): ParameterSpec => ({
  ...spec,
  name,
  hasDefault: Object.hasOwn(extra, "default"),
  ...extra
})

const left = (params: ReadonlyArray<ParameterSpec>, args: unknown): string => {
  const r = validateArguments(params, args)
  if (Either.isRight(r)) throw new Error(`expected Left, got ${JSON.stringify(r.right)}`)
  return r.left
}
const right = (params: ReadonlyArray<ParameterSpec>, args: unknown): Record<string, unknown> => {
  const r = validateArguments(params, args)
  if (Either.isLeft(r)) throw new Error(`expected Right, got ${r.left}`)
  return r.right
}

describe("toInputSchema", () => {
  it("maps every constraint, nested items and properties, defaults and required", () => {
    const schema = toInputSchema([
      param("q", { type: "string", description: "query", minLength: 1, maxLength: 50, pattern: "^[a-z]+$" }),
      param("when", { type: "string", format: "timestamp" }, { default: null }),
      param("limit", { type: "integer", minimum: 1, maximum: 100, examples: [10] }, { default: 10 }),
      param("status", { type: "string", enum: ["open", "closed"] }, { default: null }),
      param("tags", { type: "array", items: { type: "string", format: "email" }, minItems: 1, maxItems: 3, uniqueItems: true }),
      param("filter", {
        type: "object",
        properties: { min: { type: "number", exclusiveMinimum: 0, multipleOf: 0.5 } },
        required: ["min"],
        additionalProperties: false
      })
    ])
    expect(schema).toEqual({
      type: "object",
      properties: {
        q: { type: "string", description: "query", minLength: 1, maxLength: 50, pattern: "^[a-z]+$" },
        when: { type: "string", format: "date-time" },
        limit: { type: "integer", minimum: 1, maximum: 100, examples: [10], default: 10 },
        status: { type: "string", enum: ["open", "closed"] },
        tags: { type: "array", items: { type: "string", format: "email" }, minItems: 1, maxItems: 3, uniqueItems: true },
        filter: {
          type: "object",
          properties: { min: { type: "number", exclusiveMinimum: 0, multipleOf: 0.5 } },
          required: ["min"],
          additionalProperties: false
        }
      },
      required: ["q", "tags", "filter"],
      additionalProperties: false
    })
  })

  it("Input schema: a default: null is not published (no \"type\":\"string\",\"default\":null contradiction); the parameter is optional", () => {
    const schema = toInputSchema([param("since", { type: "string", format: "date" }, { default: null }), param("n", { type: "integer" }, { default: 5 })])
    expect(schema.properties["since"]).toEqual({ type: "string", format: "date" })
    expect(schema.properties["n"]).toEqual({ type: "integer", default: 5 })
    expect(schema.required).toEqual([])
    expect(JSON.stringify(schema)).not.toContain('"default":null')
  })

  it("no parameters", () => {
    expect(toInputSchema([])).toEqual({ type: "object", properties: {}, required: [], additionalProperties: false })
  })
})

describe("validateArguments", () => {
  const limit = param("limit", { type: "integer", minimum: 1, maximum: 100 }, { default: 10 })
  const q = param("q", { type: "string", minLength: 2, maxLength: 5 })

  it("fills defaults and keeps given values", () => {
    expect(right([q, limit], { q: "abc" })).toEqual({ q: "abc", limit: 10 })
    expect(right([q, limit], { q: "abc", limit: 7 })).toEqual({ q: "abc", limit: 7 })
    expect(right([limit], undefined)).toEqual({ limit: 10 })
    expect(right([limit], null)).toEqual({ limit: 10 })
    expect(right([], {})).toEqual({})
  })

  it("rejects missing required, unknown parameters and non-object arguments", () => {
    expect(left([q, limit], {})).toBe("Parameter 'q' is required")
    expect(left([q], { q: "ab", extra: 1 })).toBe("Unknown parameter 'extra' (expected one of: q)")
    expect(left([], { x: 1 })).toBe("Unknown parameter 'x' (this endpoint takes no parameters)")
    expect(left([q], [1, 2])).toBe("Arguments must be an object (got an array of 2 items)")
    expect(left([q], "q=1")).toBe('Arguments must be an object (got "q=1")')
  })

  it("types are strict: no coercion of numeric strings, integers are integers, booleans are booleans", () => {
    expect(left([limit], { limit: "5" })).toBe('Parameter \'limit\' must be an integer (got "5")')
    expect(left([limit], { limit: 1.5 })).toBe("Parameter 'limit' must be an integer (got 1.5)")
    expect(left([param("n", { type: "integer" })], { n: 2 ** 60 })).toMatch(/^Parameter 'n' must be an integer between -9007199254740991 and 9007199254740991/)
    expect(left([param("x", { type: "number" })], { x: "1.5" })).toBe('Parameter \'x\' must be a finite number (got "1.5")')
    expect(left([param("x", { type: "number" })], { x: Number.POSITIVE_INFINITY })).toBe("Parameter 'x' must be a finite number (got Infinity)")
    expect(right([param("x", { type: "number" })], { x: 1.5 })).toEqual({ x: 1.5 })
    expect(left([param("b", { type: "boolean" })], { b: "true" })).toBe('Parameter \'b\' must be true or false (got "true")')
    expect(left([param("b", { type: "boolean" })], { b: 1 })).toBe("Parameter 'b' must be true or false (got 1)")
    expect(left([q], { q: null })).toBe("Parameter 'q' must be a string (got null)")
    expect(left([param("a", { type: "array" })], { a: {} })).toBe("Parameter 'a' must be an array (got an object)")
    expect(left([param("o", { type: "object" })], { o: [] })).toBe("Parameter 'o' must be an object (got an array of 0 items)")
  })

  it("null is accepted for a parameter whose default is null", () => {
    const since = param("since", { type: "string", format: "date" }, { default: null })
    expect(right([since], {})).toEqual({ since: null })
    expect(right([since], { since: null })).toEqual({ since: null })
    expect(right([since], { since: "2024-02-29" })).toEqual({ since: "2024-02-29" })
    expect(left([limit], { limit: null })).toBe("Parameter 'limit' must be an integer (got null)")
  })

  it("bounds, lengths (in code points), enum, pattern", () => {
    expect(left([limit], { limit: 500 })).toBe("Parameter 'limit' must be <= 100 (got 500)")
    expect(left([limit], { limit: 0 })).toBe("Parameter 'limit' must be >= 1 (got 0)")
    expect(left([param("x", { type: "number", exclusiveMinimum: 0 })], { x: 0 })).toBe("Parameter 'x' must be > 0 (got 0)")
    expect(left([param("x", { type: "number", exclusiveMaximum: 1 })], { x: 1 })).toBe("Parameter 'x' must be < 1 (got 1)")
    expect(left([param("x", { type: "number", multipleOf: 0.5 })], { x: 0.7 })).toBe("Parameter 'x' must be a multiple of 0.5 (got 0.7)")
    expect(right([param("x", { type: "number", multipleOf: 0.1 })], { x: 0.3 })).toEqual({ x: 0.3 })
    expect(left([q], { q: "a" })).toBe("Parameter 'q' must be at least 2 characters long (got 1)")
    expect(left([q], { q: "abcdef" })).toBe("Parameter 'q' must be at most 5 characters long (got 6)")
    expect(right([q], { q: "😀😀" })).toEqual({ q: "😀😀" })
    const status = param("status", { type: "string", enum: ["open", "closed"] })
    expect(left([status], { status: "x" })).toBe('Parameter \'status\' must be one of "open", "closed" (got "x")')
    const code = param("code", { type: "string", pattern: "^[A-Z]{3}$" })
    expect(right([code], { code: "ABC" })).toEqual({ code: "ABC" })
    expect(left([code], { code: "abcd" })).toBe('Parameter \'code\' must match the pattern ^[A-Z]{3}$ (got "abcd")')
    expect(right([param("c", { type: "string", pattern: "\\-\\d" })], { c: "a-1" })).toEqual({ c: "a-1" })
  })

  it("formats", () => {
    const f = (format: string, value: string) => validateArguments([param("v", { type: "string", format })], { v: value })
    const ok = (format: string, value: string) => expect(Either.isRight(f(format, value)), `${format} ${value}`).toBe(true)
    const bad = (format: string, value: string) => expect(Either.isLeft(f(format, value)), `${format} ${value}`).toBe(true)
    ok("date", "2024-02-29")
    bad("date", "2023-02-29")
    bad("date", "2024-13-01")
    bad("date", "2024-1-01")
    ok("date-time", "2024-01-31T12:00:00Z")
    ok("date-time", "2024-01-31T12:00:00.123+02:00")
    ok("date-time", "2024-01-31 12:00")
    bad("date-time", "2024-01-31")
    bad("date-time", "2024-01-31T25:00:00Z")
    ok("timestamp", "2024-01-31T12:00:00Z")
    ok("time", "23:59:60")
    bad("time", "24:00")
    ok("duration", "P1DT2H")
    ok("duration", "PT0.5S")
    bad("duration", "P")
    bad("duration", "PT")
    ok("email", "a.b+c@example.co.uk")
    bad("email", "a@b")
    bad("email", "a b@example.com")
    ok("uri", "https://example.com/x?y=1")
    ok("uri", "urn:isbn:0451450523")
    bad("uri", "example.com")
    ok("uuid", "123e4567-e89b-12d3-a456-426614174000")
    bad("uuid", "123e4567e89b12d3a456426614174000")
    expect(Either.getLeft(f("date", "2024-13-01"))).toEqual(
      expect.objectContaining({ value: 'Parameter \'v\' must be a date (YYYY-MM-DD) (got "2024-13-01")' })
    )
  })

  it("nested arrays and objects report the path", () => {
    const filter = param("filter", {
      type: "object",
      properties: {
        tags: { type: "array", items: { type: "string", maxLength: 3 }, maxItems: 3, uniqueItems: true },
        range: { type: "object", properties: { lo: { type: "integer" } }, required: ["lo"], additionalProperties: false }
      },
      required: ["tags"]
    })
    expect(right([filter], { filter: { tags: ["a"], other: 1 } })).toEqual({ filter: { tags: ["a"], other: 1 } })
    expect(left([filter], { filter: {} })).toBe("Parameter 'filter.tags' is required")
    expect(left([filter], { filter: { tags: ["a", 5, "long"] } })).toBe(
      "Parameter 'filter.tags[1]' must be a string (got 5); Parameter 'filter.tags[2]' must be at most 3 characters long (got 4)"
    )
    expect(left([filter], { filter: { tags: ["a", "a"] } })).toBe(
      "Parameter 'filter.tags' must not contain duplicates (item 1 repeats an earlier one)"
    )
    expect(left([filter], { filter: { tags: [], range: { lo: 1.5, hi: 2 } } })).toBe(
      "Parameter 'filter.range.lo' must be an integer (got 1.5); Parameter 'filter.range.hi' is not an allowed property"
    )
    expect(left([filter], { filter: { tags: ["a", "b", "c", "d"] } })).toBe(
      "Parameter 'filter.tags' must have at most 3 items (got 4)"
    )
  })

  it("reports every faulty parameter, capped", () => {
    const params = Array.from({ length: 12 }, (_, i) => param(`p${i}`, { type: "string" }))
    const message = left(params, {})
    expect(message.split("; ")).toHaveLength(11)
    expect(message).toMatch(/; and 2 more problems$/)
  })

  it("never sets a prototype from arguments", () => {
    const args = JSON.parse('{"__proto__": {"polluted": true}}') as unknown
    expect(left([], args)).toBe("Unknown parameter '__proto__' (this endpoint takes no parameters)")
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
  })

  it.effect("decodeArguments fails with InvalidArguments", () =>
    Effect.gen(function* () {
      const error = yield* decodeArguments([q], {}).pipe(Effect.flip)
      expect(error._tag).toBe("InvalidArguments")
      expect(error.message).toBe("Parameter 'q' is required")
      expect(yield* decodeArguments([q], { q: "ab" })).toEqual({ q: "ab" })
    }))
})

describe("shapeResult", () => {
  const rows = [{ a: 1, b: 2 }, { a: 3, b: 4 }]
  it("array or no return type: the rows", () => {
    expect(shapeResult(undefined, rows)).toEqual(Either.right(rows))
    expect(shapeResult({ type: "array" }, [])).toEqual(Either.right([]))
  })
  it("object: exactly one row", () => {
    expect(shapeResult({ type: "object" }, [{ a: 1 }])).toEqual(Either.right({ a: 1 }))
    expect(shapeResult({ type: "object" }, rows)).toEqual(
      Either.left("expected exactly one row for return type object, got 2 rows")
    )
    expect(shapeResult({ type: "object" }, [])).toEqual(
      Either.left("expected exactly one row for return type object, got 0 rows")
    )
  })
  it("scalar: exactly one row with exactly one column", () => {
    expect(shapeResult({ type: "integer" }, [{ n: 42 }])).toEqual(Either.right(42))
    expect(shapeResult({ type: "string" }, [{ s: null }])).toEqual(Either.right(null))
    expect(shapeResult({ type: "number" }, rows)).toEqual(
      Either.left("expected exactly one row for return type number, got 2 rows")
    )
    expect(shapeResult({ type: "boolean" }, [{ a: true, b: false }])).toEqual(
      Either.left("expected exactly one column for return type boolean, got 2 columns (a, b)")
    )
    expect(shapeResult({ type: "string" }, [{}])).toEqual(
      Either.left("expected exactly one column for return type string, got 0 columns")
    )
  })
})
