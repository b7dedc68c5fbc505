import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { readSource, type SourceFile, sourceFiles, violations } from "./ImportRules.js"

const SRC = path.join(import.meta.dirname, "../../src")

const file = (name: string, imports: ReadonlyArray<string> = [], extra: Partial<SourceFile> = {}): SourceFile => ({
  file: name,
  imports,
  importsOwn: imports.length > 0,
  lines: 10,
  header: "",
  ...extra
})

describe("the import rules of src/", () => {
  it("src/ keeps them: one way down, feature folders, composition on top", () => {
    const files = sourceFiles(SRC).map((f) => readSource(SRC, f))
    expect(files.length).toBeGreaterThan(50)
    expect(files.some((f) => f.imports.length > 0)).toBe(true)
    expect(violations(files)).toEqual([])
  })

  it("the checker refuses an import that runs back up a floor", () => {
    expect(violations([file("domain/oauth/A.ts", ["services/oauth/B.ts"])])).toEqual([
      "domain/oauth/A.ts -> services/oauth/B.ts: domain may not import services"
    ])
    expect(violations([file("services/oauth/A.ts", ["http/oauth/B.ts"])])).toHaveLength(1)
    expect(violations([file("http/mcp/A.ts", ["layers/mcp/B.ts"])])).toHaveLength(1)
    expect(violations([file("layers/mcp/A.ts", ["compose/Server.ts"])])).toHaveLength(1)
    expect(violations([file("http/server/A.ts", ["Cli.ts"])])).toHaveLength(1)
    expect(violations([file("layers/server/A.ts", ["main.ts"])])).toHaveLength(1)
    expect(violations([file("compose/Server.ts", ["index.ts"])])).toHaveLength(1)
  })

  it("the checker accepts the allowed directions", () => {
    expect(violations([
      file("services/oauth/A.ts", ["domain/oauth/B.ts", "services/mcp/C.ts"]),
      file("http/oauth/A.ts", ["services/oauth/B.ts", "domain/oauth/C.ts", "http/server/D.ts"]),
      file("layers/mcp/A.ts", ["http/mcp/B.ts", "services/mcp/C.ts", "domain/mcp/D.ts"]),
      file("compose/OAuth.ts", ["layers/oauth/A.ts", "http/oauth/B.ts"]),
      file("Cli.ts", ["compose/Server.ts"]),
      file("main.ts", ["Cli.ts"]),
      file("index.ts", ["compose/Server.ts"], { importsOwn: false })
    ])).toEqual([])
  })

  it("the checker refuses loose files, unknown folders, an index that imports, and a long file of many concepts", () => {
    expect(violations([file("layers/Loose.ts")])).toEqual(["layers/Loose.ts: not in a feature folder (config, mcp, duckdb, oauth, server)"])
    expect(violations([file("http/persistence/A.ts")])).toHaveLength(1)
    expect(violations([file("Layers.ts")])).toHaveLength(1)
    expect(violations([file("index.ts", ["layers/mcp/A.ts"], { importsOwn: true })])).toEqual([
      "index.ts: index.ts only re-exports (export ... from)"
    ])
    expect(violations([file("layers/oauth/store/Big.ts", [], { lines: 600 })])).toHaveLength(1)
    expect(violations([file("layers/oauth/store/Big.ts", [], { lines: 600, header: "/** One concept: the store. */" })])).toEqual([])
  })

  it("imports are read from the source text, relative specifiers resolved", () => {
    const pkce = readSource(SRC, "domain/oauth/Pkce.ts")
    expect(pkce.imports).toContain("domain/oauth/Errors.ts")
    const index = readSource(SRC, "index.ts")
    expect(index.importsOwn).toBe(false)
    expect(index.imports).toContain("compose/Server.ts")
  })
})
