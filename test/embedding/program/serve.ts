// A complete embedding program (the README's "Embedding" example): serve the MCP project of the
// current folder over HTTP from another Effect application, through the package's public entry.
import { homedir } from "node:os"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { AppConfigFromFiles, HttpServerLive } from "mxcp-ts"

// The same config files `mxcp serve` reads (mxcp-site.yml found from cwd, ~/.mxcp/config.yml),
// with the port set by the application.
const Config = AppConfigFromFiles({
  cwd: process.cwd(),
  env: process.env,
  homeDir: homedir(),
  port: Number(process.env["PORT"] ?? 8000)
})

// The application's own part of the graph: here one log line once the server is up.
const Hello = Layer.effectDiscard(Effect.logInfo("embedding app started"))

HttpServerLive.pipe(
  Layer.merge(Hello),
  Layer.provide(Config),
  Layer.launch,
  NodeRuntime.runMain
)
