/**
 * Named `$param` values JS → DuckDB: which DuckDB type each JS value binds as (see the session's
 * header for the table), and the binding itself.
 */
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  blobValue,
  DOUBLE,
  DuckDBTypeId,
  HUGEINT,
  INTEGER,
  LIST,
  listValue,
  SQLNULL,
  STRUCT,
  structValue,
  TIMESTAMPTZ,
  timestampTZValue,
  VARCHAR
} from "@duckdb/node-api"
import type { DuckDBPreparedStatement, DuckDBType, DuckDBValue } from "@duckdb/node-api"
import { setEntry } from "./JsonValues.js"

/**
 * Binds every parameter the statement references, and only those (extra endpoint parameters are
 * fine); a referenced name missing from `params` binds NULL. `?`/`$1` parameters are named "1", "2"...
 */
export const bindParameters = (prepared: DuckDBPreparedStatement, params: Readonly<Record<string, unknown>>): void => {
  const count = prepared.parameterCount
  for (let index = 1; index <= count; index++) {
    const value = parameterValue(params, prepared.parameterName(index))
    if (
      (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") &&
      expectsVarchar(prepared, index)
    ) {
      // `WHERE name = $n` with n = 5: bound as INTEGER, DuckDB would rebind and cast the column
      // to INTEGER instead (and fail on 'x'); bind the text the SQL asks for.
      prepared.bindVarchar(index, String(value))
    } else {
      bindOne(prepared, index, value)
    }
  }
}

/** Whether DuckDB inferred VARCHAR for this parameter from its context in the SQL. */
const expectsVarchar = (prepared: DuckDBPreparedStatement, index: number): boolean => {
  try {
    return prepared.parameterTypeId(index) === DuckDBTypeId.VARCHAR
  } catch {
    return false
  }
}

/** DuckDB folds `$userId` and `$UserID` into one parameter: prefer the exact name, then any case. */
const parameterValue = (params: Readonly<Record<string, unknown>>, name: string): unknown => {
  if (Object.prototype.hasOwnProperty.call(params, name)) return params[name]
  const lower = name.toLowerCase()
  for (const key of Object.keys(params)) {
    if (key.toLowerCase() === lower) return params[key]
  }
  return undefined
}

const bindOne = (prepared: DuckDBPreparedStatement, index: number, value: unknown): void => {
  if (value === null || value === undefined) return prepared.bindNull(index)
  switch (typeof value) {
    case "string":
      return prepared.bindVarchar(index, value)
    case "boolean":
      return prepared.bindBoolean(index, value)
    case "number":
      return isInt32(value)
        ? prepared.bindInteger(index, value)
        : Number.isSafeInteger(value)
        ? prepared.bindBigInt(index, BigInt(value))
        : prepared.bindDouble(index, value)
    case "bigint":
      return isInt64(value) ? prepared.bindBigInt(index, value) : prepared.bindVarchar(index, value.toString())
  }
  const type = inferType(value)
  if (type !== undefined && type !== "null") {
    try {
      return prepared.bindValue(index, duckValue(value, type), type)
    } catch {
      // fall through to the JSON text below
    }
  }
  prepared.bindVarchar(index, jsonText(value))
}

const INT32_MIN = -2_147_483_648
const INT32_MAX = 2_147_483_647
const isInt32 = (n: number): boolean => Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX
const isInt64 = (n: bigint): boolean => n >= -(2n ** 63n) && n < 2n ** 63n
const isInt128 = (n: bigint): boolean => n >= -(2n ** 127n) && n < 2n ** 127n

const jsonText = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_key, v: unknown) => typeof v === "bigint" ? v.toString() : v) ?? String(value)
  } catch {
    return String(value)
  }
}

