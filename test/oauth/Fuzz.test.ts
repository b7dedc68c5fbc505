import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { CONFIG_CLIENT } from "../support/OAuthHarness.js"

/**
 * Property: random malformed parameters and bodies sent to every OAuth endpoint never produce a
 * 5xx, and every error from a JSON endpoint is RFC 6749 JSON `{error, error_description}`.
 */

const PARAM_NAMES = [
  "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
  "resource", "grant_type", "code", "code_verifier", "refresh_token", "client_secret", "token", "token_type_hint",
  "flow", "csrf", "decision", "error", "x"
] as const

const nastyString = FastCheck.oneof(
  FastCheck.string({ maxLength: 40 }),
  FastCheck.constantFrom(
    "", " ", "%", "%zz", "\u0000", "\u202e", "javascript:alert(1)", "http://127.0.0.1:1/cb", CONFIG_CLIENT.id,
    CONFIG_CLIENT.redirectUri, "S256", "plain", "code", "authorization_code", "refresh_token", "approve",
    "a".repeat(3000), "<script>alert(1)</script>", "../../etc/passwd", "{\"a\":1}"
  )
)

const paramsArb = FastCheck.array(FastCheck.tuple(FastCheck.constantFrom(...PARAM_NAMES), nastyString), { maxLength: 8 })

const bodyArb = FastCheck.oneof(
  paramsArb.map((ps) => new URLSearchParams(ps).toString()),
  FastCheck.string({ maxLength: 200 }),
  FastCheck.json({ maxDepth: 3 }),
  FastCheck.constantFrom("", "{", "null", "[]", "\u0000\u0001", "%%%")
)

const contentTypeArb = FastCheck.constantFrom(
  "application/x-www-form-urlencoded",
  "application/json",
  "text/plain",
  "multipart/form-data; boundary=x",
  ""
)

const authorizationArb = FastCheck.option(
  FastCheck.oneof(
    FastCheck.constantFrom("Basic", "Basic !!!", "Basic Og==", "Bearer", "Bearer x y", "Digest abc"),
    FastCheck.string({ maxLength: 60 }).map((s) => `Basic ${Buffer.from(s).toString("base64")}`)
  ),
  { nil: undefined }
)

const JSON_ENDPOINTS = ["/token", "/revoke", "/register"] as const
const ALL_POST = ["/token", "/revoke", "/register", "/authorize", "/consent"] as const
const GET_ENDPOINTS = ["/authorize", "/github/callback", "/.well-known/oauth-authorization-server", "/mcp"] as const

describe("malformed input to every OAuth endpoint", () => {
  it.scoped("never yields a 5xx, and JSON endpoints always answer RFC 6749 JSON errors", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const post = FastCheck.asyncProperty(
        FastCheck.constantFrom(...ALL_POST),
        bodyArb,
        contentTypeArb,
        authorizationArb,
        async (path, body, contentType, authorization) => {
          const headers: Record<string, string> = {}
          if (contentType !== "") headers["content-type"] = contentType
          if (authorization !== undefined) headers["authorization"] = authorization
          const res = await fetch(`${url}${path}`, { method: "POST", headers, body, redirect: "manual" })
          const text = await res.text()
          expect(res.status, `${path} ${body}`).toBeLessThan(500)
          if ((JSON_ENDPOINTS as ReadonlyArray<string>).includes(path) && res.status >= 400) {
            const json = JSON.parse(text) as Record<string, unknown>
            expect(typeof json["error"]).toBe("string")
            expect(typeof json["error_description"]).toBe("string")
            expect(Object.keys(json).filter((k) => k !== "error" && k !== "error_description")).toEqual([])
          }
          expect(text).not.toMatch(/\n\s+at .*\.(js|ts):\d+/)
        }
      )
      const get = FastCheck.asyncProperty(FastCheck.constantFrom(...GET_ENDPOINTS), paramsArb, async (path, params) => {
        const query = new URLSearchParams(params).toString()
        const res = await fetch(`${url}${path}?${query}`, { redirect: "manual", headers: { accept: "application/json" } })
        const text = await res.text()
        expect(res.status, `${path}?${query}`).toBeLessThan(500)
        if (res.status === 400 && path !== "/mcp") {
          const json = JSON.parse(text) as Record<string, unknown>
          expect(typeof json["error"]).toBe("string")
        }
        if (res.status === 302) {
          // A redirect only ever goes to a registered redirect URI (here the config client's).
          expect(res.headers.get("location")!.startsWith(CONFIG_CLIENT.redirectUri.replace(/:\d+/, ":")) ||
            res.headers.get("location")!.startsWith("http://127.0.0.1:")).toBe(true)
        }
      })
      yield* Effect.promise(() => FastCheck.assert(post, { numRuns: 150 }))
      yield* Effect.promise(() => FastCheck.assert(get, { numRuns: 150 }))
    }), 120_000)
})
