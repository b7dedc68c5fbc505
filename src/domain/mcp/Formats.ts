/**
 * The string `format`s of endpoint parameters and return types (MXCP's list plus `uuid`): each
 * with its check and the hint an error shows. Pure: no I/O.
 */

const daysInMonth = (year: number, month: number): number =>
  month === 2 ? ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))?$/
const DURATION =
  /^P(?!$)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?W)?(?:\d+(?:[.,]\d+)?D)?(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?S)?)?$/
const EMAIL = /^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

const isDate = (s: string): boolean => {
  const m = DATE.exec(s)
  if (m === null) return false
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)
}

const isTime = (s: string): boolean => {
  const m = TIME.exec(s)
  if (m === null) return false
  const ok = (v: string | undefined, max: number) => v === undefined || Number(v) <= max
  return ok(m[1], 23) && ok(m[2], 59) && ok(m[3], 60) && ok(m[4], 23) && ok(m[5], 59)
}

const isDateTime = (s: string): boolean => {
  const sep = s.search(/[Tt ]/)
  return sep === 10 && isDate(s.slice(0, 10)) && isTime(s.slice(11))
}

/** The `format`s this server knows (MXCP's list plus `uuid`), with their check and a hint. */
export const FORMATS: Readonly<Record<string, { readonly check: (s: string) => boolean; readonly hint: string }>> = {
  date: { check: isDate, hint: "a date (YYYY-MM-DD)" },
  time: { check: isTime, hint: "a time (HH:MM[:SS][offset])" },
  "date-time": { check: isDateTime, hint: "a date-time (ISO 8601, e.g. 2024-01-31T12:00:00Z)" },
  timestamp: { check: isDateTime, hint: "a timestamp (ISO 8601, e.g. 2024-01-31T12:00:00Z)" },
  duration: { check: (s) => DURATION.test(s), hint: "an ISO 8601 duration (e.g. P1DT2H)" },
  email: { check: (s) => EMAIL.test(s), hint: "an email address" },
  uri: { check: (s) => URI.test(s), hint: "an absolute URI (scheme:...)" },
  uuid: { check: (s) => UUID.test(s), hint: "a UUID" }
}
