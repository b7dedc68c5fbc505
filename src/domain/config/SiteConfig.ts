import { ParseResult, Schema } from "effect"

// ---------------------------------------------------------------------------
// Primitives shared by both config files
// ---------------------------------------------------------------------------

/** `mxcp: 1` (the number or the string "1"), decoded to the number 1. */
export const ConfigVersion = Schema.transform(Schema.Literal(1, "1"), Schema.Literal(1), {
  strict: true,
  decode: () => 1 as const,
  encode: (v) => v
}).annotations({ description: "1" })

/** A boolean; also `"true"`/`"false"`, which is what `${VAR}` interpolation produces. */
export const Flag = Schema.Union(
  Schema.Boolean,
  Schema.transformLiterals(["true", true], ["false", false])
).annotations({ description: "true or false" })

/** An integer; also a decimal string such as `"8000"` (from `${VAR}`). */
export const WholeNumber = Schema.Union(
  Schema.Int,
  Schema.NumberFromString.pipe(Schema.int())
).annotations({ description: "an integer" })

/** A number of seconds (> 0); also a numeric string. */
export const Seconds = Schema.Union(
  Schema.Number.pipe(Schema.finite()),
  Schema.NumberFromString.pipe(Schema.finite())
).annotations({ description: "a number of seconds" }).pipe(Schema.positive({ description: "a positive number of seconds" }))

/** A non-empty string. */
export const NonEmpty = Schema.String.pipe(Schema.minLength(1, { description: "a non-empty string" }))

/**
 * Keys an MXCP config may contain that this server does not implement. The loader removes them
 * before decoding and emits one warning per key present. `at` is the parent path; `"*"` matches
 * any key of a mapping (a project or profile name).
 */
export interface IgnoredKeys {
  readonly at: ReadonlyArray<string>
  readonly keys: ReadonlyArray<string>
}

/** MXCP top-level features not implemented here (shared by `mxcp-site.yml` and the user config). */
export const NotImplementedTopLevelKeys: ReadonlyArray<string> = [
  "vault",
  "onepassword",
  "telemetry",
  "secrets",
  "plugin",
  "dbt",
  "drift",
  "audit",
  "models",
  "policies",
  "tests"
]

/** Where `mxcp-site.yml` may carry MXCP keys that are accepted with a warning. */
export const SiteIgnoredKeys: ReadonlyArray<IgnoredKeys> = [
  { at: [], keys: [...NotImplementedTopLevelKeys, "extensions"] },
  { at: ["profiles", "*"], keys: ["drift", "audit"] },
  { at: ["paths"], keys: ["evals", "python", "plugins", "sql", "drift", "audit", "data"] }
]

// ---------------------------------------------------------------------------
// mxcp-site.yml
// ---------------------------------------------------------------------------

/** `sql_tools`: the built-in `execute_sql_query`, `list_tables`, `get_table_schema` tools. */
export const SqlToolsConfig = Schema.Struct({
  enabled: Schema.optionalWith(Flag, { default: () => false, nullable: true }),
  /** Whether `get_user_external_token()` returns the token inside `execute_sql_query`. */
  expose_external_token: Schema.optionalWith(Flag, { default: () => false, nullable: true })
})
export type SqlToolsConfig = typeof SqlToolsConfig.Type

/** `paths`: folders (relative to the project root) holding endpoint YAML files. */
export const PathsConfig = Schema.Struct({
  tools: Schema.optionalWith(NonEmpty, { default: () => "tools", nullable: true }),
  resources: Schema.optionalWith(NonEmpty, { default: () => "resources", nullable: true }),
  prompts: Schema.optionalWith(NonEmpty, { default: () => "prompts", nullable: true })
})
export type PathsConfig = typeof PathsConfig.Type

export const DuckDbConfig = Schema.Struct({
  /** Relative to the project root; `:memory:` for an in-memory database. */
  path: Schema.optionalWith(NonEmpty, { exact: true, nullable: true }),
  readonly: Schema.optionalWith(Flag, { default: () => false, nullable: true }),
  /** mxcp-ts extension: an idempotent SQL script (relative to the project root) run at startup. */
  init_sql: Schema.optionalWith(NonEmpty, { exact: true, nullable: true }),
  /** mxcp-ts extension: DuckDB's `threads` setting (see `serverThreads` for the default). */
  threads: Schema.optionalWith(
    WholeNumber.pipe(Schema.greaterThan(0, { description: "a positive integer" })),
    { exact: true, nullable: true }
  )
})
export type DuckDbConfig = typeof DuckDbConfig.Type

export const SiteProfileConfig = Schema.Struct({
  duckdb: Schema.optionalWith(DuckDbConfig, { default: () => DuckDbConfig.make({}), nullable: true })
})
export type SiteProfileConfig = typeof SiteProfileConfig.Type

/** A mapping value that may be left empty in YAML (`name:` with nothing under it means `{}`). */
export const emptyWhenNull = <A, I extends object, R>(
  schema: Schema.Schema<A, I, R>
): Schema.Schema<A, I | null, R> =>
  Schema.Union(
    schema,
    Schema.transformOrFail(Schema.Null, Schema.typeSchema(schema), {
      strict: false,
      decode: () => ParseResult.decodeUnknown(schema)({}),
      encode: () => ParseResult.succeed(null)
    })
  )

/** The project file `mxcp-site.yml`. */
export const SiteConfig = Schema.Struct({
  mxcp: ConfigVersion,
  project: NonEmpty,
  profile: Schema.optionalWith(NonEmpty, { default: () => "default", nullable: true }),
  sql_tools: Schema.optionalWith(SqlToolsConfig, {
    default: () => SqlToolsConfig.make({}),
    nullable: true
  }),
  paths: Schema.optionalWith(PathsConfig, { default: () => PathsConfig.make({}), nullable: true }),
  profiles: Schema.optionalWith(
    Schema.Record({ key: Schema.String, value: emptyWhenNull(SiteProfileConfig) }),
    { default: () => ({}), nullable: true }
  )
})
export type SiteConfig = typeof SiteConfig.Type
