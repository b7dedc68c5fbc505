/**
 * What the three provider test files share: one harness (a provider's fake on loopback and the
 * real provider pointed at it, the browser, the login) and the table-driven contract every
 * provider meets the same way (checklist C28: upstream failures are clear errors within the
 * timeout). Each file passes its provider's wire details (token path, the fake's user endpoint,
 * its test titles) and keeps only the tests of its own wire format.
 */
import { randomBytes } from "node:crypto"
import { createServer } from "node:net"
import { expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import type { Scope } from "effect"
import type { UpstreamTokens, UserProfile } from "../../src/domain/oauth/Identity.js"
import { challengeFromVerifier } from "../../src/domain/oauth/Pkce.js"
import { IdentityProvider, ProviderError, type UpstreamGrantRevoked } from "../../src/services/oauth/IdentityProvider.js"

/** What the contract needs of a provider's fake. */
export interface ContractFake<Endpoint extends string> {
  readonly calls: Readonly<Record<"token", number>>
  readonly fail: (endpoint: Endpoint, failure: { readonly kind: "status"; readonly status: number } | { readonly kind: "hang" } | { readonly kind: "drop" } | { readonly kind: "malformed_json" }, times?: number) => void
  readonly requests: ReadonlyArray<{ readonly path: string }>
}

export interface ProviderCase<Fake, Options, Config> {
  readonly provider: "github" | "atlassian" | "salesforce"
  readonly redirectUri: string
  /** The token endpoint's path on the fake. */
  readonly tokenPath: string
  readonly start: (options: Options) => Effect.Effect<Fake, never, Scope.Scope>
  readonly layer: (fake: Fake, overrides: Partial<Config>) => Layer.Layer<IdentityProvider>
}

export const newVerifier = (): string => randomBytes(32).toString("base64url")

/** The user's browser: GET a URL on the fake (no redirect following). */
export const browse = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { redirect: "manual" })
    await response.arrayBuffer()
    return { status: response.status, location: response.headers.get("location") }
  })

/** A port nothing listens on. */
export const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const s = createServer()
      s.listen(0, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port
        s.close(() => resolve(port))
      })
    })
)

export const refreshOf = (tokens: UpstreamTokens): Redacted.Redacted<string> => tokens.refreshToken ?? Redacted.make("")

/** Every log line of the effects `run` runs (debug level and up), as text with its annotations. */
export const captureLogs = () => {
  const lines: Array<string> = []
  const capture = Logger.make(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push(`${logLevel.label} ${text} ${JSON.stringify(Object.fromEntries(annotations))}`)
  })
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(Logger.withMinimumLogLevel(LogLevel.Debug), Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  return { lines, run }
}

