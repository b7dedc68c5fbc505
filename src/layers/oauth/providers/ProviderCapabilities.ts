/**
 * A login's capabilities from the provider block's `claim_mappings` (`domain/oauth/Capabilities.ts`),
 * over the claims the provider gave (GitHub's `/user`, Atlassian's `/me`, Salesforce's userinfo,
 * OIDC's ID token and userinfo) plus `scope`, the granted scopes, when the claims have none.
 * A mapped claim path the claims lack is logged at warning level (a typo, or an IdP mapper that
 * is missing), the capabilities at debug level; the login goes on either way.
 */
import { Effect } from "effect"
import { type ClaimMappings, deriveCapabilities } from "../../../domain/oauth/Capabilities.js"
import type { UserProfile } from "../../../domain/oauth/Identity.js"

export const capabilitiesFor = (
  provider: string,
  mappings: ClaimMappings | undefined,
  claims: Readonly<Record<string, unknown>>,
  grantedScopes: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function* () {
    if (mappings === undefined || Object.keys(mappings).length === 0) return []
    const withScope = Object.hasOwn(claims, "scope") ? claims : { ...claims, scope: grantedScopes.join(" ") }
    const { capabilities, missingPaths } = deriveCapabilities(mappings, withScope)
    if (missingPaths.length > 0) {
      yield* Effect.logWarning(
        `claim_mappings: the user's claims have no ${missingPaths.join(", ")}; no capabilities from ${
          missingPaths.length === 1 ? "it" : "them"
        }`
      ).pipe(Effect.annotateLogs({ provider }))
    }
    yield* Effect.logDebug("User capabilities").pipe(Effect.annotateLogs({ provider, capabilities: capabilities.join(" ") }))
    return capabilities
  })

/** `profile` with the capabilities of `claims` (left out when there are none). */
export const withCapabilities = (
  profile: UserProfile,
  mappings: ClaimMappings | undefined,
  claims: Readonly<Record<string, unknown>>,
  grantedScopes: ReadonlyArray<string>
): Effect.Effect<UserProfile> =>
  Effect.map(capabilitiesFor(profile.provider, mappings, claims, grantedScopes), (capabilities) =>
    capabilities.length === 0 ? profile : { ...profile, capabilities })
