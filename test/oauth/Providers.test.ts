/**
 * Atlassian and Salesforce logins end to end, each against its fake on loopback (GitHub's are in
 * EndToEnd.test.ts and Refresh.test.ts): the MCP SDK client flow to `whoami` and an upstream failure at
 * the code exchange against a server process; upstream token refresh (one refresh for ten concurrent
 * requests, rotation, `invalid_grant`) in process, where a jumping clock expires upstream tokens; and
 * configuration errors through the real CLI.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type Duration, Effect } from "effect"
import type { FakeProviderOptions, RunningFakeProvider } from "../support/fakes/FakeProviders.js"
import { scopedFakeProvider } from "../support/fakes/FakeProviders.js"
import { inProcessServer, jumpingClock } from "../support/InProcess.js"
import { login, mcpClient, mcpStatus, refresh, type Reply, whoami } from "../support/OAuthFlows.js"
import { type AuthServer, Browser, CONFIG_CLIENT, startAuthServer, TestOAuthProvider } from "../support/OAuthHarness.js"
import { copyExample } from "../support/Project.js"
import { runCli } from "../support/ServerProcess.js"

type Provider = "atlassian" | "salesforce"

interface ProviderCase<P extends Provider> {
  readonly provider: P
  readonly display: string
  /** The fake's default user, as `whoami` and the request log show it. */
  readonly user: { readonly username: string; readonly email: string; readonly id: string }
  /** Upstream profile lookups so far (Atlassian `GET /me`; Salesforce the identity URL). */
  readonly userLookups: (fake: RunningFakeProvider[P]) => number
  /** What the token endpoint's POST carries (Atlassian JSON, Salesforce a form). */
  readonly tokenContentType: string
  /** Fake options for the refresh tests, and how long its upstream access tokens then live. */
  readonly expiring: FakeProviderOptions[P]
  readonly lifetime: Duration.DurationInput
  /** Well within `lifetime`, minus the server's 30 s skew: no refresh yet. */
  readonly young: Duration.DurationInput
  /** A profile that needs the provider's fallback, and what `whoami` then says. */
  readonly fallback: {
    readonly label: string
    readonly options: FakeProviderOptions[P]
    readonly username: string
    readonly email: string
    readonly check: (fake: RunningFakeProvider[P]) => void
  }
}

const atlassian: ProviderCase<"atlassian"> = {
  provider: "atlassian",
  display: "Atlassian",
  user: { username: "ada", email: "ada.lovelace@example.com", id: "712020:1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d" },
  userLookups: (fake) => fake.calls.me,
  tokenContentType: "application/json",
  expiring: { expiresIn: 120 },
  lifetime: "2 minutes",
  young: "1 minute",
  fallback: {
    label: "no nickname: the username is the email's local part",
    options: { user: { nickname: null } },
    username: "ada.lovelace",
    email: "ada.lovelace@example.com",
    check: (fake) => expect(fake.calls.me).toBeGreaterThanOrEqual(1)
  }
}

const salesforce: ProviderCase<"salesforce"> = {
  provider: "salesforce",
  display: "Salesforce",
  user: { username: "astro@example.com.fake", email: "astro@example.com", id: "0055g00000Ab1cDAAR" },
  userLookups: (fake) => fake.calls.id,
  tokenContentType: "application/x-www-form-urlencoded",
  // Salesforce sends no expires_in: its tokens are taken to live 2 hours.
  expiring: {},
  lifetime: "2 hours",
  young: "1 hour",
  fallback: {
    label: "no id URL in the token answer: the user comes from userinfo",
    options: { omitIdUrl: true },
    username: "astro@example.com.fake",
    email: "astro@example.com",
    check: (fake) => {
      expect(fake.calls.id).toBe(0)
      expect(fake.calls.userinfo).toBeGreaterThanOrEqual(1)
    }
  }
}

const run = <A>(f: () => Promise<A>) => Effect.promise(f)

const status = (url: string, bearer: string) => run(() => mcpStatus(url, bearer)).pipe(Effect.map((p) => p.status))

const expectInvalidGrant = (reply: Reply) => {
  expect(reply.status).toBe(400)
  expect(reply.body).toEqual({ error: "invalid_grant", error_description: expect.any(String) })
}

