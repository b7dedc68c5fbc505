/**
 * Checklist K8: a refresh retried after its answer was lost (a crash, a cut connection, parallel
 * requests of one client) must not log the user out. Within `auth.refresh_reuse_grace` (default
 * 30 s), the rotation's own client presenting the rotated token again, while the successor has not
 * been used, gets that rotation's answer again: the same access token and the same successor
 * refresh token. Any other presentation of a rotated token still revokes the whole grant (E37).
 * In-process server on loopback (TestClock moves time); under the `oauth-sqlite` project the same
 * tests run against the SQLite store.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { decodeAuthConfig } from "../../src/layers/config/AppConfigLive.js"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer, type InProcessOptions } from "../support/InProcess.js"
import {
  login,
  mcpClient,
  mcpStatus,
  refresh,
  registerClient,
  type Reply,
  revoke,
  type Tokens,
  whoami
} from "../support/OAuthFlows.js"
import { SCOPED_CLIENT, scopedClientConfig } from "../support/OAuthHarness.js"

const run = <A>(f: () => Promise<A>) => Effect.promise(f)

const server = (options: InProcessOptions = {}) =>
  Effect.flatMap(scopedFakeGitHub(), (fake) => inProcessServer(fake, options))

const expectInvalidGrant = (reply: Reply) => {
  expect(reply.status).toBe(400)
  expect(reply.body).toEqual({ error: "invalid_grant", error_description: expect.any(String) })
  expect(reply.headers.get("cache-control")).toBe("no-store")
}

const tokensOf = (reply: Reply): Tokens => {
  expect(reply.status, JSON.stringify(reply.body)).toBe(200)
  expect(reply.headers.get("cache-control")).toBe("no-store")
  return reply.body as unknown as Tokens
}

const status = (url: string, bearer: string) => run(() => mcpStatus(url, bearer)).pipe(Effect.map((p) => p.status))

/** Every token works at /mcp (the real MCP SDK client for the last one). */
const expectAllWork = (url: string, accessTokens: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const token of accessTokens) expect(yield* status(url, token), token.slice(0, 6)).toBe(200)
    const last = accessTokens[accessTokens.length - 1]
    if (last === undefined) return
    const client = yield* Effect.acquireRelease(run(() => mcpClient(url, last)), (c) => run(() => c.close()))
    expect(yield* run(() => whoami(client))).toMatchObject({ username: "octocat" })
  })

