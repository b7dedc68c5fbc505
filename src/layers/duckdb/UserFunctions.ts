/**
 * The user functions of interface.md section 6 (`get_username()` ...; VARCHAR) and
 * `get_user_capabilities()` (VARCHAR[]: the user's capabilities from `claim_mappings`), and the
 * check that nothing in the catalog shadows them.
 *
 * They are real scalar UDFs registered once for the database. Their bind callback reads
 * `clientContext.connectionId` and looks the connection's current user up in a map that the
 * session fills before the statement is prepared and clears after it has finished. The functions
 * are constant-folded, so each runs once per statement, not once per row. Measured against
 * per-connection `CREATE OR REPLACE TEMP MACRO`s set before each query (all four functions used):
 * about +0.5 ms vs +0.6-0.7 ms per query over a 0.4-0.6 ms `SELECT 1`, and the UDFs cost nothing
 * for queries that don't call them.
 *
 * A macro of the same name (`CREATE TEMP MACRO get_username()`, or a persistent
 * `CREATE MACRO main.get_username()`) would win over the UDF: DuckDB looks in `temp` and the
 * database's schemas before `system`. The session therefore refuses every query while such an
 * object exists (`shadowingProblem`): at startup it lists every non-internal function named
 * like a user function in any database and schema (`SHADOWING_SQL`, a scan of
 * `duckdb_functions()` that costs 25-30 ms); after a statement that may have changed the
 * catalog it calls the four functions on a connection whose user is a random sentinel
 * (`PROBE_SQL`, well under a millisecond): anything but the sentinel back means something else
 * answered, and only then is the catalog scanned to name it.
 *
 * `get_request_header(name)` (VARCHAR, NULL when the request had no such header) and
 * `get_request_headers_json()` (a JSON object, lower-case names) read the HTTP request's headers
 * the same way: fixed at bind time from the connection's current caller, without `Authorization`,
 * `Proxy-Authorization` or `Cookie` (see domain/mcp/RequestHeaders.ts); outside an HTTP request
 * (stdio, `run`) they return NULL and `{}`. The probe and the catalog scan cover them too.
 */
import { DuckDBScalarFunction, LIST, listValue, VARCHAR } from "@duckdb/node-api"
import type { DuckDBConnection } from "@duckdb/node-api"
import { requestHeader, sqlVisibleHeaders } from "../../domain/mcp/RequestHeaders.js"
import type { RequestHeaders } from "../../domain/mcp/RequestHeaders.js"
import type { CurrentUser } from "../../domain/oauth/Identity.js"
import type { QueryOptions, Row } from "../../services/duckdb/DuckDbSession.js"

/** What the user functions return for the query running on one connection. */
export interface ActiveUser {
  readonly get_username: string
  readonly get_user_email: string
  readonly get_user_provider: string
  readonly get_user_external_token: string
  readonly get_user_capabilities: ReadonlyArray<string>
  /** What `get_request_header(name)` and `get_request_headers_json()` read (credentials removed). */
  readonly headers: RequestHeaders
}

export const userFunctionNames = [
  "get_username",
  "get_user_email",
  "get_user_provider",
  "get_user_external_token",
  "get_user_capabilities"
] as const satisfies ReadonlyArray<keyof ActiveUser>

/** The functions that return a list (VARCHAR[]); the others return VARCHAR. */
const listFunctions: ReadonlySet<string> = new Set(["get_user_capabilities"])

/** The request functions: they read the HTTP request's headers, not the user. */
export const requestFunctionNames = ["get_request_header", "get_request_headers_json"] as const

/** Every function a query's caller fills in (the shadowing check covers them all). */
export const callerFunctionNames: ReadonlyArray<string> = [...userFunctionNames, ...requestFunctionNames]

export const activeUser = (options: QueryOptions | undefined): ActiveUser | undefined => {
  const user: CurrentUser | undefined = options?.user
  const headers = options?.requestHeaders
  if (user === undefined && headers === undefined) return undefined
  return {
    get_username: user?.username ?? "",
    get_user_email: user?.email ?? "",
    get_user_provider: user?.provider ?? "",
    get_user_external_token: user === undefined || options?.exposeExternalToken === false ? "" : user.externalToken,
    get_user_capabilities: user?.capabilities ?? [],
    // filtered again here, at the last step before SQL, whatever the caller passed
    headers: sqlVisibleHeaders(headers)
  }
}

const noHeaders: RequestHeaders = {}

/**
 * Registers the user functions for the whole database (the registration outlives the
 * connection used for it). The bind callback runs once per statement on the connection that
 * binds it, so it can pick that connection's current user; `userBound` records that it did.
 */
