/**
 * The endpoint catalog from the project's YAML files: scans the `tools`, `resources` and
 * `prompts` folders (recursively, `*.yml`/`*.yaml`; a missing folder holds nothing), decodes every
 * file, reads `source.file` SQL (relative to the YAML file), rejects duplicate names, and fails
 * with one `CatalogError` listing every problem of every file. An endpoint of any kind may live
 * in any of the folders: its top-level key decides the kind.
 */
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as NodePath from "node:path"
import * as Yaml from "yaml"
import type {
  EndpointProblem,
  PromptDefinition,
  ResourceDefinition,
  ToolDefinition
} from "../../domain/mcp/Endpoint.js"
import {
  decodeEndpointDocument,
  toPromptDefinition,
  toResourceDefinition,
  toToolDefinition
} from "../../domain/mcp/EndpointSchema.js"
import { CatalogError, EndpointCatalog } from "../../services/mcp/EndpointCatalog.js"

export interface EndpointCatalogOptions {
  /** Absolute project folder (holding `mxcp-site.yml`); relative `paths` resolve against it. */
  readonly projectRoot: string
  readonly paths: { readonly tools: string; readonly resources: string; readonly prompts: string }
}

type Definition = ToolDefinition | ResourceDefinition | PromptDefinition

interface FileOutcome {
  readonly definition: Definition | undefined
  readonly problems: ReadonlyArray<EndpointProblem>
  readonly warnings: ReadonlyArray<string>
}

const isNotFound = (e: PlatformError): boolean => e._tag === "SystemError" && e.reason === "NotFound"

const reasonOf = (e: PlatformError): string => (e._tag === "SystemError" ? `${e.reason}: ${e.message}` : e.message)

const YAML_FILE = /\.ya?ml$/i

