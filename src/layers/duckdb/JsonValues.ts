/**
 * DuckDB values → JSON: the one conversion every result cell goes through (see `jsonFromDuckDb`
 * for the rules), plus `setEntry`, which also keeps a column named `__proto__` as plain data.
 */
import {
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBGeometryValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimeNSValue,
  DuckDBTimeTZValue,
  DuckDBTimeValue,
  DuckDBTypeId,
  DuckDBUnionValue,
  DuckDBVariantValue
} from "@duckdb/node-api"
import type { DuckDBType, DuckDBValue } from "@duckdb/node-api"
import type { JsonValue } from "../../services/duckdb/DuckDbSession.js"

/** Sets an own property, even one named `__proto__`. */
export const setEntry = <V>(target: Record<string, V>, key: string, value: V): void => {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

/**
 * One DuckDB value as JSON:
 * - integers of any width (incl. HUGEINT, UBIGINT, BIGNUM) → number within ±2^53-1, else string;
 * - DOUBLE → number; FLOAT → the shortest number that reads back as the same float;
 *   NaN and ±Infinity → null (as JSON.stringify would);
 * - DECIMAL → number when the double prints back to the same decimal at the column's scale
 *   (always true up to 15 digits), else the exact decimal string;
 * - DATE → "YYYY-MM-DD"; TIMESTAMP, TIMESTAMP_S/_MS/_NS → "YYYY-MM-DDTHH:MM:SS[.ffffff]" (9
 *   digits for nanoseconds); TIMESTAMPTZ → the same in UTC with "Z"; ±infinity → "infinity" /
 *   "-infinity"; TIME → "HH:MM:SS[.ffffff]"; TIMETZ → that plus "+HH:MM";
 * - INTERVAL → DuckDB's text ("1 year 2 days 03:00:00");
 * - BLOB → base64; UUID, BIT, ENUM, VARCHAR → string;
 * - LIST/ARRAY → array; STRUCT → object; MAP → object keyed by the key's text; UNION → the value
 *   of its active member; VARIANT → its inner value; NULL → null.
 */
export const jsonFromDuckDb = (value: DuckDBValue, type: DuckDBType): JsonValue => {
  if (value === null) return null
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return value === true
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return jsonFromInteger(value)
    case DuckDBTypeId.DOUBLE:
      return typeof value === "number" ? finiteOrNull(value) : genericJson(value)
    case DuckDBTypeId.FLOAT:
      return typeof value === "number" ? finiteOrNull(shortestFloat32(value)) : genericJson(value)
    case DuckDBTypeId.DECIMAL:
      return jsonFromDecimal(value)
    case DuckDBTypeId.DATE:
      return value instanceof DuckDBDateValue ? formatDateValue(value.days, value.isFinite) : genericJson(value)
    case DuckDBTypeId.TIMESTAMP:
      return timestampText(value, "micros", 1000n, "")
    case DuckDBTypeId.TIMESTAMP_TZ:
      return timestampText(value, "micros", 1000n, "Z")
    case DuckDBTypeId.TIMESTAMP_S:
      return timestampText(value, "seconds", 1_000_000_000n, "")
    case DuckDBTypeId.TIMESTAMP_MS:
      return timestampText(value, "millis", 1_000_000n, "")
    case DuckDBTypeId.TIMESTAMP_NS:
      return timestampText(value, "nanos", 1n, "")
    case DuckDBTypeId.TIME:
      return value instanceof DuckDBTimeValue ? formatTimeOfDay(value.micros * 1000n) : genericJson(value)
    case DuckDBTypeId.TIME_NS:
      return value instanceof DuckDBTimeNSValue ? formatTimeOfDay(value.nanos) : genericJson(value)
    case DuckDBTypeId.TIME_TZ:
      return value instanceof DuckDBTimeTZValue
        ? formatTimeOfDay(value.micros * 1000n) + formatOffset(value.offset)
        : genericJson(value)
    case DuckDBTypeId.BLOB:
    case DuckDBTypeId.GEOMETRY:
      return value instanceof DuckDBBlobValue || value instanceof DuckDBGeometryValue
        ? Buffer.from(value.bytes).toString("base64")
        : genericJson(value)
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const elementType = type.valueType
      return value instanceof DuckDBListValue || value instanceof DuckDBArrayValue
        ? value.items.map((item) => jsonFromDuckDb(item, elementType))
        : genericJson(value)
    }
    case DuckDBTypeId.STRUCT: {
      if (!(value instanceof DuckDBStructValue)) return genericJson(value)
      const out: Record<string, JsonValue> = {}
      const entries = value.entries
      type.entryNames.forEach((name, i) => {
        const entryType = type.entryTypes[i]
        const entry = Object.prototype.hasOwnProperty.call(entries, name) ? entries[name] ?? null : null
        setEntry(out, name, entryType === undefined ? genericJson(entry) : jsonFromDuckDb(entry, entryType))
      })
      return out
    }
    case DuckDBTypeId.MAP: {
      if (!(value instanceof DuckDBMapValue)) return genericJson(value)
      const out: Record<string, JsonValue> = {}
      for (const entry of value.entries) {
        setEntry(out, mapKeyText(jsonFromDuckDb(entry.key, type.keyType)), jsonFromDuckDb(entry.value, type.valueType))
      }
      return out
    }
    case DuckDBTypeId.UNION: {
      if (!(value instanceof DuckDBUnionValue)) return genericJson(value)
      const index = type.memberTags.indexOf(value.tag)
      const memberType = type.memberTypes[index]
      return memberType === undefined ? genericJson(value.value) : jsonFromDuckDb(value.value, memberType)
    }
    case DuckDBTypeId.VARIANT:
      if (!(value instanceof DuckDBVariantValue)) return genericJson(value)
      return value.type === undefined ? genericJson(value.value) : jsonFromDuckDb(value.value, value.type)
    case DuckDBTypeId.SQLNULL:
      return null
    default:
      // VARCHAR, ENUM, UUID, BIT, INTERVAL and anything newer
      return genericJson(value)
  }
}

