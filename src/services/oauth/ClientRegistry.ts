import { Context, Schema } from "effect"
import type { Effect, Option } from "effect"
import type { RegisteredClientMetadata } from "../../domain/oauth/ClientMetadata.js"
import type { OAuthClient } from "../../domain/oauth/Records.js"
import type { StoreError } from "./TokenStore.js"

export interface Registration {
  readonly client: OAuthClient
  /** The plaintext secret, returned once in the /register response; undefined for public clients. */
  readonly clientSecret: string | undefined
  readonly issuedAt: number
}

/**
 * `auth.registration.max_clients` dynamic clients are stored and none of them may be evicted:
 * the registration is refused (the HTTP layer answers 503 with `Retry-After`).
 */
export class RegistryFull extends Schema.TaggedError<RegistryFull>()("RegistryFull", {
  /** When a stored client may be evicted at the earliest, in whole seconds from now (at least 1). */
  retryAfterSeconds: Schema.Number
}) {}

/**
 * A `client_id` that names a Client ID Metadata Document whose document was refused (not
 * fetchable, invalid, or not allowed); `reason` is safe to show the client.
 */
export class ClientMetadataRefused extends Schema.TaggedError<ClientMetadataRefused>()("ClientMetadataRefused", {
  reason: Schema.String
}) {}

export declare namespace ClientRegistry {
  export interface Shape {
    /**
     * Config clients first (they cannot be shadowed), then (when enabled) a Client ID Metadata
     * Document client for an https URL id (fetched or cached), then dynamically registered ones.
     */
    readonly find: (clientId: string) => Effect.Effect<Option.Option<OAuthClient>, StoreError | ClientMetadataRefused>
    /**
     * Is `clientId` still a client of this server, without fetching anything: config and stored
     * clients as `find`; a metadata-document client while documents are enabled (its document was
     * checked when it was authorized). Used on every MCP request, so never a network call.
     */
    readonly known: (clientId: string) => Effect.Effect<boolean, StoreError>
    /**
     * Register a validated RFC 7591 request; the allowed scopes are already computed. Never
     * stores more than the configured number of dynamic clients: `RegistryFull` when no stored
     * client may be evicted to make room.
     */
    readonly register: (
      metadata: RegisteredClientMetadata,
      allowedScopes: ReadonlyArray<string>
    ) => Effect.Effect<Registration, StoreError | RegistryFull>
    /** Scopes of the pre-registered (config) clients, for `scopes_supported`. */
    readonly configScopes: ReadonlyArray<string>
  }
}

/** OAuth clients: pre-registered in config and dynamically registered (RFC 7591). */
export class ClientRegistry extends Context.Tag("mxcp/ClientRegistry")<ClientRegistry, ClientRegistry.Shape>() {}
