import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export const repoRoot = resolve(import.meta.dirname, "../..")
export const exampleProject = join(repoRoot, "examples/quickstart")
export const mainJs = join(repoRoot, "dist/main.js")

/** A fresh copy of the quickstart example in a temp folder (its own DuckDB file). */
export const copyExample = (): { dir: string; cleanup: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), "mxcp-example-"))
  cpSync(exampleProject, dir, { recursive: true, filter: (src) => !src.includes(`${exampleProject}/data`) })
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Write a file (creating nothing else) and return its path. */
export const writeFile = (dir: string, name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
