import { homedir } from "node:os"
import { Args, Command, Options, ValidationError } from "@effect/cli"
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

/** Every option's help line, in the order `--help` lists them (the options read them too). */
const OPTION_HELP = {
  port: ["--port <number>", "Port to listen on (default 8000)"],
  host: ["--host <address>", "Host to bind (default 127.0.0.1)"],
  profile: ["--profile <name>", "Profile of mxcp-site.yml to use (default: the site's profile)"],
  transport: ["--transport <streamable-http|stdio>", "MCP transport (default streamable-http)"],
  debug: ["--debug", "Debug logging"],
  sqlTools: ["--sql-tools <true|false>", "Enable or disable the built-in SQL tools"],
  readonly: ["--readonly", "Open DuckDB read-only"],
  stateless: ["--stateless", "Stateless Streamable HTTP (no sessions)"],
  config: ["--config <file>", "User config file (overrides MXCP_CONFIG and ~/.mxcp/config.yml)"]
} as const

const describe = (key: keyof typeof OPTION_HELP) => OPTION_HELP[key][1]

const configPath = Options.text("config").pipe(Options.withDescription(describe("config")), Options.optional)
const profile = Options.text("profile").pipe(Options.withDescription(describe("profile")), Options.optional)

const serveOptions = {
  port: Options.integer("port").pipe(Options.withDescription(describe("port")), Options.optional),
  host: Options.text("host").pipe(Options.withDescription(describe("host")), Options.optional),
  profile,
  transport: Options.choice("transport", ["streamable-http", "stdio"]).pipe(
    Options.withDescription(describe("transport")),
    Options.optional
  ),
  debug: Options.boolean("debug").pipe(Options.withDescription(describe("debug"))),
  sqlTools: Options.choice("sql-tools", ["true", "false"]).pipe(
    Options.withDescription(describe("sqlTools")),
    Options.optional
  ),
  readonly: Options.boolean("readonly").pipe(Options.withDescription(describe("readonly"))),
  stateless: Options.boolean("stateless").pipe(Options.withDescription(describe("stateless"))),
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

const SERVE_DESCRIPTION = "Serve the MCP project found from the current folder"
const VALIDATE_DESCRIPTION =
  "Check the config files, every endpoint file and the profile's auth setup (prints the callback URL to register); exit 1 on any problem"

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
}).pipe(Command.withDescription(SERVE_DESCRIPTION))

/**
 * Facts on stdout (the auth setup, then `OK: ...` when nothing is wrong), warnings and problems on
 * stderr, one line each. Every endpoint file and the auth setup are checked even when one fails.
 */
const checkConnection = Options.boolean("check-connection").pipe(
  Options.withDescription("With auth.persistence type postgres: connect and check the schema version (read-only)")
)

const validate = Command.make("validate", { profile, config: configPath, checkConnection }, (opts) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    for (const w of config.warnings) yield* Console.error(`Warning: ${w}`)
    const catalog = yield* Effect.either(loadCatalog({ projectRoot: config.projectRoot, paths: config.site.paths }))
    const auth = yield* checkAuthSetup(config, { checkConnection: opts.checkConnection })
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
  Command.withDescription(VALIDATE_DESCRIPTION)
)

const root = Command.make("mxcp", { _args: Args.none }).pipe(
  Command.withDescription("mxcp-ts: an MCP server for YAML + DuckDB endpoints, with built-in OAuth"),
  Command.withSubcommands([serve, validate])
)

const run = Command.run(root, { name: "mxcp", version: VERSION })

// ---------------------------------------------------------------------------------------------
// Help, usage errors and plain output

const COMMANDS = { serve: SERVE_DESCRIPTION, validate: VALIDATE_DESCRIPTION } as const
type CommandName = keyof typeof COMMANDS
const COMMAND_OPTIONS: Record<CommandName, ReadonlyArray<keyof typeof OPTION_HELP>> = {
  serve: ["port", "host", "profile", "transport", "debug", "sqlTools", "readonly", "stateless", "config"],
  validate: ["profile", "config"]
}

const table = (rows: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...rows.map(([left]) => left.length))
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join("\n")
}

