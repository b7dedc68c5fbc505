/**
 * The access log: one info line per HTTP request, written when the request's handling ends.
 *
 * `message="POST /mcp 200" method=POST path=/mcp status=200 duration_ms=1.7 client=127.0.0.1
 * user=octocat provider=github` (text format; the JSON format has the same fields).
 *
 * Decisions:
 * - The path never carries the query string: `/authorize` and the provider callback carry codes
 *   and states there. Headers (and so `Authorization`) are never logged.
 * - The status is the one the client got: the MCP SDK writes its responses straight to the Node
 *   response, so when headers were already sent their status wins over the returned response's.
 *   A request whose client went away before any answer is logged with 499, a defect with 500.
 * - `client` is the TCP peer, or with `trust_proxy` the last `X-Forwarded-For` entry (the one our
 *   proxy appended; earlier entries are the client's own claims).
 * - The user (name, id, provider, display name, email: interface.md section 7) is known only on
 *   /mcp requests with a valid bearer token; the bearer guard fills it in.
 * - Hot path: one log call, no extra fiber; the fields are plain values.
 */
import type { HttpServerResponse } from "@effect/platform"
import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Cause, Effect, Exit, Option } from "effect"
import { RequestLog, type RequestLogEntry } from "../../services/server/RequestLog.js"
import { lastForwardedFor } from "./ClientAddress.js"

/** Longest path written to the log; longer ones are cut (and marked with `...`). */
const MAX_PATH = 200

/** The request path without query string or fragment, bounded in length. */
export const pathForLog = (url: string): string => {
  const q = url.search(/[?#]/)
  const path = q < 0 ? url : url.slice(0, q)
  return path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}...` : path
}

const ADDRESS = /^[0-9A-Fa-f:.]{1,64}$/

/** The client address for the log (see the module comment). */
export const clientForLog = (request: HttpServerRequest.HttpServerRequest, trustProxy: boolean): string => {
  const forwarded = trustProxy ? lastForwardedFor(request.headers) : undefined
  if (forwarded !== undefined && ADDRESS.test(forwarded)) return forwarded
  return Option.getOrElse(request.remoteAddress, () => "unknown")
}

/** The status the client got (or 499/500 when it got none). */
const statusOf = (
  request: HttpServerRequest.HttpServerRequest,
  exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>
): number => {
  const res = NodeHttpServerRequest.toServerResponse(request)
  if (res.headersSent) return res.statusCode
  if (Exit.isSuccess(exit)) return exit.value.status
  return Cause.isInterruptedOnly(exit.cause) ? 499 : 500
}

/** The access-log line of one finished request; `elapsedNanos` since it arrived. */
export const logRequest = (
  request: HttpServerRequest.HttpServerRequest,
  exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>,
  entry: RequestLogEntry,
  elapsedNanos: bigint,
  trustProxy: boolean
): Effect.Effect<void> => {
  const path = pathForLog(request.url)
  const status = statusOf(request, exit)
  const fields: Record<string, string | number> = {
    method: request.method,
    path,
    status,
    duration_ms: Math.round(Number(elapsedNanos) / 1e5) / 10,
    client: clientForLog(request, trustProxy)
  }
  if (entry.user !== undefined) fields["user"] = entry.user
  if (entry.userId !== undefined) fields["user_id"] = entry.userId
  if (entry.provider !== undefined) fields["provider"] = entry.provider
  if (entry.name !== undefined) fields["name"] = entry.name
  if (entry.email !== undefined) fields["email"] = entry.email
  return Effect.logInfo(`${request.method} ${path} ${status}`).pipe(Effect.annotateLogs(fields))
}
