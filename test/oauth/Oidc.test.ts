/**
 * OpenID Connect logins end to end (issue 13): the in-process server with `provider: oidc`,
 * `google` and `keycloak` against a real OpenID Provider (`oidc-provider` on 127.0.0.1), the real
 * MCP SDK client discovering from the 401, registering, logging in through our authorization
 * server and the IdP, and calling tools; `claim_mappings` becoming capabilities that SQL reads
 * through `get_user_capabilities()`; upstream refresh when the IdP's access token expires; and an
 * ID token or an IdP that fails, as the client's browser sees it.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { fakeProviderBlock } from "../support/fakes/FakeProviders.js"
import { type OpenIdProviderOptions, type RunningOpenIdProvider, startOpenIdProvider } from "../support/fakes/OpenIdProvider.js"
import { inProcessServer, jumpingClock } from "../support/InProcess.js"
import { login, mcpClient, mcpStatus, whoami } from "../support/OAuthFlows.js"
import { Browser, CONFIG_CLIENT, TestOAuthProvider } from "../support/OAuthHarness.js"

type Kind = "oidc" | "google" | "keycloak"

const layoutOf = { oidc: "default", google: "google", keycloak: "keycloak" } as const

const run = <A>(f: () => Promise<A>) => Effect.promise(f)

const scopedIdP = (options: OpenIdProviderOptions) =>
  Effect.acquireRelease(run(() => startOpenIdProvider(options)), (idp) => run(() => idp.stop()))

const tool = (name: string, sql: string) => `mxcp: 1
tool:
  name: ${name}
  description: Test-only tool.
  return:
    type: object
  source:
    code: ${JSON.stringify(sql)}
`

const FILES = {
  "tools/my_capabilities.yml": tool(
    "my_capabilities",
    "SELECT get_user_capabilities() AS capabilities, typeof(get_user_capabilities()) AS type, get_user_provider() AS provider"
  ),
  // An endpoint that filters rows by the caller's capabilities.
  "tools/visible_reports.yml": tool(
    "visible_reports",
    `SELECT list_sort(list(name)) AS names FROM (VALUES ('public', NULL), ('finance', 'billing.read'), ('admin', 'admin.all')) AS r(name, needs)
     WHERE needs IS NULL OR list_contains(get_user_capabilities(), needs)`
  )
}

const MAPPINGS = {
  groups: { "finance-team": ["billing.read"], admins: ["admins"] },
  "https://example.com/roles": { viewer: ["reports.view"] },
  "realm_access.roles": { "report-viewer": ["reports.view", "realm.reports"] },
  scope: { email: ["scope.email"] }
}

const server = (kind: Kind, options: OpenIdProviderOptions = {}, block: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const idp = yield* scopedIdP({ layout: layoutOf[kind], ...options })
    const time = yield* jumpingClock
    const { url } = yield* inProcessServer(idp, {
      provider: kind,
      files: FILES,
      auth: {
        access_token_ttl: 86400,
        [kind]: { ...fakeProviderBlock(idp), scope: "openid profile email groups offline_access", ...block }
      }
    }).pipe(Effect.withClock(time.clock))
    return { idp, url, time }
  })

const withClient = <A>(url: string, token: string, f: (client: Client) => Promise<A>) =>
  run(async () => {
    const client = await mcpClient(url, token)
    try {
      return await f(client)
    } finally {
      await client.close()
    }
  })

const structured = async (client: Client, name: string) => {
  const result = await client.callTool({ name, arguments: {} })
  if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`)
  return result.structuredContent as Record<string, unknown>
}

/** /authorize for the config client through our server and the IdP: where the browser ends up. */
const authorizeThrough = (url: string, state: string) =>
  run(() => {
    const params = new URLSearchParams({
      response_type: "code",
      client_id: CONFIG_CLIENT.id,
      redirect_uri: CONFIG_CLIENT.redirectUri,
      state,
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256"
    })
    return new Browser().follow(`${url}/authorize?${params}`, CONFIG_CLIENT.redirectUri)
  })

const jwtClaims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>

const expected = (kind: Kind) => ({
  username: "alice",
  email: "alice@example.com",
  provider: kind,
  has_external_token: true
})

