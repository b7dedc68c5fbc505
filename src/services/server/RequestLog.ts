import { Context } from "effect"

/**
 * What the request handling learns about one HTTP request for its access-log line. Created
 * empty by the HTTP server for each request; the bearer guard fills in the caller.
 */
export interface RequestLogEntry {
  /** The authenticated user's name, when the request carried a valid bearer token. */
  user: string | undefined
  /** That user's identity provider (`github`, `atlassian`, `salesforce`). */
  provider: string | undefined
  /** The user's id, display name and email at the provider (authenticated requests only). */
  userId?: string | undefined
  name?: string | undefined
  email?: string | undefined
}

/** The access-log entry of the current HTTP request (absent outside the HTTP server). */
export class RequestLog extends Context.Tag("mxcp/RequestLog")<RequestLog, RequestLogEntry>() {}
