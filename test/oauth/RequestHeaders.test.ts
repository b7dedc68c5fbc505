/**
 * Issue 17 (MXCP compatibility): get_request_header(name) and get_request_headers_json() in SQL,
 * through the real HTTP server on loopback with the real MCP SDK client, an OAuth login against
 * the fake GitHub, and real DuckDB. The request's credentials never reach SQL.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { login } from "../support/OAuthFlows.js"
import { modernClient, modernTransport } from "../support/ModernClient.js"
import { callTool, sqlRows } from "./RowHelpers.js"

const FILES = {
  "tools/whoami_headers.yml": `mxcp: 1
tool:
  name: whoami_headers
  description: Test-only tool reading request headers.
  return:
    type: object
  source:
    code: |
      SELECT get_request_header('X-Tenant') AS tenant,
             get_request_header('x-tenant') AS tenant_lower,
             get_request_header('x-absent') AS absent,
             get_request_header('Authorization') AS authorization,
             get_request_header('cookie') AS cookie,
             get_request_header('Proxy-Authorization') AS proxy,
             get_request_headers_json() AS all_headers,
             get_username() AS username
`
}

const SECRET_COOKIE = "session=cookie-secret-123"
const SECRET_PROXY = "Basic cHJveHktc2VjcmV0"

const connect = (url: string, accessToken: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: {
          headers: {
            authorization: `Bearer ${accessToken}`,
            "X-Tenant": "acme",
            cookie: SECRET_COOKIE,
            "proxy-authorization": SECRET_PROXY
          }
        }
      })
      const client = new Client({ name: "headers-test", version: "1.0.0" })
      await client.connect(transport)
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )

describe("Request headers in SQL", () => {
  it.scoped("get_request_header(name): an endpoint reads the caller's header in any case; NULL when absent", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { files: FILES })
      const tokens = yield* Effect.promise(() => login(url))
      const client = yield* connect(url, tokens.access_token)
      const out = yield* Effect.promise(() => callTool(client, "whoami_headers"))
      expect(out.isError).toBe(false)
      const row = out.structured as Record<string, unknown>
      expect(row["tenant"]).toBe("acme")
      expect(row["tenant_lower"]).toBe("acme")
      expect(row["absent"]).toBeNull()
      expect(typeof row["username"]).toBe("string")
      expect(row["username"]).not.toBe("")
    }))

  it.scoped("get_request_headers_json(): a JSON object of lower-case names; Authorization, Cookie and Proxy-Authorization never exposed", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { files: FILES })
      const tokens = yield* Effect.promise(() => login(url))
      const client = yield* connect(url, tokens.access_token)
      const out = yield* Effect.promise(() => callTool(client, "whoami_headers"))
      const row = out.structured as Record<string, unknown>
      expect(row["authorization"]).toBeNull()
      expect(row["cookie"]).toBeNull()
      expect(row["proxy"]).toBeNull()
      const all = JSON.parse(String(row["all_headers"])) as Record<string, string>
      expect(all["x-tenant"]).toBe("acme")
      expect(all["host"]).toMatch(/^127\.0\.0\.1:\d+$/)
      for (const name of Object.keys(all)) expect(name).toBe(name.toLowerCase())
      expect(Object.keys(all)).not.toContain("authorization")
      expect(Object.keys(all)).not.toContain("cookie")
      expect(Object.keys(all)).not.toContain("proxy-authorization")
      // nothing of the credentials anywhere in the result
      const text = JSON.stringify(out)
      expect(text).not.toContain(tokens.access_token)
      expect(text).not.toContain("cookie-secret-123")
      expect(text).not.toContain("cHJveHktc2VjcmV0")
    }))

  it.scoped("execute_sql_query sees the same headers, the credentials withheld as well", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { files: FILES })
      const tokens = yield* Effect.promise(() => login(url))
      const client = yield* connect(url, tokens.access_token)
      const rows = yield* Effect.promise(() =>
        sqlRows(
          client,
          "SELECT get_request_header('x-tenant') AS t, get_request_header('authorization') AS a, get_request_headers_json() AS j"
        )
      )
      expect(rows[0]?.["t"]).toBe("acme")
      expect(rows[0]?.["a"]).toBeNull()
      const all = JSON.parse(String(rows[0]?.["j"])) as Record<string, string>
      expect(all["x-tenant"]).toBe("acme")
      expect(JSON.stringify(rows)).not.toContain(tokens.access_token)
      expect(JSON.stringify(rows)).not.toContain("cookie-secret-123")
    }))

  it.scoped("a 2026-07-28 client (SDK v2, stateless) gets the same: its header read, its credentials withheld", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, { files: FILES })
      const tokens = yield* Effect.promise(() => login(url))
      const client = modernClient("headers-2026")
      yield* Effect.acquireRelease(
        Effect.promise(() =>
          client.connect(modernTransport(new URL(`${url}/mcp`), {
            headers: { authorization: `Bearer ${tokens.access_token}`, "X-Tenant": "globex", cookie: SECRET_COOKIE }
          }))
        ),
        () => Effect.promise(() => client.close())
      )
      const result = yield* Effect.promise(() => client.callTool({ name: "whoami_headers", arguments: {} }))
      const row = result.structuredContent as Record<string, unknown>
      expect(row["tenant"]).toBe("globex")
      expect(row["authorization"]).toBeNull()
      expect(row["cookie"]).toBeNull()
      const all = JSON.parse(String(row["all_headers"])) as Record<string, string>
      expect(all["mcp-protocol-version"]).toBe("2026-07-28")
      expect(JSON.stringify(result)).not.toContain(tokens.access_token)
      expect(JSON.stringify(result)).not.toContain("cookie-secret-123")
    }))
})
