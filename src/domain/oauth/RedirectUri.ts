/**
 * Redirect URI rules.
 *
 * Registration (RFC 7591 + RFC 8252 + OAuth 2.1): only `https:` URIs, loopback `http:` URIs
 * (`127.0.0.1`, `localhost`, `[::1]`) and private-use schemes (reverse domain, so the scheme must
 * contain a dot: `com.example.app:/cb`). Never `javascript:`/`data:`/`vbscript:`/`file:`, fragments,
 * userinfo, whitespace or control characters, nor a query carrying a response parameter (`code`,
 * `state`, `iss`, `error*`), which the client would otherwise receive twice.
 *
 * Matching at /authorize and /token (RFC 9700 §4.1.3, RFC 8252 §7.3): simple string comparison,
 * with one exception: when the registered URI is loopback `http:`, the port of the presented URI may
 * differ (or be absent); scheme, host (as written: `localhost` does not match `127.0.0.1`), path and
 * query must still be identical. Nothing is normalized: no case folding, no trailing-slash or
 * dot-segment or percent-decoding equivalence.
 *
 * These functions parse the URI by hand rather than through WHATWG `URL`, which normalizes
 * (`..`, `%2e`, default ports, host case, `\` as `/`) and would make distinct strings look equal.
 */
import { Either } from "effect"
import { InvalidRequest } from "./Errors.js"

/** Longest accepted redirect URI, in characters. */
export const MAX_REDIRECT_URI_LENGTH = 2000

/** Hosts of loopback `http:` redirect URIs (RFC 8252 §7.3), as they must be written. */
export const LOOPBACK_HOSTS: ReadonlyArray<string> = ["127.0.0.1", "localhost", "[::1]"]

const forbiddenSchemes: ReadonlySet<string> = new Set([
  "javascript",
  "data",
  "vbscript",
  "file",
  "blob",
  "about",
  "filesystem"
])

const schemePattern = /^([A-Za-z][A-Za-z0-9+.-]*):/
const controlChars = /[\u0000-\u001f\u007f-\u009f]/
const printableAscii = /^[\x21-\x7e]*$/
/** RFC 3986 §2: unreserved, reserved and `%`. Excludes `"`, `<`, `>`, `\`, `^`, backtick, `{`, `|`, `}`. */
const uriCharacters = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/
const badPercent = /%(?![0-9A-Fa-f]{2})/
const hostnamePattern = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/
const ipv6LiteralPattern = /^\[[0-9A-Fa-f:.]+\]$/
const portPattern = /^[1-9][0-9]{0,4}$/

interface Authority {
  /** Host as written (IPv6 literals keep their brackets). */
  readonly host: string
  /** Port digits as written, or undefined when absent. */
  readonly port: string | undefined
  /** Everything after the authority: path, query (and fragment if any). */
  readonly rest: string
}

/**
 * Splits `//authority rest` (the part after `scheme:`). Left is a reason. Userinfo is refused; the
 * host must be a DNS name, an IPv4 address or a bracketed IPv6 literal; the port 1-65535 without
 * leading zeros.
 */
const parseAuthority = (hierPart: string): Either.Either<Authority, string> => {
  if (!hierPart.startsWith("//")) {
    return Either.left("must have an authority (scheme://host/...)")
  }
  const afterSlashes = hierPart.slice(2)
  const end = afterSlashes.search(/[/?#]/)
  const authority = end === -1 ? afterSlashes : afterSlashes.slice(0, end)
  const rest = end === -1 ? "" : afterSlashes.slice(end)
  if (authority.includes("@")) {
    return Either.left("must not contain userinfo (user@host)")
  }
  let host: string
  let portPart: string | undefined
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]")
    if (close === -1) return Either.left("has an unterminated IPv6 literal")
    host = authority.slice(0, close + 1)
    const after = authority.slice(close + 1)
    if (after === "") portPart = undefined
    else if (after.startsWith(":")) portPart = after.slice(1)
    else return Either.left("has an invalid host")
    if (!ipv6LiteralPattern.test(host)) return Either.left("has an invalid IPv6 host")
  } else {
    const colon = authority.indexOf(":")
    host = colon === -1 ? authority : authority.slice(0, colon)
    portPart = colon === -1 ? undefined : authority.slice(colon + 1)
    if (host === "") return Either.left("must have a host")
    if (!hostnamePattern.test(host)) return Either.left("has an invalid host")
  }
  if (portPart !== undefined && !(portPattern.test(portPart) && Number(portPart) <= 65535)) {
    return Either.left("has an invalid port")
  }
  return Either.right({ host, port: portPart, rest })
}

