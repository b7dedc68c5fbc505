import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { Effect, Option } from "effect"
import { AppConfig } from "../../services/config/AppConfig.js"
import { EndpointCatalog } from "../../services/mcp/EndpointCatalog.js"
import { McpServerFactory } from "../../services/mcp/McpServerFactory.js"
import { startupSummary } from "./StartupNotes.js"

/**
 * Serve MCP over stdin/stdout until stdin closes (or the fiber is interrupted). Nothing else may
 * write to stdout while this runs: logs go to stderr.
 */
export const serveStdio = Effect.gen(function* () {
  const factory = yield* McpServerFactory
  const server = factory.create()
  const transport = new StdioServerTransport(process.stdin, process.stdout)
  yield* Effect.acquireRelease(
    Effect.promise(() => server.connect(transport)),
    () => Effect.promise(() => server.close().catch(() => undefined))
  )
  const config = yield* Effect.serviceOption(AppConfig)
  const catalog = yield* Effect.serviceOption(EndpointCatalog)
  yield* Effect.logInfo(
    Option.isSome(config) ? `MCP server ready on stdio (${startupSummary(config.value, catalog)})` : "MCP server ready on stdio"
  )
  yield* Effect.async<void>((resume) => {
    const done = () => resume(Effect.void)
    process.stdin.once("end", done)
    process.stdin.once("close", done)
    return Effect.sync(() => {
      process.stdin.off("end", done)
      process.stdin.off("close", done)
    })
  })
}).pipe(Effect.scoped, Effect.withSpan("StdioServe.serve"))
