/**
 * Security checklist K9: the Origin check and every other path-based rule see the same path as
 * the router. The router used to normalise case, duplicate and trailing slashes and %-escapes,
 * while the Origin check compared the literal `/mcp`: `/MCP` with a foreign Origin was served.
 * Now any spelling other than the canonical one is not found (404) before any rule or route.
 * Real HTTP on loopback (servers built in this process), requests through `node:http` so the
 * path goes out exactly as written.
 */
import { HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { canonicalPath } from "../../src/http/server/HttpApp.js"
import { AppConfigFromValues } from "../../src/layers/config/AppConfigLive.js"
import { HttpServerLive } from "../../src/compose/Server.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { initializeBody, MCP_HEADERS } from "../support/McpRaw.js"
import { login } from "../support/OAuthFlows.js"
import { copyExample } from "../support/Project.js"
import { type RawAnswer, rawRequest } from "../support/RawHttp.js"

const FOREIGN_ORIGIN = "https://attacker.example"

/** Spellings of `/mcp` that a lenient router would route to it. */
const MCP_SPELLINGS = ["/MCP", "//mcp", "/%6dcp", "/Mcp/", "/mcp/", "/%2Fmcp", "/mcp;x", "/./mcp", "/x/../mcp", "///mcp//"]

const plainServer = Effect.gen(function* () {
  const project = copyExample()
  yield* Effect.addFinalizer(() => Effect.sync(project.cleanup))
  const config = AppConfigFromValues({
    projectRoot: project.dir,
    site: { mxcp: 1, project: "quickstart", profiles: { default: { duckdb: { path: ":memory:", init_sql: "sql/setup.sql" } } } },
    user: { mxcp: 1, transport: { http: { host: "127.0.0.1", port: 0 } } },
    overrides: { env: {}, homeDir: project.dir }
  })
  const context = yield* Layer.build(HttpServerLive.pipe(Layer.provide(config)))
  const server = yield* Effect.provide(HttpServer.HttpServer, context)
  const address = server.address
  if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
  return `http://127.0.0.1:${address.port}`
})

const post = (url: string, path: string, headers: Record<string, string>) =>
  Effect.promise(() => rawRequest(url, { path, method: "POST", headers: { ...MCP_HEADERS, ...headers }, body: initializeBody("k9") }))

const expectNotFound = (res: RawAnswer, what: string) => {
  expect(res.status, `${what}: ${res.text}`).toBe(404)
  expect(res.json, what).toEqual({ error: "not_found", error_description: expect.any(String) })
  expect(res.headers["mcp-session-id"], what).toBeUndefined()
}

describe("K9 path spelling", () => {
  it("K9 canonicalPath accepts the routes as written and nothing that a lenient router would map onto them", () => {
    for (const path of ["/mcp", "/health", "/token", "/.well-known/oauth-protected-resource/mcp", "/github/callback"]) {
      expect(canonicalPath(path), path).toBe(path)
      expect(canonicalPath(`${path}?a=%2F&b=//c`), `${path} with a query`).toBe(path)
    }
    for (const url of [...MCP_SPELLINGS.filter((p) => p !== "/MCP"), "mcp", "http://host/mcp", "*", "/mcp#x", "/mcp\\", "/a/.."]) {
      expect(canonicalPath(url), url).toBeUndefined()
    }
  })

  it.scoped("K9 (auth on) /mcp spelled any other way with a foreign Origin and a valid token is not served", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const { access_token } = yield* Effect.promise(() => login(url))
      const bearer = { authorization: `Bearer ${access_token}` }
      for (const path of MCP_SPELLINGS) {
        expectNotFound(yield* post(url, path, { ...bearer, origin: FOREIGN_ORIGIN }), `POST ${path}, foreign Origin`)
        expectNotFound(yield* post(url, path, bearer), `POST ${path}, no Origin`)
      }
      // The canonical path: the Origin check refuses the foreign page, and serves the same request without it.
      const refused = yield* post(url, "/mcp", { ...bearer, origin: FOREIGN_ORIGIN })
      expect(refused.status).toBe(403)
      expect(refused.json).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 }, id: null })
      const served = yield* post(url, "/mcp", bearer)
      expect(served.status).toBe(200)
      expect(served.headers["mcp-session-id"]).toEqual(expect.any(String))
    }))

  it.scoped("K9 (auth none) /MCP, //mcp, /%6dcp, /Mcp/ with a foreign Origin cannot open a session", () =>
    Effect.gen(function* () {
      const url = yield* plainServer
      for (const path of MCP_SPELLINGS) {
        expectNotFound(yield* post(url, path, { origin: FOREIGN_ORIGIN }), `POST ${path}, foreign Origin`)
      }
      expect((yield* post(url, "/mcp", { origin: FOREIGN_ORIGIN })).status).toBe(403)
      expect((yield* post(url, "/mcp", {})).status).toBe(200)
    }))

  it.scoped("K9 the OAuth endpoints, metadata and /health answer only to their own spelling", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const get = (path: string, host?: string) =>
        Effect.promise(() => rawRequest(url, host === undefined ? { path } : { path, host }))
      const form = (path: string) =>
        Effect.promise(() =>
          rawRequest(url, {
            path,
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: "grant_type=refresh_token&refresh_token=x&client_id=config-client"
          })
        )
      for (const path of ["/TOKEN", "//token", "/token/", "/%74oken", "/Revoke", "/register/"]) {
        expectNotFound(yield* form(path), `POST ${path}`)
      }
      expect((yield* form("/token")).status).toBe(401)
      for (const path of ["/.well-known//oauth-authorization-server", "/.WELL-KNOWN/oauth-authorization-server", "/.well-known/oauth-protected-resource/mcp/", "/AUTHORIZE?response_type=code"]) {
        expectNotFound(yield* get(path), `GET ${path}`)
      }
      expect((yield* get("/.well-known/oauth-authorization-server")).status).toBe(200)
      // The Host-check exemption of /health holds for /health only: look-alikes are not found.
      expect((yield* get("/health", "attacker.example")).status).toBe(200)
      for (const path of ["/health/", "//health", "/%68ealth", "/./health"]) {
        expectNotFound(yield* get(path, "attacker.example"), `GET ${path}, foreign Host`)
      }
      // Spelled canonically but not /health: checked like any other path.
      expect((yield* get("/HEALTH", "attacker.example")).status).toBe(403)
      expect((yield* get("/HEALTH")).status).toBe(404)
    }))
})
