/**
 * The server behind a real nginx that terminates TLS (self-signed certificate made at test time),
 * configured with the documented `deploy/nginx/mxcp.conf` and `trust_proxy: true`: every URL the
 * server emits is the external https one, and the whole MCP SDK client OAuth flow and the
 * session's SSE stream work through the proxy.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type Server } from "node:http"
import { request as httpsRequest } from "node:https"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { freePort, nginxTemplate, type RunningNginx, startNginx } from "../support/Nginx.js"
import { type AuthServer, Browser, consentForm, startAuthServer, TestOAuthProvider } from "../support/OAuthHarness.js"
import { challengeOf, newVerifier } from "../support/OAuthFlows.js"
import { repoRoot } from "../support/Project.js"
import { initializeBody, MCP_ACCEPT } from "../support/McpRaw.js"

const CALLBACK_PATH = "/github/callback"

/** An upstream that writes one event, then waits for the test to have read it before the second. */
const startSseUpstream = async () => {
  let release: () => void = () => {}
  const firstRead = new Promise<void>((r) => (release = r))
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    res.write("data: one\n\n")
    const timer = setTimeout(release, 5_000)
    void firstRead.then(() => {
      clearTimeout(timer)
      res.end("data: two\n\n")
    })
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
  const address = server.address()
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    release: () => release(),
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      })
  }
}

/** A request to nginx on 127.0.0.1:`port` with the `Host` a browser at `host` would send (fetch cannot). */
const viaNginxAs = (
  nginx: RunningNginx,
  port: number,
  host: string,
  path: string,
  init: { readonly method?: string; readonly headers?: Readonly<Record<string, string>>; readonly body?: string } = {}
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> =>
  new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...init.headers, host }
    if (init.body !== undefined) headers["content-length"] = String(Buffer.byteLength(init.body))
    const options = { host: "127.0.0.1", port, path, method: init.method ?? "GET", headers }
    const onResponse = (res: IncomingMessage) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => (text += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
    }
    // The test certificate names localhost and 127.0.0.1; the Host header is the public name.
    const req = nginx.tls
      ? httpsRequest({ ...options, ca: nginx.ca, servername: "localhost" }, onResponse)
      : httpRequest(options, onResponse)
    req.on("error", reject)
    req.end(init.body)
  })

/** Read a response body until `pattern` shows up (or the stream ends, or `ms` pass). */
const readUntil = async (res: Response, pattern: RegExp, ms: number): Promise<{ text: string; ended: boolean }> => {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let text = ""
  const deadline = Date.now() + ms
  try {
    while (!pattern.test(text)) {
      const left = deadline - Date.now()
      if (left <= 0) return { text, ended: false }
      const chunk = await Promise.race([
        reader.read(),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), left))
      ])
      if (chunk === "timeout") return { text, ended: false }
      if (chunk.done) return { text, ended: true }
      text += decoder.decode(chunk.value, { stream: true })
    }
    return { text, ended: false }
  } finally {
    reader.releaseLock()
  }
}

