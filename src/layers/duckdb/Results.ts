/**
 * Reading a result: chunk by chunk from DuckDB's streaming result, each chunk converted to JSON
 * rows while the row and byte caps are counted, stopping at the cap.
 *
 * - Every chunk is fetched with an `await` (a round trip through the libuv thread pool), so the
 *   event loop runs between chunks: `/health` and other requests answer during a big result.
 * - A chunk holds at most 2048 rows; rows are converted one by one from the column vectors, in
 *   batches whose size shrinks as the byte budget runs out, so a result of huge rows never has
 *   much more than the cap converted.
 * - Bytes are those of the rows' JSON text (`JSON.stringify(rows)`, UTF-8), i.e. what an
 *   endpoint answers with for an array result.
 * - The timeout and interruption set `cancel.cancelled`; the loop checks it before every fetch.
 */
import type { DuckDBDataChunk, DuckDBResult, DuckDBType, DuckDBVector } from "@duckdb/node-api"
import type { JsonValue, Row, Truncation } from "../../services/duckdb/DuckDbSession.js"
import { SqlResultTooLarge } from "../../services/duckdb/DuckDbSession.js"
import { jsonFromDuckDb, setEntry } from "./JsonValues.js"

export interface ResultColumns {
  readonly names: ReadonlyArray<string>
  readonly types: ReadonlyArray<DuckDBType>
}

export const columnsOf = (result: DuckDBResult): ResultColumns => ({
  names: result.deduplicatedColumnNames(),
  types: result.columnTypes()
})

export interface Cancellation {
  cancelled: boolean
}

export interface ResultLimits {
  readonly maxRows: number
  readonly maxBytes: number
  /** Over a cap: stop and report it (true), or fail with SqlResultTooLarge (false). */
  readonly truncate: boolean
}

export interface ReadRows {
  readonly rows: ReadonlyArray<Row>
  readonly truncated: Truncation | undefined
  /** False when reading stopped before the end: the query is still open on its connection. */
  readonly complete: boolean
}

export const interrupted = (): Error => new Error("Interrupted")

/** Rows of a batch at most; a batch's JSON is measured in one `JSON.stringify`. */
const MAX_BATCH = 512

export const readRows = async (
  result: DuckDBResult,
  columns: ResultColumns,
  limits: ResultLimits,
  cancel: Cancellation
): Promise<ReadRows> => {
  const rows: Array<Row> = []
  // The JSON text of n ≥ 1 rows is 1 + Σ (bytes of row + 1): "[" row "," row ... "]".
  let bytes = 1
  let averageRowBytes = 0
  const stop = (by: Truncation["by"]): ReadRows => {
    if (!limits.truncate) throw new SqlResultTooLarge({ by, limit: by === "rows" ? limits.maxRows : limits.maxBytes })
    return { rows, truncated: { by, limit: by === "rows" ? limits.maxRows : limits.maxBytes, rowCount: rows.length }, complete: false }
  }
  for (;;) {
    if (cancel.cancelled) throw interrupted()
    const chunk = await result.fetchChunk()
    if (cancel.cancelled) throw interrupted()
    if (chunk === null || chunk.rowCount === 0) return { rows, truncated: undefined, complete: true }
    const vectors = columnVectors(chunk, columns.names.length)
    const count = chunk.rowCount
    let next = 0
    while (next < count) {
      if (rows.length >= limits.maxRows) return stop("rows")
      const room = limits.maxBytes - bytes
      const size = averageRowBytes === 0
        ? 1
        : Math.max(1, Math.min(MAX_BATCH, count - next, limits.maxRows - rows.length, Math.floor(room / averageRowBytes / 2)))
      const batch: Array<Row> = []
      for (let i = 0; i < size; i++) batch.push(rowAt(vectors, columns, next + i))
      // Σ (bytes of row + 1) over the batch, from one stringify of the batch as an array.
      const batchBytes = Buffer.byteLength(JSON.stringify(batch)) - 1
      if (bytes + batchBytes > limits.maxBytes) {
        if (!limits.truncate) return stop("bytes")
        for (const row of batch) {
          const rowBytes = Buffer.byteLength(JSON.stringify(row)) + 1
          if (bytes + rowBytes > limits.maxBytes) break
          bytes += rowBytes
          rows.push(row)
        }
        return stop("bytes")
      }
      bytes += batchBytes
      for (const row of batch) rows.push(row)
      averageRowBytes = Math.max(1, (bytes - 1) / rows.length)
      next += size
    }
  }
}

const columnVectors = (chunk: DuckDBDataChunk, columnCount: number): ReadonlyArray<DuckDBVector> => {
  const vectors: Array<DuckDBVector> = []
  for (let c = 0; c < columnCount; c++) vectors.push(chunk.getColumnVector(c))
  return vectors
}

const rowAt = (vectors: ReadonlyArray<DuckDBVector>, columns: ResultColumns, index: number): Row => {
  const row: Record<string, JsonValue> = {}
  const { names, types } = columns
  for (let c = 0; c < names.length; c++) {
    const name = names[c]
    const type = types[c]
    const vector = vectors[c]
    if (name === undefined || type === undefined || vector === undefined) continue
    setEntry(row, name, jsonFromDuckDb(vector.getItem(index) ?? null, type))
  }
  return row
}