const describeProvider = <P extends Provider>(c: ProviderCase<P>) => {
  describe(`${c.display}: server process, real MCP SDK client, fake ${c.display} upstream`, () => {
    let auth: AuthServer<P>
    beforeAll(async () => {
      auth = await startAuthServer<P>({ provider: c.provider })
    })
    afterAll(async () => {
      await auth?.stop()
    })

    it("discovers from the 401, registers, consents, logs in upstream and calls whoami", async () => {
      const oauth = new TestOAuthProvider()
      const mcpUrl = new URL(`${auth.url}/mcp`)
      const first = new Client({ name: "e2e", version: "1.0.0" })
      await expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth }))).rejects.toThrow(
        UnauthorizedError
      )
      expect(oauth.info?.client_id).toBeTruthy()
      expect(oauth.authorizationUrl?.toString()).toContain(`${auth.url}/authorize`)

      const browser = new Browser()
      const back = await browser.follow(oauth.authorizationUrl!.toString(), oauth.redirect)
      expect(back.searchParams.get("iss")).toBe(auth.url)
      const consentIndex = browser.visited.findIndex((u) => u.endsWith("/consent"))
      const upstreamIndex = browser.visited.findIndex((u) => u.startsWith(auth.fake.baseUrl))
      expect(consentIndex).toBeGreaterThan(-1)
      expect(upstreamIndex).toBeGreaterThan(consentIndex)
      // The upstream callback is BASE + the provider's default callback_path.
      expect(browser.visited.some((u) => u.startsWith(`${auth.url}/${c.provider}/callback?`))).toBe(true)

      const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth })
      await transport.finishAuth(back.searchParams.get("code")!)
      expect(oauth.savedTokens?.scope).toBe("mxcp:access")
      const client = new Client({ name: "e2e", version: "1.0.0" })
      await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: oauth }))
      const who = await client.callTool({ name: "whoami", arguments: {} })
      expect(who.structuredContent).toEqual({
        username: c.user.username,
        email: c.user.email,
        provider: c.provider,
        has_external_token: true
      })
      await client.close()

      // The provider's wire quirks were spoken: its token POST format, its user lookup.
      const tokenPost = auth.fake.requests.find((r) => r.method === "POST")
      expect(tokenPost?.headers["content-type"]).toContain(c.tokenContentType)
      expect(tokenPost?.body["grant_type"]).toBe("authorization_code")
      expect(c.userLookups(auth.fake)).toBeGreaterThanOrEqual(1)
      // The upstream token never reached the client, nor the log.
      const everything = JSON.stringify({ tokens: oauth.savedTokens, info: oauth.info, who })
      for (const upstream of auth.fake.issuedAccessTokens) {
        expect(everything).not.toContain(upstream)
        expect(auth.server.stderr()).not.toContain(upstream)
      }
      // The access-log line of an authenticated /mcp request names the caller (interface.md section 7).
      const logLine = auth.server.stderr().split("\n").find((l) => l.includes('message="POST /mcp 200"') && l.includes(" user=")) ?? ""
      expect(logLine).toContain(`user=${c.user.username}`)
      expect(logLine).toContain(`user_id=${c.user.id}`)
      expect(logLine).toContain(`provider=${c.provider}`)
      expect(logLine).toContain(`email=${c.user.email}`)
    })

    it("an upstream 500 at the code exchange sends the client an error redirect (temporarily_unavailable), no code", async () => {
      const exchanges = auth.fake.calls.tokenExchange
      const lookups = c.userLookups(auth.fake)
      auth.fake.fail("token", { kind: "status", status: 500 }, 1)
      const params = new URLSearchParams({
        response_type: "code",
        client_id: CONFIG_CLIENT.id,
        redirect_uri: CONFIG_CLIENT.redirectUri,
        state: "upstream-500",
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256"
      })
      const back = await new Browser().follow(`${auth.url}/authorize?${params}`, CONFIG_CLIENT.redirectUri)
      expect(back.searchParams.get("error")).toBe("temporarily_unavailable")
      expect(back.searchParams.get("state")).toBe("upstream-500")
      expect(back.searchParams.get("iss")).toBe(auth.url)
      expect(back.searchParams.has("code")).toBe(false)
      expect(auth.fake.calls.tokenExchange).toBe(exchanges + 1)
      expect(c.userLookups(auth.fake)).toBe(lookups)
    })
  })

  describe(`${c.display}: in process (upstream refresh, user fallbacks)`, () => {
    /** A server whose clock the test moves, with our access tokens outliving the upstream ones. */
    const setup = Effect.gen(function* () {
      const fake = yield* scopedFakeProvider(c.provider, c.expiring)
      const time = yield* jumpingClock
      const { url } = yield* inProcessServer(fake, { provider: c.provider, auth: { access_token_ttl: 86400 } }).pipe(
        Effect.withClock(time.clock)
      )
      return { fake, time, url }
    })

    it.scoped("ten concurrent calls on a session whose upstream token expired: one upstream refresh, the new refresh token kept", () =>
      Effect.gen(function* () {
        const { fake, time, url } = yield* setup
        const tokens = yield* run(() => login(url))
        const client = yield* Effect.acquireRelease(run(() => mcpClient(url, tokens.access_token)), (cl) => run(() => cl.close()))
        const expected = { username: c.user.username, email: c.user.email, provider: c.provider, has_external_token: true }
        expect(yield* run(() => whoami(client))).toEqual(expected)

        yield* time.jump(c.young)
        expect(yield* run(() => whoami(client))).toEqual(expected)
        expect(fake.calls.tokenRefresh).toBe(0)

        yield* time.jump(c.lifetime)
        const answers = yield* run(() => Promise.all(Array.from({ length: 10 }, () => whoami(client))))
        expect(answers).toHaveLength(10)
        for (const answer of answers) expect(answer).toEqual(expected)
        expect(fake.calls.tokenRefresh).toBe(1)

        // With every older upstream refresh token revoked, the next refresh still works: the server
        // stored the newest one (Atlassian rotates on every refresh; Salesforce keeps its one).
        for (const old of fake.issuedRefreshTokens.slice(0, -1)) fake.revokeRefreshToken(old)
        const newest = fake.issuedRefreshTokens.at(-1)
        yield* time.jump(c.lifetime)
        expect(yield* run(() => whoami(client))).toEqual(expected)
        expect(fake.calls.tokenRefresh).toBe(2)
        const refreshPosts = fake.requests.filter((r) => r.method === "POST" && r.body["grant_type"] === "refresh_token")
        expect(refreshPosts.at(-1)?.body["refresh_token"]).toBe(newest)
        expect(yield* status(url, tokens.access_token)).toBe(200)
        expect(fake.calls.tokenRefresh).toBe(2)
      }))

    it.scoped(`user fallback (${c.fallback.label}) reaches whoami`, () =>
      Effect.gen(function* () {
        const fake = yield* scopedFakeProvider(c.provider, c.fallback.options)
        const { url } = yield* inProcessServer(fake, { provider: c.provider })
        const tokens = yield* run(() => login(url))
        const client = yield* Effect.acquireRelease(run(() => mcpClient(url, tokens.access_token)), (cl) => run(() => cl.close()))
        expect(yield* run(() => whoami(client))).toEqual({
          username: c.fallback.username,
          email: c.fallback.email,
          provider: c.provider,
          has_external_token: true
        })
        c.fallback.check(fake)
      }))

    it.scoped("upstream invalid_grant on refresh ends the session: 401 at /mcp, our refresh token is invalid_grant", () =>
      Effect.gen(function* () {
        const { fake, time, url } = yield* setup
        const tokens = yield* run(() => login(url))
        expect(yield* status(url, tokens.access_token)).toBe(200)

        fake.revokeRefreshToken() // the user revoked the app upstream
        yield* time.jump(c.lifetime)
        const probe = yield* run(() => mcpStatus(url, tokens.access_token))
        expect(probe.status).toBe(401)
        expect(probe.wwwAuthenticate).toContain('error="invalid_token"')
        expect(fake.calls.tokenRefresh).toBe(1)
        expectInvalidGrant(yield* run(() => refresh(url, tokens.refresh_token)))
        // Ended for good: no further upstream attempts.
        expect(yield* status(url, tokens.access_token)).toBe(401)
        expect(fake.calls.tokenRefresh).toBe(1)
      }))
  })
}

