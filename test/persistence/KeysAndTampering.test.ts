/**
 * G55 and G56 with real server processes: a tampered or swapped row in the SQLite file ends the
 * sessions it belongs to (401, re-login), never serves another user's session, and never crashes
 * the server; a changed encryption key ends the old sessions cleanly, and new logins work.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { OAuthDatabase, OAuthDatabaseSqlite } from "../../src/layers/oauth/store/OAuthDatabase.js"
import { login, mcpClient, mcpStatus, refresh, type Tokens, whoami } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"

const servers: Array<AuthServer> = []
afterAll(async () => {
  for (const s of servers) await s.stop()
})

/** Run `use` on the server's database from this process (same file, same generated key). */
const onDatabase = (path: string, use: (db: OAuthDatabase.Shape) => Effect.Effect<void, unknown>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const ctx = yield* Layer.build(OAuthDatabaseSqlite({ path }))
        yield* use(Context.get(ctx, OAuthDatabase))
      })
    )
  )

/** Log in as `login` (the fake provider's current user). */
const loginAs = async (auth: AuthServer, user: string): Promise<Tokens> => {
  auth.fake.setUser({ login: user, id: user.length * 1000 + user.charCodeAt(0), name: user, email: `${user}@example.com` })
  return login(auth.url)
}

describe("G55: tampered and swapped rows (server process)", () => {
  it("end exactly the sessions they belong to; untouched sessions keep their own identity", async () => {
    let auth = await startAuthServer({ persistence: true })
    servers.push(auth)
    const users = ["alice", "bob", "carol", "dave"] as const
    const sessions: Record<string, Tokens> = {}
    for (const u of users) sessions[u] = await loginAs(auth, u)
    await auth.server.stop()

    await onDatabase(auth.persistencePath!, ({ sql }) =>
      Effect.gen(function* () {
        const grants = yield* sql<{ id: string; user_profile: string; sealed: Uint8Array; mac: Uint8Array }>`
          SELECT id, user_profile, upstream_access_sealed AS sealed, mac FROM grants`
        const of = (u: string) => grants.find((g) => (JSON.parse(g.user_profile) as { username: string }).username === u)!
        // alice: one flipped bit in her sealed upstream token.
        const flipped = Buffer.from(of("alice").sealed)
        flipped[5] = (flipped[5] ?? 0) ^ 0x01
        yield* sql`UPDATE grants SET upstream_access_sealed = ${flipped} WHERE id = ${of("alice").id}`
        // bob and carol: their sealed upstream tokens (and MACs) swapped.
        const bob = of("bob")
        const carol = of("carol")
        yield* sql`UPDATE grants SET upstream_access_sealed = ${carol.sealed}, mac = ${carol.mac} WHERE id = ${bob.id}`
        yield* sql`UPDATE grants SET upstream_access_sealed = ${bob.sealed}, mac = ${bob.mac} WHERE id = ${carol.id}`
      })
    )
    auth = await auth.restart()

    for (const u of ["alice", "bob", "carol"]) {
      const probe = await mcpStatus(auth.url, sessions[u]!.access_token)
      expect(probe.status, u).toBe(401)
      expect(probe.wwwAuthenticate, u).toContain('error="invalid_token"')
      // The session is over: its refresh token is refused too.
      expect((await refresh(auth.url, sessions[u]!.refresh_token)).body["error"], u).toBe("invalid_grant")
    }
    const client = await mcpClient(auth.url, sessions["dave"]!.access_token)
    try {
      expect(await whoami(client)).toMatchObject({ username: "dave" })
    } finally {
      await client.close()
    }
    // Alice logs in again and is herself.
    const again = await loginAs(auth, "alice")
    const aliceClient = await mcpClient(auth.url, again.access_token)
    try {
      expect(await whoami(aliceClient)).toMatchObject({ username: "alice" })
    } finally {
      await aliceClient.close()
    }
    expect(auth.server.stderr()).toContain("could not be verified")
  })
})

describe("G56: a changed encryption key (server process)", () => {
  const keyYaml = (key: string) => `          persistence:
            path: state/oauth.db
            encryption_key: ${key}`

  it("old sessions end cleanly (401 / invalid_grant, re-login works), no crash", async () => {
    const keyA = Buffer.alloc(32, 0xa1).toString("base64")
    const keyB = Buffer.alloc(32, 0xb2).toString("base64")
    let auth = await startAuthServer({ persistence: false, authYaml: keyYaml(keyA) })
    servers.push(auth)
    const old = await login(auth.url)
    expect((await mcpStatus(auth.url, old.access_token)).status).toBe(200)

    auth = await auth.restart({ authYaml: keyYaml(keyB) })
    expect(auth.server.stderr()).toContain("The OAuth encryption key changed")
    const probe = await mcpStatus(auth.url, old.access_token)
    expect(probe.status).toBe(401)
    expect(probe.wwwAuthenticate).toContain('error="invalid_token"')
    const r = await refresh(auth.url, old.refresh_token)
    expect(r.status).toBe(400)
    expect(r.body["error"]).toBe("invalid_grant")

    const fresh = await login(auth.url)
    expect((await mcpStatus(auth.url, fresh.access_token)).status).toBe(200)
    expect((await refresh(auth.url, fresh.refresh_token)).status).toBe(200)
    expect(auth.server.proc.exitCode).toBeNull()
  })
})
