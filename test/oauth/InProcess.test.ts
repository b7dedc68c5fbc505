import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { scopedFakeGitHub } from "../support/fakes/FakeGitHub.js"
import { inProcessServer } from "../support/InProcess.js"
import { loginCode, redeem } from "../support/OAuthFlows.js"

// D34 (a code older than 5 minutes) lives in TokenCode.test.ts with the rest of section D.
describe("in-process server with TestClock", () => {
  it.scoped("a fresh code just under 5 minutes old still works, once", () =>
    Effect.gen(function* () {
      const fake = yield* scopedFakeGitHub()
      const { url } = yield* inProcessServer(fake)
      const login = yield* Effect.promise(() => loginCode(url))
      yield* TestClock.adjust("299 seconds")
      const ok = yield* Effect.promise(() => redeem(url, login))
      expect(ok.status).toBe(200)
      expect(ok.body["token_type"]).toBe("Bearer")
      const again = yield* Effect.promise(() => redeem(url, login))
      expect(again.body["error"]).toBe("invalid_grant")
    }))
})
