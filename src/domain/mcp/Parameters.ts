/**
 * Endpoint parameters: argument validation and load-time checks of parameter specs (their input
 * schema is `InputSchema.ts`, return shaping `ResultShape.ts`). Pure: no I/O.
 *
 * Validation decisions:
 * - Arguments are JSON as the client sent it; nothing is coerced. `"5"` is not a number, `1.5`
 *   is not an integer, `"true"` is not a boolean. (Resource URI variables and prompt arguments
 *   arrive as strings; their caller converts those before validating.)
 * - Integers must be safe integers (|n| <= 2^53-1): larger ones would silently lose precision.
 * - Numbers must be finite.
 * - A parameter without a `default` is required; one with a `default` is optional and the default
 *   is filled in. `default: null` (the MXCP idiom for an optional filter) also lets a client send
 *   `null` explicitly; otherwise `null` is a wrong type.
 * - Unknown parameters are rejected. Nested objects accept extra keys unless
 *   `additionalProperties: false` (MXCP's default).
 * - `pattern` is an ECMAScript regular expression (unicode mode when it compiles that way), and
 *   is searched, not anchored, as in JSON Schema.
 * - String lengths count code points, as in JSON Schema.
 */
import { Effect, Either, Schema } from "effect"
import type { ParameterSpec, TypeSpec } from "./Endpoint.js"
import { FORMATS } from "./Formats.js"

