/**
 * Capabilities: this server's authorization vocabulary (`billing.manage`, `reports.view`), derived
 * from what the identity provider says about the user through a provider block's `claim_mappings`:
 * claim path → claim value → capabilities.
 *
 * ```yaml
 * claim_mappings:
 *   "https://example.com/roles": {admin: [admin, billing.manage]}   # a URI-style claim name
 *   "realm_access.roles": {report-viewer: [reports.view]}           # a dotted path into nested claims
 *   "scope": {"calendar.readonly": [calendar.read]}                 # a space-separated string
 * ```
 *
 * A path is first looked up as one top-level claim name (URI-style names contain dots), then as
 * a dotted path through nested objects. The value found may be a list (each element matched), a
 * string (split on whitespace: scope-style claims; a one-word string is matched as is), or a
 * number or boolean (matched by its text). Values without a mapping, and paths not in the claims,
 * give nothing; they never fail a login.
 */

/** `claim_mappings`: claim path → claim value → capabilities. */
export type ClaimMappings = Readonly<Record<string, Readonly<Record<string, ReadonlyArray<string>>>>>

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * The value at `path` in `claims`: the top-level claim of exactly that name, else the dotted path
 * through nested objects; undefined when neither exists.
 */
export const resolveClaim = (claims: Readonly<Record<string, unknown>>, path: string): unknown => {
  if (Object.hasOwn(claims, path)) return claims[path]
  let current: unknown = claims
  for (const part of path.split(".")) {
    if (!isRecord(current) || !Object.hasOwn(current, part)) return undefined
    current = current[part]
  }
  return current
}

const scalarText = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : undefined

/** The values a claim offers for matching: list elements, the words of a string, a scalar's text. */
export const claimValues = (value: unknown): ReadonlyArray<string> => {
  if (Array.isArray(value)) return value.flatMap((v) => (scalarText(v) === undefined ? [] : [scalarText(v) as string]))
  if (typeof value === "string") return value.split(/\s+/).filter((s) => s !== "")
  const text = scalarText(value)
  return text === undefined ? [] : [text]
}

export interface DerivedCapabilities {
  /** The capabilities, each once, in the order the mappings first give them. */
  readonly capabilities: ReadonlyArray<string>
  /** The mapped claim paths that the claims do not have (worth a warning: a typo or a missing IdP mapper). */
  readonly missingPaths: ReadonlyArray<string>
}

/** The capabilities `mappings` give for `claims`. */
export const deriveCapabilities = (
  mappings: ClaimMappings,
  claims: Readonly<Record<string, unknown>>
): DerivedCapabilities => {
  const capabilities = new Set<string>()
  const missingPaths: Array<string> = []
  for (const [path, byValue] of Object.entries(mappings)) {
    const value = resolveClaim(claims, path)
    if (value === undefined || value === null) {
      missingPaths.push(path)
      continue
    }
    for (const v of claimValues(value)) {
      if (!Object.hasOwn(byValue, v)) continue
      for (const capability of byValue[v] ?? []) capabilities.add(capability)
    }
  }
  return { capabilities: [...capabilities], missingPaths }
}
