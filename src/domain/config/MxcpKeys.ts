/**
 * MXCP's own keys and values that this server does not implement and cannot safely ignore (a
 * transport): a config that uses one is refused with
 * `MXCP key X is not supported by this server: ...`, never with "unknown key ... check the
 * spelling". (Keys that can be ignored without weakening anything are dropped with a warning
 * instead: see `IgnoredKeys` in SiteConfig.ts.)
 */
import type { KeyPath } from "./Interpolate.js"

export interface MxcpUnsupported {
  /** Path of the key; `"*"` matches any key of a mapping (a project or profile name). */
  readonly at: ReadonlyArray<string>
  /** Only these values are MXCP's and unsupported (the key itself is fine); absent: the key. */
  readonly values?: ReadonlyArray<string>
  /** Why it is refused (completes "MXCP key X is not supported by this server: ..."). */
  readonly why: string
  /** What to do instead. */
  readonly fix: string
}

/** The user config's MXCP keys and values this server refuses, with the way out. */
export const UserMxcpUnsupported: ReadonlyArray<MxcpUnsupported> = [
  {
    at: ["transport", "provider"],
    values: ["sse"],
    why: "MCP's HTTP transport is Streamable HTTP, which replaced SSE",
    fix: "use streamable-http or stdio"
  }
]

/** `mxcp-site.yml`'s MXCP keys and values this server refuses (none at the moment). */
export const SiteMxcpUnsupported: ReadonlyArray<MxcpUnsupported> = []

const matches = (pattern: ReadonlyArray<string>, path: KeyPath): boolean =>
  pattern.length === path.length && pattern.every((p, i) => p === "*" || p === path[i])

/** The entry for an unknown key at `path`, if it is an unsupported MXCP key. */
export const unsupportedKey = (
  table: ReadonlyArray<MxcpUnsupported>,
  path: KeyPath
): MxcpUnsupported | undefined => table.find((e) => e.values === undefined && matches(e.at, path))

/** The entry for an invalid `value` at `path`, if it is an unsupported MXCP value. */
export const unsupportedValue = (
  table: ReadonlyArray<MxcpUnsupported>,
  path: KeyPath,
  value: unknown
): MxcpUnsupported | undefined =>
  typeof value === "string"
    ? table.find((e) => e.values !== undefined && e.values.includes(value) && matches(e.at, path))
    : undefined
