/**
 * What every provider fake shares, parameterised by the provider's wire format (`FakeWire`): a
 * real `node:http` server on 127.0.0.1 (a free port), answers with the provider's content types
 * and headers, failure modes armed per endpoint, the authorize driver, and the Effect wrappers.
 * Each fake (`FakeGitHub`, `FakeAtlassian`, `FakeSalesforce`) keeps only its own endpoints.
 */
import { createHash, randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Layer, Redacted } from "effect"
import type { Context, Scope } from "effect"

/**
 * The failure modes every fake has (a fake adds its own `missing_*` kinds, applied by its handlers):
 * - `status`: answer with this HTTP status (default body: a small HTML error page);
 * - `hang`: never answer (the connection stays open until the client gives up or the fake stops);
 * - `drop`: destroy the connection without answering;
 * - `malformed_json`: HTTP 200 with the wire's JSON content type and a truncated JSON body.
 */
export type BaseFailure =
  | { readonly kind: "status"; readonly status: number; readonly body?: string; readonly contentType?: string }
  | { readonly kind: "hang" }
  | { readonly kind: "drop" }
  | { readonly kind: "malformed_json" }

/** How one provider writes its answers. */
export interface FakeWire<Endpoint extends string> {
  /** The provider's name in errors ("GitHub"). */
  readonly name: string
  readonly jsonType: string
  readonly htmlType: string
  readonly htmlPage: (title: string) => string
  /** Headers on every answer (besides the content type and length). */
  readonly headers?: Readonly<Record<string, string>>
  /** The truncated body of a `malformed_json` failure at `endpoint`. */
  readonly malformed: (endpoint: Endpoint) => string
}

export const htmlPage = (title: string): string =>
  `<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>`

export const randomToken = (prefix: string, bytes: number): string => `${prefix}${randomBytes(bytes).toString("base64url")}`

export const s256 = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

export const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

/** What every fake's API has; each fake adds its own setters and config keys. */
export interface FakeProvider<Endpoint extends string, Failure, Calls, Request, Config, AuthorizeParams> {
  readonly baseUrl: string
  readonly clientId: string
  readonly clientSecret: string
  /** A full decoded provider config pointing at this fake (timeout 10 s unless overridden). */
  readonly providerConfig: (overrides?: Partial<Config>) => Config
  /** Live counters of calls per endpoint (failed and hung calls included). */
  readonly calls: Readonly<Calls>
  /** Every request received, in order. */
  readonly requests: ReadonlyArray<Request>
  /** Every access token issued (exchange and refresh), in order. */
  readonly issuedAccessTokens: ReadonlyArray<string>
  /** Every refresh token issued, in order. */
  readonly issuedRefreshTokens: ReadonlyArray<string>
  readonly setDenyAuthorization: (deny: boolean) => void
  readonly setGrantedScope: (scope: string | undefined) => void
  /** Make an endpoint misbehave for the next `times` calls (default: until `clearFailures`). */
  readonly fail: (endpoint: Endpoint, failure: Failure, times?: number) => void
  readonly clearFailures: () => void
  /** Revoke one refresh token, or all of them: refreshing then answers the provider's `invalid_grant`. */
  readonly revokeRefreshToken: (token?: string) => void
  /** Revoke one access token, or all of them: the API then answers 401. */
  readonly revokeAccessToken: (token?: string) => void
  readonly resetCounters: () => void
  /**
   * Drive the authorize endpoint with a real HTTP GET (redirects not followed) and return the
   * `Location` it redirected to. Throws if it did not redirect.
   */
  readonly authorize: (params: AuthorizeParams) => Promise<URL>
  /** `authorize`, then the `code` from the redirect. Throws when there is none. */
  readonly authorizeCode: (params: AuthorizeParams) => Promise<string>
}

/** Mark one stored token (or, without `token`, every one) with `mark`. */
export const revokeIn = <V>(stored: ReadonlyMap<string, V>, token: string | undefined, mark: (value: V) => void): void => {
  for (const [t, value] of stored) if (token === undefined || t === token) mark(value)
}

/** Counters back to zero. */
export const resetCounters = <Calls extends { [K in keyof Calls]: number }>(calls: Calls): void => {
  for (const key of Object.keys(calls) as Array<keyof Calls>) (calls as Record<keyof Calls, number>)[key] = 0
}

