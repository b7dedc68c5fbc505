import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { Browser, CONFIG_CLIENT } from "../support/OAuthHarness.js"

const challengeOf = (verifier: string) =>
  Effect.promise(async () =>
    Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))).toString("base64url")
  )

const basic = `Basic ${Buffer.from(`${CONFIG_CLIENT.id}:${CONFIG_CLIENT.secret}`).toString("base64")}`

/** Log in as the config client through the fake GitHub; the code and its verifier. */
const loginCode = (url: string) =>
  Effect.gen(function* () {
    const verifier = "v".repeat(50)
    const params = new URLSearchParams({
      response_type: "code",
      client_id: CONFIG_CLIENT.id,
      redirect_uri: CONFIG_CLIENT.redirectUri,
      state: "s1",
      code_challenge: yield* challengeOf(verifier),
      code_challenge_method: "S256"
    })
    const back = yield* Effect.promise(() => new Browser().follow(`${url}/authorize?${params}`, CONFIG_CLIENT.redirectUri))
    return { code: back.searchParams.get("code")!, verifier }
  })

const redeem = (url: string, code: string, verifier: string) =>
  Effect.promise(() =>
    fetch(`${url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: CONFIG_CLIENT.redirectUri,
        code_verifier: verifier
      }).toString()
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }))
  )

describe("in-process server with TestClock", () => {
  it.scoped("D34 an authorization code older than 5 minutes is invalid_grant", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const { code, verifier } = yield* loginCode(url)
      yield* TestClock.adjust("5 minutes")
      const late = yield* redeem(url, code, verifier)
      expect(late.status).toBe(400)
      expect(late.body).toEqual({ error: "invalid_grant", error_description: expect.any(String) })
    }))

  it.scoped("a fresh code just under 5 minutes old still works, once", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const { code, verifier } = yield* loginCode(url)
      yield* TestClock.adjust("299 seconds")
      const ok = yield* redeem(url, code, verifier)
      expect(ok.status).toBe(200)
      expect(ok.body["token_type"]).toBe("Bearer")
    }))
})
