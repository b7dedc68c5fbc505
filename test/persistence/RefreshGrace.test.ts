/**
 * Checklist K8 with real server processes on one SQLite file: a refresh retried after its answer
 * was lost gets a valid answer for the same grant, whichever process answers it and across a
 * `kill -9` and restart (the tokens of a rotation are derived under the key the processes share,
 * and the rotation time is on disk).
 */
import { setTimeout as sleep } from "node:timers/promises"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { login, mcpStatus, refresh, type Reply, type Tokens } from "../support/OAuthFlows.js"
import { type AuthServer, startAuthServer } from "../support/OAuthHarness.js"
import type { RunningServer } from "../support/ServerProcess.js"

const tokensOf = (reply: Reply): Tokens => {
  expect(reply.status, JSON.stringify(reply.body)).toBe(200)
  return reply.body as unknown as Tokens
}

const expectWorks = async (urls: ReadonlyArray<string>, accessTokens: ReadonlyArray<string>) => {
  for (const url of urls) for (const token of accessTokens) expect((await mcpStatus(url, token)).status).toBe(200)
}

describe("K8 two server processes on one SQLite file", () => {
  let a: AuthServer
  let b: RunningServer
  beforeAll(async () => {
    a = await startAuthServer({ persistence: true })
    b = await a.startPeer()
  })
  afterAll(async () => {
    await a?.stop()
  })

  it("K8 ten parallel refreshes of one token over both processes: all 200 with the same tokens, valid at both", async () => {
    const first = await login(a.url)
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => refresh(i % 2 === 0 ? a.url : b.url, first.refresh_token)))
    const answers = replies.map(tokensOf)
    expect(new Set(answers.map((t) => t.refresh_token)).size).toBe(1)
    expect(new Set(answers.map((t) => t.access_token)).size).toBe(1)
    await expectWorks([a.url, b.url], [first.access_token, answers[0]!.access_token])
    const next = tokensOf(await refresh(b.url, answers[0]!.refresh_token))
    await expectWorks([a.url, b.url], [answers[0]!.access_token, next.access_token])
  })

  it("K8 a rotation at one process retried at the other gets the same answer; after the successor is used, the old token is reuse", async () => {
    const first = await login(b.url)
    const lost = tokensOf(await refresh(a.url, first.refresh_token))
    const retry = tokensOf(await refresh(b.url, first.refresh_token))
    expect(retry).toMatchObject({ access_token: lost.access_token, refresh_token: lost.refresh_token })
    const next = tokensOf(await refresh(a.url, retry.refresh_token))
    const reuse = await refresh(b.url, first.refresh_token)
    expect(reuse.body["error"]).toBe("invalid_grant")
    expect((await mcpStatus(a.url, next.access_token)).status).toBe(401)
  })
})

/** One client's session as the client knows it. */
interface Chain {
  access: Array<string>
  refresh: string
  /** A refresh was in flight at the kill: the server may have rotated without answering. */
  inFlight: boolean
}

const CHAINS = 10
/** Successful refreshes before the kill. */
const KILL_AFTER = 30

describe("K8 kill -9 during a burst of refreshes", () => {
  let auth: AuthServer
  afterAll(async () => {
    await auth?.stop()
  })

  it("K8 after a kill -9 and a restart, each client's retry of its last refresh token gets a valid answer; no grant is revoked", async () => {
    // A grace longer than the default, so a slow restart on a loaded machine stays within it.
    auth = await startAuthServer({ persistence: true, authYaml: "          refresh_reuse_grace: 120\n" })

    // An answer lost for certain: rotated and answered, but the client never read it; then the crash.
    const dropped = await login(auth.url)
    const droppedAnswer = tokensOf(await refresh(auth.url, dropped.refresh_token))

    const chains: Array<Chain> = []
    for (let i = 0; i < CHAINS; i++) {
      const t = await login(auth.url)
      chains.push({ access: [t.access_token], refresh: t.refresh_token, inFlight: false })
    }
    let answered = 0
    let killed = false
    const url = auth.url
    const killedAt = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (answered >= KILL_AFTER) {
          clearInterval(check)
          killed = true
          void auth.server.stop("SIGKILL").then(() => resolve())
        }
      }, 1)
    })
    // Each chain refreshes as fast as it can, always with its newest refresh token, until the kill.
    const worker = async (chain: Chain) => {
      while (!killed) {
        chain.inFlight = true
        try {
          const next = await refresh(url, chain.refresh)
          if (next.status !== 200) throw new Error(`refresh: ${next.status} ${JSON.stringify(next.body)}`)
          const t = next.body as unknown as Tokens
          chain.access.push(t.access_token)
          chain.refresh = t.refresh_token
          chain.inFlight = false
          answered++
        } catch (e) {
          // Only the kill may interrupt a request.
          if (!killed) throw e
          return
        }
      }
    }
    await Promise.all([...chains.map(worker), killedAt])
    expect(chains.some((c) => c.inFlight)).toBe(true)

    await sleep(50)
    auth = await auth.restart()

    // The certain case: the retry after the restart gets the very answer that was dropped.
    const retried = tokensOf(await refresh(auth.url, dropped.refresh_token))
    expect(retried).toMatchObject({ access_token: droppedAnswer.access_token, refresh_token: droppedAnswer.refresh_token })
    await expectWorks([auth.url], [dropped.access_token, retried.access_token])

    // Every chain: its last refresh token gets a 200 (a replay if the cut rotation had committed,
    // a plain rotation if not), every access token it ever got works, and the chain goes on.
    for (const chain of chains) {
      const answer = tokensOf(await refresh(auth.url, chain.refresh))
      const next = tokensOf(await refresh(auth.url, answer.refresh_token))
      await expectWorks([auth.url], [...chain.access, answer.access_token, next.access_token])
    }
  })
})
