/**
 * The house rules of `src/`, as a checker over the import graph (README "Architecture"):
 * - kinds: `domain` imports nothing of ours outside it; `services` imports domain; `http`
 *   imports services and domain; `layers` imports services, domain and http; `compose` (the
 *   composition at the top) imports all of those. `main.ts` imports `Cli.ts`, `Cli.ts` imports
 *   compose and the kinds; `index.ts` only re-exports.
 * - nothing imports a compose file, `main.ts` or `Cli.ts` (from outside compose and the entry files);
 * - every file of a kind stands in a feature folder (`config`, `mcp`, `duckdb`, `oauth` with
 *   `oauth/store` and `oauth/providers`, `server`), and only the entry files and `compose/`
 *   stand at the top of `src/`.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export type Kind = "domain" | "services" | "http" | "layers" | "compose" | "main" | "cli" | "index"

/** What each kind may import (besides itself). */
const ALLOWED: Readonly<Record<Kind, ReadonlyArray<Kind>>> = {
  domain: [],
  services: ["domain"],
  http: ["services", "domain"],
  layers: ["services", "domain", "http"],
  compose: ["layers", "services", "domain", "http"],
  cli: ["compose", "layers", "services", "domain", "http"],
  index: ["compose", "layers", "services", "domain", "http"],
  main: ["cli"]
}

export const FEATURES: ReadonlyArray<string> = ["config", "mcp", "duckdb", "oauth", "server"]
const LAYER_SUBFOLDERS: ReadonlyArray<string> = ["oauth/store", "oauth/providers", "oauth/store/migrations"]

/** The kind of a path relative to `src/` (`domain/oauth/Pkce.ts`), or undefined for a path outside the rules. */
export const kindOf = (file: string): Kind | undefined => {
  if (file === "main.ts") return "main"
  if (file === "Cli.ts") return "cli"
  if (file === "index.ts") return "index"
  const top = file.split("/")[0]
  return top === "domain" || top === "services" || top === "http" || top === "layers" || top === "compose" ? top : undefined
}

export interface SourceFile {
  /** Path relative to `src/`, with `/`. */
  readonly file: string
  /** Our imports, resolved to paths relative to `src/` (`.ts`). */
  readonly imports: ReadonlyArray<string>
  /** The file has `import` statements of ours (not only `export ... from`). */
  readonly importsOwn: boolean
  readonly lines: number
  readonly header: string
}

/** Every rule `files` break, one line each (empty: the house is in order). */
export const violations = (files: ReadonlyArray<SourceFile>): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const f of files) {
    const kind = kindOf(f.file)
    if (kind === undefined) {
      out.push(`${f.file}: not in a kind folder (domain, services, http, layers, compose) nor an entry file`)
      continue
    }
    if (kind === "domain" || kind === "services" || kind === "http" || kind === "layers") {
      const folder = path.posix.dirname(f.file).split("/").slice(1).join("/")
      const allowedFolders = kind === "layers" ? [...FEATURES, ...LAYER_SUBFOLDERS] : FEATURES
      if (!allowedFolders.includes(folder)) {
        out.push(`${f.file}: not in a feature folder (${FEATURES.join(", ")})`)
      }
    }
    if (kind === "compose" && path.posix.dirname(f.file) !== "compose") out.push(`${f.file}: compose has no subfolders`)
    if (kind === "index" && f.importsOwn) out.push(`${f.file}: index.ts only re-exports (export ... from)`)
    for (const target of f.imports) {
      const to = kindOf(target)
      if (to === undefined) continue
      if (to !== kind && !ALLOWED[kind].includes(to)) out.push(`${f.file} -> ${target}: ${kind} may not import ${to}`)
    }
    if (f.lines > 450 && !/One concept:/.test(f.header)) {
      out.push(`${f.file}: ${f.lines} lines; split it, or say "One concept: ..." in its header`)
    }
  }
  return out
}

const IMPORT = /^\s*(import|export)\s[^;]*?\sfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/gm

/** The file's own relative import specifiers, resolved (paths relative to `root`). */
export const readSource = (root: string, file: string): SourceFile => {
  const text = fs.readFileSync(path.join(root, file), "utf8")
  const imports: Array<string> = []
  let importsOwn = false
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[2] ?? m[3] ?? m[4]
    if (spec === undefined || !spec.startsWith(".")) continue
    if (m[1] !== "export") importsOwn = true
    imports.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, ".ts"))
  }
  const firstCode = text.search(/^(import|export)\s/m)
  return { file, imports, importsOwn, lines: text.split("\n").length, header: firstCode < 0 ? text : text.slice(0, firstCode) }
}

/** Every `.ts` file under `root`, relative to it. */
export const sourceFiles = (root: string): ReadonlyArray<string> =>
  (fs.readdirSync(root, { recursive: true, encoding: "utf8" }) as Array<string>)
    .map((f) => f.split(path.sep).join("/"))
    .filter((f) => f.endsWith(".ts"))
    .sort()
