/**
 * Scope rules (RFC 6749 §3.3, interface.md §4).
 *
 * Scopes are case-sensitive tokens of NQCHAR (printable ASCII except `"` and `\`), delimited by
 * spaces. Every list returned here is de-duplicated and keeps first-seen order, so `scope` strings
 * in responses and metadata are stable.
 *
 * - A token's scopes = requested ∩ allowed (interface.md section 4): what is asked beyond
 *   `allowed` is left out, never granted; only a request whose intersection is empty (or that is
 *   malformed) is `invalid_scope`; none requested → all allowed.
 * - `scopes_supported` = `mxcp:access` ∪ required scopes ∪ every pre-registered client's scopes.
 * - A DCR client's allowed scopes = its registered `scope` ∩ `scopes_supported`, or
 *   `mxcp:access` ∪ required scopes when it registered none.
 */
import { Either } from "effect"
import { InvalidScope } from "./Errors.js"

/** The scope every client may have; always in `scopes_supported`. */
export const MXCP_ACCESS_SCOPE = "mxcp:access"

const scopeTokenPattern = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** RFC 6749 §3.3 `scope-token = 1*NQCHAR`. */
export const isValidScopeToken = (s: string): boolean => scopeTokenPattern.test(s)

const unique = (xs: Iterable<string>): ReadonlyArray<string> => Array.from(new Set(xs))

/**
 * Splits an OAuth `scope` parameter on spaces (runs of spaces tolerated), de-duplicated, order kept.
 * Tokens are not validated here; see `isValidScopeToken` / `grantScopes`.
 */
export const parseScopes = (raw: string | undefined): ReadonlyArray<string> =>
  raw === undefined ? [] : unique(raw.split(" ").filter((s) => s !== ""))

/**
 * Scopes as an upstream provider reports them: GitHub uses commas (`repo,user:email`), others
 * spaces; both (and any whitespace) are accepted.
 */
export const parseProviderScopes = (raw: string | undefined): ReadonlyArray<string> =>
  raw === undefined ? [] : unique(raw.split(/[\s,]+/).filter((s) => s !== ""))

/** The space-delimited `scope` string. */
export const formatScopes = (scopes: Iterable<string>): string => unique(scopes).join(" ")

/** The scopes of `required` not held in `tokenScopes`, in `required` order. */
export const missingScopes = (tokenScopes: Iterable<string>, required: Iterable<string>): ReadonlyArray<string> => {
  const held = new Set(tokenScopes)
  return unique(required).filter((s) => !held.has(s))
}

/** True when every `required` scope is in `tokenScopes`. */
export const hasAll = (tokenScopes: Iterable<string>, required: Iterable<string>): boolean =>
  missingScopes(tokenScopes, required).length === 0

const describeScopes = (scopes: ReadonlyArray<string>): string =>
  scopes.length <= 5 ? scopes.join(" ") : `${scopes.slice(0, 5).join(" ")} ...`

/**
 * The scopes to grant: requested ∩ `allowed`, in the requested order. `requested` is the raw
 * `scope` parameter; absent or blank means "all of `allowed`". Scopes outside `allowed` are left
 * out (never widened); `invalid_scope` only when nothing requested is allowed, or when a token is
 * malformed (not NQCHAR). Also serves refresh: pass the originally granted scopes as `allowed`
 * (narrower granted, wider cut back to the original grant).
 */
export const grantScopes = (
  requested: string | undefined,
  allowed: Iterable<string>
): Either.Either<ReadonlySet<string>, InvalidScope> => {
  const allowedList = unique(allowed)
  const asked = parseScopes(requested)
  if (asked.length === 0) return Either.right(new Set(allowedList))
  if (!asked.every(isValidScopeToken)) {
    return Either.left(new InvalidScope({ description: "scope is malformed" }))
  }
  const allowedSet = new Set(allowedList)
  const granted = asked.filter((s) => allowedSet.has(s))
  if (granted.length === 0) {
    return Either.left(
      new InvalidScope({ description: `none of the requested scopes is allowed for this client: ${describeScopes(asked)}` })
    )
  }
  return Either.right(new Set(granted))
}

/**
 * `scopes_supported` for the metadata documents: `mxcp:access`, then the required scopes, then the
 * pre-registered clients' scopes, each in configuration order, without duplicates.
 */
export const scopesSupported = (
  requiredScopes: ReadonlyArray<string>,
  preRegisteredClientScopes: ReadonlyArray<ReadonlyArray<string>>
): ReadonlyArray<string> =>
  unique([MXCP_ACCESS_SCOPE, ...requiredScopes, ...preRegisteredClientScopes.flat()]).filter((s) => s !== OFFLINE_ACCESS_SCOPE)

/**
 * `offline_access` (OpenID Connect's ask for a refresh token): MCP 2026-07-28 says it must never
 * be advertised (`scopes_supported`) nor asked for in a challenge; refresh tokens here follow the
 * client's `grant_types` instead.
 */
export const OFFLINE_ACCESS_SCOPE = "offline_access"

/** The scopes a 401 challenge tells a client to ask for: `mxcp:access` ∪ required scopes, never `offline_access`. */
export const challengeScopes = (requiredScopes: ReadonlyArray<string>): ReadonlyArray<string> =>
  defaultDcrScopes(requiredScopes).filter((s) => s !== OFFLINE_ACCESS_SCOPE)

/** What a DCR client that registered no `scope` may have: `mxcp:access` ∪ required scopes. */
export const defaultDcrScopes = (requiredScopes: ReadonlyArray<string>): ReadonlyArray<string> =>
  unique([MXCP_ACCESS_SCOPE, ...requiredScopes])

/**
 * A DCR client's allowed scopes: its registered `scope` ∩ `supported` (in registered order), or the
 * default set when it registered none (absent or blank). An intersection may be empty: such a client
 * gets tokens without scopes, which pass only when no scope is required. Nothing outside
 * `supported` is ever allowed.
 */
export const dcrAllowedScopes = (
  registeredScope: string | undefined,
  supported: ReadonlyArray<string>,
  requiredScopes: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const registered = parseScopes(registeredScope)
  if (registered.length === 0) return defaultDcrScopes(requiredScopes)
  const supportedSet = new Set(supported)
  return registered.filter((s) => supportedSet.has(s))
}
