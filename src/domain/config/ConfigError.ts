import { Schema } from "effect"

/**
 * A configuration problem: which file, which key (dotted path), what is wrong and how to fix it.
 * Rendered as one line by `formatConfigError`.
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  file: Schema.String,
  key: Schema.String,
  message: Schema.String,
  fix: Schema.String
}) {}

/** One line naming the file, the key and the fix. */
export const formatConfigError = (e: ConfigError): string =>
  `${e.file}${e.key === "" ? "" : `: ${e.key}`}: ${e.message}${e.fix === "" ? "" : ` (fix: ${e.fix})`}`
