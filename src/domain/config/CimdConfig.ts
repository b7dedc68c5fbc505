/**
 * `auth.cimd`: Client ID Metadata Documents (MCP 2026-07-28 client registration). A client whose
 * `client_id` is an https URL is described by the JSON document at that URL, which this server
 * fetches; the fetch refuses non-public addresses unless `allow_private_addresses`.
 */
import { Schema } from "effect"
import { Flag } from "./SiteConfig.js"

const optionalDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: A) =>
  Schema.optionalWith(schema, { default: () => value, nullable: true })

/** A host pattern of `auth.cimd.allowed_hosts`: a DNS name, or `*.` and a DNS name (any subdomain). */
const CimdHostPattern = Schema.String.pipe(
  Schema.pattern(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/, {
    description: "a host name such as app.example.com, or *.example.com for its subdomains"
  })
)

/**
 * Client ID Metadata Documents (`auth.cimd`): a client whose `client_id` is an https URL is
 * described by the JSON document at that URL, fetched by this server (MCP 2026-07-28 client
 * registration). The fetch refuses non-public addresses unless `allow_private_addresses`.
 */
export const CimdConfig = Schema.Struct({
  enabled: optionalDefault(Flag, true),
  /** Host names whose documents are accepted (`*.example.com` for subdomains); empty: any host. */
  allowed_hosts: optionalDefault(Schema.Array(CimdHostPattern), []),
  /** Fetch documents from loopback, private and link-local addresses too (intranets, tests). */
  allow_private_addresses: optionalDefault(Flag, false)
})
export type CimdConfig = typeof CimdConfig.Type