/** The helpers of one provider's tests. */
export const providerHarness = <Fake extends { readonly requests: ReadonlyArray<{ readonly path: string }> }, Options, Config>(
  c: ProviderCase<Fake, Options, Config>
) => {
  /** The fake on loopback and the real provider (undici HttpClient) pointed at it. */
  const setup = (options: Options = {} as Options, overrides: Partial<Config> = {}) =>
    Effect.gen(function* () {
      const fake = yield* c.start(options)
      const context = yield* Layer.build(c.layer(fake, overrides))
      return { fake, provider: Context.get(context, IdentityProvider) }
    })

  /** Authorize at the fake through the provider's own URL; the code and the verifier to redeem it. */
  const authorize = (provider: IdentityProvider.Shape, state = "st-1") =>
    Effect.gen(function* () {
      const codeVerifier = newVerifier()
      const url = provider.authorizeUrl({ state, redirectUri: c.redirectUri, codeChallenge: challengeFromVerifier(codeVerifier) })
      const { status, location } = yield* browse(url)
      expect(status).toBe(302)
      const back = new URL(location ?? "")
      expect(back.searchParams.get("state")).toBe(state)
      const code = back.searchParams.get("code")
      expect(code).not.toBeNull()
      return { code: code ?? "", codeVerifier }
    })

  const login = (provider: IdentityProvider.Shape) =>
    Effect.gen(function* () {
      const { code, codeVerifier } = yield* authorize(provider)
      return yield* provider.exchangeCode({ code, redirectUri: c.redirectUri, codeVerifier })
    })

  /** Authorize, then the code exchange's failure. */
  const exchange = (provider: IdentityProvider.Shape) =>
    Effect.gen(function* () {
      const { code, codeVerifier } = yield* authorize(provider)
      return yield* Effect.flip(provider.exchangeCode({ code, redirectUri: c.redirectUri, codeVerifier }))
    })

  const expectProviderError = (error: ProviderError | UpstreamGrantRevoked, kind: ProviderError["kind"], operation: string) => {
    expect(error).toBeInstanceOf(ProviderError)
    if (error._tag !== "ProviderError") return
    expect(error.provider).toBe(c.provider)
    expect(error.kind).toBe(kind)
    expect(error.operation).toBe(operation)
  }

  const tokenRequests = (fake: Fake): Array<Fake["requests"][number]> => fake.requests.filter((r) => r.path === c.tokenPath)

  return { setup, authorize, login, exchange, expectProviderError, tokenRequests, redirectUri: c.redirectUri, tokenPath: c.tokenPath }
}

type Harness<Fake, Options, Config> = ReturnType<typeof providerHarness<Fake & { readonly requests: ReadonlyArray<{ readonly path: string }> }, Options, Config>>

/** The token endpoint's failures: the same for every provider (C28). */
export const tokenEndpointContract = <Fake extends ContractFake<"token">, Options, Config extends { readonly timeout: number; readonly token_url: string }>(
  h: Harness<Fake, Options, Config>
) => {
  it.scopedLive("C28: token endpoint 500 → unavailable, one POST only", () =>
    Effect.gen(function* () {
      const { fake, provider } = yield* h.setup()
      fake.fail("token", { kind: "status", status: 500 })
      const error = yield* h.exchange(provider)
      h.expectProviderError(error, "unavailable", "exchangeCode")
      expect(error.message).toContain("HTTP 500")
      expect(fake.calls.token).toBe(1)
    })
  )

  it.scopedLive("C28: token endpoint hangs → unavailable after the 1 s timeout", () =>
    Effect.gen(function* () {
      const { fake, provider } = yield* h.setup(undefined, { timeout: 1 } as Partial<Config>)
      fake.fail("token", { kind: "hang" })
      const started = Date.now()
      const error = yield* h.exchange(provider)
      const elapsed = Date.now() - started
      h.expectProviderError(error, "unavailable", "exchangeCode")
      expect(error.message).toContain("timed out after 1s")
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(3000)
      expect(fake.calls.token).toBe(1)
    })
  )

  it.scopedLive("C28: upstream down (connection refused) → unavailable", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      const { provider } = yield* h.setup(undefined, { token_url: `http://127.0.0.1:${port}${h.tokenPath}` } as Partial<Config>)
      const error = yield* Effect.flip(provider.exchangeCode({ code: "c", redirectUri: h.redirectUri, codeVerifier: newVerifier() }))
      h.expectProviderError(error, "unavailable", "exchangeCode")
      expect(error.message).toContain("could not be reached")
    })
  )

  it.scopedLive("C28: connection dropped mid-request → unavailable", () =>
    Effect.gen(function* () {
      const { fake, provider } = yield* h.setup()
      fake.fail("token", { kind: "drop" })
      h.expectProviderError(yield* h.exchange(provider), "unavailable", "exchangeCode")
    })
  )
}