/** The server part of a fake: answers, failure modes, the listening server. */
export const fakeServer = <Endpoint extends string, Failure extends { readonly kind: string }>(
  wire: FakeWire<Endpoint>,
  options: { readonly denyAuthorization?: boolean | undefined; readonly grantedScope?: string | undefined }
) => {
  /** What every fake lets a test change: the user denies consent; the scope granted (default: the requested one). */
  const settings: { deny: boolean; grantedScope: string | undefined } = {
    deny: options.denyAuthorization ?? false,
    grantedScope: options.grantedScope
  }
  const failures = new Map<Endpoint, { readonly failure: Failure; remaining: number }>()

  const send = (res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body), ...wire.headers, ...headers })
    res.end(body)
  }
  const sendJson = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
    send(res, status, wire.jsonType, JSON.stringify(value), headers)
  const sendHtml = (res: ServerResponse, status: number, title: string) => send(res, status, wire.htmlType, wire.htmlPage(title))

  /** The failure armed for `endpoint`, counting this call against it. */
  const takeFailure = (endpoint: Endpoint): Failure | undefined => {
    const armed = failures.get(endpoint)
    if (armed === undefined) return undefined
    armed.remaining -= 1
    if (armed.remaining <= 0) failures.delete(endpoint)
    return armed.failure
  }

  /** Applies a failure mode every fake has; true when the response has been taken care of. */
  const misbehave = (res: ServerResponse, failure: Failure | undefined, endpoint: Endpoint): boolean => {
    const common = failure as BaseFailure | undefined
    switch (common?.kind) {
      case "status":
        send(res, common.status, common.contentType ?? wire.htmlType, common.body ?? wire.htmlPage(`Error ${common.status}`))
        return true
      case "hang":
        // Keep the connection open; stop() or the client's abort ends it.
        return true
      case "drop":
        res.socket?.destroy()
        return true
      case "malformed_json":
        send(res, 200, wire.jsonType, wire.malformed(endpoint))
        return true
      default:
        return false
    }
  }

  let stopped: Promise<void> | undefined
  let close: (() => Promise<void>) | undefined

  /** Serve `handle` on 127.0.0.1 (a free port); the base URL. A handler that throws answers 500. */
  const listen = async (handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void): Promise<string> => {
    const server = createServer((req, res) => {
      void (async () => handle(req, res))().catch(() => {
        if (!res.headersSent) send(res, 500, "text/plain", `fake ${wire.name} error`)
        else res.destroy()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject)
        resolve()
      })
    })
    close = () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  /** Drive the authorize endpoint with a real HTTP GET (redirects not followed): where it redirected to. */
  const authorize = async (url: URL): Promise<URL> => {
    const response = await fetch(url, { redirect: "manual" })
    await response.arrayBuffer()
    const location = response.headers.get("location")
    if (response.status !== 302 || location === null) {
      throw new Error(`fake ${wire.name} authorize answered HTTP ${response.status} without a redirect`)
    }
    return new URL(location)
  }

  /** The `code` of an authorize redirect; throws when there is none. */
  const codeOf = (location: URL): string => {
    const code = location.searchParams.get("code")
    if (code === null) {
      throw new Error(`fake ${wire.name} authorize did not issue a code: ${location.searchParams.get("error") ?? "no error"}`)
    }
    return code
  }

  /**
   * The parts of the fake's API this part answers for: `calls` (its counters), the config
   * pointing at it (`defaults`: the provider's own keys, `urls`: its URL keys), the authorize
   * driver built on `authorizeUrl`.
   */
  const controls = <Calls extends { [K in keyof Calls]: number }, Config, Params>(options: {
    readonly calls: Calls
    readonly clientId: string
    readonly clientSecret: string
    readonly defaults: Readonly<Record<string, unknown>>
    readonly urls: Readonly<Record<string, string>>
    readonly authorizeUrl: (params: Params) => URL
  }) => ({
    calls: options.calls,
    setDenyAuthorization: (deny: boolean) => {
      settings.deny = deny
    },
    setGrantedScope: (scope: string | undefined) => {
      settings.grantedScope = scope
    },
    providerConfig: (overrides: Partial<Config> = {}): Config =>
      ({
        client_id: options.clientId,
        client_secret: Redacted.make(options.clientSecret),
        ...options.defaults,
        timeout: 10,
        ...options.urls,
        ...overrides
      }) as Config,
    authorize: (params: Params) => authorize(options.authorizeUrl(params)),
    authorizeCode: async (params: Params) => codeOf(await authorize(options.authorizeUrl(params))),
    fail: (endpoint: Endpoint, failure: Failure, times = Number.POSITIVE_INFINITY) => {
      failures.set(endpoint, { failure, remaining: times })
    },
    clearFailures: () => failures.clear(),
    resetCounters: () => resetCounters(options.calls),
    stop: (): Promise<void> => {
      stopped ??= close?.() ?? Promise.resolve()
      return stopped
    }
  })

  return {
    settings,
    controls,
    send,
    sendJson,
    sendHtml,
    takeFailure,
    misbehave,
    listen,
    authorize,
    codeOf
  }
}

/** A fake as a scoped resource: started on acquire, stopped when the scope closes. */
export const scopedFake = <Options, Fake extends { readonly stop: () => Promise<void> }>(
  start: (options: Options) => Promise<Fake>
) =>
(options: Options): Effect.Effect<Fake, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (fake) => Effect.promise(() => fake.stop())
  )

/** A layer that starts a fake for its lifetime, as the service `tag`. */
export const fakeLayer = <Id, Shape, Options>(
  tag: Context.Tag<Id, Shape>,
  scoped: (options: Options) => Effect.Effect<Shape, never, Scope.Scope>
) =>
(options: Options): Layer.Layer<Id> => Layer.scoped(tag, scoped(options))
