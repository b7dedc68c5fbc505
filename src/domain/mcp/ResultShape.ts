/** A query's rows shaped by an endpoint's declared return type. Pure. */
import { Either } from "effect"
import type { TypeSpec } from "./Endpoint.js"

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