/** One provider's row of the user-endpoint contract: its fake's endpoint and its wire's words. */
export interface UserEndpointRow<Endpoint extends string> {
  /** The fake's endpoint that answers the profile (`user`, `me`). */
  readonly endpoint: Endpoint
  readonly titles: {
    readonly hang: string
    readonly malformedToken: string
    readonly missingToken: string
    readonly malformedUser: string
    readonly missingId: string
    readonly retried: string
  }
  /** Never in the error of a malformed token answer (the start of the fake's truncated token). */
  readonly tokenPrefix: string
  /** In the error of a profile without its id. */
  readonly missingIdWord: string
  /** The profile the fake serves once the retries got through. */
  readonly expectProfile: (profile: UserProfile) => void
}

/** A malformed or incomplete token answer and the user endpoint's failures, per provider row (C28). */
export const userEndpointContract = <
  Endpoint extends string,
  Fake extends ContractFake<"token" | Endpoint> & { readonly calls: Readonly<Record<"token" | Endpoint, number>>; readonly resetCounters: () => void; readonly fail: (endpoint: "token" | Endpoint, failure: { readonly kind: "missing_access_token" | "missing_id" | "malformed_json" | "hang" } | { readonly kind: "status"; readonly status: number; readonly body?: string }, times?: number) => void },
  Options,
  Config extends { readonly timeout: number }
>(
  h: Harness<Fake, Options, Config>,
  row: UserEndpointRow<Endpoint>
) => ({
  failures: () => {
    it.scopedLive(row.titles.hang, () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* h.setup(undefined, { timeout: 1 } as Partial<Config>)
        const tokens = yield* h.login(provider)
        fake.fail(row.endpoint, { kind: "hang" })
        const started = Date.now()
        const error = yield* Effect.flip(provider.fetchUser(tokens))
        h.expectProviderError(error, "unavailable", "fetchUser")
        expect(error.message).toContain("timed out after 1s")
        expect(Date.now() - started).toBeLessThan(3000)
      })
    )

    it.scopedLive(row.titles.malformedToken, () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* h.setup()
        fake.fail("token", { kind: "malformed_json" })
        const error = yield* h.exchange(provider)
        h.expectProviderError(error, "bad_response", "exchangeCode")
        expect(error.message).not.toContain(row.tokenPrefix)
      })
    )

    it.scopedLive(row.titles.missingToken, () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* h.setup()
        fake.fail("token", { kind: "missing_access_token" })
        const error = yield* h.exchange(provider)
        h.expectProviderError(error, "bad_response", "exchangeCode")
        expect(error.message).toContain("access_token")
      })
    )

    it.scopedLive(row.titles.malformedUser, () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* h.setup()
        const tokens = yield* h.login(provider)
        fake.fail(row.endpoint, { kind: "malformed_json" })
        h.expectProviderError(yield* Effect.flip(provider.fetchUser(tokens)), "bad_response", "fetchUser")
        expect(fake.calls[row.endpoint]).toBe(1)
      })
    )

    it.scopedLive(row.titles.missingId, () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* h.setup()
        const tokens = yield* h.login(provider)
        fake.fail(row.endpoint, { kind: "missing_id" })
        const error = yield* Effect.flip(provider.fetchUser(tokens))
        h.expectProviderError(error, "bad_response", "fetchUser")
        expect(error.message).toContain(row.missingIdWord)
      })
    )
  },

  retries: () => {
    it.scopedLive(row.titles.retried, () =>
      Effect.gen(function* () {
        const { fake, provider } = yield* h.setup()
        const tokens = yield* h.login(provider)
        fake.fail(row.endpoint, { kind: "status", status: 502, body: "<html><body>502 Bad Gateway</body></html>" }, 2)
        const profile = yield* provider.fetchUser(tokens)
        row.expectProfile(profile)
        expect(fake.calls[row.endpoint]).toBe(3)

        fake.fail("token", { kind: "status", status: 502 })
        const { code, codeVerifier } = yield* h.authorize(provider)
        fake.resetCounters()
        const error = yield* Effect.flip(provider.exchangeCode({ code, redirectUri: h.redirectUri, codeVerifier }))
        h.expectProviderError(error, "unavailable", "exchangeCode")
        expect(fake.calls.token).toBe(1)
      })
    )
  }
})
