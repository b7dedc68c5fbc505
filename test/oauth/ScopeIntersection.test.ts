/**
 * interface.md section 4: a token's scopes = requested scopes ∩ the client's allowed scopes. What
 * is asked beyond the allowed set is left out (never granted); only an empty intersection is
 * `invalid_scope`. The same rule for pre-registered clients, DCR clients and refresh requests;
 * a token lacking a required scope then gets 403 `insufficient_scope` at /mcp.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { login, loginCode, mcpStatus, refresh, registerClient, type Tokens } from "../support/OAuthFlows.js"

const run = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("Scope intersection (interface.md section 4)", () => {
  it.scoped("Scope intersection: a pre-registered client allowed only mxcp:access asking for more gets mxcp:access, then 403 insufficient_scope", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const tokens = yield* run(() => login(url, { scope: "mxcp:access mxcp:admin" }))
      expect(tokens.scope).toBe("mxcp:access")
      expect((yield* run(() => mcpStatus(url, tokens.access_token))).status).toBe(200)
      const refreshed = yield* run(() => refresh(url, tokens.refresh_token, { scope: "mxcp:admin mxcp:access" }))
      expect(refreshed.status).toBe(200)
      expect((refreshed.body as unknown as Tokens).scope).toBe("mxcp:access")
      // Nothing of what is asked is allowed: invalid_scope, redirected to the client.
      const refused = yield* run(() => loginCode(url, { scope: "mxcp:admin" }).then(() => "code", (e: Error) => e.message))
      expect(refused).toContain("error=invalid_scope")
    }))

  it.scoped("Scope intersection: with a required scope the client may not have, the intersected token is issued and /mcp answers 403", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, {
        auth: { authorization: { required_scopes: ["mxcp:access", "mxcp:admin"] } }
      })
      const tokens = yield* run(() => login(url, { scope: "mxcp:access mxcp:admin" }))
      expect(tokens.scope).toBe("mxcp:access")
      const probe = yield* run(() => mcpStatus(url, tokens.access_token))
      expect(probe.status).toBe(403)
      expect(probe.wwwAuthenticate).toContain('error="insufficient_scope"')
    }))

  it.scoped("Scope intersection: a DCR client (registered scope mxcp:access) and its refresh get the intersection", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake, {
        auth: { authorization: { required_scopes: ["mxcp:access"] } },
        extraClients: [{ client_id: "admin-client", name: "Admin", scopes: ["mxcp:access", "mxcp:admin"] }]
      })
      const client = yield* run(() => registerClient(url, { scope: "mxcp:access" }))
      const tokens = yield* run(() => login(url, { client, scope: "mxcp:admin mxcp:access" }))
      expect(tokens.scope).toBe("mxcp:access")
      expect((yield* run(() => mcpStatus(url, tokens.access_token))).status).toBe(200)
      const refreshed = yield* run(() => refresh(url, tokens.refresh_token, { client, scope: "mxcp:access mxcp:admin" }))
      expect(refreshed.status).toBe(200)
      expect((refreshed.body as unknown as Tokens).scope).toBe("mxcp:access")
      const none = yield* run(() => refresh(url, (refreshed.body as unknown as Tokens).refresh_token, { client, scope: "mxcp:admin" }))
      expect(none.status).toBe(400)
      expect(none.body["error"]).toBe("invalid_scope")
    }))
})
