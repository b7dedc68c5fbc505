import type { Redacted } from "effect"

/** Upstream identity providers this server can log users in through. */
export type UpstreamProviderName = "github" | "atlassian" | "salesforce" | "test"

/** The user as the upstream provider describes them, normalised. */
export interface UserProfile {
  readonly provider: UpstreamProviderName
  /** The provider's stable user id (GitHub `id`, Atlassian `account_id`, Salesforce `user_id`). */
  readonly id: string
  readonly username: string
  readonly email: string
  readonly name: string
  readonly avatarUrl?: string | undefined
}

/** Tokens the upstream provider issued for the user. They never leave this server. */
export interface UpstreamTokens {
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken?: Redacted.Redacted<string> | undefined
  /** Epoch millis when the access token expires; undefined when the provider did not say. */
  readonly expiresAt?: number | undefined
  /** Scopes the provider granted (parsed from its own format). */
  readonly scopes: ReadonlyArray<string>
  /** Provider-specific non-secret values worth keeping (Salesforce `instance_url`, `id`). */
  readonly extra: Readonly<Record<string, string>>
}
