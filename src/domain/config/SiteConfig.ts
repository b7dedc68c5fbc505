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

/** An integer > 0; also a decimal string (from `${VAR}`). */
export const PositiveInt = WholeNumber.pipe(Schema.greaterThan(0, { description: "a positive integer" }))

const SIZE = /^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$/i
const SHARE = /^\s*(\d+(\.\d+)?)\s*%\s*$/

/**
 * A memory size as DuckDB writes it (`4GB`, `512MiB`), or a share of the machine's memory
 * (`25%`, more than 0 and at most 100).
 */
export const MemorySize = Schema.String.pipe(
  Schema.filter((s) => SIZE.test(s) || (SHARE.test(s) && Number(SHARE.exec(s)?.[1]) > 0 && Number(SHARE.exec(s)?.[1]) <= 100), {
    description: "a size such as 4GB or 512MiB, or a share of the machine's memory such as 50%"
  })
)

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

/** Rows `execute_sql_query` (and the other SQL tools) answer at most, unless `sql_tools.max_rows`. */
export const SQL_TOOLS_MAX_ROWS = 1000
/** Bytes of rows as JSON the SQL tools answer at most, unless `sql_tools.max_result_bytes`. */
export const SQL_TOOLS_MAX_RESULT_BYTES = 1024 * 1024
/** An endpoint's result cap unless `limits` (site or endpoint) says otherwise: past it, a tool error. */
export const ENDPOINT_MAX_ROWS = 10_000
export const ENDPOINT_MAX_RESULT_BYTES = 10 * 1024 * 1024
/** Seconds a query may run (waiting for a connection included) unless `duckdb.query_timeout`. */
export const DEFAULT_QUERY_TIMEOUT = 30
/** Share of the machine's memory DuckDB may use unless `duckdb.memory_limit`. */
export const DEFAULT_MEMORY_SHARE = 0.5

/** `sql_tools.<tool>` (MXCP): one built-in tool's settings; its `description` replaces the built-in one. */
export const SqlToolConfig = Schema.Struct({
  description: Schema.optionalWith(NonEmpty, { exact: true, nullable: true })
})
export type SqlToolConfig = typeof SqlToolConfig.Type

const sqlTool = Schema.optionalWith(SqlToolConfig, { exact: true, nullable: true })

/** `sql_tools`: the built-in `execute_sql_query`, `list_tables`, `get_table_schema` tools. */
export const SqlToolsConfig = Schema.Struct({
  enabled: Schema.optionalWith(Flag, { default: () => false, nullable: true }),
  execute_sql_query: sqlTool,
  list_tables: sqlTool,
  get_table_schema: sqlTool,
  /** Whether `get_user_external_token()` returns the token inside `execute_sql_query`. */
  expose_external_token: Schema.optionalWith(Flag, { default: () => false, nullable: true }),
  /**
   * mxcp-ts: `execute_sql_query` may also write (INSERT, UPDATE, DELETE, MERGE; CREATE, ALTER,
   * DROP of tables, schemas, types, sequences, indexes). Default false: SELECT only.
   */
  allow_writes: Schema.optionalWith(Flag, { exact: true, nullable: true }),
  /** mxcp-ts: the SQL tools' answers are cut after this many rows (default `SQL_TOOLS_MAX_ROWS`). */
  max_rows: Schema.optionalWith(PositiveInt, { exact: true, nullable: true }),
  /** mxcp-ts: ... or this many bytes of JSON (default `SQL_TOOLS_MAX_RESULT_BYTES`). */
  max_result_bytes: Schema.optionalWith(PositiveInt, { exact: true, nullable: true })
})
export type SqlToolsConfig = typeof SqlToolsConfig.Type

/** mxcp-ts `limits`: the result cap of every tool and resource (an endpoint's `limits` wins). */
export const ResultLimitsConfig = Schema.Struct({
  max_rows: Schema.optionalWith(PositiveInt, { exact: true, nullable: true }),
  max_result_bytes: Schema.optionalWith(PositiveInt, { exact: true, nullable: true })
})
export type ResultLimitsConfig = typeof ResultLimitsConfig.Type

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
  ),
  /** mxcp-ts extension: DuckDB's `memory_limit` (default `DEFAULT_MEMORY_SHARE` of the machine). */
  memory_limit: Schema.optionalWith(MemorySize, { exact: true, nullable: true }),
  /** mxcp-ts extension: seconds a query may take (default `DEFAULT_QUERY_TIMEOUT`). */
  query_timeout: Schema.optionalWith(Seconds, { exact: true, nullable: true })
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
  limits: Schema.optionalWith(ResultLimitsConfig, { exact: true, nullable: true }),
  profiles: Schema.optionalWith(
    Schema.Record({ key: Schema.String, value: emptyWhenNull(SiteProfileConfig) }),
    { default: () => ({}), nullable: true }
  )
})
export type SiteConfig = typeof SiteConfig.Type

/**
 * DuckDB's `memory_limit` for `duckdb.memory_limit` (a size, or a share such as `50%`) on a
 * machine with `machineBytes` of memory; unset: `DEFAULT_MEMORY_SHARE` of it. Whole MiB, at
 * least 64 MiB for a share.
 */
export const memoryLimitSetting = (value: string | undefined, machineBytes: number): string => {
  const share = value === undefined ? DEFAULT_MEMORY_SHARE : SHARE.test(value) ? Number(SHARE.exec(value)?.[1]) / 100 : undefined
  if (share === undefined) return (value ?? "").replace(/\s+/g, "")
  return `${Math.max(64, Math.floor((machineBytes * share) / (1024 * 1024)))}MiB`
}
