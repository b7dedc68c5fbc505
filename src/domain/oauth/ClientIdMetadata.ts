/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP 2026-07-28
 * client registration): a client whose `client_id` is an https URL publishes its metadata as JSON
 * at that URL, and the authorization server fetches it instead of a registration.
 *
 * Decisions:
 * - A `client_id` that parses as an http(s) URL is a metadata-document client (or a refused
 *   one): https only, a path other than `/`, no userinfo, no fragment, no `.`/`..` segments. Any
 *   other string is an ordinary client id (config or DCR).
 * - The document must be a JSON object whose `client_id` is exactly the URL it was fetched from,
 *   with a `client_name` and non-empty `redirect_uris` (each passing the DCR redirect URI rules).
 *   It may not carry a secret: `token_endpoint_auth_method` is `none` (the default) or
 *   `private_key_jwt`, which needs keys (`jwks_uri`, https, or inline `jwks`, not both).
 * - `grant_types`, `response_types`, `scope`, `client_uri` and `logo_uri` follow the DCR rules;
 *   other members are ignored.
 * - Caching: `Cache-Control: max-age` (or `s-maxage`) within [0, 24 h]; `no-store`/`no-cache`
 *   mean 0 (fetched again whenever needed); no usable header means `CIMD_DEFAULT_TTL_MS`.
 */
import { Either } from "effect"
import { validateClientMetadata } from "./ClientMetadata.js"
import { validateClientUrl } from "./RedirectUri.js"

/** Largest document accepted, in bytes. */
export const CIMD_MAX_BYTES = 5 * 1024

/** How long a fetch (connect, answer, body) may take. */
export const CIMD_FETCH_TIMEOUT_MS = 5_000

/** Longest a document is cached, whatever its `Cache-Control` says. */
export const CIMD_MAX_TTL_MS = 24 * 60 * 60 * 1000

/** How long a document without caching headers is kept. */
export const CIMD_DEFAULT_TTL_MS = 5 * 60 * 1000

/** What a `client_id` is, as far as metadata documents go. */
export type CimdClientId =
  /** Not a URL: an ordinary client id. */
  | { readonly _tag: "NotUrl" }
  /** A URL this server will not fetch, and why. */
  | { readonly _tag: "Refused"; readonly reason: string }
  | { readonly _tag: "Document"; readonly url: URL }

