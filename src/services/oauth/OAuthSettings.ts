import { Context } from "effect"

export declare namespace OAuthSettings {
  export interface Shape {
    /** Access token lifetime (`access_token_ttl`). */
    readonly accessTokenTtlMs: number
    /** Refresh token lifetime (`refresh_token_ttl`), renewed on every rotation. */
    readonly refreshTokenTtlMs: number
    /** `refresh_reuse_grace`: a rotated refresh token retried this soon is answered again (0: never). */
    readonly refreshReuseGraceMs: number
    /** Authorization codes live 5 minutes. */
    readonly codeTtlMs: number
    /** Pending authorizations (consent + upstream login, the upstream `state`) live 10 minutes. */
    readonly requestTtlMs: number
    /** Every MCP request needs all of these (`authorization.required_scopes`). */
    readonly requiredScopes: ReadonlyArray<string>
    /** `mxcp:access` ∪ required scopes ∪ pre-registered clients' scopes. */
    readonly scopesSupported: ReadonlyArray<string>
    /** Shown on the consent page, e.g. "GitHub". */
    readonly providerDisplayName: string
  }
}

/** The authorization server's policy, derived once from the auth config. */
export class OAuthSettings extends Context.Tag("mxcp/OAuthSettings")<OAuthSettings, OAuthSettings.Shape>() {}