/** Best effort for a value whose type gave no better rule: by its JS shape. */
const genericJson = (value: DuckDBValue): JsonValue => {
  if (value === null) return null
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return finiteOrNull(value)
    case "bigint":
      return jsonFromInteger(value)
    default:
      if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(genericJson)
      if (value instanceof DuckDBBlobValue || value instanceof DuckDBGeometryValue) {
        return Buffer.from(value.bytes).toString("base64")
      }
      return value.toString()
  }
}

const finiteOrNull = (n: number): number | null => Number.isFinite(n) ? n : null

const jsonFromInteger = (value: DuckDBValue): JsonValue => {
  if (typeof value === "number") return finiteOrNull(value)
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString()
  }
  return genericJson(value)
}

/** Float32 values print with their float noise (1.1 → 1.100000023841858); take the shortest. */
const shortestFloat32 = (f: number): number => {
  if (!Number.isFinite(f) || f === 0) return f
  for (let precision = 1; precision <= 9; precision++) {
    const candidate = Number(f.toPrecision(precision))
    if (Math.fround(candidate) === f) return candidate
  }
  return f
}

const jsonFromDecimal = (value: DuckDBValue): JsonValue => {
  if (!(value instanceof DuckDBDecimalValue)) return genericJson(value)
  const text = value.toString()
  const n = Number(text)
  if (!Number.isFinite(n)) return text
  if (value.width <= 15) return n
  return Math.abs(n) < 1e21 && n.toFixed(value.scale) === text ? n : text
}

const mapKeyText = (key: JsonValue): string =>
  typeof key === "string" ? key : typeof key === "number" || typeof key === "boolean" ? String(key) : JSON.stringify(key)

const pad = (n: number | bigint, width: number): string => n.toString().padStart(width, "0")

/** Days since 1970-01-01 → proleptic Gregorian (year, month, day). */
const civilFromDays = (days: number): readonly [number, number, number] => {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return [year, month, day]
}

const formatYear = (year: number): string =>
  year < 0 ? `-${pad(-year, 4)}` : year > 9999 ? `+${year}` : pad(year, 4)

const formatDate = (days: number): string => {
  const [year, month, day] = civilFromDays(days)
  return `${formatYear(year)}-${pad(month, 2)}-${pad(day, 2)}`
}

const formatDateValue = (days: number, finite: boolean): string =>
  finite ? formatDate(days) : days > 0 ? "infinity" : "-infinity"

const NANOS_PER_DAY = 86_400_000_000_000n

/** Nanoseconds since midnight → "HH:MM:SS", then ".ffffff" or ".fffffffff" when not whole. */
const formatTimeOfDay = (nanos: bigint): string => {
  const totalSeconds = nanos / 1_000_000_000n
  const fraction = nanos % 1_000_000_000n
  const hours = totalSeconds / 3600n
  const minutes = (totalSeconds / 60n) % 60n
  const seconds = totalSeconds % 60n
  const base = `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}`
  if (fraction === 0n) return base
  return fraction % 1000n === 0n ? `${base}.${pad(fraction / 1000n, 6)}` : `${base}.${pad(fraction, 9)}`
}

const formatOffset = (offsetSeconds: number): string => {
  const sign = offsetSeconds < 0 ? "-" : "+"
  const abs = Math.abs(offsetSeconds)
  const hours = Math.floor(abs / 3600)
  const minutes = Math.floor(abs / 60) % 60
  const seconds = abs % 60
  return `${sign}${pad(hours, 2)}:${pad(minutes, 2)}${seconds === 0 ? "" : `:${pad(seconds, 2)}`}`
}

/** A timestamp value (its count of `field` units since the epoch) as ISO 8601. */
const timestampText = (
  value: DuckDBValue,
  field: "micros" | "millis" | "seconds" | "nanos",
  nanosPerUnit: bigint,
  zone: string
): JsonValue => {
  if (typeof value !== "object" || value === null || !(field in value) || !("isFinite" in value)) {
    return genericJson(value)
  }
  const units = (value as unknown as Record<typeof field, unknown>)[field]
  if (typeof units !== "bigint") return genericJson(value)
  if (!value.isFinite) return units > 0n ? "infinity" : "-infinity"
  const nanos = units * nanosPerUnit
  let days = nanos / NANOS_PER_DAY
  let ofDay = nanos % NANOS_PER_DAY
  if (ofDay < 0n) {
    days -= 1n
    ofDay += NANOS_PER_DAY
  }
  return `${formatDate(Number(days))}T${formatTimeOfDay(ofDay)}${zone}`
}
