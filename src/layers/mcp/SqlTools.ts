/**
 * The built-in SQL tools (`sql_tools.enabled`): what `tools/list` shows for them, and the fixed
 * SQL of the two catalog tools. Their call path is in McpEndpointsLive.ts.
 */
import type { ToolInfo } from "../../services/mcp/McpEndpoints.js"

export const SQL_TOOLS: ReadonlyArray<ToolInfo> = [
  {
    name: "execute_sql_query",
    description: "Execute one SQL statement (DuckDB dialect) against the DuckDB database and return the rows as JSON. " +
      "It runs in a sandbox: no files, URLs, extensions, attached databases or settings.",
    inputSchema: {
      type: "object",
      properties: { sql: { type: "string", description: "The SQL query to execute", minLength: 1 } },
      required: ["sql"],
      additionalProperties: false
    },
    annotations: { title: "Execute SQL query" }
  },
  {
    name: "list_tables",
    description: "List the tables and views in the DuckDB database.",
    inputSchema: { type: "object", properties: {}, additionalProperties: false },
    annotations: { title: "List tables", readOnlyHint: true }
  },
  {
    name: "get_table_schema",
    description: "Get the columns of a table: name, type and whether it is nullable.",
    inputSchema: {
      type: "object",
      properties: { table_name: { type: "string", description: "Name of the table", minLength: 1 } },
      required: ["table_name"],
      additionalProperties: false
    },
    annotations: { title: "Get table schema", readOnlyHint: true }
  }
]

export const LIST_TABLES_SQL = `SELECT table_name AS name, table_type AS type
FROM information_schema.tables
WHERE table_schema NOT IN ('information_schema', 'pg_catalog')
ORDER BY table_schema, table_name`

export const TABLE_SCHEMA_SQL = `SELECT column_name AS name, data_type AS type, is_nullable = 'YES' AS nullable
FROM information_schema.columns
WHERE table_name = $table_name
ORDER BY ordinal_position`
