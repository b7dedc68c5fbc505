/**
 * Resource URI templates, RFC 6570 level 1 only: `{var}` expressions. A variable matches a
 * non-empty run of characters without `/`, `?` or `#` (so, within one path segment), and its
 * value is percent-decoded. Level 2+ operators (`{+x}`, `{?x}`, `{/x}`...) are not supported.
 */
import { Either } from "effect"

export type UriTemplatePart =
  | { readonly _tag: "Literal"; readonly text: string }
  | { readonly _tag: "Variable"; readonly name: string }

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const OPERATORS = "+#./;?&=,!@|"

/** Splits a template into literal text and variables, or says what is wrong with it. */
export const parseUriTemplate = (template: string): Either.Either<ReadonlyArray<UriTemplatePart>, string> => {
  const parts: Array<UriTemplatePart> = []
  const seen = new Set<string>()
  let i = 0
  let literal = ""
  while (i < template.length) {
    const ch = template[i] as string
    if (ch === "}") return Either.left(`unmatched '}' at position ${i + 1}`)
    if (ch !== "{") {
      literal += ch
      i++
      continue
    }
    const end = template.indexOf("}", i + 1)
    if (end < 0) return Either.left(`unmatched '{' at position ${i + 1}`)
    const name = template.slice(i + 1, end)
    if (name.includes("{")) return Either.left(`nested '{' at position ${i + 1 + name.indexOf("{") + 1}`)
    if (name.length > 0 && OPERATORS.includes(name[0] as string)) {
      return Either.left(`'{${name}}' uses an RFC 6570 operator; only simple '{name}' variables are supported`)
    }
    if (!VAR_NAME.test(name)) {
      return Either.left(`'{${name}}' is not a valid variable (letters, digits and _, not starting with a digit)`)
    }
    if (seen.has(name)) return Either.left(`variable '${name}' appears more than once`)
    if (literal === "" && parts.length > 0) {
      return Either.left(`variables '{${(parts[parts.length - 1] as { name: string }).name}}' and '{${name}}' are adjacent, so the match would be ambiguous`)
    }
    seen.add(name)
    if (literal !== "") parts.push({ _tag: "Literal", text: literal })
    literal = ""
    parts.push({ _tag: "Variable", name })
    i = end + 1
  }
  if (literal !== "") parts.push({ _tag: "Literal", text: literal })
  return Either.right(parts)
}

/** The template's variable names in order (best effort for malformed templates). */
export const templateVariables = (uri: string): ReadonlyArray<string> =>
  Either.match(parseUriTemplate(uri), {
    onLeft: () => Array.from(uri.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g), (m) => m[1] as string),
    onRight: (parts) => parts.flatMap((p) => (p._tag === "Variable" ? [p.name] : []))
  })

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const compiled = new Map<string, { readonly regex: RegExp; readonly names: ReadonlyArray<string> } | null>()

const compile = (template: string) => {
  const cached = compiled.get(template)
  if (cached !== undefined) return cached
  const result = Either.match(parseUriTemplate(template), {
    onLeft: () => null,
    onRight: (parts) => ({
      regex: new RegExp(
        `^${parts.map((p) => (p._tag === "Literal" ? escapeRegExp(p.text) : "([^/?#]+)")).join("")}$`,
        "u"
      ),
      names: parts.flatMap((p) => (p._tag === "Variable" ? [p.name] : []))
    })
  })
  if (compiled.size > 1000) compiled.clear()
  compiled.set(template, result)
  return result
}

/**
 * The variables of `uri` under `template` (percent-decoded), `{}` when a template without
 * variables equals the URI, or null when it does not match (or a value is not valid
 * percent-encoding, or the template is malformed).
 */
export const matchUri = (template: string, uri: string): Record<string, string> | null => {
  const c = compile(template)
  if (c === null) return null
  const m = c.regex.exec(uri)
  if (m === null) return null
  const out: Record<string, string> = {}
  for (let k = 0; k < c.names.length; k++) {
    let value: string
    try {
      value = decodeURIComponent(m[k + 1] as string)
    } catch {
      return null
    }
    Object.defineProperty(out, c.names[k] as string, { value, enumerable: true, writable: true, configurable: true })
  }
  return out
}