describe("K8 refresh reuse grace, in process", () => {
  it.scoped("K8 a retry of the just-rotated refresh token within the grace gets the same answer, and the grant stays alive", () =>
    Effect.gen(function* () {
      const { url } = yield* server()
      const first = yield* run(() => login(url))
      // The rotation commits, but its answer never reaches the client.
      const lost = tokensOf(yield* run(() => refresh(url, first.refresh_token)))
      yield* TestClock.adjust("29 seconds")
      const retry = tokensOf(yield* run(() => refresh(url, first.refresh_token)))
      expect(retry.refresh_token).toBe(lost.refresh_token)
      expect(retry.access_token).toBe(lost.access_token)
      expect(retry.scope).toBe(lost.scope)
      expect(retry.token_type).toBe("Bearer")
      // What is left of that access token's hour.
      expect(retry.expires_in).toBe(3600 - 29)
      // Nothing was revoked: every access token the client ever held works, and the chain goes on.
      yield* expectAllWork(url, [first.access_token, retry.access_token])
      const next = tokensOf(yield* run(() => refresh(url, retry.refresh_token)))
      expect(next.refresh_token).not.toBe(retry.refresh_token)
      yield* expectAllWork(url, [first.access_token, retry.access_token, next.access_token])
      // Past the grace the chain still works from its newest token.
      yield* TestClock.adjust("5 minutes")
      const later = tokensOf(yield* run(() => refresh(url, next.refresh_token)))
      yield* expectAllWork(url, [first.access_token, next.access_token, later.access_token])
    }))

  it.scoped("K8 ten parallel refreshes of one token: all 200 with the same tokens, which keep working", () =>
    Effect.gen(function* () {
      const { url } = yield* server()
      const first = yield* run(() => login(url))
      const replies = yield* run(() => Promise.all(Array.from({ length: 10 }, () => refresh(url, first.refresh_token))))
      const answers = replies.map(tokensOf)
      expect(new Set(answers.map((a) => a.refresh_token)).size).toBe(1)
      expect(new Set(answers.map((a) => a.access_token)).size).toBe(1)
      const answer = answers[0]!
      expect(answer.refresh_token).not.toBe(first.refresh_token)
      yield* expectAllWork(url, [first.access_token, answer.access_token])
      // Whichever answer the client kept, its refresh token rotates, also long after the grace.
      yield* TestClock.adjust("10 minutes")
      const next = tokensOf(yield* run(() => refresh(url, answer.refresh_token)))
      yield* expectAllWork(url, [first.access_token, answer.access_token, next.access_token])
    }))

  it.scoped("K8 a reuse after the grace still revokes the whole grant", () =>
    Effect.gen(function* () {
      const { url } = yield* server()
      const first = yield* run(() => login(url))
      const second = tokensOf(yield* run(() => refresh(url, first.refresh_token)))
      yield* TestClock.adjust("30 seconds")
      expectInvalidGrant(yield* run(() => refresh(url, first.refresh_token)))
      expect(yield* status(url, second.access_token)).toBe(401)
      expect(yield* status(url, first.access_token)).toBe(401)
      expectInvalidGrant(yield* run(() => refresh(url, second.refresh_token)))
    }))

  it.scoped("K8 a configured grace is honoured; refresh_reuse_grace: 0 turns it off (the first retry revokes the grant)", () =>
    Effect.gen(function* () {
      const longer = yield* server({ auth: { refresh_reuse_grace: 120 } })
      const a = yield* run(() => login(longer.url))
      const a2 = tokensOf(yield* run(() => refresh(longer.url, a.refresh_token)))
      yield* TestClock.adjust("119 seconds")
      expect(tokensOf(yield* run(() => refresh(longer.url, a.refresh_token))).refresh_token).toBe(a2.refresh_token)
      yield* TestClock.adjust("1 second")
      expectInvalidGrant(yield* run(() => refresh(longer.url, a.refresh_token)))
      expect(yield* status(longer.url, a2.access_token)).toBe(401)

      const off = yield* server({ auth: { refresh_reuse_grace: 0 } })
      const b = yield* run(() => login(off.url))
      const b2 = tokensOf(yield* run(() => refresh(off.url, b.refresh_token)))
      expectInvalidGrant(yield* run(() => refresh(off.url, b.refresh_token)))
      expect(yield* status(off.url, b2.access_token)).toBe(401)
      expectInvalidGrant(yield* run(() => refresh(off.url, b2.refresh_token)))
    }))

  it.scoped("K8 E38 another client presenting the just-rotated token within the grace is refused (a rotated token in other hands has leaked: the grant ends)", () =>
    Effect.gen(function* () {
      const { url } = yield* server()
      const first = yield* run(() => login(url))
      const second = tokensOf(yield* run(() => refresh(url, first.refresh_token)))
      const other = yield* run(() => registerClient(url))
      const stolen = yield* run(() => refresh(url, first.refresh_token, { client: other }))
      expectInvalidGrant(stolen)
      expect(JSON.stringify(stolen.body)).not.toContain(second.refresh_token)
      expect(yield* status(url, second.access_token)).toBe(401)
      expectInvalidGrant(yield* run(() => refresh(url, first.refresh_token)))
    }))

  it.scoped("K8 a retry asking for wider scopes is cut to the first answer's scopes and changes nothing; a retry after its access token was revoked gets a new one", () =>
    Effect.gen(function* () {
      const { url } = yield* server({ extraClients: [scopedClientConfig] })
      const full = yield* run(() => login(url, { client: SCOPED_CLIENT }))
      const narrow = tokensOf(yield* run(() => refresh(url, full.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:access" })))
      expect(narrow.scope).toBe("mxcp:access")
      const wider = yield* run(() =>
        refresh(url, full.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:access mxcp:admin" })
      )
      // Scope intersection (interface.md section 4): asking for more is not an error, and a retry
      // never widens: it is the first answer again, no second grant.
      expect(wider.status).toBe(200)
      expect(tokensOf(wider)).toMatchObject({ access_token: narrow.access_token, refresh_token: narrow.refresh_token, scope: "mxcp:access" })
      const same = tokensOf(yield* run(() => refresh(url, full.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:access" })))
      expect(same).toMatchObject({ access_token: narrow.access_token, refresh_token: narrow.refresh_token, scope: "mxcp:access" })

      // The client revoked the access token of the lost answer: its retry gets a new one, same grant.
      expect((yield* run(() => revoke(url, narrow.access_token, { client: SCOPED_CLIENT }))).status).toBe(200)
      const renewed = tokensOf(yield* run(() => refresh(url, full.refresh_token, { client: SCOPED_CLIENT, scope: "mxcp:access" })))
      expect(renewed.access_token).not.toBe(narrow.access_token)
      expect(renewed.refresh_token).toBe(narrow.refresh_token)
      expect(renewed.scope).toBe("mxcp:access")
      expect(yield* status(url, narrow.access_token)).toBe(401)
      yield* expectAllWork(url, [full.access_token, renewed.access_token])
      tokensOf(yield* run(() => refresh(url, renewed.refresh_token, { client: SCOPED_CLIENT })))
    }))
})

describe("K8 auth.refresh_reuse_grace config", () => {
  it.effect("K8 defaults to 30 seconds; 0 (off) to 300 accepted, numeric strings from ${VAR} too", () =>
    Effect.gen(function* () {
      expect((yield* decodeAuthConfig({})).refresh_reuse_grace).toBe(30)
      expect((yield* decodeAuthConfig({ refresh_reuse_grace: 0 })).refresh_reuse_grace).toBe(0)
      expect((yield* decodeAuthConfig({ refresh_reuse_grace: "300" })).refresh_reuse_grace).toBe(300)
    }))

  it.effect("K8 negative, fractional, too long or non-numeric values are errors naming the file and key", () =>
    Effect.gen(function* () {
      for (const value of [-1, 1.5, 301, "soon", true]) {
        const e = yield* Effect.flip(decodeAuthConfig({ refresh_reuse_grace: value }, "config.yml"))
        expect(e.file).toBe("config.yml")
        expect(e.key, String(value)).toBe("refresh_reuse_grace")
        expect(e.message, String(value)).toMatch(/invalid value/)
        expect(e.fix, String(value)).toMatch(typeof value === "number" && Number.isInteger(value) ? /0 \(off\) to 300/ : /an integer/)
      }
    }))
})
