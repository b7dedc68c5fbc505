/**
 * The authenticated user crossing the MCP SDK: the bearer guard writes it into the `AuthInfo` the
 * SDK hands to every handler, the SDK bridge (`layers/mcp/McpServerSdk.ts`) reads it back. This
 * module is the only place that knows it travels as `authInfo.extra.user`.
 */
import type { AuthInfo } from "@modelcontextprotocol/server"
import type { CurrentUser } from "../../domain/oauth/Identity.js"
import type { Authenticated } from "../../services/oauth/BearerAuth.js"

/** The SDK's view of an authenticated request for `resource` (`BASE/mcp`). */
export const authInfoOf = (auth: Authenticated, resource: URL): AuthInfo => ({
  // The SDK wants the token string; it is never logged or sent anywhere by us.
  token: "[bearer]",
  clientId: auth.clientId,
  scopes: [...auth.scopes],
  expiresAt: Math.floor(auth.expiresAt / 1000),
  resource,
  extra: { user: auth.user }
})

/** The user an authenticated transport attached to the request; undefined with auth off. */
export const currentUserOf = (authInfo: AuthInfo | undefined): CurrentUser | undefined => {
  const user = authInfo?.extra?.["user"]
  return user !== null && typeof user === "object" ? (user as CurrentUser) : undefined
}

/**
 * The HTTP request as the SDK hands it to handlers (`ctx.http.req`). Through the SDK's own
 * transports it is the web `Request` we built; on our direct paths (a request on a live session,
 * the pooled 2026 path) only the headers travel, in this stand-in, so no `Request` is built per
 * call. `requestHeadersOf` reads either.
 */
export const requestInfoOf = (headers: Readonly<Record<string, string | undefined>>): Request =>
  ({ headers: { direct: headers } }) as unknown as Request

/** The headers of what `ctx.http.req` holds (see `requestInfoOf`); undefined without HTTP (stdio). */
export const requestHeadersOf = (
  req: Request | undefined
): Readonly<Record<string, string | ReadonlyArray<string> | undefined>> | undefined => {
  const headers: unknown = req?.headers
  if (headers === undefined || headers === null) return undefined
  if (headers instanceof Headers) {
    const all: Record<string, string> = {}
    headers.forEach((value, name) => {
      all[name] = value
    })
    return all
  }
  const direct = (headers as { readonly direct?: Readonly<Record<string, string | undefined>> }).direct
  return direct
}
