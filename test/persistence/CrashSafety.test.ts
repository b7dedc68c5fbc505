/**
 * Crash safety: `kill -9` the server in the middle of a load of token requests (code
 * redemptions and refreshes), restart it: the database opens, and every token that was returned
 * to a client works. A token is committed (`synchronous = FULL`) before its response is sent.
 */
import { setTimeout as sleep } from "node:timers/promises"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { OAuthDatabase, OAuthDatabaseSqlite } from "../../src/layers/oauth/store/OAuthDatabase.js"
import { type LoginCode, loginCode, mcpStatus, redeem, refresh, type Tokens } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"

const CODES = 60
const WORKERS = 8
/** Successful token responses before the kill. */
const KILL_AFTER = 40

/** One client's session as the client knows it. */
interface Chain {
  access: Array<string>
  refresh: string | undefined
  /** A request was in flight at the kill: the server may have rotated without answering. */
  inFlight: boolean
}

const servers: Array<AuthServer> = []
afterAll(async () => {
  for (const s of servers) await s.stop()
})

describe("crash safety (kill -9 under load)", () => {
  it("after a kill -9 mid-load and a restart, every token handed out works", async () => {
    let auth = await startAuthServer({ persistence: true })
    servers.push(auth)
    const url = auth.url
    const codes: Array<LoginCode> = []
    for (let i = 0; i < CODES; i++) codes.push(await loginCode(url))

    const chains: Array<Chain> = []
    let answered = 0
    let killed = false
    const killedAt = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (answered >= KILL_AFTER) {
          clearInterval(check)
          killed = true
          void auth.server.stop("SIGKILL").then(() => resolve())
        }
      }, 1)
    })

    // Each worker redeems a code, then refreshes that session twice, until the kill.
    const worker = async () => {
      while (!killed) {
        const code = codes.pop()
        if (code === undefined) return
        const chain: Chain = { access: [], refresh: undefined, inFlight: true }
        chains.push(chain)
        try {
          const first = await redeem(url, code)
          if (first.status !== 200) throw new Error(`redeem: ${first.status}`)
          const tokens = first.body as unknown as Tokens
          chain.access.push(tokens.access_token)
          chain.refresh = tokens.refresh_token
          chain.inFlight = false
          answered++
          for (let i = 0; i < 2 && !killed; i++) {
            chain.inFlight = true
            const next = await refresh(url, chain.refresh)
            if (next.status !== 200) throw new Error(`refresh: ${next.status}`)
            const rotated = next.body as unknown as Tokens
            chain.access.push(rotated.access_token)
            chain.refresh = rotated.refresh_token
            chain.inFlight = false
            answered++
          }
        } catch (e) {
          // Only the kill may interrupt a request.
          if (!killed) throw e
          return
        }
      }
    }
    await Promise.all([...Array.from({ length: WORKERS }, worker), killedAt])
    expect(answered).toBeGreaterThanOrEqual(KILL_AFTER)
    const inFlight = chains.filter((c) => c.inFlight).length
    expect(inFlight).toBeGreaterThan(0) // the kill did land mid-load

    // Restart: the database opens (WAL recovery), and everything returned works.
    await sleep(50)
    auth = await auth.restart()
    const accessTokens = chains.flatMap((c) => c.access)
    expect(accessTokens.length).toBeGreaterThanOrEqual(KILL_AFTER - WORKERS)
    for (const token of accessTokens) expect((await mcpStatus(auth.url, token)).status).toBe(200)
    // The latest refresh token of every chain that was not mid-request still rotates.
    const settled = chains.filter((c) => !c.inFlight && c.refresh !== undefined)
    expect(settled.length).toBeGreaterThan(0)
    for (const c of settled) expect((await refresh(auth.url, c.refresh!)).status).toBe(200)

    await auth.server.stop()
    const check = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const ctx = yield* Layer.build(OAuthDatabaseSqlite({ path: auth.persistencePath! }))
          const { sql } = Context.get(ctx, OAuthDatabase)
          return yield* sql<{ integrity_check: string }>`PRAGMA integrity_check`
        })
      )
    )
    expect(check).toEqual([{ integrity_check: "ok" }])
  })
})
