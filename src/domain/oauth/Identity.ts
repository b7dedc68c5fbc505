import type { Redacted } from "effect"

/**
 * The name an upstream identity provider goes by in `get_user_provider()`, logs and principals:
 * `github`, `atlassian`, `salesforce`, `google`, `keycloak`, an OIDC provider's `provider_name`
 * (default `oidc`), or `test`.
 */
export type UpstreamProviderName = string

/** The user as the upstream provider describes them, normalised. */
export interface UserProfile {
  readonly provider: UpstreamProviderName
  /** The provider's stable user id (GitHub `id`, Atlassian `account_id`, Salesforce `user_id`, OIDC `sub`). */
  readonly id: string
  readonly username: string
  readonly email: string
  readonly name: string
  readonly avatarUrl?: string | undefined
  /** What the provider block's `claim_mappings` gave for this user at login (`domain/oauth/Capabilities.ts`). */
  readonly capabilities?: ReadonlyArray<string> | undefined
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

/**
 * The authenticated user of one request: one value from the bearer check (`BearerAuth`) to the
 * SQL user functions (`get_username()` and friends), through the endpoints. It crosses the MCP
 * SDK once, as `authInfo.extra.user` (`http/mcp/SdkAuthInfo.ts`). With auth off there is none.
 */
export interface CurrentUser {
  readonly provider: UpstreamProviderName
  /** The provider's stable user id. */
  readonly id: string
  readonly username: string
  readonly email: string
  readonly name: string
  /**
   * The upstream provider's access token (refreshed first when it had expired): what
   * `get_user_external_token()` returns. In verifier mode, the bearer token itself. Never logged,
   * never sent to the MCP client.
   */
  readonly externalToken: string
  /**
   * The user's capabilities from the provider block's `claim_mappings` (what
   * `get_user_capabilities()` returns); absent or empty: none.
   */
  readonly capabilities?: ReadonlyArray<string> | undefined
}
