/**
 * Security checklist G54: at debug level, through every flow (DCR, consent, upstream login,
 * token, refresh, revoke, tool calls, failures), the server's log never carries a token, a code,
 * a secret, an upstream token or an `Authorization` value. Every secret any party created or sent
 * is collected as the flows run, then searched for in everything the server process wrote.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { challengeOf, newVerifier, type TestClient } from "../support/OAuthFlows.js"
import {
  type AuthServer,
  Browser,
  CONFIG_CLIENT,
  consentForm,
  startAuthServer,
  TestOAuthProvider
} from "../support/OAuthHarness.js"
import { callTool, mcpClient, sqlRows } from "./RowHelpers.js"

/** Everything secret seen during the flows, with where it came from. */
class Secrets {
  readonly all = new Map<string, string>()
  add(label: string, value: string | null | undefined): void {
    // Short values (e.g. "st") would match by accident; every real secret here is long.
    if (value === null || value === undefined || value.length < 8) return
    this.all.set(value, label)
  }
  addHeader(label: string, value: string | null | undefined): void {
    if (value === null || value === undefined) return
    this.add(label, value)
    // The credential part alone, too (a log could drop the scheme).
    const space = value.indexOf(" ")
    if (space > 0) this.add(`${label} credential`, value.slice(space + 1).trim())
  }
}

const CLIENT_STATE_PREFIX = "client-state-"

/** A browser that records every secret it carries: codes, states, CSRF tokens, cookies. */
class RecordingBrowser extends Browser {
  constructor(readonly secrets: Secrets) {
    super()
  }
  override async request(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url)
    this.secrets.add(`code in ${u.pathname}`, u.searchParams.get("code"))
    this.recordState(`state in ${u.pathname}`, u.searchParams.get("state"))
    this.secrets.addHeader("browser authorization", new Headers(init.headers).get("authorization"))
    const res = await super.request(url, init)
    for (const jar of this.cookies.values()) for (const [name, value] of jar) this.secrets.add(`cookie ${name}`, value)
    const location = res.headers.get("location")
    if (location !== null) {
      const next = new URL(location, url)
      this.secrets.add(`code in redirect to ${next.pathname}`, next.searchParams.get("code"))
      this.recordState(`state in redirect to ${next.pathname}`, next.searchParams.get("state"))
    }
    return res
  }
  /** The server-minted upstream `state` (a one-time secret); the clients' own states are not. */
  private recordState(label: string, state: string | null): void {
    if (state !== null && !state.startsWith(CLIENT_STATE_PREFIX)) this.secrets.add(label, state)
  }
  override async decide(pageUrl: string, html: string, decision: "approve" | "deny"): Promise<Response> {
    const form = consentForm(html)
    this.secrets.add("consent csrf", form.csrf)
    this.secrets.add("consent flow", form.flow)
    return super.decide(pageUrl, html, decision)
  }
}

/** The stderr lines of a `logging.format: json` server, each parsed (fails on any other line). */
const jsonLines = (log: string): Array<Record<string, unknown>> =>
  log.split("\n").filter((line) => line.trim() !== "").map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      throw new Error(`not a JSON log line: ${line}`)
    }
  })