export const registerUserFunctions = (
  connection: DuckDBConnection,
  users: ReadonlyMap<number, ActiveUser>,
  userBound: Set<number>
): void => {
  for (const name of userFunctionNames) {
    const isList = listFunctions.has(name)
    connection.registerScalarFunction(DuckDBScalarFunction.create({
      name,
      returnType: isList ? LIST(VARCHAR) : VARCHAR,
      bindFunction: (bindInfo) => {
        const connectionId = bindInfo.clientContext.connectionId
        // The value is fixed here, at bind time: a statement that bound a user function must
        // never be reused for another query (see the statement cache in Statements.ts).
        userBound.add(connectionId)
        const user = users.get(connectionId)
        bindInfo.setBindData({ value: user === undefined ? (isList ? [] : "") : user[name] })
      },
      mainFunction: isList
        ? (info, input, output) => {
          const data = info.bindData as { readonly value?: unknown } | undefined
          const items = Array.isArray(data?.value) ? data.value.filter((v): v is string => typeof v === "string") : []
          for (let i = 0; i < input.rowCount; i++) output.setItem(i, listValue(items))
          output.flush()
        }
        : (info, input, output) => {
          const data = info.bindData as { readonly value?: unknown } | undefined
          const value = typeof data?.value === "string" ? data.value : ""
          for (let i = 0; i < input.rowCount; i++) output.setItem(i, value)
          output.flush()
        }
    }))
  }
  // The request's headers are fixed at bind time too (and mark the statement as not reusable).
  const headersAtBind = (bindInfo: { readonly clientContext: { readonly connectionId: number } }) => {
    const connectionId = bindInfo.clientContext.connectionId
    userBound.add(connectionId)
    return users.get(connectionId)?.headers ?? noHeaders
  }
  const boundHeaders = (info: { readonly bindData: unknown }): RequestHeaders => {
    const data = info.bindData as { readonly headers?: RequestHeaders } | undefined
    return data?.headers ?? noHeaders
  }
  connection.registerScalarFunction(DuckDBScalarFunction.create({
    name: "get_request_header",
    returnType: VARCHAR,
    parameterTypes: [VARCHAR],
    bindFunction: (bindInfo) => bindInfo.setBindData({ headers: headersAtBind(bindInfo) }),
    mainFunction: (info, input, output) => {
      const headers = boundHeaders(info)
      const names = input.getColumnVector(0)
      // a NULL name gives NULL (DuckDB's default NULL handling never calls us for it)
      for (let i = 0; i < input.rowCount; i++) {
        const name = names.getItem(i)
        output.setItem(i, typeof name === "string" ? requestHeader(headers, name) ?? null : null)
      }
      output.flush()
    }
  }))
  connection.registerScalarFunction(DuckDBScalarFunction.create({
    name: "get_request_headers_json",
    returnType: VARCHAR,
    bindFunction: (bindInfo) => bindInfo.setBindData({ json: JSON.stringify(headersAtBind(bindInfo)) }),
    mainFunction: (info, input, output) => {
      const data = info.bindData as { readonly json?: unknown } | undefined
      const json = typeof data?.json === "string" ? data.json : "{}"
      for (let i = 0; i < input.rowCount; i++) output.setItem(i, json)
      output.flush()
    }
  }))
}

/** The header `PROBE_SQL` reads back through `get_request_header`. */
const PROBE_HEADER = "x-mxcp-probe"

/** The caller functions, as a fresh connection resolves them (see `probeUser`). */
export const PROBE_SQL = `SELECT ${userFunctionNames.map((n, i) => `${n}() AS v${i}`).join(", ")}, ` +
  `get_request_header('${PROBE_HEADER}') AS h0, get_request_headers_json() AS h1`

/** A user no one can predict, for `PROBE_SQL`. */
export const probeUser = (random: string): ActiveUser => ({
  get_username: `probe-username-${random}`,
  get_user_email: `probe-email-${random}`,
  get_user_provider: `probe-provider-${random}`,
  get_user_external_token: `probe-token-${random}`,
  get_user_capabilities: [`probe-capability-${random}`],
  headers: { [PROBE_HEADER]: `probe-header-${random}` }
})

/** Whether `PROBE_SQL`'s row shows the caller functions themselves answering. */
export const probeAnswered = (rows: ReadonlyArray<Row>, user: ActiveUser): boolean =>
  rows.length === 1 &&
  userFunctionNames.every((name, i) => JSON.stringify(rows[0]?.[`v${i}`]) === JSON.stringify(user[name])) &&
  rows[0]?.["h0"] === user.headers[PROBE_HEADER] &&
  rows[0]?.["h1"] === JSON.stringify(user.headers)

/** Every non-internal function named like a user function, in any database and schema. */
export const SHADOWING_SQL = `SELECT database_name, schema_name, function_name, function_type
FROM duckdb_functions()
WHERE NOT internal AND lower(function_name) IN (${callerFunctionNames.map((n) => `'${n}'`).join(", ")})
ORDER BY ALL`

const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/** The refusal for the rows of `SHADOWING_SQL`, or undefined when there are none. */
export const shadowingProblem = (rows: ReadonlyArray<Row>): string | undefined => {
  const first = rows[0]
  if (first === undefined) return undefined
  const name = String(first["function_name"])
  const qualified = [first["database_name"], first["schema_name"], name].map((part) => quoteIdentifier(String(part)))
    .join(".")
  const kind = first["function_type"] === "table_macro" ? "MACRO TABLE" : "MACRO"
  const others = rows.length > 1 ? ` (and ${rows.length - 1} more)` : ""
  return `The ${kind.toLowerCase()} ${qualified}${others} shadows the user function ${name.toLowerCase()}(), so ` +
    `queries are refused until it is dropped: DROP ${kind} ${qualified} (for example in the profile's init_sql, ` +
    `or with the duckdb command line while the server is stopped)`
}
