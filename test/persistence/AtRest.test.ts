/**
 * G52 with a real server process: after full flows (logins, refreshes with upstream token
 * rotation, a confidential client's registration, pending and finished consent, revocation), the
 * SQLite files hold no token, code, state, secret or upstream token in plaintext, while the
 * server runs and after it stopped; the files are private (0600 in a 0700 folder).
 */
import { chmodSync, statSync } from "node:fs"
import { dirname } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { keyPathFor } from "../../src/layers/oauth/store/StateFiles.js"
import { login, loginCode, redeem, refresh, registerClient, revoke, type Tokens } from "../support/OAuthFlows.js"
import { type AuthServer, CONFIG_CLIENT, startAuthServer } from "../support/OAuthHarness.js"
import { databaseBytes, plaintextIn, stopAtConsent, stopAtUpstream } from "./PersistenceFlows.js"

const mode = (path: string): number => statSync(path).mode & 0o777

describe("G52: the SQLite store after full flows", () => {
  let auth: AuthServer
  const secrets = new Set<string>([CONFIG_CLIENT.secret])
  const keep = (...values: ReadonlyArray<string | undefined>) => {
    for (const v of values) if (v !== undefined && v !== "") secrets.add(v)
  }

  beforeAll(async () => {
    // Expiring upstream tokens: the fake hands out upstream refresh tokens too.
    auth = await startAuthServer({ persistence: true, fake: { expiringTokens: true } })
    const url = auth.url

    // Config client: login, refresh twice, revoke an access token.
    const first = await login(url)
    keep(first.access_token, first.refresh_token)
    let current: Tokens = first
    for (let i = 0; i < 2; i++) {
      const r = await refresh(url, current.refresh_token)
      expect(r.status).toBe(200)
      current = r.body as unknown as Tokens
      keep(current.access_token, current.refresh_token)
    }
    expect((await revoke(url, first.access_token)).status).toBe(200)

    // A confidential registered client: its secret, a consent login, its tokens.
    const dcr = await registerClient(url, { token_endpoint_auth_method: "client_secret_basic" })
    keep(dcr.secret)
    const consent = await stopAtConsent(url, dcr)
    const code = await consent.finish()
    keep(code, ...consent.secrets())
    const reply = await redeem(url, { code, verifier: consent.verifier, client: dcr })
    expect(reply.status).toBe(200)
    keep((reply.body as unknown as Tokens).access_token, (reply.body as unknown as Tokens).refresh_token)

    // A code never redeemed, and two logins left pending (at the provider, at consent).
    const unredeemed = await loginCode(url)
    keep(unredeemed.code, unredeemed.verifier)
    const atUpstream = await stopAtUpstream(url, auth.fake.baseUrl, CONFIG_CLIENT)
    const atConsent = await stopAtConsent(url, dcr)
    keep(...atUpstream.secrets(), ...atConsent.secrets())

    // Everything the fake provider issued (access and refresh tokens).
    keep(...auth.fake.issuedAccessTokens, ...auth.fake.issuedRefreshTokens)
  })
  afterAll(async () => {
    await auth?.stop()
  })

  it("the fake issued upstream refresh tokens and the flows produced secrets to look for", () => {
    expect(auth.fake.issuedRefreshTokens.length).toBeGreaterThanOrEqual(2)
    expect(secrets.size).toBeGreaterThan(20)
  })

  it("no plaintext secret in the database or its WAL while the server runs, nor after it stopped", async () => {
    const path = auth.persistencePath!
    const running = databaseBytes(path)
    expect(running.length).toBeGreaterThan(0)
    expect(plaintextIn(running, secrets)).toEqual([])
    // The check can see plaintext: the user's login is stored in the clear (it is not a secret).
    expect(running.includes(Buffer.from("octocat"))).toBe(true)

    await auth.server.stop()
    const stopped = databaseBytes(path)
    expect(plaintextIn(stopped, secrets)).toEqual([])
    expect(stopped.includes(Buffer.from("octocat"))).toBe(true)
  })

  it("a database that others can read stops the next start with the fix in one line", async () => {
    const path = auth.persistencePath!
    await auth.server.stop()
    chmodSync(path, 0o644)
    try {
      const failed = await auth.restart().then(
        () => "",
        (e: unknown) => String(e)
      )
      expect(failed).toContain(`Error: ${path}: the OAuth database is accessible by other users (mode 0644); refusing to start`)
      expect(failed).toContain(`(fix: chmod 600 ${path})`)
    } finally {
      chmodSync(path, 0o600)
    }
  })

  it("file modes: database, WAL, shared memory and key 0600, folder 0700", () => {
    const path = auth.persistencePath!
    expect(mode(dirname(path))).toBe(0o700)
    expect(mode(path)).toBe(0o600)
    expect(mode(keyPathFor(path))).toBe(0o600)
    for (const extra of [`${path}-wal`, `${path}-shm`]) {
      try {
        expect(mode(extra)).toBe(0o600)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
      }
    }
  })
})