const isLoopbackHost = (host: string): boolean => LOOPBACK_HOSTS.includes(host.toLowerCase())

/**
 * Character-level checks shared by registration and other client URLs. Left is a reason.
 * Returns the scheme as written and the part after `scheme:`.
 */
const checkCharactersAndScheme = (
  uri: string,
  maxLength: number
): Either.Either<{ readonly scheme: string; readonly hierPart: string }, string> => {
  if (uri.length === 0) return Either.left("is empty")
  if (uri.length > maxLength) return Either.left(`is longer than ${maxLength} characters`)
  if (uri.trim() !== uri) return Either.left("has leading or trailing whitespace")
  if (controlChars.test(uri)) return Either.left("contains control characters")
  if (!printableAscii.test(uri)) return Either.left("must be printable ASCII without spaces (percent-encode the rest)")
  const m = schemePattern.exec(uri)
  if (m === null || m[1] === undefined) return Either.left("is not an absolute URI")
  const scheme = m[1]
  if (forbiddenSchemes.has(scheme.toLowerCase())) return Either.left(`uses the forbidden scheme ${scheme.toLowerCase()}:`)
  if (uri.includes("\\")) return Either.left("contains a backslash")
  if (!uriCharacters.test(uri)) return Either.left("contains characters not allowed in a URI (percent-encode them)")
  if (badPercent.test(uri)) return Either.left("has an invalid percent-encoding")
  return Either.right({ scheme, hierPart: uri.slice(scheme.length + 1) })
}

/**
 * Parameters the authorization server adds to the redirect (RFC 6749 §4.1.2, RFC 9207). A DCR
 * redirect URI whose query already carries one would reach the client with it twice (an attacker
 * registering `?state=...` or `?iss=...` could make the client read the wrong value).
 */
export const RESPONSE_PARAMETERS: ReadonlyArray<string> = ["code", "state", "iss", "error", "error_description", "error_uri"]

/** The response parameter names present in the query of `uri` (percent-decoded), if any. */
const responseParametersIn = (uri: string): ReadonlyArray<string> => {
  const q = uri.indexOf("?")
  if (q === -1) return []
  const names = new Set<string>()
  for (const part of uri.slice(q + 1).split("&")) {
    const name = part.split("=")[0] ?? ""
    let decoded = name
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, " "))
    } catch {
      // badPercent already refuses malformed escapes; keep the raw name.
    }
    if (RESPONSE_PARAMETERS.includes(decoded)) names.add(decoded)
  }
  return [...names]
}

/**
 * DCR redirect URI validation (interface.md §3). Right is the URI unchanged (it is stored and
 * later compared as written); Left is a short reason suitable for `error_description`.
 */
