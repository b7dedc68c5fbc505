import { readFileSync } from "node:fs"
import { availableParallelism } from "node:os"
import { Effect, Layer } from "effect"
import { ConfigError } from "../domain/ConfigError.js"
import { AppConfig } from "../services/AppConfig.js"
import { DuckDbSession } from "../services/DuckDbSession.js"
import { EndpointCatalog } from "../services/EndpointCatalog.js"
import { DuckDbSessionNode, serverThreads } from "./DuckDbSessionNode.js"
import { EndpointCatalogFiles } from "./EndpointCatalogFiles.js"
import { McpEndpointsLive } from "./McpEndpointsLive.js"
import { McpServerSdk } from "./McpServerSdk.js"

/** The endpoint catalog of the configured project (paths from `mxcp-site.yml`). */
export const EndpointCatalogFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    EndpointCatalogFiles({ projectRoot: config.projectRoot, paths: config.site.paths })
  )
)

/**
 * The DuckDB session of the selected profile. When the profile names an `init_sql` file and the
 * database is writable, that script runs once at startup (it should be idempotent).
 */
export const DuckDbSessionFromConfig = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    // Over HTTP many requests share the pool, so DuckDB gets the cores the pool leaves free; a
    // stdio client (one user) keeps DuckDB's default of every core for each query.
    const threads = config.duckdb.threads ??
      (config.serve.transport === "streamable-http" ? serverThreads(availableParallelism()) : undefined)
    const session = DuckDbSessionNode({ path: config.duckdb.path, readonly: config.duckdb.readonly, threads })
    const initSql = config.duckdb.initSql
    if (initSql === undefined || config.duckdb.readonly) return session
    const key = `profiles.${config.profile}.duckdb.init_sql`
    return Layer.effectDiscard(
      Effect.gen(function* () {
        const db = yield* DuckDbSession
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
    ).pipe(Layer.provideMerge(session))
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
