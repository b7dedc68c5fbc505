/**
 * Prompt messages are Jinja templates, as in MXCP (which renders them with Jinja2): `{{ name }}`,
 * `{% if %}`, `{% for %}`, filters (`upper`, `default`, `join`, ...). They are rendered with
 * nunjucks, a Jinja-compatible engine, with the prompt's arguments as the context and autoescape
 * off (the text goes to a model, not to a browser). `True`, `False` and `None` are there too.
 *
 * - The engine has no loader: `{% include %}`, `{% import %}` and `{% extends %}` find nothing (a
 *   render error), so a template never reads a file.
 * - A template that does not compile is a load-time problem of its endpoint file; a render error
 *   (e.g. calling something that is not a function) is the caller's to report.
 * - Values: strings verbatim, numbers and booleans as written, `null`/missing as the empty string
 *   (Jinja's default undefined), arrays and objects printed as JSON (their items and keys stay
 *   reachable: `{{ filter.min }}`, `{% for tag in tags %}`).
 * - Templates are the project author's (like the SQL); arguments are only ever data: a value that
 *   looks like `{{ x }}` is printed as it is, never rendered.
 */
import * as nunjucks from "nunjucks"

const environment = new nunjucks.Environment([], { autoescape: false, throwOnUndefined: false })
environment.addGlobal("True", true)
environment.addGlobal("False", false)
environment.addGlobal("None", null)

/** A compiled prompt template. */
export interface PromptTemplate {
  readonly render: (args: Readonly<Record<string, unknown>>) => string
}

/** A nunjucks error on one line, without its "Template render error: (unknown path)" and "Error:" prefixes. */
const messageOf = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e))
    .replace(/Template render error:|\(unknown path\)/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/^(\[Line \d+, Column \d+\] )?(?:Error: )+/, "$1")
    .trim()

/** Compiles `text`; `ok: false` with the reason (with its line and column when nunjucks gives them) when it is not a valid template. */
export const compilePrompt = (text: string): { readonly ok: true; readonly template: PromptTemplate } | {
  readonly ok: false
  readonly error: string
} => {
  let compiled: nunjucks.Template
  try {
    compiled = new nunjucks.Template(text, environment, undefined, true)
  } catch (e) {
    return { ok: false, error: messageOf(e) }
  }
  const render = (args: Readonly<Record<string, unknown>>): string => {
    try {
      return compiled.render(contextOf(args))
    } catch (e) {
      throw new Error(messageOf(e))
    }
  }
  return { ok: true, template: { render } }
}

/** Renders `text` with `args`; throws an Error with a one-line message when it fails. */
export const renderPrompt = (text: string, args: Readonly<Record<string, unknown>>): string => {
  const compiled = compilePrompt(text)
  if (!compiled.ok) throw new Error(compiled.error)
  return compiled.template.render(args)
}

/**
 * A copy of the arguments in which every array and object prints as JSON (a non-enumerable
 * `toString`), so `{{ obj }}` shows the value instead of `[object Object]` or `1,2`.
 */
const contextOf = (args: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(args)) {
    Object.defineProperty(out, key, { value: printable(value), enumerable: true, writable: true, configurable: true })
  }
  return out
}

const printable = (value: unknown): unknown => {
  if (value === null || typeof value !== "object") return value
  const json = JSON.stringify(value) ?? ""
  const copy: unknown = Array.isArray(value)
    ? value.map(printable)
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printable(v)]))
  Object.defineProperty(copy, "toString", { value: () => json, enumerable: false })
  return copy
}

// -------------------------------------------------------------------------------------------------
// Load-time check: the variables a template reads that it does not define itself

interface TemplateNode {
  readonly typename?: string
  /** The names of the node's child fields (nunjucks keeps them on the node's prototype). */
  readonly fields?: ReadonlyArray<string>
  readonly [field: string]: unknown
}

/** Names that a template may read without a parameter: Jinja's loop variable and our globals. */
const BUILT_IN = new Set(["loop", "True", "False", "None", "range", "cycler", "joiner", "caller"])

/** nunjucks reads `{{1x}}` as a symbol named "1x"; no parameter can have that name. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

const nunjucksParser = (nunjucks as unknown as { readonly parser: { readonly parse: (src: string) => TemplateNode } }).parser

const childrenOf = (n: TemplateNode): ReadonlyArray<readonly [string, unknown]> =>
  (n.fields ?? []).map((f) => [f, n[f]] as const)

/** Every variable name read in `node`: filter and test names and keyword-argument names are not variables. */
const symbolsIn = (node: unknown, out: Set<string>): void => {
  if (node === null || typeof node !== "object") return
  if (Array.isArray(node)) {
    for (const child of node) symbolsIn(child, out)
    return
  }
  const n = node as TemplateNode
  if (n.typename === "Symbol" && typeof n["value"] === "string") {
    out.add(n["value"])
    return
  }
  for (const [field, child] of childrenOf(n)) {
    if ((n.typename === "Filter" || n.typename === "FilterAsync") && field === "name") continue
    if (n.typename === "Is" && field === "right") continue
    if (n.typename === "KeywordArgs") {
      for (const pair of Array.isArray(child) ? child : []) symbolsIn((pair as TemplateNode)["value"], out)
      continue
    }
    symbolsIn(child, out)
  }
}

/** Names a template binds itself: `{% for x in ... %}`, `{% set x = ... %}`, macro names and arguments. */
const boundIn = (node: unknown, out: Set<string>): void => {
  if (node === null || typeof node !== "object") return
  if (Array.isArray(node)) {
    for (const child of node) boundIn(child, out)
    return
  }
  const n = node as TemplateNode
  const bind = (target: unknown) => symbolsIn(target, out)
  if (n.typename === "For" || n.typename === "AsyncEach" || n.typename === "AsyncAll") bind(n["name"])
  if (n.typename === "Set") bind(n["targets"])
  if (n.typename === "Macro" || n.typename === "Caller") {
    bind(n["name"])
    bind(n["args"])
  }
  if (n.typename === "FromImport") bind(n["names"])
  if (n.typename === "Import") bind(n["target"])
  for (const [, child] of childrenOf(n)) boundIn(child, out)
}

/**
 * The variables `text` reads and does not bind itself (nor are built in), each once, in order of
 * first use; empty for a template that does not parse (`compilePrompt` reports that).
 */
export const templatePlaceholders = (text: string): ReadonlyArray<string> => {
  let root: TemplateNode
  try {
    root = nunjucksParser.parse(text)
  } catch {
    return []
  }
  const used = new Set<string>()
  const bound = new Set<string>()
  symbolsIn(root, used)
  boundIn(root, bound)
  return [...used].filter((name) => IDENTIFIER.test(name) && !bound.has(name) && !BUILT_IN.has(name))
}
