/** A query's rows shaped by an endpoint's declared return type, and a tool result's parts. Pure. */
import { Either } from "effect"
import type { TypeSpec } from "./Endpoint.js"
import { returnValueProblems } from "./Parameters.js"

/**
 * Shapes query rows by the declared return type: `array` (or none) gives the rows; `object`
 * exactly one row; a scalar type exactly one row with exactly one column, whose value it gives.
 */
export const shapeResult = (
  returns: TypeSpec | undefined,
  rows: ReadonlyArray<Record<string, unknown>>
): Either.Either<unknown, string> => {
  if (returns === undefined || returns.type === "array") return Either.right([...rows])
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
  if (rows.length !== 1) {
    return Either.left(`expected exactly one row for return type ${returns.type}, got ${plural(rows.length, "row")}`)
  }
  const row = rows[0] as Record<string, unknown>
  if (returns.type === "object") return Either.right(row)
  const columns = Object.keys(row)
  if (columns.length !== 1) {
    return Either.left(
      `expected exactly one column for return type ${returns.type}, got ${plural(columns.length, "column")}` +
        (columns.length > 0 ? ` (${columns.join(", ")})` : "")
    )
  }
  return Either.right(row[columns[0] as string])
}

/**
 * The text content of a tool's result: a `string` return type's value as it is (no second JSON
 * encoding), anything else (NULL included) as JSON.
 */
export const resultText = (returns: TypeSpec | undefined, value: unknown): string =>
  returns?.type === "string" && typeof value === "string" ? value : JSON.stringify(value ?? null)

const MAX_SHOWN = 5

/**
 * `structuredContent` for an `object` return type: the row, when it matches the declared return
 * spec (nested NULLs allowed), which is also the published `outputSchema`; undefined for other
 * return types. Left: what does not match (a client would reject the result against the schema).
 */
export const structuredResult = (
  returns: TypeSpec | undefined,
  value: unknown
): Either.Either<Readonly<Record<string, unknown>> | undefined, string> => {
  if (returns?.type !== "object" || value === null || typeof value !== "object" || Array.isArray(value)) {
    return Either.right(undefined)
  }
  const problems = returnValueProblems(returns, value)
  if (problems.length === 0) return Either.right(value as Record<string, unknown>)
  const shown = problems.slice(0, MAX_SHOWN).join("; ")
  return Either.left(
    `The result does not match the tool's declared return type: ${shown}${
      problems.length > MAX_SHOWN ? `; and ${problems.length - MAX_SHOWN} more` : ""
    }`
  )
}
