import { Context, Schema } from "effect"
import type { Effect } from "effect"

/** A metadata document (or key set) could not be fetched; `reason` is safe to show the client. */
export class MetadataFetchFailed extends Schema.TaggedError<MetadataFetchFailed>()("MetadataFetchFailed", {
  reason: Schema.String
}) {}

/** The raw answer to a metadata document fetch (status 200, body within the size limit). */
export interface FetchedDocument {
  readonly body: string
  readonly cacheControl: string | undefined
}

export declare namespace ClientMetadataFetcher {
  export interface Shape {
    /**
     * GET `url` (https only) under the Client ID Metadata Document rules: no redirects followed,
     * a time limit, a size limit, and (unless private addresses are allowed) only public
     * addresses, checked after DNS resolution and on the connected socket.
     */
    readonly fetch: (url: URL) => Effect.Effect<FetchedDocument, MetadataFetchFailed>
  }
}

/** Server-side fetches of clients' metadata documents (SSRF-guarded). */
export class ClientMetadataFetcher extends Context.Tag("mxcp/ClientMetadataFetcher")<
  ClientMetadataFetcher,
  ClientMetadataFetcher.Shape
>() {}
