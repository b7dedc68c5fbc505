import { serveStdio as sdkServeStdio, StdioServerTransport } from "@modelcontextprotocol/server/stdio"
import { Effect, Option } from "effect"
import { AppConfig } from "../../services/config/AppConfig.js"
import { EndpointCatalog } from "../../services/mcp/EndpointCatalog.js"
import { McpServerFactory } from "../../services/mcp/McpServerFactory.js"
import { startupSummary } from "./StartupNotes.js"

/**
 * Serve MCP over stdin/stdout until stdin closes (or the fiber is interrupted), in the era the
 * client opens with: a 2025 `initialize` pins the connection to the 2025-11-25 family, a
 * 2026-07-28 request (e.g. `server/discover`) to 2026-07-28. The era decision and the connection
 * are the SDK's (`serveStdio`); instances come from our factory. Nothing else may write to
 * stdout while this runs: logs go to stderr.
 */
export const serveStdio = Effect.gen(function* () {
  const factory = yield* McpServerFactory
  const runtime = yield* Effect.runtime<never>()
  yield* Effect.acquireRelease(
    Effect.sync(() =>
      sdkServeStdio(({ era }) => factory.create(era), {
        transport: new StdioServerTransport(process.stdin, process.stdout),
        onerror: (error) => {
          Effect.runFork(Effect.logDebug(`MCP stdio: ${error.message}`).pipe(Effect.provide(runtime)))
        }
      })
    ),
    (handle) => Effect.promise(() => handle.close().catch(() => undefined))
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
