/**
 * The HTTP request headers SQL may read through `get_request_header(name)` and
 * `get_request_headers_json()` (MXCP's SQL reference).
 *
 * Names are lower-cased (HTTP header names are case-insensitive); a header sent more than once is
 * joined with ", " as RFC 9110 section 5.3 allows. The credentials of the request are never
 * visible: `Authorization` (our own bearer token), `Proxy-Authorization` and `Cookie` are dropped
 * here, whatever the caller passes, so no code path can hand them to SQL.
 */

/** Headers that carry credentials and never reach SQL. */
export const hiddenRequestHeaders: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie"])

export type RequestHeaders = Readonly<Record<string, string>>

/** The request's headers as SQL sees them (see the module comment). */
export const sqlVisibleHeaders = (
  headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>> | undefined
): RequestHeaders => {
  const visible: Record<string, string> = {}
  if (headers === undefined) return visible
  for (const [rawName, rawValue] of Object.entries(headers)) {
    const name = rawName.trim().toLowerCase()
    if (name === "" || hiddenRequestHeaders.has(name) || rawValue === undefined) continue
    const value = typeof rawValue === "string" ? rawValue : rawValue.join(", ")
    const previous = visible[name]
    visible[name] = previous === undefined ? value : `${previous}, ${value}`
  }
  return visible
}

/** One header by name (any case), or undefined when the request had none of that name. */
export const requestHeader = (headers: RequestHeaders, name: string): string | undefined => {
  const key = name.trim().toLowerCase()
  return Object.hasOwn(headers, key) ? headers[key] : undefined
}