describeProvider(atlassian)
describeProvider(salesforce)

describe("provider configuration errors through the CLI (serve --config)", () => {
  const serveWith = async (authYaml: string) => {
    const project = copyExample()
    try {
      const config = join(project.dir, "user-config.yml")
      writeFileSync(
        config,
        `mxcp: 1\nprojects:\n  quickstart:\n    profiles:\n      default:\n        auth:\n${authYaml
          .split("\n")
          .map((line) => `          ${line}`)
          .join("\n")}\n`
      )
      const result = await runCli(project.dir, ["serve", "--config", config, "--port", "0"])
      return { ...result, config, lines: result.stderr.trim().split("\n") }
    } finally {
      project.cleanup()
    }
  }

  for (const [provider, display] of [
    ["github", "GitHub"],
    ["atlassian", "Atlassian"],
    ["salesforce", "Salesforce"]
  ] as const) {
    it(`${provider}: a block without client_secret fails startup with one line naming the key`, async () => {
      const r = await serveWith(`provider: ${provider}\n${provider}:\n  client_id: some-client`)
      expect(r.code).toBe(1)
      expect(r.lines).toHaveLength(1)
      expect(r.lines[0]).toContain(`${display} OAuth configuration is incomplete`)
      expect(r.lines[0]).toContain(`auth.${provider}.client_secret`)
      expect(r.lines[0]).toContain(r.config)
    })
  }

  it("salesforce: provider without a salesforce: block is the same error, naming both keys", async () => {
    const r = await serveWith("provider: salesforce")
    expect(r.code).toBe(1)
    expect(r.lines).toHaveLength(1)
    expect(r.lines[0]).toContain("Salesforce OAuth configuration is incomplete")
    expect(r.lines[0]).toContain("auth.salesforce")
    expect(r.lines[0]).toContain("client_id and client_secret")
  })

  it("atlassian: an unset ${VAR} for client_secret fails startup with one line naming the variable and key", async () => {
    const r = await serveWith('provider: atlassian\natlassian:\n  client_id: some-client\n  client_secret: "${MXCP_TEST_UNSET_SECRET}"')
    expect(r.code).toBe(1)
    expect(r.lines).toHaveLength(1)
    expect(r.lines[0]).toContain("Environment variable MXCP_TEST_UNSET_SECRET is not set")
    expect(r.lines[0]).toContain("atlassian.client_secret")
  })
})
