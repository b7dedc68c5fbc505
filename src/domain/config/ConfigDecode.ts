/**
 * Phrasing a Schema decode failure of a config file for a user: one `ConfigError` per problem,
 * naming the key (dotted path), what was expected, what was found (never a secret), and the fix.
 */
import { Effect, Either, Option, ParseResult, Schema, SchemaAST as AST } from "effect"
import { ConfigError } from "./ConfigError.js"
import { formatKeyPath, type KeyPath } from "./Interpolate.js"
import { type MxcpUnsupported, unsupportedKey, unsupportedValue } from "./MxcpKeys.js"


/** One problem found while decoding, before it is phrased for a user. */
type Problem =
  | { readonly kind: "unknown"; readonly path: KeyPath; readonly known: ReadonlyArray<string> }
  | { readonly kind: "missing"; readonly path: KeyPath; readonly expected: string }
  | { readonly kind: "invalid"; readonly path: KeyPath; readonly expected: string; readonly actual: unknown }

const toArray = <A>(x: A | ReadonlyArray<A>): ReadonlyArray<A> =>
  Array.isArray(x) ? (x as ReadonlyArray<A>) : [x as A]

const isNullish = (ast: AST.AST): boolean =>
  ast._tag === "UndefinedKeyword" || (ast._tag === "Literal" && ast.literal === null)

/** Peels the wrappers that only say "this failed on the way in". */
const core = (issue: ParseResult.ParseIssue): ParseResult.ParseIssue => {
  let i = issue
  for (;;) {
    if (i._tag === "Transformation" && i.kind === "Encoded") i = i.issue
    else if (i._tag === "Refinement" && i.kind === "From") i = i.issue
    else return i
  }
}

/** A union member that failed only because the value is of another kind (not null, not a list...). */
const isKindMismatch = (issue: ParseResult.ParseIssue): boolean => core(issue)._tag === "Type"

/** A union member that is just the `null`/`undefined` of an optional key. */
const isNullishMember = (issue: ParseResult.ParseIssue): boolean => {
  const c = core(issue)
  return c._tag === "Type" && isNullish(c.ast)
}

const describe = (ast: AST.AST): string => {
  const description = AST.getDescriptionAnnotation(ast)
  if (Option.isSome(description) && ast._tag !== "Declaration") return description.value
  switch (ast._tag) {
    case "Literal":
      return JSON.stringify(ast.literal)
    case "Union": {
      const members = ast.types.filter((t) => !isNullish(t))
      const parts = [...new Set(members.map(describe))]
      if (parts.length > 2 && members.every((t) => t._tag === "Literal")) return `one of ${parts.join(", ")}`
      return parts.length === 0 ? "nothing" : parts.join(" or ")
    }
    case "TypeLiteral":
      return "a mapping"
    case "TupleType":
      return "a list"
    case "Transformation":
    case "Refinement":
      return describe(ast.from)
    case "Declaration": {
      const inner = ast.typeParameters[0]
      return inner === undefined ? "a valid value" : describe(inner)
    }
    default:
      return Option.getOrElse(AST.getTitleAnnotation(ast), () => "a valid value")
  }
}

const keysOf = (ast: AST.AST | undefined): ReadonlyArray<string> => {
  if (ast === undefined) return []
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.map((ps) => String(ps.name))
    case "Transformation":
    case "Refinement":
      return keysOf(ast.from)
    default:
      return []
  }
}

const problemsOf = (
  issue: ParseResult.ParseIssue,
  path: KeyPath,
  parent: AST.AST | undefined
): ReadonlyArray<Problem> => {
  switch (issue._tag) {
    case "Pointer":
      return problemsOf(
        issue.issue,
        [...path, ...toArray(issue.path).map((k) => (typeof k === "number" ? k : String(k)))],
        parent
      )
    case "Composite": {
      const children = toArray(issue.issues)
      if (issue.ast._tag !== "Union") return children.flatMap((c) => problemsOf(c, path, issue.ast))
      const relevant = children.filter((c) => !isNullishMember(c))
      const leaf: Problem = { kind: "invalid", path, expected: describe(issue.ast), actual: issue.actual }
      if (Option.isSome(AST.getDescriptionAnnotation(issue.ast))) return [leaf]
      const only = relevant.length === 1 ? relevant[0] : undefined
      if (only !== undefined) return problemsOf(only, path, parent)
      const matchedKind = relevant.filter((c) => !isKindMismatch(c))
      const single = matchedKind.length === 1 ? matchedKind[0] : undefined
      return single !== undefined ? problemsOf(single, path, parent) : [leaf]
    }
    case "Refinement":
      return issue.kind === "From"
        ? problemsOf(issue.issue, path, parent)
        : [{ kind: "invalid", path, expected: describe(issue.ast), actual: issue.actual }]
    case "Transformation":
      return issue.kind === "Transformation"
        ? [{ kind: "invalid", path, expected: describe(issue.ast.to), actual: issue.actual }]
        : problemsOf(issue.issue, path, parent)
    case "Type":
      return [{ kind: "invalid", path, expected: describe(issue.ast), actual: issue.actual }]
    case "Missing":
      return [{ kind: "missing", path, expected: describe(issue.ast.type) }]
    case "Unexpected":
      return [{ kind: "unknown", path, known: keysOf(parent) }]
    case "Forbidden":
      return [{ kind: "invalid", path, expected: "a value that can be checked", actual: issue.actual }]
  }
}

const secretLike = /secret|key|token|password/i