for (const format of ["text", "json"] as const) describe(`G54 logs at debug level carry no secrets (server process, ${format} format)`, () => {
  let auth: AuthServer
  beforeAll(async () => {
    auth = await startAuthServer({
      args: ["--debug"],
      // --debug wins over the configured level.
      ...(format === "json" ? { userYaml: "logging:\n  level: error\n  format: json\n" } : {}),
      // Upstream tokens that expire within the refresh margin: every /mcp request refreshes them,
      // so upstream refresh tokens flow through the server too.
      fake: { expiringTokens: { expiresIn: 20 }, clientSecret: "upstream-app-secret-4f9a8b7c6d" },
      files: {
        "tools/my_token.yml": `mxcp: 1
tool:
  name: my_token
  description: Test-only tool.
  return: {type: object}
  source:
    code: SELECT get_user_external_token() AS t
`,
        "tools/token_as_int.yml": `mxcp: 1
tool:
  name: token_as_int
  description: Test-only tool whose SQL error would quote the token.
  return: {type: object}
  source:
    code: SELECT CAST(get_user_external_token() AS INTEGER) AS n
`
      }
    })
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("G54 DCR, consent, login, token, refresh, revoke, tool calls and failing logins leave no secret in the log", async () => {
    const secrets = new Secrets()
    const base = auth.url
    secrets.add("config client secret", CONFIG_CLIENT.secret)
    secrets.add("upstream app secret", auth.fake.clientSecret)

    const form = async (path: string, params: Record<string, string>, authorization?: string) => {
      secrets.addHeader(`${path} authorization`, authorization)
      for (const key of ["code", "code_verifier", "refresh_token", "token", "client_secret"]) secrets.add(`${path} ${key}`, params[key])
      const res = await fetch(`${base}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(authorization === undefined ? {} : { authorization })
        },
        body: new URLSearchParams(params).toString()
      })
      const text = await res.text()
      const body = (text === "" ? {} : JSON.parse(text)) as Record<string, string>
      secrets.add(`${path} access_token`, body["access_token"])
      secrets.add(`${path} refresh_token`, body["refresh_token"])
      return { status: res.status, body }
    }
    const basic = (client: TestClient) => `Basic ${Buffer.from(`${client.id}:${client.secret ?? ""}`).toString("base64")}`

    const authorizeFlow = async (client: TestClient, decision: "approve" | "deny" = "approve") => {
      const verifier = newVerifier()
      secrets.add("pkce verifier", verifier)
      const params = new URLSearchParams({
        response_type: "code",
        client_id: client.id,
        redirect_uri: client.redirectUri,
        state: `${CLIENT_STATE_PREFIX}${newVerifier()}`,
        code_challenge: challengeOf(verifier),
        code_challenge_method: "S256"
      })
      const back = await new RecordingBrowser(secrets).follow(`${base}/authorize?${params}`, client.redirectUri, decision)
      return { back, verifier }
    }

    const useTools = async (accessToken: string) => {
      secrets.addHeader("mcp authorization", `Bearer ${accessToken}`)
      const { client } = await mcpClient(base, accessToken)
      try {
        expect((await callTool(client, "whoami")).structured?.["provider"]).toBe("github")
        const t = (await callTool(client, "my_token")).structured?.["t"]
        expect(typeof t).toBe("string")
        secrets.add("upstream token seen by SQL", t as string)
        expect((await callTool(client, "token_as_int")).isError).toBe(true)
        expect(await sqlRows(client, "SELECT get_username() AS u")).toHaveLength(1)
        expect((await callTool(client, "execute_sql_query", { sql: "SELEC nonsense" })).isError).toBe(true)
      } finally {
        await client.close()
      }
    }

    // 1. A confidential DCR client: registration, consent, upstream login, code, token (Basic).
    const registered = await fetch(`${base}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "Confidential DCR",
        redirect_uris: ["http://127.0.0.1:50555/cb"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic"
      })
    })
    expect(registered.status).toBe(201)
    const reg = (await registered.json()) as { client_id: string; client_secret: string }
    secrets.add("dcr client secret", reg.client_secret)
    const confidential: TestClient = { id: reg.client_id, secret: reg.client_secret, redirectUri: "http://127.0.0.1:50555/cb" }
    const { back, verifier } = await authorizeFlow(confidential)
    const redeemed = await form(
      "/token",
      { grant_type: "authorization_code", code: back.searchParams.get("code")!, redirect_uri: confidential.redirectUri, code_verifier: verifier },
      basic(confidential)
    )
    expect(redeemed.status).toBe(200)
    await useTools(redeemed.body["access_token"]!)

    // 2. Refresh (rotation), tools with the new token, a retry of that refresh (within the reuse
    // grace: the same answer again), a rotation with the successor, then reuse of the old refresh
    // token (fails: its successor was used).
    const refreshed = await form("/token", { grant_type: "refresh_token", refresh_token: redeemed.body["refresh_token"]! }, basic(confidential))
    expect(refreshed.status).toBe(200)
    await useTools(refreshed.body["access_token"]!)
    const retried = await form("/token", { grant_type: "refresh_token", refresh_token: redeemed.body["refresh_token"]! }, basic(confidential))
    expect(retried.body["refresh_token"]).toBe(refreshed.body["refresh_token"])
    const rotatedAgain = await form("/token", { grant_type: "refresh_token", refresh_token: refreshed.body["refresh_token"]! }, basic(confidential))
    expect(rotatedAgain.status).toBe(200)
    const reused = await form("/token", { grant_type: "refresh_token", refresh_token: redeemed.body["refresh_token"]! }, basic(confidential))
    expect(reused.body["error"]).toBe("invalid_grant")

    // 3. The config client with client_secret_post; revoke its access and refresh tokens.
    const cfg = await authorizeFlow(CONFIG_CLIENT)
    const cfgTokens = await form("/token", {
      grant_type: "authorization_code",
      code: cfg.back.searchParams.get("code")!,
      redirect_uri: CONFIG_CLIENT.redirectUri,
      code_verifier: cfg.verifier,
      client_id: CONFIG_CLIENT.id,
      client_secret: CONFIG_CLIENT.secret
    })
    expect(cfgTokens.status).toBe(200)
    await useTools(cfgTokens.body["access_token"]!)
    const cfgBasic = basic(CONFIG_CLIENT)
    expect((await form("/revoke", { token: cfgTokens.body["access_token"]! }, cfgBasic)).status).toBe(200)
    expect((await form("/revoke", { token: cfgTokens.body["refresh_token"]! }, cfgBasic)).status).toBe(200)
    // The revoked token at /mcp: 401 (and its value still must not be logged).
    const revokedAtMcp = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${cfgTokens.body["access_token"]!}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: "{}"
    })
    expect(revokedAtMcp.status).toBe(401)

    // 4. The real MCP SDK client: discovery, public DCR, consent, login, token, tools.
    const provider = new TestOAuthProvider()
    const mcpUrl = new URL(`${base}/mcp`)
    await expect(
      new Client({ name: "g54", version: "1.0.0" }).connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))
    ).rejects.toThrow(UnauthorizedError)
    secrets.add("sdk pkce verifier", provider.verifier)
    const sdkBack = await new RecordingBrowser(secrets).follow(provider.authorizationUrl!.toString(), provider.redirect)
    await new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }).finishAuth(sdkBack.searchParams.get("code")!)
    secrets.add("sdk access token", provider.savedTokens?.access_token)
    secrets.add("sdk refresh token", provider.savedTokens?.refresh_token)
    await useTools(provider.savedTokens!.access_token)

    // 5. Failing logins and bad credentials.
    const wrongVerifier = await authorizeFlow(CONFIG_CLIENT)
    const badVerifier = `wrong-${newVerifier()}`
    const failedRedeem = await form(
      "/token",
      { grant_type: "authorization_code", code: wrongVerifier.back.searchParams.get("code")!, redirect_uri: CONFIG_CLIENT.redirectUri, code_verifier: badVerifier },
      cfgBasic
    )
    expect(failedRedeem.body["error"]).toBe("invalid_grant")
    const wrongSecret = await form(
      "/token",
      { grant_type: "authorization_code", code: "c".repeat(43), redirect_uri: CONFIG_CLIENT.redirectUri, code_verifier: newVerifier() },
      basic({ ...CONFIG_CLIENT, secret: "not-the-secret-but-still-secret-7f3e" })
    )
    expect(wrongSecret.status).toBe(401)
    const denied = await authorizeFlow(confidential, "deny")
    expect(denied.back.searchParams.get("error")).toBe("access_denied")
    auth.fake.fail("token", { kind: "status", status: 500 }, 1)
    const upstreamDown = await authorizeFlow(CONFIG_CLIENT).then(
      (r) => r.back.searchParams.get("error"),
      (e: unknown) => String(e)
    )
    expect(upstreamDown).not.toBeNull()
    auth.fake.clearFailures()
    const garbage = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: { authorization: "Bearer garbage-token-value-1234567890", "content-type": "application/json" },
      body: "{}"
    })
    expect(garbage.status).toBe(401)
    secrets.addHeader("garbage bearer", "Bearer garbage-token-value-1234567890")

    // 6. Everything the server sent to or got from upstream: codes, verifiers, tokens, headers.
    for (const t of auth.fake.issuedAccessTokens) secrets.add("upstream access token", t)
    for (const t of auth.fake.issuedRefreshTokens) secrets.add("upstream refresh token", t)
    for (const r of auth.fake.requests) {
      secrets.addHeader(`upstream ${r.path} authorization`, r.headers["authorization"])
      for (const key of ["code", "code_verifier", "refresh_token", "client_secret"]) {
        secrets.add(`upstream ${r.path} ${key}`, r.body[key] ?? r.query[key])
      }
    }
    expect(auth.fake.calls.tokenRefresh).toBeGreaterThan(0)

    // Let the last log lines arrive, then search everything the server wrote.
    await new Promise((r) => setTimeout(r, 300))
    const log = auth.server.stderr()
    // Debug logging really was on, and the flows really were logged.
    if (format === "text") {
      expect(log).toMatch(/level=DEBUG/)
      // The access log: the caller on authenticated /mcp requests, never a query string.
      const mcpLine = log.split("\n").find((l) => l.includes('message="POST /mcp 200"') && l.includes(" user=octocat")) ?? ""
      for (const field of [/ user_id=\S+/, / provider=github/, / name=\S+/, / email=\S+/]) expect(mcpLine).toMatch(field)
      expect(log).toMatch(/message="GET \/github\/callback 302" .*path=\/github\/callback /)
      expect(log).not.toMatch(/path=\S*\?/)
    } else {
      const lines = jsonLines(log)
      for (const line of lines) {
        expect(typeof line["timestamp"]).toBe("string")
        expect(typeof line["message"]).toBe("string")
      }
      expect(lines.some((l) => l["level"] === "debug")).toBe(true)
      expect(
        lines.some((l) =>
          l["message"] === "POST /mcp 200" && l["user"] === "octocat" && l["provider"] === "github" &&
          typeof l["user_id"] === "string" && typeof l["email"] === "string" && typeof l["name"] === "string"
        )
      ).toBe(true)
      expect(lines.some((l) => l["message"] === "GET /github/callback 302" && l["path"] === "/github/callback")).toBe(true)
      expect(lines.filter((l) => typeof l["path"] === "string" && (l["path"] as string).includes("?"))).toEqual([])
    }
    expect(secrets.all.size).toBeGreaterThan(40)
    // Clients closing their streams is normal: no error, no second response written.
    expect(log).not.toContain("Unhandled HTTP error")
    expect(log).not.toContain("Cannot write headers")
    const leaked = [...secrets.all].filter(([value]) => log.includes(value)).map(([, label]) => label)
    expect(leaked).toEqual([])
  })
})