/** `mxcp --help`, or `mxcp <command> --help`: plain text, one line per command or option. */
export const helpText = (command?: CommandName): string =>
  command === undefined
    ? [
      `mxcp ${VERSION}: an MCP server for YAML + DuckDB endpoints, with built-in OAuth`,
      "",
      "Usage: mxcp <command> [options]",
      "",
      "Commands:",
      table(Object.entries(COMMANDS)),
      "",
      "Options:",
      table([["--help, -h", "Show this help; mxcp <command> --help shows a command's options"], ["--version", "Print the version"]])
    ].join("\n")
    : [
      `Usage: mxcp ${command} [options]`,
      "",
      COMMANDS[command],
      "",
      "Options:",
      table([...COMMAND_OPTIONS[command].map((k) => OPTION_HELP[k]), ["--help, -h", "Show this help"]])
    ].join("\n")

const isCommand = (word: string | undefined): word is CommandName => word !== undefined && Object.hasOwn(COMMANDS, word)

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g

/** The console, without ANSI colour codes on a stream that is not a terminal. */
const plainConsole = (c: Console.Console): Console.Console => {
  // @effect/cli's one-line messages end with a newline of their own: no blank line after them.
  const plain = (tty: boolean | undefined) => (args: ReadonlyArray<unknown>): ReadonlyArray<unknown> =>
    args.map((a) => (typeof a === "string" ? (tty === true ? a : a.replace(ANSI, "")).replace(/\n+$/, "") : a))
  const out = plain(process.stdout.isTTY)
  const err = plain(process.stderr.isTTY)
  return {
    ...c,
    log: (...args) => c.log(...out(args)),
    info: (...args) => c.info(...out(args)),
    error: (...args) => c.error(...err(args)),
    warn: (...args) => c.warn(...err(args)),
    unsafe: {
      ...c.unsafe,
      log: (...args) => c.unsafe.log(...out(args)),
      info: (...args) => c.unsafe.info(...out(args)),
      error: (...args) => c.unsafe.error(...err(args)),
      warn: (...args) => c.unsafe.warn(...err(args))
    }
  }
}

/**
 * The usage errors said in our words, one line each (the others are @effect/cli's one line): an
 * unknown command with the command list, a `--port` that is not a number.
 */
const usageErrorOf = (args: ReadonlyArray<string>): string | undefined => {
  const first = args[0]
  if (first !== undefined && !first.startsWith("-") && !isCommand(first)) {
    return `unknown command '${first}'. Usage: mxcp <command> [options]; commands: ${Object.keys(COMMANDS).join(", ")} (mxcp --help)`
  }
  for (const [i, arg] of args.entries()) {
    const value = arg === "--port" ? args[i + 1] : arg.startsWith("--port=") ? arg.slice("--port=".length) : undefined
    if ((arg === "--port" || value !== undefined) && (value === undefined || !/^\d{1,5}$/.test(value) || Number(value) > 65535)) {
      return `--port needs a port number from 0 to 65535 (got ${value === undefined ? "nothing" : `'${value}'`})`
    }
  }
  return undefined
}

/**
 * The command line: `argv` as `process.argv`. Succeeds with the process's exit code: a startup
 * failure or a usage error (unknown command, bad option value: @effect/cli printed its one line)
 * is 1, without an error object; anything else failing is a bug.
 */
export const cli = (argv: ReadonlyArray<string>) => {
  const args = argv.slice(2)
  const wantsHelp = args.length === 0 || args.includes("--help") || args.includes("-h")
  const first = args[0]
  const usageError = usageErrorOf(args)
  const program = usageError !== undefined
    ? Effect.as(Console.error(`Error: ${usageError}`), 1)
    : wantsHelp
    ? Effect.as(Console.log(helpText(isCommand(first) ? first : undefined)), 0)
    : run(argv).pipe(
      Effect.as(0),
      Effect.catchIf((e): e is ExitWith | ValidationError.ValidationError => e instanceof ExitWith || ValidationError.isValidationError(e), (e) =>
        Effect.succeed(e instanceof ExitWith ? e.code : 1))
    )
  return Console.consoleWith((c) => Effect.withConsole(program, plainConsole(c)))
}
