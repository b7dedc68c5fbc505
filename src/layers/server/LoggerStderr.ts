/**
 * Where and how the server logs: always on stderr (stdout belongs to the stdio transport), as
 * logfmt text lines or as one JSON object per line, from the `logging` block of the user config
 * and `--debug`.
 *
 * Decisions:
 * - `--debug` wins over `logging.level`; without either the level is info. `critical` is
 *   Effect's Fatal, `warning` its Warning.
 * - The text format is Effect's logfmt line (`timestamp=... level=INFO fiber=#12 message=...`
 *   then spans and annotations as `key=value`), unchanged from earlier versions.
 * - The JSON format puts `timestamp`, `level` (the config's names: debug, info, warning, error,
 *   critical), `message` and `fiber` first, then every annotation as a field of its own (an
 *   annotation never replaces one of those four), `cause` when there is one and `spans` (name to
 *   milliseconds) when there are any. Values go through `toJSON`, so a `Redacted` value prints as
 *   `<redacted>`.
 */
import { Cause, Effect, FiberId, FiberRef, HashMap, HashSet, Inspectable, Layer, List, Logger, LogLevel } from "effect"
import type { LoggingConfig } from "../../domain/config/UserConfig.js"

export interface LoggingSettings {
  /** `--debug`: debug level whatever the config says. */
  readonly debug: boolean
  /** `logging.level`; absent means info. */
  readonly level?: LoggingConfig["level"] | undefined
  /** `logging.format`; absent means text. */
  readonly format?: LoggingConfig["format"] | undefined
}

type LevelName = NonNullable<LoggingConfig["level"]>

const levels: Record<LevelName, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  critical: LogLevel.Fatal
}

/** The minimum level for these settings (`--debug` wins, default info). */
export const minimumLevelFor = (settings: LoggingSettings): LogLevel.LogLevel =>
  settings.debug ? LogLevel.Debug : levels[settings.level ?? "info"]

/** An Effect log level under the config's name for it (`Fatal` is `critical`). */
const levelName = (level: LogLevel.LogLevel): string => {
  switch (level._tag) {
    case "Fatal":
      return "critical"
    case "Error":
      return "error"
    case "Warning":
      return "warning"
    case "Info":
      return "info"
    case "Debug":
      return "debug"
    default:
      return level.label.toLowerCase()
  }
}

const RESERVED = new Set(["timestamp", "level", "message", "fiber", "cause", "spans"])

const jsonValue = (u: unknown): unknown => {
  switch (typeof u) {
    case "bigint":
    case "function":
    case "symbol":
      return String(u)
    default:
      return u instanceof Error && !("toJSON" in u) ? { name: u.name, message: u.message } : Inspectable.toJSON(u)
  }
}

const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((m) => (typeof m === "string" ? m : Inspectable.toStringUnknown(m, 0))).join(" ")
}

/** One JSON object per log line: see the module comment for the fields. */
export const jsonLineLogger: Logger.Logger<unknown, string> = Logger.make(
  ({ annotations, cause, date, fiberId, logLevel, message, spans }) => {
    const line: Record<string, unknown> = {
      timestamp: date.toISOString(),
      level: levelName(logLevel),
      message: messageText(message),
      fiber: FiberId.threadName(fiberId)
    }
    for (const [key, value] of HashMap.toEntries(annotations)) {
      if (!RESERVED.has(key)) line[key] = jsonValue(value)
    }
    if (!Cause.isEmpty(cause)) line["cause"] = Cause.pretty(cause, { renderErrorCause: true })
    if (List.isCons(spans)) {
      const now = date.getTime()
      const named: Record<string, number> = {}
      for (const span of spans) named[span.label] = now - span.startTime
      line["spans"] = named
    }
    return Inspectable.stringifyCircular(line)
  }
)

/**
 * Lines for stderr, written in batches: every line logged while the event loop runs one turn
 * goes out in one write at the end of that turn (or at once past 256 lines, and always before the
 * process exits). Under load that is one system call for many access-log lines instead of one
 * per line; order is kept and nothing waits longer than a turn.
 */
const stderrLines = (() => {
  let pending: Array<string> = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    if (pending.length === 0) return
    const text = `${pending.join("\n")}\n`
    pending = []
    process.stderr.write(text)
  }
  process.on("exit", flush)
  return (line: string): void => {
    pending.push(line)
    if (pending.length >= 256) flush()
    else if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }
})()

const onStderr = (format: Logger.Logger<unknown, string>): Logger.Logger<unknown, void> =>
  Logger.make((options) => stderrLines(format.log(options)))

const textOnStderr = onStderr(Logger.logfmtLogger)
const jsonOnStderr = onStderr(jsonLineLogger)

/**
 * The server's logger and minimum level: replaces Effect's default (stdout) logger, and an
 * outer `LoggerStderr` (settings known before the config was read) rather than adding to it.
 */
export const LoggerStderr = (settings: LoggingSettings): Layer.Layer<never> =>
  Layer.merge(
    Layer.scopedDiscard(
      Effect.locallyScopedWith(FiberRef.currentLoggers, (loggers) =>
        HashSet.add(
          HashSet.remove(HashSet.remove(HashSet.remove(loggers, Logger.defaultLogger), textOnStderr), jsonOnStderr),
          settings.format === "json" ? jsonOnStderr : textOnStderr
        ))
    ),
    Logger.minimumLogLevel(minimumLevelFor(settings))
  )