/** Classify a `client_id` (see the module notes for the URL rules). */
export const cimdClientId = (clientId: string): CimdClientId => {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(clientId)) return { _tag: "NotUrl" }
  let url: URL
  try {
    url = new URL(clientId)
  } catch {
    return { _tag: "NotUrl" }
  }
  const scheme = url.protocol.toLowerCase()
  if (scheme !== "https:" && scheme !== "http:") return { _tag: "NotUrl" }
  if (scheme !== "https:") return { _tag: "Refused", reason: "a client_id URL must use https" }
  if (url.username !== "" || url.password !== "" || /^https:\/\/[^/?#]*@/i.test(clientId)) {
    return { _tag: "Refused", reason: "a client_id URL must not contain userinfo" }
  }
  if (clientId.includes("#")) return { _tag: "Refused", reason: "a client_id URL must not contain a fragment" }
  const rawPath = clientId.replace(/^https:\/\/[^/?#]*/i, "").split("?", 1)[0] ?? ""
  if (rawPath === "" || rawPath === "/") return { _tag: "Refused", reason: "a client_id URL must have a path" }
  if (rawPath.split("/").some((s) => s === "." || s === ".." || /^%2e(%2e)?$/i.test(s) || /^\.%2e$|^%2e\.$/i.test(s))) {
    return { _tag: "Refused", reason: "a client_id URL must not contain . or .. path segments" }
  }
  return { _tag: "Document", url }
}

/** The host a user sees as the client's verified identity (host and port when not 443). */
export const verifiedHost = (url: URL): string => url.host.toLowerCase()

/**
 * `host` (lowercase, without port) against `allowed_hosts`: exact names, or `*.domain` for any
 * subdomain of `domain` (not `domain` itself). An empty list allows every host.
 */
export const cimdHostAllowed = (host: string, allowed: ReadonlyArray<string>): boolean => {
  if (allowed.length === 0) return true
  const name = host.toLowerCase()
  return allowed.some((pattern) => {
    const p = pattern.toLowerCase()
    return p.startsWith("*.") ? name.endsWith(p.slice(1)) && name.length > p.length - 1 : name === p
  })
}

/** Client authentication a metadata-document client may use at /token. */
export type CimdAuthMethod = "none" | "private_key_jwt"

/** A validated Client ID Metadata Document. */
export interface CimdDocument {
  readonly clientId: string
  readonly clientName: string
  readonly redirectUris: readonly [string, ...Array<string>]
  readonly grantTypes: ReadonlyArray<"authorization_code" | "refresh_token">
  readonly authMethod: CimdAuthMethod
  readonly scope: string | undefined
  readonly clientUri: string | undefined
  readonly logoUri: string | undefined
  /** For `private_key_jwt`: where the client's public keys are. */
  readonly jwksUri: string | undefined
  /** For `private_key_jwt`: the client's public keys, inline (a JWK Set). */
  readonly jwks: { readonly keys: ReadonlyArray<Record<string, unknown>> } | undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The JWK Set in `jwks`, shape-checked (the keys themselves are checked when used). */
const jwkSet = (value: unknown): CimdDocument["jwks"] | undefined => {
  if (!isRecord(value) || !Array.isArray(value["keys"]) || value["keys"].length === 0) return undefined
  if (!value["keys"].every(isRecord)) return undefined
  return { keys: value["keys"] as ReadonlyArray<Record<string, unknown>> }
}

/**
 * Validate a fetched document for `clientId` (the exact string the client sent). Left is a reason
 * for the error description.
 */
export const validateCimdDocument = (input: unknown, clientId: string): Either.Either<CimdDocument, string> => {
  if (!isRecord(input)) return Either.left("the metadata document is not a JSON object")
  if (input["client_id"] !== clientId) return Either.left("the metadata document's client_id is not the URL it was fetched from")
  const name = input["client_name"]
  if (typeof name !== "string" || name.trim() === "") return Either.left("the metadata document has no client_name")
  if (input["redirect_uris"] === undefined) return Either.left("the metadata document has no redirect_uris")
  if ("client_secret" in input || "client_secret_expires_at" in input) {
    return Either.left("a metadata document must not contain a client secret")
  }
  const method = input["token_endpoint_auth_method"] ?? "none"
  if (method !== "none" && method !== "private_key_jwt") {
    return Either.left("token_endpoint_auth_method must be none or private_key_jwt")
  }
  // The DCR rules for everything they share (authentication checked above, so `none` here).
  const shared = validateClientMetadata({ ...input, token_endpoint_auth_method: "none" })
  if (Either.isLeft(shared)) return Either.left(`the metadata document is invalid: ${shared.left.description}`)
  const m = shared.right
  if (m.client_name === undefined) return Either.left("the metadata document has no client_name")
  let jwksUri: string | undefined
  let jwks: CimdDocument["jwks"] | undefined
  if (method === "private_key_jwt") {
    const uri = input["jwks_uri"]
    const set = input["jwks"]
    if (uri !== undefined && set !== undefined) return Either.left("the metadata document has both jwks_uri and jwks")
    if (uri !== undefined) {
      if (typeof uri !== "string" || !uri.toLowerCase().startsWith("https://") || Either.isLeft(validateClientUrl(uri))) {
        return Either.left("jwks_uri must be an https URL")
      }
      jwksUri = uri
    } else {
      jwks = jwkSet(set)
      if (jwks === undefined) return Either.left("private_key_jwt needs jwks_uri or a jwks with keys")
    }
  }
  return Either.right({
    clientId,
    clientName: m.client_name,
    redirectUris: m.redirect_uris,
    grantTypes: m.grant_types,
    authMethod: method,
    scope: m.scope,
    clientUri: m.client_uri,
    logoUri: m.logo_uri,
    jwksUri,
    jwks
  })
}

/** How long a document (or key set) fetched with this `Cache-Control` may be used, in ms. */
export const cacheLifetimeMs = (cacheControl: string | undefined): number => {
  if (cacheControl === undefined) return CIMD_DEFAULT_TTL_MS
  const directives = cacheControl.toLowerCase().split(",").map((d) => d.trim())
  if (directives.some((d) => d === "no-store" || d === "no-cache")) return 0
  let seconds: number | undefined
  for (const d of directives) {
    const m = /^(s-maxage|max-age)\s*=\s*"?(\d+)"?$/.exec(d)
    if (m !== null && m[2] !== undefined && (seconds === undefined || m[1] === "s-maxage")) seconds = Number(m[2])
  }
  if (seconds === undefined) return CIMD_DEFAULT_TTL_MS
  return Math.min(seconds * 1000, CIMD_MAX_TTL_MS)
}
