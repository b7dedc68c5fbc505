/**
 * The SQL-facing K tests' server: the in-process server (real HTTP on loopback, the fake GitHub)
 * with its DuckDB file and OAuth database in a folder the test owns, and two logged-in users
 * driving it through the real MCP SDK client.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { Scope } from "effect"
import { callTool, mcpClient, type ToolOutcome } from "../oauth/RowHelpers.js"
import type { FakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { login } from "../support/OAuthFlows.js"
import { exampleProject } from "../support/Project.js"

/** A folder removed with the scope. */
export const scopedDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** The quickstart's setup plus a `notes` table, and tools to write and count notes. */
export const NOTES_FILES = {
  "sql/setup.sql": readFileSync(join(exampleProject, "sql/setup.sql"), "utf8") +
    "\nCREATE TABLE IF NOT EXISTS notes (body VARCHAR, author VARCHAR);\n",
  "tools/add_note.yml": `mxcp: 1
tool:
  name: add_note
  description: Store a note.
  parameters:
    - name: body
      type: string
  return:
    type: integer
  source:
    code: INSERT INTO notes VALUES ($body, get_username()) RETURNING 1 AS ok
`,
  "tools/count_notes.yml": `mxcp: 1
tool:
  name: count_notes
  description: Count the notes.
  return:
    type: integer
  source:
    code: SELECT count(*) AS n FROM notes
`,
  "tools/memory_limit.yml": `mxcp: 1
tool:
  name: memory_limit
  description: DuckDB's memory_limit, as endpoint SQL sees it.
  return:
    type: string
  source:
    code: SELECT current_setting('memory_limit') AS m
`
}

export interface SqlServerOptions {
  readonly dir: string
  /** Merged into `sql_tools` (enabled already). */
  readonly sqlTools?: Record<string, unknown>
  /** Merged into the profile's `duckdb` block. */
  readonly duckdb?: Record<string, unknown>
  /** Other top-level keys of mxcp-site.yml. */
  readonly site?: Record<string, unknown>
  readonly files?: Readonly<Record<string, string>>
}

export type Client = Awaited<ReturnType<typeof mcpClient>>["client"]

export interface SqlServer {
  readonly url: string
  /** The DuckDB file. */
  readonly database: string
  /** The OAuth database (SQLite) and the key file beside it. */
  readonly oauthDb: string
  /** A logged-in SDK client for a GitHub user `login`, closed with the scope. */
  readonly clientFor: (login: string) => Effect.Effect<Client, never, Scope.Scope>
}

export const sqlServer = (fake: FakeGitHub, options: SqlServerOptions): Effect.Effect<SqlServer, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const database = join(options.dir, "project.duckdb")
    const oauthDb = join(options.dir, "oauth.db")
    const { url } = yield* inProcessServer(fake, {
      files: { ...NOTES_FILES, ...options.files },
      persistence: { path: oauthDb },
      site: {
        sql_tools: { enabled: true, ...options.sqlTools },
        profiles: { default: { duckdb: { path: database, init_sql: "sql/setup.sql", ...options.duckdb } } },
        ...options.site
      }
    })
    const clientFor = (name: string) =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          fake.setUser({ login: name, name, email: `${name}@example.com` })
          const tokens = await login(url)
          return (await mcpClient(url, tokens.access_token, name)).client
        }),
        (client) => Effect.promise(() => client.close().catch(() => undefined))
      )
    return { url, database, oauthDb, clientFor }
  })

export const call = (client: Client, name: string, args: Record<string, unknown> = {}): Effect.Effect<ToolOutcome> =>
  Effect.promise(() => callTool(client, name, args))

export const sql = (client: Client, query: string): Effect.Effect<ToolOutcome> =>
  call(client, "execute_sql_query", { sql: query })