const isPlainObject = (value: object): value is Record<string, unknown> => {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** The DuckDB type a JS value binds as; "null" for a value that fits any type; undefined when none fits. */
type Inferred = DuckDBType | "null" | undefined

const inferType = (value: unknown): Inferred => {
  if (value === null || value === undefined) return "null"
  switch (typeof value) {
    case "string":
      return VARCHAR
    case "boolean":
      return BOOLEAN
    case "number":
      return isInt32(value) ? INTEGER : Number.isSafeInteger(value) ? BIGINT : DOUBLE
    case "bigint":
      return isInt64(value) ? BIGINT : isInt128(value) ? HUGEINT : undefined
    case "object":
      break
    default:
      return undefined
  }
  if (value instanceof Uint8Array) return BLOB
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : TIMESTAMPTZ
  if (Array.isArray(value)) {
    let element: Inferred = "null"
    for (const item of value as ReadonlyArray<unknown>) {
      element = unify(element, inferType(item))
      if (element === undefined) return undefined
    }
    return LIST(element === "null" ? SQLNULL : element)
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
    if (keys.length === 0) return undefined
    const entries: Record<string, DuckDBType> = {}
    for (const key of keys) {
      const entry = inferType(value[key])
      if (entry === undefined) return undefined
      entries[key] = entry === "null" ? SQLNULL : entry
    }
    return STRUCT(entries)
  }
  return undefined
}

const numericRank: Partial<Record<DuckDBTypeId, number>> = {
  [DuckDBTypeId.INTEGER]: 1,
  [DuckDBTypeId.BIGINT]: 2,
  [DuckDBTypeId.HUGEINT]: 3,
  [DuckDBTypeId.DOUBLE]: 4
}

/** The one type two element types can both be bound as, if any. */
const unify = (a: Inferred, b: Inferred): Inferred => {
  if (a === undefined || b === undefined) return undefined
  if (a === "null") return b
  if (b === "null") return a
  const rankA = numericRank[a.typeId]
  const rankB = numericRank[b.typeId]
  if (rankA !== undefined && rankB !== undefined) {
    // a HUGEINT beside a DOUBLE would lose digits either way
    if (Math.max(rankA, rankB) === 4 && Math.min(rankA, rankB) === 3) return undefined
    return rankA >= rankB ? a : b
  }
  if (a.typeId !== b.typeId) return undefined
  if (a.typeId === DuckDBTypeId.LIST && b.typeId === DuckDBTypeId.LIST) {
    const element = unify(nullable(a.valueType), nullable(b.valueType))
    return element === undefined ? undefined : LIST(element === "null" ? SQLNULL : element)
  }
  if (a.typeId === DuckDBTypeId.STRUCT && b.typeId === DuckDBTypeId.STRUCT) {
    const entries: Record<string, DuckDBType> = {}
    const names = new Set([...a.entryNames, ...b.entryNames])
    for (const name of names) {
      const left = a.entryNames.includes(name) ? nullable(a.typeForEntry(name)) : "null"
      const right = b.entryNames.includes(name) ? nullable(b.typeForEntry(name)) : "null"
      const entry = unify(left, right)
      if (entry === undefined) return undefined
      entries[name] = entry === "null" ? SQLNULL : entry
    }
    return STRUCT(entries)
  }
  return a
}

/** A NULL-typed slot (all-null list, null struct entry) unifies with anything. */
const nullable = (type: DuckDBType): Inferred => type.typeId === DuckDBTypeId.SQLNULL ? "null" : type

/** The DuckDB value of `value` as `type` (a type `inferType`/`unify` produced for it). */
const duckValue = (value: unknown, type: DuckDBType): DuckDBValue => {
  if (value === null || value === undefined) return null
  switch (type.typeId) {
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.DOUBLE:
      return Number(value)
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
      return typeof value === "bigint" ? value : BigInt(value as number)
    case DuckDBTypeId.BLOB:
      return blobValue(value as Uint8Array)
    case DuckDBTypeId.TIMESTAMP_TZ:
      return timestampTZValue(BigInt((value as Date).getTime()) * 1000n)
    case DuckDBTypeId.LIST:
      return listValue((value as ReadonlyArray<unknown>).map((item) => duckValue(item, type.valueType)))
    case DuckDBTypeId.STRUCT: {
      const object = value as Record<string, unknown>
      const entries: Record<string, DuckDBValue> = {}
      type.entryNames.forEach((name, i) => {
        const entryType = type.entryTypes[i]
        const entry = Object.prototype.hasOwnProperty.call(object, name) ? object[name] : undefined
        setEntry(entries, name, entryType === undefined ? null : duckValue(entry, entryType))
      })
      return structValue(entries)
    }
    default:
      return value as DuckDBValue
  }
}
