import { Schema } from "effect"

/** One problem in one config file: which file, which key (dotted path), what is wrong, the fix. */
export interface ConfigProblem {
  readonly file: string
  readonly key: string
  readonly message: string
  readonly fix: string
}

const ConfigProblemSchema = Schema.Struct({
  file: Schema.String,
  key: Schema.String,
  message: Schema.String,
  fix: Schema.String
})

/**
 * A configuration problem: which file, which key (dotted path), what is wrong and how to fix it.
 * Rendered as one line by `formatConfigError`. When loading found several problems, the first is
 * the error itself and the others are in `more` (`configErrorLines` gives one line each).
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  ...ConfigProblemSchema.fields,
  more: Schema.optionalWith(Schema.Array(ConfigProblemSchema), { exact: true })
}) {}

/** One line naming the file, the key and the fix. */
export const formatConfigError = (e: ConfigProblem): string =>
  `${e.file}${e.key === "" ? "" : `: ${e.key}`}: ${e.message}${e.fix === "" ? "" : ` (fix: ${e.fix})`}`

/** Every problem of `e`, one line each: the error itself, then the ones in `more`. */
export const configErrorLines = (e: ConfigError): ReadonlyArray<string> => [
  formatConfigError(e),
  ...(e.more ?? []).map(formatConfigError)
]

/** Every problem of `e` (itself first). */
export const configProblems = (e: ConfigError): ReadonlyArray<ConfigProblem> => [
  { file: e.file, key: e.key, message: e.message, fix: e.fix },
  ...(e.more ?? [])
]

/** One error carrying all of `problems` (the first is the error itself); undefined when there are none. */
export const combineConfigErrors = (problems: ReadonlyArray<ConfigError>): ConfigError | undefined => {
  const all = problems.flatMap(configProblems)
  const [first, ...rest] = all
  if (first === undefined) return undefined
  return new ConfigError(rest.length === 0 ? first : { ...first, more: rest })
}
