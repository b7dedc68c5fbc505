/**
 * The OAuth client side of the tests, as plain promises over real HTTP: log in (through the fake
 * GitHub), register a DCR client, redeem a code, refresh, revoke, and call /mcp with a bearer.
 * Effect tests wrap them in `Effect.promise`.
 */
import { createHash, randomBytes } from "node:crypto"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Browser, CONFIG_CLIENT } from "./OAuthHarness.js"
import { initializeBody } from "./McpRaw.js"

/** A client as the tests present it at /authorize and /token; no `secret` = a public client. */
export interface TestClient {
  readonly id: string
  readonly secret?: string | undefined
  readonly redirectUri: string
}

/** A fresh PKCE verifier (43 characters of base64url). */
export const newVerifier = (): string => randomBytes(32).toString("base64url")

/** The S256 challenge of `verifier`. */
export const challengeOf = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

export interface LoginOptions {
  /** Default: the harness's pre-registered confidential client (no consent page). */
  readonly client?: TestClient
  readonly scope?: string
  readonly resource?: string
  readonly verifier?: string
}

export interface LoginCode {
  readonly code: string
  readonly verifier: string
  readonly client: TestClient
}

/** Run /authorize through the fake GitHub (answering consent when shown); the code and its verifier. */
export const loginCode = async (url: string, options: LoginOptions = {}): Promise<LoginCode> => {
  const client = options.client ?? CONFIG_CLIENT
  const verifier = options.verifier ?? newVerifier()
  const params = new URLSearchParams({
    response_type: "code",
    client_id: client.id,
    redirect_uri: client.redirectUri,
    state: randomBytes(8).toString("hex"),
    code_challenge: challengeOf(verifier),
    code_challenge_method: "S256"
  })
  if (options.scope !== undefined) params.set("scope", options.scope)
  if (options.resource !== undefined) params.set("resource", options.resource)
  const back = await new Browser().follow(`${url}/authorize?${params}`, client.redirectUri)
  const code = back.searchParams.get("code")
  if (code === null) throw new Error(`no code in the redirect: ${back.toString()}`)
  return { code, verifier, client }
}

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly body: Record<string, unknown>
}

/** The JSON body of an OAuth endpoint's answer ({} when empty, {raw} when not JSON). */
const replyOf = async (res: Response): Promise<Reply> => {
  const text = await res.text()
  let body: Record<string, unknown> = {}
  if (text !== "") {
    try {
      body = JSON.parse(text) as Record<string, unknown>
    } catch {
      body = { raw: text }
    }
  }
  return { status: res.status, headers: res.headers, body }
}

/**
 * POST a form to /token (or /revoke), authenticating as `client`: HTTP Basic when it has a
 * secret, `client_id` in the body otherwise. `undefined` values are left out.
 */
export const postForm = async (
  url: string,
  path: "/token" | "/revoke",
  params: Readonly<Record<string, string | undefined>>,
  client: TestClient = CONFIG_CLIENT
): Promise<Reply> => {
  const form = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) form.set(k, v)
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" }
  if (client.secret !== undefined) {
    headers["authorization"] = `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`
  } else {
    form.set("client_id", client.id)
  }
  return replyOf(await fetch(`${url}${path}`, { method: "POST", headers, body: form.toString() }))
}

/** Redeem a code; `params` overrides or (with `undefined`) removes any form field. */
export const redeem = (
  url: string,
  login: { readonly code: string; readonly verifier: string; readonly client?: TestClient },
  options: { readonly client?: TestClient; readonly params?: Readonly<Record<string, string | undefined>> } = {}
): Promise<Reply> => {
  const client = options.client ?? login.client ?? CONFIG_CLIENT
  return postForm(
    url,
    "/token",
    {
      grant_type: "authorization_code",
      code: login.code,
      redirect_uri: (login.client ?? client).redirectUri,
      code_verifier: login.verifier,
      ...options.params
    },
    client
  )
}

/** The token response of a successful login + redemption. */
export interface Tokens {
  readonly access_token: string
  readonly refresh_token: string
  readonly token_type: string
  readonly expires_in: number
  readonly scope: string
}

/** Log in and redeem the code; fails the test unless the redemption succeeds. */
export const login = async (url: string, options: LoginOptions = {}): Promise<Tokens> => {
  const reply = await redeem(url, await loginCode(url, options))
  if (reply.status !== 200) throw new Error(`redemption failed: ${reply.status} ${JSON.stringify(reply.body)}`)
  return reply.body as unknown as Tokens
}

export const refresh = (
  url: string,
  refreshToken: string,
  options: { readonly client?: TestClient; readonly scope?: string } = {}
): Promise<Reply> =>
  postForm(url, "/token", { grant_type: "refresh_token", refresh_token: refreshToken, scope: options.scope }, options.client)

/** RFC 7009 revocation. */
export const revoke = (
  url: string,
  token: string,
  options: { readonly client?: TestClient; readonly hint?: "access_token" | "refresh_token" } = {}
): Promise<Reply> => postForm(url, "/revoke", { token, token_type_hint: options.hint }, options.client)

/** Register a client at /register (public, loopback redirect, both grant types unless overridden). */
export const registerClient = async (url: string, metadata: Readonly<Record<string, unknown>> = {}): Promise<TestClient> => {
  const redirectUri = "http://127.0.0.1:50123/cb"
  const res = await fetch(`${url}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "DCR Test Client",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...metadata
    })
  })
  const body = (await res.json()) as { client_id?: string; client_secret?: string; redirect_uris?: Array<string> }
  if (res.status !== 201 || body.client_id === undefined) {
    throw new Error(`registration failed: ${res.status} ${JSON.stringify(body)}`)
  }
  return { id: body.client_id, secret: body.client_secret, redirectUri: body.redirect_uris?.[0] ?? redirectUri }
}

/**
 * Open an MCP session at /mcp with `bearer` (an initialize POST) and close it again; the status
 * and `WWW-Authenticate` of the initialize answer.
 */
export const mcpStatus = async (url: string, bearer: string): Promise<{ status: number; wwwAuthenticate: string | null }> => {
  const headers = {
    authorization: `Bearer ${bearer}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream"
  }
  const res = await fetch(`${url}/mcp`, {
    method: "POST",
    headers,
    body: initializeBody("probe")
  })
  await res.text()
  const session = res.headers.get("mcp-session-id")
  if (session !== null) {
    await fetch(`${url}/mcp`, { method: "DELETE", headers: { ...headers, "mcp-session-id": session } }).then((r) => r.text())
  }
  return { status: res.status, wwwAuthenticate: res.headers.get("www-authenticate") }
}

/** A connected MCP SDK client that sends `bearer` on every request. Close it when done. */
export const mcpClient = async (url: string, bearer: string): Promise<Client> => {
  const client = new Client({ name: "oauth-flows", version: "1.0.0" })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${bearer}` } }
    })
  )
  return client
}

/** The `whoami` tool's answer. */
export const whoami = async (client: Client): Promise<Record<string, unknown>> => {
  const result = await client.callTool({ name: "whoami", arguments: {} })
  if (result.isError === true) throw new Error(`whoami failed: ${JSON.stringify(result.content)}`)
  return result.structuredContent as Record<string, unknown>
}
