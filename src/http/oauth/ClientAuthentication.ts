/**
 * Who a client at `/token` and `/revoke` says it is (RFC 6749 2.3.1): HTTP Basic, or the
 * `client_id` / `client_secret` form fields, never both.
 *
 * The Basic decoder is ours (the one in this server): RFC 6749 2.3.1 form-urlencodes the id and
 * secret inside Basic, and a malformed header must be told apart from an absent one; the
 * platform's `HttpApiSecurity.basic` does neither.
 */
import { Either } from "effect"
import { InvalidClient, InvalidRequest } from "../../domain/oauth/Errors.js"
import type { ClientCredentials, ClientForm } from "../../domain/oauth/Requests.js"

/** The header tries HTTP Basic (an error answer then carries `WWW-Authenticate: Basic`). */
export const triesBasic = (authorization: string | undefined): boolean =>
  authorization !== undefined && /^Basic\b/i.test(authorization)

/**
 * `Basic base64(urlencode(id) ":" urlencode(secret))`: the credentials, `undefined` when the header
 * is absent or another scheme, `Left` when it tries Basic and is malformed.
 */
export const basicCredentials = (
  authorization: string | undefined
): Either.Either<{ readonly clientId: string; readonly secret: string } | undefined, void> => {
  if (authorization === undefined) return Either.right(undefined)
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization)
  if (m === null || m[1] === undefined) return triesBasic(authorization) ? Either.left(undefined) : Either.right(undefined)
  const decoded = Buffer.from(m[1], "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return Either.left(undefined)
  try {
    return Either.right({
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "))
    })
  } catch {
    return Either.left(undefined)
  }
}

/** The client's credentials from the `Authorization` header and the form, or why they are refused. */
export const clientCredentials = (
  authorization: string | undefined,
  form: ClientForm
): Either.Either<ClientCredentials, InvalidClient | InvalidRequest> => {
  const invalidClient = new InvalidClient({ description: "Client authentication failed" })
  const basic = basicCredentials(authorization)
  if (Either.isLeft(basic)) return Either.left(invalidClient)
  const creds = basic.right
  if (creds !== undefined) {
    if (form.client_secret !== undefined) {
      return Either.left(new InvalidRequest({ description: "Use one client authentication method, not two" }))
    }
    if (form.client_id !== undefined && form.client_id !== creds.clientId) {
      return Either.left(new InvalidRequest({ description: "client_id does not match the Authorization header" }))
    }
    return Either.right({ method: "client_secret_basic", clientId: creds.clientId, secret: creds.secret })
  }
  if (form.client_id === undefined) return Either.left(invalidClient)
  return Either.right(
    form.client_secret === undefined
      ? { method: "none", clientId: form.client_id }
      : { method: "client_secret_post", clientId: form.client_id, secret: form.client_secret }
  )
}
