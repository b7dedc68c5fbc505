import { Effect, Either, Layer } from "effect"
import {
  ENDPOINT_MAX_RESULT_BYTES,
  ENDPOINT_MAX_ROWS,
  SQL_TOOLS_MAX_RESULT_BYTES,
  SQL_TOOLS_MAX_ROWS
} from "../../domain/config/SiteConfig.js"
import type {
  EndpointLimits,
  ParameterSpec,
  PromptDefinition,
  ResourceDefinition,
  ToolDefinition
} from "../../domain/mcp/Endpoint.js"
import type { CurrentUser } from "../../domain/oauth/Identity.js"
import { validateArguments } from "../../domain/mcp/Parameters.js"
import { resultText, shapeResult, structuredResult } from "../../domain/mcp/ResultShape.js"
import { compilePrompt, type PromptTemplate } from "../../domain/mcp/PromptTemplate.js"
import { matchUri, templateVariables } from "../../domain/mcp/UriTemplate.js"
import { AppConfig } from "../../services/config/AppConfig.js"
import { DuckDbSession } from "../../services/duckdb/DuckDbSession.js"
import type { FreeFormOptions, QueryOptions, QueryResult, Truncation } from "../../services/duckdb/DuckDbSession.js"
import { EndpointCatalog } from "../../services/mcp/EndpointCatalog.js"
import {
  type CallContext,
  JsonRpcCode,
  McpEndpoints,
  McpProtocolError,
  type PromptInfo,
  type PromptResult,
  type ResourceInfo,
  type ResourceTemplateInfo,
  type ToolInfo,
  type ToolResult
} from "../../services/mcp/McpEndpoints.js"
import { tracingEnabled } from "../server/Tracing.js"
import { enforceInput, enforceOutput } from "./PolicyEnforcement.js"
import { LIST_TABLES_SQL, SQL_TOOLS, TABLE_SCHEMA_SQL } from "./SqlTools.js"

const invalidParams = (message: string) => new McpProtocolError({ code: JsonRpcCode.InvalidParams, message })

const policyDenied = (message: string) => new McpProtocolError({ code: JsonRpcCode.PolicyDenied, message })

const toolError = (text: string): ToolResult => ({ content: [{ type: "text", text }], isError: true })

/** Never let the user's upstream token leak through an error message. */
const redact = (message: string, user: CurrentUser | undefined): string =>
  user !== undefined && user.externalToken.length >= 4 ? message.split(user.externalToken).join("[REDACTED]") : message

/**
 * MCP passes resource-template variables and prompt arguments as strings; turn them into the
 * declared parameter types before validation (a value that does not parse stays a string and
 * fails validation with a clear message).
 */
const coerceStrings = (
  params: ReadonlyArray<ParameterSpec>,
  args: Readonly<Record<string, string>>
): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, raw] of Object.entries(args)) {
    const spec = params.find((p) => p.name === key)
    out[key] = spec === undefined ? raw : coerceOne(spec.type, raw)
  }
  return out
}

const coerceOne = (type: ParameterSpec["type"], raw: string): unknown => {
  switch (type) {
    case "integer":
    case "number": {
      const trimmed = raw.trim()
      const n = Number(trimmed)
      return trimmed !== "" && Number.isFinite(n) ? n : raw
    }
    case "boolean":
      return raw === "true" ? true : raw === "false" ? false : raw
    case "array":
    case "object":
      try {
        return JSON.parse(raw)
      } catch {
        return raw
      }
    default:
      return raw
  }
}

const textOf = (value: unknown): string => JSON.stringify(value ?? null)

/** Who runs a query, for fair sharing of the DuckDB pool: the user, or nobody in particular. */
const principalOf = (user: CurrentUser | undefined): string | undefined =>
  user === undefined ? undefined : `${user.provider}:${user.username}`