describe("OIDC logins end to end: MCP SDK client, our authorization server, a real OpenID Provider", () => {
  for (const kind of ["oidc", "google", "keycloak"] as const) {
    it.scoped(`${kind}: discovers from the 401, registers, logs in at the IdP, whoami names the ${kind} user`, () =>
      Effect.gen(function* () {
        const { idp, url } = yield* server(kind)
        const oauth = new TestOAuthProvider()
        const mcpUrl = new URL(`${url}/mcp`)
        const first = new Client({ name: "e2e", version: "1.0.0" })
        yield* run(() => expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth }))).rejects.toThrow(UnauthorizedError))
        expect(oauth.authorizationUrl?.toString()).toContain(`${url}/authorize`)

        const browser = new Browser()
        const back = yield* run(() => browser.follow(oauth.authorizationUrl!.toString(), oauth.redirect))
        expect(browser.visited.some((u) => u.startsWith(`${idp.issuer}`))).toBe(true)
        expect(browser.visited.some((u) => u.startsWith(`${url}/${kind}/callback?`))).toBe(true)
        const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth })
        yield* run(() => transport.finishAuth(back.searchParams.get("code")!))
        const client = new Client({ name: "e2e", version: "1.0.0" })
        yield* run(() => client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth })))
        expect(yield* run(() => whoami(client))).toEqual(expected(kind))
        yield* run(() => client.close())
        // The IdP's tokens never reach the MCP client.
        const saved = JSON.stringify(oauth.savedTokens)
        expect(saved).not.toContain("eyJ")
        expect(idp.calls.token).toBe(1)
        expect(idp.calls.userinfo).toBe(1)
      }))
  }

  it.scoped("oidc claim_mappings: capabilities from list, URI-style, nested and scope claims are a VARCHAR[] in SQL and filter rows", () =>
    Effect.gen(function* () {
      const { url } = yield* server("oidc", {}, { claim_mappings: MAPPINGS, provider_name: "okta" })
      const tokens = yield* run(() => login(url))
      yield* withClient(url, tokens.access_token, async (client) => {
        expect(await structured(client, "my_capabilities")).toEqual({
          capabilities: ["admins", "billing.read", "reports.view", "realm.reports", "scope.email"],
          type: "VARCHAR[]",
          provider: "okta"
        })
        expect(await structured(client, "visible_reports")).toEqual({ names: ["finance", "public"] })
      })
    }))

  it.scoped("keycloak claim_mappings on realm roles; without mappings get_user_capabilities() is an empty list", () =>
    Effect.gen(function* () {
      const mapped = yield* server("keycloak", {}, { claim_mappings: { "realm_access.roles": { "report-viewer": ["reports.view"] } } })
      const tokens = yield* run(() => login(mapped.url))
      yield* withClient(mapped.url, tokens.access_token, async (client) => {
        expect((await structured(client, "my_capabilities"))["capabilities"]).toEqual(["reports.view"])
      })
      const plain = yield* server("google")
      const plainTokens = yield* run(() => login(plain.url))
      yield* withClient(plain.url, plainTokens.access_token, async (client) => {
        expect(await structured(client, "my_capabilities")).toEqual({ capabilities: [], type: "VARCHAR[]", provider: "google" })
        expect(await structured(client, "visible_reports")).toEqual({ names: ["public"] })
      })
    }))

  it.scoped("oidc upstream refresh: the IdP's access token expires, the next call refreshes it once (its ID token checked) and goes on", () =>
    Effect.gen(function* () {
      const { idp, time, url } = yield* server("oidc", { accessTokenTtl: 120 })
      const tokens = yield* run(() => login(url))
      yield* withClient(url, tokens.access_token, async (client) => {
        expect(await whoami(client)).toEqual(expected("oidc"))
      })
      const before = idp.calls.token
      yield* time.jump("3 minutes")
      yield* withClient(url, tokens.access_token, async (client) => {
        const answers = await Promise.all(Array.from({ length: 5 }, () => whoami(client)))
        for (const answer of answers) expect(answer).toEqual(expected("oidc"))
      })
      expect(idp.calls.token).toBe(before + 1)
      const refreshPost = idp.requests.filter((r) => r.endpoint === "token").at(-1)
      expect(refreshPost?.basicAuth).toBe(true)

      // The user removes the app at the IdP: the next expiry ends the session (401, then no more upstream calls).
      idp.revokeAllGrants()
      yield* time.jump("3 minutes")
      const probe = yield* run(() => mcpStatus(url, tokens.access_token))
      expect(probe.status).toBe(401)
      expect(probe.wwwAuthenticate).toContain('error="invalid_token"')
      const calls = idp.calls.token
      expect((yield* run(() => mcpStatus(url, tokens.access_token))).status).toBe(401)
      expect(idp.calls.token).toBe(calls)
    }))

  it.scoped("oidc ID token for another audience: the client's browser gets a server_error redirect with its state, no code", () =>
    Effect.gen(function* () {
      const { idp, url } = yield* server("oidc")
      idp.rewriteToken(async (body) => ({
        ...body,
        id_token: await idp.sign({ ...jwtClaims(String(body["id_token"])), aud: "another-client" })
      }))
      const back = yield* authorizeThrough(url, "aud-state")
      expect(back.searchParams.get("error")).toBe("server_error")
      expect(back.searchParams.get("state")).toBe("aud-state")
      expect(back.searchParams.has("code")).toBe(false)
      expect(idp.calls.userinfo).toBe(0)
    }))

  it.scopedLive("oidc discovery URL unreachable: the server starts, /authorize redirects the client with temporarily_unavailable", () =>
    Effect.gen(function* () {
      const idp = yield* scopedIdP({})
      const { url } = yield* inProcessServer(idp, {
        provider: "oidc",
        auth: { oidc: { ...fakeProviderBlock(idp), config_url: "http://127.0.0.1:9/op/.well-known/openid-configuration", timeout: 1 } }
      })
      const back = yield* authorizeThrough(url, "down-state")
      expect(back.searchParams.get("error")).toBe("temporarily_unavailable")
      expect(back.searchParams.get("state")).toBe("down-state")
      expect(back.searchParams.has("code")).toBe(false)
      expect((yield* run(() => mcpStatus(url, "not-a-token"))).status).toBe(401)
    }))
})