/** The offending value, short, and never the text of something that looks like a secret. */
const showValue = (actual: unknown, path: KeyPath): string => {
  if (actual === null || actual === undefined) return "(empty)"
  if (Array.isArray(actual)) return "(a list)"
  if (typeof actual === "object") return "(a mapping)"
  const last = path[path.length - 1]
  if (typeof last === "string" && secretLike.test(last)) return "(hidden)"
  const text = JSON.stringify(actual)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** `MXCP key X is not supported by this server: why` (X is the key, or `key: value`). */
const mxcpUnsupported = (file: string, key: string, name: string, entry: MxcpUnsupported): ConfigError =>
  new ConfigError({ file, key, message: `MXCP key ${name} is not supported by this server: ${entry.why}`, fix: entry.fix })

const problemToConfigError = (file: string, p: Problem, mxcp: ReadonlyArray<MxcpUnsupported>): ConfigError => {
  const key = formatKeyPath(p.path)
  const last = p.path[p.path.length - 1]
  const name = last === undefined ? "" : String(last)
  const isVersion = p.path.length === 1 && last === "mxcp"
  if (p.kind === "unknown") {
    const entry = unsupportedKey(mxcp, p.path)
    if (entry !== undefined) return mxcpUnsupported(file, key, `"${name}"`, entry)
  }
  if (p.kind === "invalid") {
    const entry = unsupportedValue(mxcp, p.path, p.actual)
    if (entry !== undefined) return mxcpUnsupported(file, key, `"${name}: ${String(p.actual)}"`, entry)
  }
  switch (p.kind) {
    case "unknown":
      return new ConfigError({
        file,
        key,
        message: `unknown key "${name}"`,
        fix: `remove it or check the spelling; known keys: ${p.known.join(", ")}`
      })
    case "missing":
      return new ConfigError({
        file,
        key,
        message: `missing required key "${name}"`,
        fix: isVersion ? "add mxcp: 1 at the top of the file" : `add ${name} (${p.expected})`
      })
    case "invalid":
      return isVersion
        ? new ConfigError({
          file,
          key,
          message: `unsupported version ${showValue(p.actual, p.path)}`,
          fix: "set mxcp: 1"
        })
        : new ConfigError({
          file,
          key,
          message: `invalid value ${showValue(p.actual, p.path)}`,
          fix: `expected ${p.expected}`
        })
  }
}

/**
 * Every problem in a decode failure, one `ConfigError` each. `mxcp` lists the MXCP keys and values
 * that are refused as not supported (rather than as unknown or invalid).
 */
export const configErrorsFromParseIssue = (
  file: string,
  issue: ParseResult.ParseIssue,
  mxcp: ReadonlyArray<MxcpUnsupported> = []
): ReadonlyArray<ConfigError> => problemsOf(issue, [], undefined).map((p) => problemToConfigError(file, p, mxcp))

const decodeOptions = { onExcessProperty: "error", errors: "all" } as const

/** Decodes one config tree; fails with the first problem found. */
export const decodeConfig = <A, I>(
  schema: Schema.Schema<A, I, never>,
  file: string,
  raw: unknown
): Effect.Effect<A, ConfigError> =>
  Either.match(Schema.decodeUnknownEither(schema, decodeOptions)(raw), {
    onRight: Effect.succeed,
    onLeft: (error) => {
      const first = configErrorsFromParseIssue(file, error.issue)[0]
      return Effect.fail(
        first ??
          new ConfigError({ file, key: "", message: "invalid configuration", fix: "check the file against the docs" })
      )
    }
  })

const isUnder = (path: KeyPath, prefix: KeyPath): boolean =>
  prefix.length <= path.length && prefix.every((k, i) => k === path[i])

/**
 * The unknown keys of a config tree (unsupported MXCP keys included), each with its path. Meant
 * for the tree as written, before `${VAR}` expansion: a key that will be refused anyway must not
 * first demand its variables. Other problems (wrong types, which a `${VAR}` may still fix) are not
 * reported here.
 */
export const unknownKeyErrors = <A, I>(
  schema: Schema.Schema<A, I, never>,
  file: string,
  raw: unknown,
  mxcp: ReadonlyArray<MxcpUnsupported> = []
): ReadonlyArray<{ readonly path: KeyPath; readonly error: ConfigError }> =>
  Either.match(Schema.decodeUnknownEither(schema, decodeOptions)(raw), {
    onRight: () => [],
    onLeft: (error) =>
      problemsOf(error.issue, [], undefined)
        .filter((p) => p.kind === "unknown")
        .map((p) => ({ path: p.path, error: problemToConfigError(file, p, mxcp) }))
  })

/**
 * Decodes one config tree and reports every problem, one `ConfigError` each, except those at or
 * under a path in `skip` (keys whose `${VAR}` is unset: reported as that instead). Left with an
 * empty list when every problem was skipped.
 */
export const decodeConfigAll = <A, I>(
  schema: Schema.Schema<A, I, never>,
  file: string,
  raw: unknown,
  mxcp: ReadonlyArray<MxcpUnsupported> = [],
  skip: ReadonlyArray<KeyPath> = []
): Either.Either<A, ReadonlyArray<ConfigError>> =>
  Either.mapLeft(Schema.decodeUnknownEither(schema, decodeOptions)(raw), (error) => {
    const seen = new Set<string>()
    const out: Array<ConfigError> = []
    for (const p of problemsOf(error.issue, [], undefined)) {
      if (skip.some((s) => isUnder(p.path, s))) continue
      const e = problemToConfigError(file, p, mxcp)
      const line = `${e.key}\u0000${e.message}`
      if (seen.has(line)) continue
      seen.add(line)
      out.push(e)
    }
    return out
  })
