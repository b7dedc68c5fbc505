import { Either } from "effect"
import { InvalidRequest } from "../../domain/oauth/Errors.js"
import type { RawParams } from "../../services/oauth/AuthorizationFlow.js"

/**
 * Read single-valued parameters: a parameter given twice is an `invalid_request` (RFC 6749 §3.1,
 * checklist B19), an empty value counts as absent.
 */
export const singleParams = (
  params: RawParams,
  names: ReadonlyArray<string>
): Either.Either<Record<string, string | undefined>, InvalidRequest> => {
  const out: Record<string, string | undefined> = {}
  for (const [name, values] of params) {
    if (values.length > 1) {
      return Either.left(new InvalidRequest({ description: `parameter ${name} was given more than once` }))
    }
  }
  for (const name of names) {
    const v = params.get(name)?.[0]
    out[name] = v === undefined || v === "" ? undefined : v
  }
  return Either.right(out)
}

/** Build RawParams from URLSearchParams (query strings and form bodies). */
export const rawParamsFrom = (search: URLSearchParams): RawParams => {
  const map = new Map<string, Array<string>>()
  for (const [k, v] of search) {
    const list = map.get(k)
    if (list === undefined) map.set(k, [v])
    else list.push(v)
  }
  return map
}
