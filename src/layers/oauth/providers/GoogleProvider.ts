/**
 * Google (Google Workspace, Gmail accounts) as the upstream identity provider: a preset over the
 * OIDC layer (`OidcProvider.ts`), not a provider of its own. The `google` block gives the app's
 * credentials, `scope` and `callback_path`, and MXCP's `auth_url` and `token_url` (which replace
 * the discovery document's endpoints); the key set, the userinfo endpoint and the issuer come from
 * Google's discovery document (`config_url`, a key MXCP does not have: tests point it at a local
 * OpenID Provider). Google writes its issuer both as `https://accounts.google.com` and as
 * `accounts.google.com` in ID tokens; both are accepted.
 *
 * A refresh token needs `access_type=offline` (and `prompt=consent` to get one again for a user
 * who already granted the app); the preset sends both, so `get_user_external_token()` keeps
 * working after the first hour.
 */
import type { HttpClient } from "@effect/platform"
import type { Layer } from "effect"
import type { GoogleConfig } from "../../../domain/config/UserConfig.js"
import { issuerOfConfigUrl } from "../../../domain/oauth/OidcRules.js"
import type { IdentityProvider } from "../../../services/oauth/IdentityProvider.js"
import { OidcProvider, type OidcProviderSpec } from "./OidcProvider.js"

/** The OIDC spec of a `google` block. */
export const googleSpec = (config: GoogleConfig): OidcProviderSpec => {
  const issuer = issuerOfConfigUrl(config.config_url)
  return {
    kind: "google",
    name: "google",
    display: "Google",
    configUrl: config.config_url,
    expectedIssuer: issuer,
    extraIssuers: issuer === undefined ? [] : [new URL(issuer).host],
    authorizationEndpoint: config.auth_url,
    tokenEndpoint: config.token_url,
    clientId: config.client_id ?? "",
    clientSecret: config.client_secret,
    scope: config.scope,
    callbackPath: config.callback_path,
    extraAuthorizeParams: { access_type: "offline", prompt: "consent" },
    timeout: config.timeout,
    claimMappings: config.claim_mappings ?? {}
  }
}

/** The Google `IdentityProvider`; needs an `HttpClient`. */
export const GoogleProvider = (config: GoogleConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  OidcProvider(googleSpec(config))
