import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import {
  AppConfig,
  DuckDbSession,
  DuckDbSessionMemory,
  EndpointCatalog,
  EndpointCatalogFiles,
  McpEndpoints,
  McpEndpointsLive,
  McpServerFactory,
  McpServerSdk
} from "../../src/index.js"
import { AppConfigFromValues } from "../../src/layers/config/AppConfigLive.js"
import { exampleProject } from "../support/Project.js"

/** An application-owned service, to show ours composes with the host app's own graph. */
class Greeting extends Context.Tag("host/Greeting")<Greeting, { readonly text: string }>() {}

const ConfigLayer = AppConfigFromValues({
  projectRoot: exampleProject,
  site: { mxcp: 1, project: "embedded", sql_tools: { enabled: true } }
})

// The host application's own graph: its config values, our catalog of the example endpoints,
// an in-memory DuckDB seeded by the host, and our MCP layers on top.
const Seeded = Layer.effectDiscard(
  Effect.flatMap(DuckDbSession, (db) =>
    db.exec(`CREATE TABLE products AS SELECT * FROM (VALUES
      (1, 'Embedded Widget', 'gear', 5.5, true, DATE '2024-01-01')) t(id, name, category, price, in_stock, added)`)
  )
).pipe(Layer.provideMerge(DuckDbSessionMemory))

const AppLayer = McpServerSdk.pipe(
  Layer.provideMerge(McpEndpointsLive),
  Layer.provideMerge(Layer.mergeAll(EndpointCatalogFiles({ projectRoot: exampleProject, paths: { tools: "tools", resources: "resources", prompts: "prompts" } }), Seeded, ConfigLayer)),
  Layer.provideMerge(Layer.succeed(Greeting, { text: "hello from the host" }))
)

describe("embedding the server's layers in another Effect application", () => {
  it.scoped("serves the real MCP SDK client through an in-memory transport", () =>
    Effect.gen(function* () {
      const factory = yield* McpServerFactory
      const greeting = yield* Greeting
      expect(greeting.text).toBe("hello from the host")
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
      const server = factory.create()
      yield* Effect.acquireRelease(
        Effect.promise(() => server.connect(serverSide)),
        () => Effect.promise(() => server.close())
      )
      const client = new Client({ name: "embedded", version: "1.0.0" })
      yield* Effect.acquireRelease(
        Effect.promise(() => client.connect(clientSide)),
        () => Effect.promise(() => client.close())
      )
      const result = yield* Effect.promise(() => client.callTool({ name: "get_product", arguments: { id: 1 } }))
      expect(result.structuredContent).toMatchObject({ id: 1, name: "Embedded Widget", price: 5.5 })
      const tools = yield* Effect.promise(() => client.listTools())
      expect(tools.tools.map((t) => t.name)).toContain("execute_sql_query")
    }).pipe(Effect.provide(AppLayer))
  )

  it.scoped("uses only the catalog and DuckDB, without any MCP transport", () =>
    Effect.gen(function* () {
      const catalog = yield* EndpointCatalog
      const db = yield* DuckDbSession
      const tool = catalog.tools.find((t) => t.name === "get_product")!
      const rows = yield* db.query(tool.sql, { id: 1 })
      expect(rows).toEqual([
        { id: 1, name: "Embedded Widget", category: "gear", price: 5.5, in_stock: true, added: "2024-01-01" }
      ])
      const endpoints = yield* McpEndpoints
      const viaService = yield* endpoints.callTool("count_products", {}, {})
      expect(viaService.content[0]?.text).toBe("1")
      const config = yield* AppConfig
      expect(config.site.project).toBe("embedded")
    }).pipe(Effect.provide(AppLayer))
  )
})
