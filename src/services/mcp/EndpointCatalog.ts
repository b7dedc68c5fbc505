import { Context, Schema } from "effect"
import type { PromptDefinition, ResourceDefinition, ToolDefinition } from "../../domain/mcp/Endpoint.js"

/** One or more endpoint files are invalid; every problem is listed with its file. */
export class CatalogError extends Schema.TaggedError<CatalogError>()("CatalogError", {
  problems: Schema.Array(Schema.Struct({ file: Schema.String, message: Schema.String }))
}) {
  override get message(): string {
    return this.problems.map((p) => `${p.file}: ${p.message}`).join("\n")
  }
}

export declare namespace EndpointCatalog {
  export interface Shape {
    readonly tools: ReadonlyArray<ToolDefinition>
    readonly resources: ReadonlyArray<ResourceDefinition>
    readonly prompts: ReadonlyArray<PromptDefinition>
    /** Skipped or partly-supported files (python endpoints, unimplemented keys), one line each. */
    readonly warnings: ReadonlyArray<string>
  }
}

/** The tools, resources and prompts of the project, loaded and validated. */
export class EndpointCatalog extends Context.Tag("mxcp/EndpointCatalog")<EndpointCatalog, EndpointCatalog.Shape>() {}
