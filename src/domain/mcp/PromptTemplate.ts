/**
 * `{{param}}` substitution in prompt messages (the subset of MXCP's Jinja templates that
 * prompts use in practice). Whitespace inside the braces is allowed: `{{ name }}`.
 *
 * A placeholder whose name is not in `args` is left exactly as written; the catalog already
 * rejects, at load time, placeholders that name no declared parameter, so for loaded prompts this
 * only happens for text that is not a placeholder at all (`{{ a.b }}`, `{% if %}`...).
 * Values: strings verbatim, numbers and booleans as written, `null` as the empty string, arrays
 * and objects as JSON.
 */

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g

/** The parameter names a template refers to, each once, in order of first use. */
export const templatePlaceholders = (text: string): ReadonlyArray<string> => [
  ...new Set(Array.from(text.matchAll(PLACEHOLDER), (m) => m[1] as string))
]

const render = (value: unknown): string => {
  if (value === null) return ""
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  try {
    return JSON.stringify(value) ?? ""
  } catch {
    return String(value)
  }
}

/** Replaces each `{{name}}` with the argument's value; unknown names stay as written. */
export const renderPrompt = (text: string, args: Readonly<Record<string, unknown>>): string =>
  text.replace(PLACEHOLDER, (whole, name: string) =>
    Object.hasOwn(args, name) && args[name] !== undefined ? render(args[name]) : whole
  )
