/** Pieces of raw MCP requests over HTTP, for tests that speak to /mcp without the SDK client. */

/** The Accept value the Streamable HTTP spec requires on every POST /mcp. */
export const MCP_ACCEPT = "application/json, text/event-stream"

/** Headers of a JSON POST to /mcp. */
export const MCP_HEADERS: Readonly<Record<string, string>> = { "content-type": "application/json", accept: MCP_ACCEPT }

/** A JSON-RPC `initialize` request from a client named `clientName`. */
export const initializeMessage = (
  clientName: string,
  options: { readonly id?: number; readonly protocolVersion?: string } = {}
) => ({
  jsonrpc: "2.0",
  id: options.id ?? 1,
  method: "initialize",
  params: {
    protocolVersion: options.protocolVersion ?? "2025-06-18",
    capabilities: {},
    clientInfo: { name: clientName, version: "1.0.0" }
  }
})

/** The same, as a request body. */
export const initializeBody = (clientName: string, options: { readonly id?: number; readonly protocolVersion?: string } = {}): string =>
  JSON.stringify(initializeMessage(clientName, options))