export const validateRegistrationRedirectUri = (uri: string): Either.Either<string, string> =>
  Either.flatMap(checkCharactersAndScheme(uri, MAX_REDIRECT_URI_LENGTH), ({ hierPart, scheme }) => {
    if (uri.includes("#")) return Either.left("must not contain a fragment")
    const reserved = responseParametersIn(uri)
    if (reserved.length > 0) {
      return Either.left(`must not carry the response parameter ${reserved.join(", ")} in its query`)
    }
    const lower = scheme.toLowerCase()
    if (lower === "https" || lower === "http") {
      return Either.flatMap(parseAuthority(hierPart), ({ host }) => {
        if (lower === "http" && !isLoopbackHost(host)) {
          return Either.left("http is allowed only for loopback hosts (127.0.0.1, localhost, [::1]); use https")
        }
        return Either.right(uri)
      })
    }
    if (lower.includes(".")) {
      // Private-use scheme (RFC 8252 §7.1), e.g. com.example.app:/oauth/callback.
      if (hierPart === "") return Either.left("has nothing after the scheme")
      if (hierPart.startsWith("//")) {
        const authorityEnd = hierPart.slice(2).search(/[/?#]/)
        const authority = authorityEnd === -1 ? hierPart.slice(2) : hierPart.slice(2, 2 + authorityEnd)
        if (authority.includes("@")) return Either.left("must not contain userinfo (user@host)")
      }
      return Either.right(uri)
    }
    return Either.left(
      `uses the scheme ${lower}: which is not allowed; use https, loopback http, or a private-use scheme like com.example.app:/callback`
    )
  })

/**
 * A client's informational URL (`client_uri`, `logo_uri`, `tos_uri`, `policy_uri`): https, or
 * loopback http; no userinfo. Fragments are harmless here and accepted. Left is a reason.
 */
export const validateClientUrl = (url: string): Either.Either<string, string> =>
  Either.flatMap(checkCharactersAndScheme(url, MAX_REDIRECT_URI_LENGTH), ({ hierPart, scheme }) => {
    const lower = scheme.toLowerCase()
    if (lower !== "https" && lower !== "http") return Either.left("must be an https URL")
    return Either.flatMap(parseAuthority(hierPart), ({ host }) =>
      lower === "http" && !isLoopbackHost(host)
        ? Either.left("must be an https URL (http only for loopback hosts)")
        : Either.right(url)
    )
  })

interface LoopbackParts {
  readonly scheme: string
  readonly host: string
  readonly rest: string
}

/** Parts of a loopback `http:` URI without userinfo or fragment, else undefined. */
const parseLoopback = (uri: string): LoopbackParts | undefined => {
  const m = schemePattern.exec(uri)
  if (m === null || m[1] === undefined || m[1].toLowerCase() !== "http") return undefined
  if (uri.includes("#") || !uriCharacters.test(uri)) return undefined
  const parsed = parseAuthority(uri.slice(m[1].length + 1))
  if (Either.isLeft(parsed) || !isLoopbackHost(parsed.right.host)) return undefined
  return { scheme: m[1], host: parsed.right.host, rest: parsed.right.rest }
}

/** True when `uri` is a loopback `http:` URI (the port-agnostic matching rule applies to it). */
export const isLoopbackRedirectUri = (uri: string): boolean => parseLoopback(uri) !== undefined

/**
 * Does `presented` match one of the `registered` URIs? Exact string equality, or, for a
 * loopback-http registered URI, equality of everything but the port (RFC 8252 §7.3).
 */
export const matchRedirectUri = (registered: ReadonlyArray<string>, presented: string): boolean => {
  const p = parseLoopback(presented)
  return registered.some((r) => {
    if (r === presented) return true
    if (p === undefined) return false
    const l = parseLoopback(r)
    return l !== undefined && l.scheme === p.scheme && l.host === p.host && l.rest === p.rest
  })
}

/**
 * The redirect URI to use for an authorization request (RFC 6749 §3.1.2.3, OAuth 2.1 §2.3.2):
 * the presented one when it matches (with its own loopback port), or the only registered one when
 * none was presented. Omitted with zero or several registered, or not matching, is a direct 400.
 */
export const resolveRedirectUri = (
  registered: ReadonlyArray<string>,
  presented: string | undefined
): Either.Either<string, InvalidRequest> => {
  if (presented === undefined) {
    const [only, ...others] = registered
    return only !== undefined && others.length === 0
      ? Either.right(only)
      : Either.left(
        new InvalidRequest({
          description: "redirect_uri is required because the client has more than one registered"
        })
      )
  }
  return matchRedirectUri(registered, presented)
    ? Either.right(presented)
    : Either.left(new InvalidRequest({ description: "redirect_uri is not registered for this client" }))
}

/**
 * Appends `params` to the query of `uri` (which may already have one), before any fragment.
 * Keys and values are percent-encoded; `undefined` values are skipped (e.g. an absent `state`).
 * The URI is otherwise left exactly as written (no `URL` normalization).
 */
export const buildRedirect = (uri: string, params: Readonly<Record<string, string | undefined>>): string => {
  const hash = uri.indexOf("#")
  const base = hash === -1 ? uri : uri.slice(0, hash)
  const fragment = hash === -1 ? "" : uri.slice(hash)
  const query = Object.entries(params)
    .flatMap(([k, v]) => (v === undefined ? [] : [`${encodeURIComponent(k)}=${encodeURIComponent(v)}`]))
    .join("&")
  if (query === "") return uri
  const separator = !base.includes("?") ? "?" : base.endsWith("?") || base.endsWith("&") ? "" : "&"
  return `${base}${separator}${query}${fragment}`
}

/**
 * What the consent page shows as "redirects to": the host (and port) of an http(s) URI, or the
 * scheme of a private-use URI. Needs HTML escaping like any other text.
 */
export const redirectTarget = (uri: string): string => {
  const m = schemePattern.exec(uri)
  if (m === null || m[1] === undefined) return uri
  const scheme = m[1].toLowerCase()
  if (scheme === "https" || scheme === "http") {
    const parsed = parseAuthority(uri.slice(m[1].length + 1))
    if (Either.isRight(parsed)) {
      return parsed.right.port === undefined ? parsed.right.host : `${parsed.right.host}:${parsed.right.port}`
    }
    return uri
  }
  return `${m[1]}:`
}
