/**
 * Decoding the parameters of an OAuth request (a query string, or an
 * `application/x-www-form-urlencoded` body) into the typed requests of `domain/oauth/Requests.ts`.
 *
 * The platform's own tools do the decoding: `UrlParams` parses, and `UrlParams.schemaStruct` runs
 * the Schema, which is what `HttpServerRequest.schemaBodyUrlParams` runs on a body it read
 * itself. Two differences, on purpose: the body is read by `readBody` (size limit and deadline
 * with a 413 or 408 answer, K1 and K10; the platform's reading would reset the connection
 * instead), and a query goes through `UrlParams` too rather than `schemaSearchParams`, whose
 * parsed search params are a plain object (`?constructor=x` arrives there as two values).
 *
 * Every parameter may be given once (RFC 6749 3.1, checklist B19): a repeated one, whatever its
 * name, is an `invalid_request` that names it. Unknown parameters are ignored.
 */
import type { HttpServerRequest } from "@effect/platform"
import { UrlParams } from "@effect/platform"
import { Effect, ParseResult, Schema } from "effect"
import { InvalidRequest } from "../../domain/oauth/Errors.js"
import { type BodyTimeout, type BodyTooLarge, readBody } from "../server/RequestBody.js"

/** Largest OAuth form or registration body. */
export const MAX_FORM_BYTES = 64 * 1024

/** What a parameter list must be before any request schema sees it: one value per name. */
const SingleValued = Schema.Record({ key: Schema.String, value: Schema.String })

const repeated = (error: ParseResult.ParseError): InvalidRequest => {
  const name = ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.path[0]
  return new InvalidRequest({
    description: name === undefined ? "a parameter was given more than once" : `parameter ${String(name)} was given more than once`
  })
}

/** The parameters, each name once; a repeated one is an `invalid_request` naming it. */
export const singleValued: (params: UrlParams.UrlParams) => Effect.Effect<Readonly<Record<string, string>>, InvalidRequest> = (
  params
) => Effect.mapError(UrlParams.schemaStruct(SingleValued)(params), repeated)

/**
 * Single-valued parameters as the request `schema` describes them (a Struct of optional
 * parameters, see `Requests.ts`, accepts any; a stricter one fails with `onFailure`).
 */
export const decodeSingle = <A, I>(
  schema: Schema.Schema<A, I>,
  onFailure: () => InvalidRequest = () => new InvalidRequest({ description: "The request parameters are malformed" })
) => {
  const decode = Schema.decodeUnknown(schema)
  return (params: Readonly<Record<string, string>>): Effect.Effect<A, InvalidRequest> =>
    Effect.mapError(decode(params), onFailure)
}

/** `params` as the request `schema` describes it, every parameter given once. */
export const decodeParams = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = decodeSingle(schema)
  return (params: UrlParams.UrlParams): Effect.Effect<A, InvalidRequest> => Effect.flatMap(singleValued(params), decode)
}

/** The parameters of the request's query string. */
export const queryParams = (request: HttpServerRequest.HttpServerRequest): UrlParams.UrlParams => {
  const q = request.url.indexOf("?")
  return UrlParams.fromInput(new URLSearchParams(q < 0 ? "" : request.url.slice(q + 1)))
}

/** The body as text: at most `MAX_FORM_BYTES`, within `timeoutMs` (K1, K10). */
export const readText = (request: HttpServerRequest.HttpServerRequest, timeoutMs: number) =>
  readBody(request, { maxBytes: MAX_FORM_BYTES, timeoutMs }).pipe(
    Effect.map((bytes) => bytes.toString("utf8")),
    Effect.catchTag("BodyUnreadable", () => Effect.fail(new InvalidRequest({ description: "The request body could not be read" })))
  )

/** The parameters of a form body, size-bounded; a body of another type is an `invalid_request`. */
export const formParams = (
  request: HttpServerRequest.HttpServerRequest,
  timeoutMs: number
): Effect.Effect<UrlParams.UrlParams, InvalidRequest | BodyTooLarge | BodyTimeout> =>
  Effect.gen(function* () {
    const type = request.headers["content-type"] ?? ""
    if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      return yield* Effect.fail(new InvalidRequest({ description: "The body must be application/x-www-form-urlencoded" }))
    }
    return UrlParams.fromInput(new URLSearchParams(yield* readText(request, timeoutMs)))
  })
