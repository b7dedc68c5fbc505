/**
 * Keycloak as the upstream identity provider: a preset over the OIDC layer (`OidcProvider.ts`).
 * Its URLs are built from the `keycloak` block's `server_url` and `realm`: the issuer
 * `{server_url}/realms/{realm}` and its discovery document
 * `{server_url}/realms/{realm}/.well-known/openid-configuration`, which must name that issuer and
 * lists the realm's `/protocol/openid-connect/auth`, `/token`, `/userinfo` and `/certs`
 * endpoints. For Keycloak 16 and older, `server_url` ends in `/auth`.
 *
 * Realm and client roles are in Keycloak's access tokens (`realm_access.roles`,
 * `resource_access.<client>.roles`), which are JWTs signed by the realm: the OIDC layer reads
 * their claims too, so `claim_mappings` can map them without an extra Keycloak mapper.
 */
import type { HttpClient } from "@effect/platform"
import type { Layer } from "effect"
import type { KeycloakConfig } from "../../../domain/config/UserConfig.js"
import { keycloakConfigUrl, keycloakIssuer } from "../../../domain/oauth/OidcRules.js"
import type { IdentityProvider } from "../../../services/oauth/IdentityProvider.js"
import { OidcProvider, type OidcProviderSpec } from "./OidcProvider.js"

/** The OIDC spec of a `keycloak` block (whose `realm` and `server_url` the loader required). */
export const keycloakSpec = (config: KeycloakConfig): OidcProviderSpec => {
  const serverUrl = config.server_url ?? ""
  const realm = config.realm ?? ""
  return {
    kind: "keycloak",
    name: "keycloak",
    display: "Keycloak",
    configUrl: keycloakConfigUrl(serverUrl, realm),
    expectedIssuer: keycloakIssuer(serverUrl, realm),
    extraIssuers: [],
    clientId: config.client_id ?? "",
    clientSecret: config.client_secret,
    scope: config.scope,
    callbackPath: config.callback_path,
    extraAuthorizeParams: {},
    timeout: config.timeout,
    claimMappings: config.claim_mappings ?? {}
  }
}

/** The Keycloak `IdentityProvider`; needs an `HttpClient`. */
export const KeycloakProvider = (config: KeycloakConfig): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  OidcProvider(keycloakSpec(config))