describe("behind nginx (TLS termination, trust_proxy)", () => {
  let auth: AuthServer
  let nginx: RunningNginx
  let sse: Awaited<ReturnType<typeof startSseUpstream>>
  let external: string
  let publicNamePort: number
  const httpsFetch: typeof fetch = (input, init) => nginx.fetch(input, init)

  beforeAll(async () => {
    const publicPort = await freePort()
    external = `https://127.0.0.1:${publicPort}`
    sse = await startSseUpstream()
    auth = await startAuthServer({
      transportYaml: "  http:\n    trust_proxy: true",
      // GitHub only redirects to the registered callback URL: the external one.
      fake: {
        callbackUrl: `${external}${CALLBACK_PATH}`,
        user: { login: "proxied", id: 777, name: "Proxied User", email: "proxied@example.com" }
      }
    })
    publicNamePort = await freePort()
    nginx = await startNginx({
      sites: [
        { publicPort, upstreamPort: Number(new URL(auth.url).port) },
        { publicPort: await freePort(), upstreamPort: sse.port },
        // The same server under a public name (authentication.md's Option 2, nothing else set).
        { publicPort: publicNamePort, upstreamPort: Number(new URL(auth.url).port), serverName: "mcp.example.com" }
      ]
    })
    expect(nginx.origin(0)).toBe(external)
  })
  afterAll(async () => {
    await nginx?.stop()
    await auth?.stop()
    await sse?.stop()
  })

  it("H58 metadata issuer and endpoints, PRM resource and the 401 resource_metadata are the external https URL", async () => {
    const metadata = await httpsFetch(`${external}/.well-known/oauth-authorization-server`)
    expect(metadata.status).toBe(200)
    expect(await metadata.json()).toMatchObject({
      issuer: external,
      authorization_endpoint: `${external}/authorize`,
      token_endpoint: `${external}/token`,
      registration_endpoint: `${external}/register`,
      revocation_endpoint: `${external}/revoke`
    })
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const prm = await httpsFetch(`${external}${path}`)
      expect(await prm.json()).toMatchObject({ resource: `${external}/mcp`, authorization_servers: [external] })
    }
    const unauth = await httpsFetch(`${external}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: MCP_ACCEPT },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
    })
    expect(unauth.status).toBe(401)
    expect(unauth.headers.get("www-authenticate")).toContain(
      `resource_metadata="${external}/.well-known/oauth-protected-resource/mcp"`
    )
    // The requests really went through nginx.
    expect(nginx.accessLog()).toContain("GET /.well-known/oauth-authorization-server")
    // Direct to the server (no forwarded headers) it is still its own loopback URL.
    const direct = (await (await fetch(`${auth.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string }
    expect(direct.issuer).toBe(auth.url)
  })

  it("Option 2 behind a proxy on the same host: with only trust_proxy, Host = X-Forwarded-Host is accepted; the Origin check on /mcp still applies", async () => {
    // Without openssl the documented block still says X-Forwarded-Proto https (see Nginx.ts).
    const publicBase = `https://mcp.example.com:${publicNamePort}`
    const metadata = await viaNginxAs(nginx, publicNamePort, "mcp.example.com", "/.well-known/oauth-authorization-server")
    expect(metadata.status, metadata.text).toBe(200)
    expect(JSON.parse(metadata.text)).toMatchObject({ issuer: publicBase, token_endpoint: `${publicBase}/token` })
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
    const mcpHeaders = { "content-type": "application/json", accept: MCP_ACCEPT }
    // A browser page of the public origin passes the Origin check (and then needs a token)...
    const own = await viaNginxAs(nginx, publicNamePort, "mcp.example.com", "/mcp", {
      method: "POST",
      headers: { ...mcpHeaders, origin: publicBase },
      body: ping
    })
    expect(own.status, own.text).toBe(401)
    expect(own.headers["www-authenticate"]).toContain(`resource_metadata="${publicBase}/.well-known/oauth-protected-resource/mcp"`)
    // ...a foreign one does not.
    const foreign = await viaNginxAs(nginx, publicNamePort, "mcp.example.com", "/mcp", {
      method: "POST",
      headers: { ...mcpHeaders, origin: "https://evil.example" },
      body: ping
    })
    expect(foreign.status, foreign.text).toBe(403)
    expect(JSON.parse(foreign.text)).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } })
    // Straight to the server, the public name without the proxy's matching X-Forwarded-Host is refused.
    for (const headers of [{}, { "x-forwarded-host": "other.example" }]) {
      const direct = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { host: "127.0.0.1", port: Number(new URL(auth.url).port), path: "/.well-known/oauth-authorization-server", headers: { ...headers, host: "mcp.example.com" } },
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          }
        )
        req.on("error", reject)
        req.end()
      })
      expect(direct, JSON.stringify(headers)).toBe(403)
    }
  })

  it("consent page, __Host- Secure flow cookie, and the upstream redirect_uri = external BASE + callback_path", async () => {
    const registered = await httpsFetch(`${external}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "Proxy Test Client",
        redirect_uris: ["http://127.0.0.1:50124/cb"],
        token_endpoint_auth_method: "none"
      })
    })
    expect(registered.status).toBe(201)
    const { client_id } = (await registered.json()) as { client_id: string }
    const params = new URLSearchParams({
      response_type: "code",
      client_id,
      redirect_uri: "http://127.0.0.1:50124/cb",
      state: "proxy-state",
      code_challenge: challengeOf(newVerifier()),
      code_challenge_method: "S256"
    })
    const browser = new Browser(httpsFetch)
    const page = await browser.request(`${external}/authorize?${params}`)
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('action="/consent"')
    const cookie = page.headers.getSetCookie()[0] ?? ""
    expect(cookie.startsWith("__Host-")).toBe(true)
    expect(cookie.split(";").map((a) => a.trim().toLowerCase())).toEqual(expect.arrayContaining(["secure", "path=/"]))
    consentForm(html)
    const approved = await browser.decide(`${external}/authorize`, html, "approve")
    expect(approved.status).toBe(302)
    const upstream = new URL(approved.headers.get("location")!)
    expect(upstream.origin).toBe(auth.fake.baseUrl)
    expect(upstream.searchParams.get("redirect_uri")).toBe(`${external}${CALLBACK_PATH}`)
    // The startup log tells the operator what to register (the configured URL, headers aside).
    expect(auth.server.stderr()).toContain("as the provider's callback URL")
  })

  it("the MCP SDK client logs in through nginx: discovery, DCR, consent, fake GitHub, token, tools/call", async () => {
    const provider = new TestOAuthProvider()
    const mcpUrl = new URL(`${external}/mcp`)
    const transportOptions = { authProvider: provider, fetch: httpsFetch }
    const first = new Client({ name: "proxied", version: "1.0.0" })
    await expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, transportOptions))).rejects.toThrow(
      UnauthorizedError
    )
    expect(provider.info?.client_id).toBeTruthy()
    expect(provider.authorizationUrl?.toString()).toContain(`${external}/authorize`)

    const browser = new Browser(httpsFetch)
    const back = await browser.follow(provider.authorizationUrl!.toString(), provider.redirect)
    expect(back.searchParams.get("iss")).toBe(external)
    // The browser went consent → GitHub → the external callback, never to the server directly.
    expect(browser.visited.some((u) => u.startsWith(`${external}${CALLBACK_PATH}?`))).toBe(true)
    expect(browser.visited.some((u) => u.startsWith(auth.url))).toBe(false)

    const transport = new StreamableHTTPClientTransport(mcpUrl, transportOptions)
    await transport.finishAuth(back.searchParams.get("code")!)
    expect(provider.savedTokens?.access_token).toBeTruthy()
    const client = new Client({ name: "proxied", version: "1.0.0" })
    await client.connect(new StreamableHTTPClientTransport(mcpUrl, transportOptions))
    try {
      const who = await client.callTool({ name: "whoami", arguments: {} })
      expect(who.structuredContent).toMatchObject({ username: "proxied", email: "proxied@example.com", provider: "github" })
      const tools = await client.listTools()
      expect(tools.tools.map((t) => t.name)).toContain("whoami")
    } finally {
      await client.close()
    }
    expect(nginx.accessLog()).toMatch(/POST \/token/)
  })

  it("the session's SSE stream opens through nginx and stays open while requests flow", async () => {
    const provider = new TestOAuthProvider("http://127.0.0.1:49998/callback")
    const mcpUrl = `${external}/mcp`
    const transportOptions = { authProvider: provider, fetch: httpsFetch }
    await new Client({ name: "sse", version: "1.0.0" })
      .connect(new StreamableHTTPClientTransport(new URL(mcpUrl), transportOptions))
      .catch(() => undefined)
    const back = await new Browser(httpsFetch).follow(provider.authorizationUrl!.toString(), provider.redirect)
    await new StreamableHTTPClientTransport(new URL(mcpUrl), transportOptions).finishAuth(back.searchParams.get("code")!)
    const headers = {
      authorization: `Bearer ${provider.savedTokens!.access_token}`,
      "content-type": "application/json",
      accept: MCP_ACCEPT
    }
    const init = await httpsFetch(mcpUrl, {
      method: "POST",
      headers,
      body: initializeBody("sse")
    })
    expect(init.status).toBe(200)
    await init.text()
    const session = init.headers.get("mcp-session-id")!
    const sessionHeaders = { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" }
    await httpsFetch(mcpUrl, {
      method: "POST",
      headers: sessionHeaders,
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })
    }).then((r) => r.text())

    const abort = new AbortController()
    const stream = await httpsFetch(mcpUrl, {
      method: "GET",
      headers: { ...sessionHeaders, accept: "text/event-stream" },
      signal: abort.signal
    })
    try {
      expect(stream.status).toBe(200)
      expect(stream.headers.get("content-type")).toContain("text/event-stream")
      // A tools/call while the stream is open.
      const call = await httpsFetch(mcpUrl, {
        method: "POST",
        headers: sessionHeaders,
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "whoami", arguments: {} } })
      })
      expect(call.status).toBe(200)
      expect(await call.text()).toContain("proxied")
      // nginx neither closes nor times out the idle stream.
      const idle = await readUntil(stream, /never/, 1_500)
      expect(idle.ended).toBe(false)
    } finally {
      abort.abort()
    }
    const closed = await httpsFetch(mcpUrl, { method: "DELETE", headers: sessionHeaders })
    expect(closed.status).toBeLessThan(300)
  })

  it("server-sent events pass through the documented config as they are written", async () => {
    const res = await httpsFetch(`${nginx.origin(1)}/events`, { headers: { accept: "text/event-stream" } })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toContain("text/event-stream")
    // The upstream holds the second event until the first one has been read here.
    const first = await readUntil(res, /data: one/, 4_000)
    expect(first.text).toContain("data: one")
    expect(first.text).not.toContain("data: two")
    sse.release()
    const rest = await readUntil(res, /data: two/, 4_000)
    expect(rest.text).toContain("data: two")
  })
})

describe("the documented nginx config", () => {
  it("streams: HTTP/1.1 upstream, no buffering, long read timeout, forwarded headers", () => {
    const conf = nginxTemplate()
    expect(conf).toMatch(/proxy_http_version 1\.1;/)
    expect(conf).toMatch(/proxy_buffering off;/)
    expect(conf).toMatch(/proxy_read_timeout 1h;/)
    for (const header of ["X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-For"]) {
      expect(conf).toContain(`proxy_set_header ${header}`)
    }
  })

  it("the README's Deployment section carries deploy/nginx/mxcp.conf verbatim", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8")
    const deployment = readme.slice(readme.indexOf("## Deployment"), readme.indexOf("## Embedding"))
    expect(readme.indexOf("## Deployment")).toBeGreaterThan(readme.indexOf("## Authentication"))
    expect(deployment).toContain(`\`\`\`nginx\n${nginxTemplate().trimEnd()}\n\`\`\``)
  })
})
