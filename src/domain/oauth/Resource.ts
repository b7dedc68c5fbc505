/**
 * RFC 8707 resource indicators. This server protects exactly one resource, `BASE/mcp` (the
 * `resource` of its protected-resource metadata, RFC 9728), so a `resource` parameter, when sent,
 * must be that string exactly: no trailing slash, case or default-port equivalence. MCP clients copy
 * the `resource` value from the metadata document, so exact comparison is what they send.
 */
import { Either } from "effect"
import { InvalidTarget } from "./Errors.js"

/** The protected resource of a server whose base URL is `base` (no trailing slash). */
export const mcpResource = (base: string): string => `${base.replace(/\/+$/, "")}/mcp`

/**
 * Checks an RFC 8707 `resource` parameter against `expected` (normally `mcpResource(BASE)`).
 * Absent → fine (Right undefined). A fragment (RFC 8707 §2) or any other value → `invalid_target`.
 * Right carries the resource to bind to the code or token.
 */
export const checkResource = (
  resource: string | undefined,
  expected: string
): Either.Either<string | undefined, InvalidTarget> => {
  if (resource === undefined) return Either.right(undefined)
  if (resource.includes("#")) {
    return Either.left(new InvalidTarget({ description: "resource must not contain a fragment" }))
  }
  if (resource !== expected) {
    return Either.left(new InvalidTarget({ description: `resource must be ${expected}` }))
  }
  return Either.right(resource)
}