const truncationNote = (t: Truncation): string =>
  t.by === "rows"
    ? `Result truncated: the first ${t.rowCount} rows are shown and there are more (sql_tools.max_rows is ${t.limit}).`
    : `Result truncated: the first ${t.rowCount} rows are shown; more would exceed ${t.limit} bytes of JSON ` +
      `(sql_tools.max_result_bytes).`

/** An endpoint's answer past its result cap, naming the key that sets the cap. */
const tooLargeText = (by: "rows" | "bytes", limit: number): string =>
  by === "rows"
    ? `The result has more than ${limit} rows (the cap is limits.max_rows, in the endpoint's YAML or in mxcp-site.yml); ` +
      "narrow the query or raise the cap"
    : `The result is larger than ${limit} bytes of JSON (the cap is limits.max_result_bytes, in the endpoint's YAML or ` +
      "in mxcp-site.yml); narrow the query or raise the cap"

/** Build the transport-independent MCP endpoint service from the catalog and DuckDB. */
export const makeMcpEndpoints = Effect.gen(function* () {
  const catalog = yield* EndpointCatalog
  const db = yield* DuckDbSession
  const config = yield* AppConfig
  const sqlTools = config.serve.sqlTools
  // Spans per call only when an application tracer collects them (see Tracing.ts).
  const tracing = yield* tracingEnabled
  const fnNamed = (name: string): typeof Effect.fnUntraced => (tracing ? Effect.fn(name) : Effect.fnUntraced)

  const toolsByName = new Map<string, ToolDefinition>(catalog.tools.map((t) => [t.name, t]))
  const staticResources: Array<ResourceDefinition> = []
  const templatedResources: Array<ResourceDefinition> = []
  for (const r of catalog.resources) {
    ;(templateVariables(r.uri).length === 0 ? staticResources : templatedResources).push(r)
  }
  const promptsByName = new Map<string, PromptDefinition>(catalog.prompts.map((p) => [p.name, p]))
  // Compiled once; the catalog refused templates that do not compile, so this only guards
  // definitions built by hand (an embedding app's).
  const templates = new Map<string, ReadonlyArray<PromptTemplate | string>>(
    catalog.prompts.map((p) => [p.name, p.messages.map((m) => {
      const compiled = compilePrompt(m.prompt)
      return compiled.ok ? compiled.template : compiled.error
    })])
  )

  const tools: Array<ToolInfo> = catalog.tools.map((t) => ({
    name: t.name,
    description: t.description,
    inputSchema: t.inputSchema,
    ...(t.outputSchema === undefined ? {} : { outputSchema: t.outputSchema }),
    annotations: Object.keys(t.annotations).length > 0 ? t.annotations : undefined
  }))
  if (sqlTools) {
    for (const t of SQL_TOOLS) {
      if (toolsByName.has(t.name)) continue
      // MXCP's `sql_tools.<tool>.description` replaces the built-in description.
      const own = config.site.sql_tools[t.name as "execute_sql_query" | "list_tables" | "get_table_schema"]?.description
      tools.push(own === undefined ? t : { ...t, description: own })
    }
    // The built-in SQL tools read any table with no policy in the way: say so once.
    const guarded = [
      ...catalog.tools.filter((t) => t.policies !== undefined).map((t) => `tool ${t.name}`),
      ...catalog.resources.filter((r) => r.policies !== undefined).map((r) => `resource ${r.uri}`),
      ...catalog.prompts.filter((p) => p.policies !== undefined).map((p) => `prompt ${p.name}`)
    ]
    if (guarded.length > 0) {
      yield* Effect.logWarning(
        `sql_tools is enabled: execute_sql_query reads every table with no policy applied, so the policies of ` +
          `${guarded.join(", ")} can be bypassed; set sql_tools.enabled: false where they must hold`
      )
    }
  }

  const resources: ReadonlyArray<ResourceInfo> = staticResources.map((r) => ({
    uri: r.uri,
    name: r.name,
    description: r.description,
    mimeType: r.mimeType
  }))
  const resourceTemplates: ReadonlyArray<ResourceTemplateInfo> = templatedResources.map((r) => ({
    uriTemplate: r.uri,
    name: r.name,
    description: r.description,
    mimeType: r.mimeType
  }))
  const prompts: ReadonlyArray<PromptInfo> = catalog.prompts.map((p) => ({
    name: p.name,
    description: p.description,
    arguments: p.parameters.map((param) => ({
      name: param.name,
      description: param.description ?? "",
      required: !param.hasDefault
    }))
  }))

  // Result caps: the SQL tools truncate, endpoints answer an error (see tooLargeText).
  const site = config.site
  const sqlToolOptions = {
    maxRows: site.sql_tools.max_rows ?? SQL_TOOLS_MAX_ROWS,
    maxResultBytes: site.sql_tools.max_result_bytes ?? SQL_TOOLS_MAX_RESULT_BYTES
  }
  const allowWrites = site.sql_tools.allow_writes ?? false
  const endpointOptions = (limits: EndpointLimits | undefined) => ({
    maxRows: limits?.maxRows ?? site.limits?.max_rows ?? ENDPOINT_MAX_ROWS,
    maxResultBytes: limits?.maxResultBytes ?? site.limits?.max_result_bytes ?? ENDPOINT_MAX_RESULT_BYTES
  })

  /** Endpoint SQL: the author's, with full access; a result past the cap is an error. */
  const runSql = (sql: string, params: Readonly<Record<string, unknown>>, options: QueryOptions) =>
    db.query(sql, params, options).pipe(
      Effect.mapError((e) =>
        e._tag === "SqlResultTooLarge" ? redact(tooLargeText(e.by, e.limit), options.user) : redact(e.message, options.user)
      ),
      Effect.either
    )

  /** The SQL tools' SQL, in the sandbox: the answer, or the tool error (refusal or SQL error). */
  const runFreeForm = (
    tool: string,
    sql: string,
    params: Readonly<Record<string, unknown>>,
    options: FreeFormOptions
  ): Effect.Effect<Either.Either<QueryResult, ToolResult>> =>
    db.freeForm(sql, params, options).pipe(
      Effect.mapError((e) =>
        toolError(
          e._tag === "SqlNotAllowed"
            ? redact(`This query is not allowed in ${tool}: ${e.reason}`, options.user)
            : `SQL error: ${redact(e.message, options.user)}`
        )
      ),
      Effect.either
    )

  const answer = (result: QueryResult): ToolResult => ({
    content: result.truncated === undefined
      ? [{ type: "text", text: textOf(result.rows) }]
      : [{ type: "text", text: textOf(result.rows) }, { type: "text", text: truncationNote(result.truncated) }]
  })

  const runSqlTool = fnNamed("McpEndpoints.runSqlTool")(function* (
    tool: string,
    sql: string,
    params: Readonly<Record<string, unknown>>,
    options: FreeFormOptions
  ) {
    const result = yield* runFreeForm(tool, sql, params, options)
    return Either.match(result, { onLeft: (error) => error, onRight: answer })
  })

  const callBuiltin = (name: string, args: Record<string, unknown>, ctx: CallContext) => {
    const user = ctx.user
    const base: FreeFormOptions = {
      user,
      requestHeaders: ctx.requestHeaders,
      principal: principalOf(user),
      ...sqlToolOptions
    }
    switch (name) {
      case "execute_sql_query": {
        const sql = args["sql"]
        if (typeof sql !== "string" || sql.trim() === "") {
          return Effect.fail(invalidParams("Parameter 'sql' is required and must be a non-empty string"))
        }
        return runSqlTool(name, sql, {}, { ...base, exposeExternalToken: config.serve.exposeExternalToken, allowWrites })
      }
      case "list_tables":
        return runSqlTool(name, LIST_TABLES_SQL, {}, base)
      case "get_table_schema": {
        const table = args["table_name"]
        if (typeof table !== "string" || table === "") {
          return Effect.fail(invalidParams("Parameter 'table_name' is required and must be a non-empty string"))
        }
        return runFreeForm(name, TABLE_SCHEMA_SQL, { table_name: table }, base).pipe(
          Effect.map(
            Either.match({
              onLeft: (error): ToolResult => error,
              onRight: (result): ToolResult =>
                result.rows.length === 0 ? toolError(`Table '${table}' does not exist`) : answer(result)
            })
          )
        )
      }
      default:
        return Effect.fail(invalidParams(`Unknown tool: ${name}`))
    }
  }

  const callTool = fnNamed("McpEndpoints.callTool")(function* (name: string, rawArgs: unknown, ctx: CallContext) {
    const args = rawArgs ?? {}
    const tool = toolsByName.get(name)
    if (tool === undefined) {
      if (sqlTools && SQL_TOOLS.some((t) => t.name === name)) {
        if (typeof args !== "object" || Array.isArray(args)) {
          return yield* Effect.fail(invalidParams("Tool arguments must be an object"))
        }
        return yield* callBuiltin(name, args as Record<string, unknown>, ctx)
      }
      return yield* Effect.fail(invalidParams(`Unknown tool: ${name}`))
    }
    const validated = validateArguments(tool.parameters, args)
    if (Either.isLeft(validated)) {
      return yield* Effect.fail(invalidParams(`Invalid arguments for tool ${name}: ${validated.left}`))
    }
    yield* Effect.logDebug("tool call").pipe(Effect.annotateLogs({ tool: name }))
    const guarded = tool.policies === undefined ? undefined : { kind: "tool" as const, name, policies: tool.policies }
    if (guarded !== undefined) {
      const refused = yield* enforceInput(guarded, ctx.user, validated.right)
      if (refused !== undefined) return toolError(refused)
    }
    const result = yield* runSql(tool.sql, validated.right, {
      user: ctx.user,
      requestHeaders: ctx.requestHeaders,
      principal: principalOf(ctx.user),
      ...endpointOptions(tool.limits)
    })
    if (Either.isLeft(result)) return toolError(`SQL error: ${result.left}`)
    const shaped = shapeResult(tool.returns, result.right)
    if (Either.isLeft(shaped)) return toolError(shaped.left)
    let value = shaped.right
    if (guarded !== undefined) {
      const allowed = yield* enforceOutput(guarded, ctx.user, value, tool.returns)
      if (Either.isLeft(allowed)) return toolError(allowed.left)
      value = allowed.right
    }
    const structured = structuredResult(tool.returns, value)
    if (Either.isLeft(structured)) return toolError(structured.left)
    return { content: [{ type: "text", text: resultText(tool.returns, value) }], structuredContent: structured.right } satisfies ToolResult
  })

  const readResource = fnNamed("McpEndpoints.readResource")(function* (uri: string, ctx: CallContext) {
    let found: { resource: ResourceDefinition; vars: Record<string, string> } | undefined
    const exact = staticResources.find((r) => r.uri === uri)
    if (exact !== undefined) found = { resource: exact, vars: {} }
    else {
      for (const r of templatedResources) {
        const vars = matchUri(r.uri, uri)
        if (vars !== null) {
          found = { resource: r, vars }
          break
        }
      }
    }
    if (found === undefined) {
      return yield* Effect.fail(new McpProtocolError({ code: JsonRpcCode.InvalidParams, message: `Resource not found: ${uri}`, data: { uri } }))
    }
    const { resource, vars } = found
    const validated = validateArguments(resource.parameters, coerceStrings(resource.parameters, vars))
    if (Either.isLeft(validated)) {
      return yield* Effect.fail(invalidParams(`Invalid resource URI ${uri}: ${validated.left}`))
    }
    const guarded = resource.policies === undefined
      ? undefined
      : { kind: "resource" as const, name: resource.uri, policies: resource.policies }
    if (guarded !== undefined) {
      const refused = yield* enforceInput(guarded, ctx.user, validated.right)
      if (refused !== undefined) return yield* Effect.fail(policyDenied(refused))
    }
    const result = yield* runSql(resource.sql, validated.right, {
      user: ctx.user,
      requestHeaders: ctx.requestHeaders,
      principal: principalOf(ctx.user),
      ...endpointOptions(resource.limits)
    })
    if (Either.isLeft(result)) {
      return yield* Effect.fail(
        new McpProtocolError({ code: JsonRpcCode.InternalError, message: `SQL error: ${result.left}` })
      )
    }
    const shaped = shapeResult(resource.returns, result.right)
    if (Either.isLeft(shaped)) {
      return yield* Effect.fail(new McpProtocolError({ code: JsonRpcCode.InternalError, message: shaped.left }))
    }
    let value = shaped.right
    if (guarded !== undefined) {
      const allowed = yield* enforceOutput(guarded, ctx.user, value, resource.returns)
      if (Either.isLeft(allowed)) return yield* Effect.fail(policyDenied(allowed.left))
      value = allowed.right
    }
    return { contents: [{ uri, mimeType: resource.mimeType, text: textOf(value) }] }
  })

  const getPrompt = fnNamed("McpEndpoints.getPrompt")(function* (
    name: string,
    args: Readonly<Record<string, string>> | undefined,
    ctx: CallContext
  ) {
    const prompt = promptsByName.get(name)
    if (prompt === undefined) return yield* Effect.fail(invalidParams(`Unknown prompt: ${name}`))
    const validated = validateArguments(prompt.parameters, coerceStrings(prompt.parameters, args ?? {}))
    if (Either.isLeft(validated)) {
      return yield* Effect.fail(invalidParams(`Invalid arguments for prompt ${name}: ${validated.left}`))
    }
    const guarded = prompt.policies === undefined ? undefined : { kind: "prompt" as const, name, policies: prompt.policies }
    if (guarded !== undefined) {
      const refused = yield* enforceInput(guarded, ctx.user, validated.right)
      if (refused !== undefined) return yield* Effect.fail(policyDenied(refused))
    }
    const compiled = templates.get(name) ?? []
    const messages: Array<PromptResult["messages"][number]> = []
    for (const [i, m] of prompt.messages.entries()) {
      const template = compiled[i]
      const text = typeof template === "object"
        ? yield* Effect.try({ try: () => template.render(validated.right), catch: (e) => (e instanceof Error ? e.message : String(e)) })
          .pipe(Effect.either)
        : Either.left(template ?? "no template")
      if (Either.isLeft(text)) {
        yield* Effect.logWarning("Prompt rendering failed").pipe(Effect.annotateLogs({ prompt: name, message: i }))
        return yield* Effect.fail(
          new McpProtocolError({
            code: JsonRpcCode.InternalError,
            message: `Prompt ${name}: message ${i} could not be rendered: ${text.left}`
          })
        )
      }
      messages.push({ role: m.role, content: { type: "text", text: text.right } })
    }
    if (guarded !== undefined) {
      // A prompt's output rules can only deny; they see the rendered messages as `response`.
      const allowed = yield* enforceOutput(
        guarded,
        ctx.user,
        messages.map((m) => ({ role: m.role, content: m.content.text })),
        undefined
      )
      if (Either.isLeft(allowed)) return yield* Effect.fail(policyDenied(allowed.left))
    }
    return { description: prompt.description, messages }
  })

  return McpEndpoints.of({ tools, resources, resourceTemplates, prompts, callTool, readResource, getPrompt })
})

/** McpEndpoints from the project's catalog, DuckDB session and config. */
export const McpEndpointsLive: Layer.Layer<McpEndpoints, never, EndpointCatalog | DuckDbSession | AppConfig> =
  Layer.effect(McpEndpoints, makeMcpEndpoints)
