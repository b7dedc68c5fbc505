/**
 * The 2026-07-28 test client: the MCP SDK v2 client package (`@modelcontextprotocol/client`),
 * pinned to 2026-07-28 (no `initialize`, every request stateless), and an in-memory OAuth
 * provider for it (the v2 counterpart of `TestOAuthProvider`).
 */
import {
  Client,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
  StreamableHTTPClientTransport
} from "@modelcontextprotocol/client"

export const MODERN_VERSION = "2026-07-28"

/** A v2 client that speaks only 2026-07-28 (connect fails loudly on anything else). */
export const modernClient = (name = "modern-test"): Client =>
  new Client({ name, version: "1.0.0" }, { versionNegotiation: { mode: { pin: MODERN_VERSION } } })

export const modernTransport = (url: URL, options: { authProvider?: OAuthClientProvider; headers?: Record<string, string> } = {}) =>
  new StreamableHTTPClientTransport(url, {
    ...(options.authProvider === undefined ? {} : { authProvider: options.authProvider }),
    ...(options.headers === undefined ? {} : { requestInit: { headers: options.headers } })
  })

export class ModernOAuthProvider implements OAuthClientProvider {
  info: StoredOAuthClientInformation | undefined
  savedTokens: StoredOAuthTokens | undefined
  verifier = ""
  authorizationUrl: URL | undefined
  discovery: OAuthDiscoveryState | undefined

  constructor(
    readonly redirect = "http://127.0.0.1:49998/callback",
    metadataUrl: string | undefined = undefined
  ) {
    if (metadataUrl !== undefined) this.clientMetadataUrl = metadataUrl
  }

  /** A Client ID Metadata Document URL: the SDK uses it as the `client_id` when the server advertises support. */
  clientMetadataUrl?: string

  get redirectUrl(): string {
    return this.redirect
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "SDK v2 Test Client",
      redirect_uris: [this.redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none"
    }
  }
  clientInformation() {
    return this.info
  }
  saveClientInformation(info: StoredOAuthClientInformation) {
    this.info = info
  }
  tokens() {
    return this.savedTokens
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.savedTokens = tokens
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url
  }
  saveCodeVerifier(v: string) {
    this.verifier = v
  }
  codeVerifier() {
    return this.verifier
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state
  }
  discoveryState() {
    return this.discovery
  }
}
