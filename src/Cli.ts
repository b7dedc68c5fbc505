import { homedir } from "node:os"
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, Layer, Option } from "effect"
import { ConfigError, configErrorLines, formatConfigError } from "./domain/config/ConfigError.js"
import type { LoggingConfig } from "./domain/config/UserConfig.js"
import { AppConfigFromFiles } from "./layers/config/AppConfigLive.js"
import { checkAuthSetup } from "./layers/oauth/AuthSetupCheck.js"
import { loadCatalog } from "./layers/mcp/EndpointCatalogFiles.js"
import { LoggerStderr } from "./layers/server/LoggerStderr.js"
import { McpProjectLive } from "./compose/Project.js"
import { HttpServerLive } from "./compose/Server.js"
import { serveStdio } from "./layers/server/StdioServe.js"
import { callbackHostNote, proxyPinWarning } from "./layers/server/StartupNotes.js"
import { AppConfig, type ConfigOverrides } from "./services/config/AppConfig.js"
import { CatalogError } from "./services/mcp/EndpointCatalog.js"
import { SqlError, SqlTimeout } from "./services/duckdb/DuckDbSession.js"

export const VERSION = "0.1.0"

/** A startup failure already printed to stderr; the process exits with this code. */
export class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`)
  }
}

const configPath = Options.text("config").pipe(
  Options.withDescription("User config file (overrides MXCP_CONFIG and ~/.mxcp/config.yml)"),
  Options.optional
)
const profile = Options.text("profile").pipe(Options.withDescription("Profile to use"), Options.optional)

const serveOptions = {
  port: Options.integer("port").pipe(Options.withDescription("Port to listen on (default 8000)"), Options.optional),
  host: Options.text("host").pipe(Options.withDescription("Host to bind (default 127.0.0.1)"), Options.optional),
  profile,
  transport: Options.choice("transport", ["streamable-http", "stdio"]).pipe(
    Options.withDescription("MCP transport (default streamable-http)"),
    Options.optional
  ),
  debug: Options.boolean("debug").pipe(Options.withDescription("Debug logging")),
  sqlTools: Options.choice("sql-tools", ["true", "false"]).pipe(
    Options.withDescription("Enable or disable the built-in SQL tools"),
    Options.optional
  ),
  readonly: Options.boolean("readonly").pipe(Options.withDescription("Open DuckDB read-only")),
  stateless: Options.boolean("stateless").pipe(Options.withDescription("Stateless Streamable HTTP (no sessions)")),
  config: configPath
}

const baseOverrides = (config: Option.Option<string>, prof: Option.Option<string>): ConfigOverrides => ({
  cwd: process.cwd(),
  configPath: Option.getOrUndefined(config),
  profile: Option.getOrUndefined(prof),
  env: process.env,
  homeDir: homedir()
})

/** Print one line per problem for the failures a user can fix; anything else is a bug. */
const reportStartupFailure = (e: ConfigError | CatalogError | SqlError | SqlTimeout) =>
  Effect.gen(function* () {
    switch (e._tag) {
      case "ConfigError":
        for (const line of configErrorLines(e)) yield* Console.error(`Error: ${line}`)
        break
      case "CatalogError":
        for (const p of e.problems) yield* Console.error(`Error: ${p.file}: ${p.message}`)
        break
      case "SqlError":
      case "SqlTimeout":
        yield* Console.error(`Error: DuckDB: ${e.message}`)
        break
    }
    return yield* Effect.fail(new ExitWith(1))
  })

/** Logs go to stderr (stdout belongs to the stdio transport): `logging` of the user config, `--debug` wins. */
const loggingFor = (debug: boolean, logging: LoggingConfig) =>
  LoggerStderr({ debug, level: logging.level, format: logging.format })

const serve = Command.make("serve", serveOptions, (opts) => {
  const overrides: ConfigOverrides = {
    ...baseOverrides(opts.config, opts.profile),
    port: Option.getOrUndefined(opts.port),
    host: Option.getOrUndefined(opts.host),
    transport: Option.getOrUndefined(opts.transport),
    debug: opts.debug || undefined,
    sqlTools: Option.getOrUndefined(Option.map(opts.sqlTools, (v) => v === "true")),
    readonly: opts.readonly || undefined,
    stateless: opts.stateless || undefined
  }
  const configLayer = AppConfigFromFiles(overrides)
  const program = Effect.gen(function* () {
    const config = yield* AppConfig
    const run = Effect.gen(function* () {
      for (const w of config.warnings) yield* Effect.logWarning(w)
      if (config.serve.transport === "stdio") {
        yield* serveStdio.pipe(Effect.provide(McpProjectLive))
      } else {
        return yield* Layer.launch(HttpServerLive)
      }
    })
    return yield* run.pipe(Effect.provide(loggingFor(opts.debug, config.user.logging)))
  })
  return program.pipe(
    Effect.provide(configLayer),
    Effect.catchTags({
      ConfigError: reportStartupFailure,
      CatalogError: reportStartupFailure,
      SqlError: reportStartupFailure
    }),
    // Until the config is read (and for what fails before), the default settings.
    Effect.provide(loggingFor(opts.debug, { format: "text" }))
  )
}).pipe(Command.withDescription("Serve the MCP project found from the current folder"))

/**
 * Facts on stdout (the auth setup, then `OK: ...` when nothing is wrong), warnings and problems on
 * stderr, one line each. Every endpoint file and the auth setup are checked even when one fails.
 */
const validate = Command.make("validate", { profile, config: configPath }, (opts) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    for (const w of config.warnings) yield* Console.error(`Warning: ${w}`)
    const catalog = yield* Effect.either(loadCatalog({ projectRoot: config.projectRoot, paths: config.site.paths }))
    const auth = yield* checkAuthSetup(config)
    for (const line of auth.lines) yield* Console.log(line)
    const callbackNote = callbackHostNote(config, config.serve.port)
    if (callbackNote !== undefined) yield* Console.log(callbackNote)
    const pinWarning = proxyPinWarning(config)
    if (pinWarning !== undefined) yield* Console.error(pinWarning)
    if (Either.isRight(catalog)) for (const w of catalog.right.warnings) yield* Console.error(`Warning: ${w}`)
    for (const w of auth.warnings) yield* Console.error(`Warning: ${w}`)
    const catalogProblems = Either.isLeft(catalog) ? catalog.left.problems : []
    for (const p of catalogProblems) yield* Console.error(`Error: ${p.file}: ${p.message}`)
    for (const p of auth.problems) yield* Console.error(`Error: ${formatConfigError(p)}`)
    if (Either.isLeft(catalog) || auth.problems.length > 0) return yield* Effect.fail(new ExitWith(1))
    const c = catalog.right
    yield* Console.log(
      `OK: ${c.tools.length} tools, ${c.resources.length} resources, ${c.prompts.length} prompts in ${config.projectRoot}`
    )
  }).pipe(
    Effect.provide(AppConfigFromFiles(baseOverrides(opts.config, opts.profile))),
    Effect.catchTags({ ConfigError: reportStartupFailure })
  )
).pipe(
  Command.withDescription(
    "Check the config files, every endpoint file and the profile's auth setup (prints the callback URL to register); exit 1 on any problem"
  )
)

const root = Command.make("mxcp", { _args: Args.none }).pipe(
  Command.withDescription("mxcp-ts: an MCP server for YAML + DuckDB endpoints, with built-in OAuth"),
  Command.withSubcommands([serve, validate])
)

export const cli = Command.run(root, { name: "mxcp", version: VERSION })