/** A call's arguments did not satisfy the endpoint's parameters. */
export class InvalidArguments extends Schema.TaggedError<InvalidArguments>()("InvalidArguments", {
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// Small helpers

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Sets an own property even for names like `__proto__`. Only `__proto__` needs the slow path:
 * it is the one accessor an object inherits, every other name assigns an own property (and
 * defining each property keeps V8 from giving rows a fast shape, a cost per field of every row).
 */
export const setOwn = (target: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

const MAX_SHOWN = 60

/** A short, human-readable rendering of a value for error messages. */
export const describeValue = (value: unknown): string => {
  if (value === undefined) return "nothing"
  if (value === null) return "null"
  if (typeof value === "string") {
    const json = JSON.stringify(value)
    return json.length > MAX_SHOWN ? `${json.slice(0, MAX_SHOWN - 4)}..."` : json
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? "" : "s"}`
  if (typeof value === "object") return "an object"
  return typeof value
}

const showLiteral = (value: unknown): string => {
  try {
    const json = JSON.stringify(value)
    return json === undefined ? String(value) : json
  } catch {
    return String(value)
  }
}

const deepEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
  }
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
  }
  return false
}

const codePointLength = (s: string): number => {
  let n = 0
  for (const _ of s) n++
  return n
}

const regexCache = new Map<string, RegExp | string>()

/** Compiles a `pattern`: unicode mode first, then legacy mode; a string is the syntax error. */
export const compilePattern = (pattern: string): RegExp | string => {
  const cached = regexCache.get(pattern)
  if (cached !== undefined) return cached
  let result: RegExp | string
  try {
    result = new RegExp(pattern, "u")
  } catch {
    try {
      result = new RegExp(pattern)
    } catch (e) {
      result = e instanceof Error ? e.message : String(e)
    }
  }
  if (regexCache.size > 1000) regexCache.clear()
  regexCache.set(pattern, result)
  return result
}

// ---------------------------------------------------------------------------------------------
// Value checking

interface Fault {
  /** `limit`, `filter.tags[2]` */
  readonly path: string
  /** `must be <= 100 (got 500)` */
  readonly text: string
}

const TYPE_WORDS: Record<TypeSpec["type"], string> = {
  string: "a string",
  number: "a number",
  integer: "an integer",
  boolean: "a boolean",
  array: "an array",
  object: "an object"
}

const checkType = (spec: TypeSpec, value: unknown): string | undefined => {
  const got = ` (got ${describeValue(value)})`
  switch (spec.type) {
    case "string":
      return typeof value === "string" ? undefined : `must be a string${got}`
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? undefined : `must be a finite number${got}`
    case "integer":
      if (typeof value === "number" && Number.isSafeInteger(value)) return undefined
      return typeof value === "number" && Number.isInteger(value)
        ? `must be an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}${got}`
        : `must be an integer${got}`
    case "boolean":
      return typeof value === "boolean" ? undefined : `must be true or false${got}`
    case "array":
      return Array.isArray(value) ? undefined : `must be an array${got}`
    case "object":
      return isRecord(value) ? undefined : `must be an object${got}`
    default:
      return `has an unknown type ${showLiteral((spec as { type: unknown }).type)}`
  }
}

/**
 * Checks `value` against `spec`, pushing every fault found (recursively) into `faults`. With
 * `nullInside`, a nested value (an item, a property) may be `null` whatever its type: SQL results
 * (see `returnValueProblems`).
 */
const checkValue = (spec: TypeSpec, value: unknown, path: string, faults: Array<Fault>, withEnum = true, nullInside = false): void => {
  const typeFault = checkType(spec, value)
  if (typeFault !== undefined) {
    faults.push({ path, text: typeFault })
    return
  }
  const got = ` (got ${describeValue(value)})`
  if (withEnum && spec.enum !== undefined && !spec.enum.some((e) => deepEqual(e, value))) {
    faults.push({ path, text: `must be one of ${spec.enum.map(showLiteral).join(", ")}${got}` })
    return
  }
  if (typeof value === "number") {
    if (spec.minimum !== undefined && value < spec.minimum) faults.push({ path, text: `must be >= ${spec.minimum}${got}` })
    if (spec.maximum !== undefined && value > spec.maximum) faults.push({ path, text: `must be <= ${spec.maximum}${got}` })
    if (spec.exclusiveMinimum !== undefined && value <= spec.exclusiveMinimum) {
      faults.push({ path, text: `must be > ${spec.exclusiveMinimum}${got}` })
    }
    if (spec.exclusiveMaximum !== undefined && value >= spec.exclusiveMaximum) {
      faults.push({ path, text: `must be < ${spec.exclusiveMaximum}${got}` })
    }
    if (spec.multipleOf !== undefined && spec.multipleOf > 0) {
      const q = value / spec.multipleOf
      if (!Number.isFinite(q) || Math.abs(q - Math.round(q)) > 1e-9) {
        faults.push({ path, text: `must be a multiple of ${spec.multipleOf}${got}` })
      }
    }
  } else if (typeof value === "string") {
    const length = codePointLength(value)
    if (spec.minLength !== undefined && length < spec.minLength) {
      faults.push({ path, text: `must be at least ${spec.minLength} characters long (got ${length})` })
    }
    if (spec.maxLength !== undefined && length > spec.maxLength) {
      faults.push({ path, text: `must be at most ${spec.maxLength} characters long (got ${length})` })
    }
    if (spec.pattern !== undefined) {
      const re = compilePattern(spec.pattern)
      if (typeof re === "string") faults.push({ path, text: `has an invalid pattern ${showLiteral(spec.pattern)}` })
      else if (!re.test(value)) faults.push({ path, text: `must match the pattern ${spec.pattern}${got}` })
    }
    if (spec.format !== undefined) {
      const format = FORMATS[spec.format]
      if (format !== undefined && !format.check(value)) faults.push({ path, text: `must be ${format.hint}${got}` })
    }
  } else if (Array.isArray(value)) {
    if (spec.minItems !== undefined && value.length < spec.minItems) {
      faults.push({ path, text: `must have at least ${spec.minItems} items (got ${value.length})` })
    }
    if (spec.maxItems !== undefined && value.length > spec.maxItems) {
      faults.push({ path, text: `must have at most ${spec.maxItems} items (got ${value.length})` })
    }
    if (spec.uniqueItems === true) {
      const dup = value.findIndex((x, i) => value.findIndex((y) => deepEqual(x, y)) !== i)
      if (dup >= 0) faults.push({ path, text: `must not contain duplicates (item ${dup} repeats an earlier one)` })
    }
    if (spec.items !== undefined) {
      const items = spec.items
      value.forEach((item: unknown, i) => {
        if (!(nullInside && item === null)) checkValue(items, item, `${path}[${i}]`, faults, true, nullInside)
      })
    }
  } else if (isRecord(value)) {
    const properties = spec.properties ?? {}
    for (const key of spec.required ?? []) {
      if (!Object.hasOwn(value, key) || value[key] === undefined) faults.push({ path: `${path}.${key}`, text: "is required" })
    }
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined) continue
      const sub = Object.hasOwn(properties, key) ? properties[key] : undefined
      if (sub !== undefined) {
        if (!(nullInside && v === null)) checkValue(sub, v, `${path}.${key}`, faults, true, nullInside)
      } else if (spec.additionalProperties === false) {
        faults.push({ path: `${path}.${key}`, text: "is not an allowed property" })
      }
    }
  }
}

const MAX_FAULTS = 10

const joinMessages = (messages: ReadonlyArray<string>): string =>
  messages.length <= MAX_FAULTS
    ? messages.join("; ")
    : `${messages.slice(0, MAX_FAULTS).join("; ")}; and ${messages.length - MAX_FAULTS} more problems`

const paramMessage = (f: Fault): string => `Parameter '${f.path}' ${f.text}`

/** The value's faults against `spec`, as `'path' text` fragments (empty when valid). */
export const valueProblems = (spec: TypeSpec, value: unknown, path: string): ReadonlyArray<string> => {
  const faults: Array<Fault> = []
  checkValue(spec, value, path, faults)
  return faults.map(paramMessage)
}

/**
 * A result's faults against its declared return type, as `path text` fragments (`.price must be a
 * finite number (got "x")`; empty when it matches). Nested values may be `null` (a SQL NULL).
 */
export const returnValueProblems = (spec: TypeSpec, value: unknown): ReadonlyArray<string> => {
  const faults: Array<Fault> = []
  checkValue(spec, value, "", faults, true, true)
  return faults.map((f) => (f.path === "" ? f.text : `'${f.path.replace(/^\./, "")}' ${f.text}`))
}

// ---------------------------------------------------------------------------------------------
// Argument validation

const acceptsNull = (p: ParameterSpec): boolean => p.hasDefault && p.default === null

/**
 * Validates a call's arguments against the declared parameters. Right: exactly the declared
 * parameters that were given or have a default (defaults filled in), values as given. Left: a
 * message naming each offending parameter, e.g. `Parameter 'limit' must be <= 100 (got 500)`.
 * Missing (`undefined`/`null`) arguments mean "no arguments". Never throws.
 */
export const validateArguments = (
  params: ReadonlyArray<ParameterSpec>,
  args: unknown
): Either.Either<Record<string, unknown>, string> => {
  try {
    return validate(params, args)
  } catch (e) {
    return Either.left(`Invalid arguments: ${e instanceof Error ? e.message : String(e)}`)
  }
}

const validate = (
  params: ReadonlyArray<ParameterSpec>,
  args: unknown
): Either.Either<Record<string, unknown>, string> => {
  const given: Readonly<Record<string, unknown>> = args === undefined || args === null ? {} : (args as never)
  if (!isRecord(given)) return Either.left(`Arguments must be an object (got ${describeValue(args)})`)
  const messages: Array<string> = []
  const declared = new Set(params.map((p) => p.name))
  const unknown = Object.keys(given).filter((k) => !declared.has(k) && given[k] !== undefined)
  for (const key of unknown) {
    messages.push(
      params.length === 0
        ? `Unknown parameter '${key}' (this endpoint takes no parameters)`
        : `Unknown parameter '${key}' (expected one of: ${params.map((p) => p.name).join(", ")})`
    )
  }
  const out: Record<string, unknown> = {}
  for (const p of params) {
    const present = Object.hasOwn(given, p.name) && given[p.name] !== undefined
    if (!present) {
      if (p.hasDefault) setOwn(out, p.name, p.default)
      else messages.push(`Parameter '${p.name}' is required`)
      continue
    }
    const value = given[p.name]
    if (value === null && acceptsNull(p)) {
      setOwn(out, p.name, null)
      continue
    }
    const faults: Array<Fault> = []
    checkValue(p, value, p.name, faults)
    if (faults.length === 0) setOwn(out, p.name, value)
    else messages.push(...faults.map(paramMessage))
  }
  return messages.length === 0 ? Either.right(out) : Either.left(joinMessages(messages))
}

/** `validateArguments` as an Effect failing with `InvalidArguments`. */
export const decodeArguments = (
  params: ReadonlyArray<ParameterSpec>,
  args: unknown
): Effect.Effect<Record<string, unknown>, InvalidArguments> =>
  Either.match(validateArguments(params, args), {
    onLeft: (message) => Effect.fail(new InvalidArguments({ message })),
    onRight: (value) => Effect.succeed(value)
  })

// ---------------------------------------------------------------------------------------------
// Load-time checks

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Problems in a type spec itself (bad regex, min > max, enum values of the wrong type...). */
export const typeSpecProblems = (spec: TypeSpec, label: string): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const walk = (s: TypeSpec, at: string): void => {
    const range = (lo: number | undefined, hi: number | undefined, loName: string, hiName: string) => {
      if (lo !== undefined && hi !== undefined && lo > hi) problems.push(`${at}: ${loName} ${lo} is greater than ${hiName} ${hi}`)
    }
    range(s.minimum, s.maximum, "minimum", "maximum")
    range(s.minLength, s.maxLength, "minLength", "maxLength")
    range(s.minItems, s.maxItems, "minItems", "maxItems")
    if (s.multipleOf !== undefined && !(s.multipleOf > 0)) problems.push(`${at}: multipleOf must be greater than 0`)
    if (s.pattern !== undefined) {
      const re = compilePattern(s.pattern)
      if (typeof re === "string") {
        problems.push(`${at}: pattern ${showLiteral(s.pattern)} is not a valid regular expression (${re})`)
      }
    }
    if (s.format !== undefined && FORMATS[s.format] === undefined) {
      problems.push(`${at}: unknown format ${showLiteral(s.format)} (known: ${Object.keys(FORMATS).join(", ")})`)
    }
    if (s.enum !== undefined) {
      if (s.enum.length === 0) problems.push(`${at}: enum is empty, so no value would be accepted`)
      for (const e of s.enum) {
        const faults: Array<Fault> = []
        checkValue(s, e, "", faults, false)
        const first = faults[0]
        if (first !== undefined) problems.push(`${at}: enum value ${showLiteral(e)} ${faultText(first)}`)
      }
    }
    if (s.required !== undefined && s.properties !== undefined) {
      for (const r of s.required) {
        if (!Object.hasOwn(s.properties, r)) problems.push(`${at}: required property '${r}' is not declared in properties`)
      }
    }
    if (s.items !== undefined) walk(s.items, `${at}.items`)
    for (const [k, sub] of Object.entries(s.properties ?? {})) walk(sub, `${at}.properties.${k}`)
  }
  walk(spec, label)
  return problems
}

/** A fault relative to a value checked at path "": `must be ...` or `'a.b' must be ...`. */
const faultText = (f: Fault): string => {
  const path = f.path.replace(/^\./, "")
  return path === "" ? f.text : `at '${path}' ${f.text}`
}

/**
 * Load-time problems of a parameter list: names, duplicates, each spec, and each default
 * against its own spec (`null` is always an acceptable default: it makes the parameter optional).
 */
export const parameterProblems = (params: ReadonlyArray<ParameterSpec>): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const seen = new Set<string>()
  for (const p of params) {
    const label = `parameters.${p.name}`
    if (!PARAM_NAME.test(p.name) || p.name === "__proto__") {
      problems.push(`${label}: '${p.name}' is not a valid parameter name (letters, digits and _, not starting with a digit)`)
    }
    if (seen.has(p.name)) problems.push(`${label}: parameter '${p.name}' is declared more than once`)
    seen.add(p.name)
    const specProblems = typeSpecProblems(p, label)
    problems.push(...specProblems)
    if (p.hasDefault && p.default !== null && specProblems.length === 0) {
      const faults: Array<Fault> = []
      checkValue(p, p.default, "", faults)
      const first = faults[0]
      if (first !== undefined) {
        problems.push(`${label}: default ${showLiteral(p.default)} does not satisfy the parameter's own spec: ${faultText(first)}`)
      }
    }
  }
  return problems
}
