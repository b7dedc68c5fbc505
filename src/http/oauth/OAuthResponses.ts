/** The answers of the authorization server that are not pages: RFC 6749 JSON errors and 429s. */
import { HttpServerResponse } from "@effect/platform"
import { type OAuthError, toOAuthErrorBody } from "../../domain/oauth/Errors.js"

/** Nothing an OAuth endpoint answers may be cached. */
export const noStore = { "cache-control": "no-store", pragma: "no-cache" }

/** An OAuth error as RFC 6749 JSON `{error, error_description}` with its status. */
export const oauthError = (error: OAuthError, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(toOAuthErrorBody(error), { status: error.status, headers: { ...noStore, ...headers } })

/** 429 with `Retry-After` and an RFC 6749-style body (`what`: "registrations", "token requests"...). */
export const tooManyRequests = (wait: number, what: string) =>
  HttpServerResponse.unsafeJson(
    {
      error: "temporarily_unavailable",
      error_description: `Too many ${what} from this address; retry after ${wait} seconds`
    },
    { status: 429, headers: { ...noStore, "retry-after": String(wait) } }
  )
