import { readFileSync } from "node:fs"
import { availableParallelism } from "node:os"
import { Context, Effect, Layer } from "effect"
import { ConfigError } from "../domain/config/ConfigError.js"
import { DEFAULT_QUERY_TIMEOUT, memoryLimitSetting } from "../domain/config/SiteConfig.js"
import { AppConfig } from "../services/config/AppConfig.js"
import type { DuckDbSession } from "../services/duckdb/DuckDbSession.js"
import { EndpointCatalog } from "../services/mcp/EndpointCatalog.js"
import { DuckDbSessionNode, machineMemoryBytes, serverThreads } from "../layers/duckdb/DuckDbSessionNode.js"
import { EndpointCatalogFiles } from "../layers/mcp/EndpointCatalogFiles.js"
import { McpEndpointsLive } from "../layers/mcp/McpEndpointsLive.js"
import { McpServerSdk } from "../layers/mcp/McpServerSdk.js"

/**
 * The endpoint catalog of the configured project (paths from `mxcp-site.yml`). Its warnings (files
 * skipped, keys ignored: what `validate` prints) are logged once, when it is loaded.
 */
export const EndpointCatalogFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    EndpointCatalogFiles({ projectRoot: config.projectRoot, paths: config.site.paths })
  )
).pipe(
  Layer.tap((context) => Effect.forEach(Context.get(context, EndpointCatalog).warnings, (w) => Effect.logWarning(w), { discard: true }))
)

/**
 * The DuckDB session of the selected profile. When the profile names an `init_sql` file and the
 * database is writable, that script runs once at startup (it should be idempotent), before the
 * instance's configuration is locked: it may still `SET` global settings, `INSTALL`/`LOAD`
 * extensions or create secrets.
 */
export const DuckDbSessionFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    // Over HTTP many requests share the pool, so DuckDB gets the cores the pool leaves free; a
    // stdio client (one user) keeps DuckDB's default of every core for each query.
    const threads = config.duckdb.threads ??
      (config.serve.transport === "streamable-http" ? serverThreads(availableParallelism()) : undefined)
    const profile = Object.hasOwn(config.site.profiles, config.profile) ? config.site.profiles[config.profile] : undefined
    const options: DuckDbSessionNode.Options = {
      path: config.duckdb.path,
      readonly: config.duckdb.readonly,
      threads,
      memoryLimit: memoryLimitSetting(profile?.duckdb.memory_limit, machineMemoryBytes()),
      timeoutMs: Math.round((profile?.duckdb.query_timeout ?? DEFAULT_QUERY_TIMEOUT) * 1000)
    }
    const initSql = config.duckdb.initSql
    if (initSql === undefined || config.duckdb.readonly) return DuckDbSessionNode(options)
    const key = `profiles.${config.profile}.duckdb.init_sql`
    const setup = (db: DuckDbSession.Shape) =>
      Effect.gen(function* () {
        const sql = yield* Effect.try({
          try: () => readFileSync(initSql, "utf8"),
          catch: (e) =>
            new ConfigError({
              file: config.siteFile,
              key,
              message: `cannot read ${initSql}: ${(e as Error).message}`,
              fix: "create the file or remove the key"
            })
        })
        yield* db.exec(sql).pipe(
          Effect.mapError(
            (e) =>
              new ConfigError({ file: initSql, key, message: `init SQL failed: ${e.message}`, fix: "correct the SQL" })
          )
        )
      })
    return DuckDbSessionNode(options, setup)
  })
)

/**
 * Everything that serves MCP for a project, given AppConfig: catalog, DuckDB, endpoints and
 * the SDK server factory. Transports (HTTP, stdio) sit on top of this.
 */
export const McpProjectLive = McpServerSdk.pipe(
  Layer.provideMerge(McpEndpointsLive),
  Layer.provideMerge(Layer.merge(EndpointCatalogFromConfig, DuckDbSessionFromConfig))
)

export type McpProjectServices = Layer.Layer.Success<typeof McpProjectLive> | EndpointCatalog | DuckDbSession