const loadWith = Effect.fn("EndpointCatalog.load")(function* (options: EndpointCatalogOptions) {
  const fs = yield* FileSystem.FileSystem
  const root = NodePath.resolve(options.projectRoot)
  /** Problems and warnings name files relative to the project root when inside it. */
  const display = (file: string): string => {
    const rel = NodePath.relative(root, file)
    return rel !== "" && !rel.startsWith("..") && !NodePath.isAbsolute(rel) ? rel : file
  }

  // 1. Find the files.
  const folderProblems: Array<EndpointProblem> = []
  const files = new Set<string>()
  for (const folder of [options.paths.tools, options.paths.resources, options.paths.prompts]) {
    const dir = NodePath.resolve(root, folder)
    const info = yield* fs.stat(dir).pipe(Effect.either)
    if (info._tag === "Left") {
      if (!isNotFound(info.left)) folderProblems.push({ file: display(dir), message: `cannot read folder (${reasonOf(info.left)})` })
      continue
    }
    if (info.right.type !== "Directory") {
      folderProblems.push({ file: display(dir), message: "is not a folder (check paths in mxcp-site.yml)" })
      continue
    }
    const entries = yield* fs.readDirectory(dir, { recursive: true }).pipe(Effect.either)
    if (entries._tag === "Left") {
      folderProblems.push({ file: display(dir), message: `cannot read folder (${reasonOf(entries.left)})` })
      continue
    }
    for (const entry of entries.right) {
      if (!YAML_FILE.test(entry)) continue
      const file = NodePath.resolve(dir, entry)
      const stat = yield* fs.stat(file).pipe(Effect.either)
      if (stat._tag === "Right" && stat.right.type === "File") files.add(file)
    }
  }
  const sorted = [...files].sort()

  // 2. Load each file on its own.
  const loadFile = (file: string): Effect.Effect<FileOutcome> =>
    Effect.gen(function* () {
      const name = display(file)
      const problem = (message: string): EndpointProblem => ({ file: name, message })
      const failed = (messages: ReadonlyArray<string>, warnings: ReadonlyArray<string> = []): FileOutcome => ({
        definition: undefined,
        problems: messages.map(problem),
        warnings: warnings.map((w) => `${name}: ${w}`)
      })

      const text = yield* fs.readFileString(file).pipe(Effect.either)
      if (text._tag === "Left") return failed([`cannot read file (${reasonOf(text.left)})`])

      const doc = Yaml.parseDocument(text.right, { prettyErrors: true })
      if (doc.errors.length > 0) {
        return failed(
          doc.errors.map((e) => {
            const pos = e.linePos?.[0]
            const message = e.message.split("\n")[0] ?? e.message
            return pos === undefined
              ? `YAML syntax error: ${message}`
              : `YAML syntax error at line ${pos.line}:${pos.col}: ${message.replace(/ at line \d+, column \d+:?$/, "")}`
          })
        )
      }
      let value: unknown
      try {
        value = doc.toJS()
      } catch (e) {
        // e.g. an alias bomb ("Excessive alias count")
        return failed([`YAML error: ${e instanceof Error ? e.message : String(e)}`])
      }
      const decoded = decodeEndpointDocument(value)
      if (decoded.skipped === "disabled") {
        yield* Effect.logDebug("endpoint disabled; skipped").pipe(Effect.annotateLogs({ file: name }))
      }
      const endpoint = decoded.endpoint
      const problems = [...decoded.problems]
      let sql = ""
      if (endpoint !== undefined && endpoint.kind !== "prompt") {
        const source = endpoint.yaml.source
        if (source.code !== undefined) sql = source.code
        else if (source.file !== undefined && source.file.trim() !== "") {
          const sqlPath = NodePath.resolve(NodePath.dirname(file), source.file)
          const read = yield* fs.readFileString(sqlPath).pipe(Effect.either)
          if (read._tag === "Right") {
            sql = read.right
            if (sql.trim() === "") problems.push(`${endpoint.kind}.source.file: '${source.file}' is empty`)
          } else {
            problems.push(
              isNotFound(read.left)
                ? `${endpoint.kind}.source.file: '${source.file}' not found (looked for ${sqlPath})`
                : `${endpoint.kind}.source.file: cannot read '${source.file}' (${reasonOf(read.left)})`
            )
          }
        }
      }
      if (endpoint === undefined || problems.length > 0) return failed(problems, decoded.warnings)
      const definition: Definition =
        endpoint.kind === "tool"
          ? toToolDefinition(endpoint.yaml, sql, file, decoded.policies)
          : endpoint.kind === "resource"
          ? toResourceDefinition(endpoint.yaml, sql, file, decoded.policies)
          : toPromptDefinition(endpoint.yaml, file, decoded.policies)
      return { definition, problems: [], warnings: decoded.warnings.map((w) => `${name}: ${w}`) }
    })

  const outcomes = yield* Effect.forEach(sorted, loadFile, { concurrency: 16 })

  // 3. Duplicates across files.
  const problems: Array<EndpointProblem> = [...folderProblems]
  const warnings: Array<string> = []
  const tools: Array<ToolDefinition> = []
  const resources: Array<ResourceDefinition> = []
  const prompts: Array<PromptDefinition> = []
  const firstSeen = new Map<string, string>()
  for (const outcome of outcomes) {
    problems.push(...outcome.problems)
    warnings.push(...outcome.warnings)
    const d = outcome.definition
    if (d === undefined) continue
    const [label, key] =
      d.kind === "tool" ? ["tool name", d.name] : d.kind === "resource" ? ["resource URI", d.uri] : ["prompt name", d.name]
    const id = `${d.kind}\u0000${key}`
    const earlier = firstSeen.get(id)
    if (earlier !== undefined) {
      problems.push({ file: display(d.file), message: `duplicate ${label} '${key}': also defined in ${display(earlier)}` })
      continue
    }
    firstSeen.set(id, d.file)
    if (d.kind === "tool") tools.push(d)
    else if (d.kind === "resource") resources.push(d)
    else prompts.push(d)
  }
  if (problems.length > 0) return yield* new CatalogError({ problems })
  return { tools, resources, prompts, warnings } satisfies EndpointCatalog.Shape
})

/** Loads and validates every endpoint file of the project; all problems in one `CatalogError`. */
export const loadCatalog = (options: EndpointCatalogOptions): Effect.Effect<EndpointCatalog.Shape, CatalogError> =>
  loadWith(options).pipe(Effect.provide(NodeFileSystem.layer))

/** The catalog from the project's endpoint files. */
export const EndpointCatalogFiles = (options: EndpointCatalogOptions): Layer.Layer<EndpointCatalog, CatalogError> =>
  Layer.effect(EndpointCatalog, loadCatalog(options))

/** A catalog from ready-made definitions (tests, embedding); missing lists are empty. */
export const EndpointCatalogFromDefinitions = (
  shape: Partial<EndpointCatalog.Shape>
): Layer.Layer<EndpointCatalog> =>
  Layer.succeed(EndpointCatalog, {
    tools: shape.tools ?? [],
    resources: shape.resources ?? [],
    prompts: shape.prompts ?? [],
    warnings: shape.warnings ?? []
  })
