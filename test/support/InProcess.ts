import { join } from "node:path"
import { HttpServer } from "@effect/platform"
import { Clock, Duration, Effect, Layer, TestClock } from "effect"
import { AppConfigFromValues } from "../../src/layers/config/AppConfigLive.js"
import { HttpServerLive } from "../../src/compose/Server.js"
import { type FakeApp, type FakeProviderName, fakeProviderBlock } from "./fakes/FakeProviders.js"
import { CONFIG_CLIENT, persistenceFromEnv, persistenceKindFromEnv, postgresPersistence, writeProjectFiles } from "./OAuthHarness.js"
import { copyExample } from "./Project.js"

export interface InProcessOptions {
  /** The upstream provider `fake` stands for. Default `github`. */
  readonly provider?: FakeProviderName | "oidc" | "google" | "keycloak"
  /** Extra keys merged into the `auth:` block. */
  readonly auth?: Record<string, unknown>
  /** Extra keys merged into `transport.http`. */
  readonly http?: Record<string, unknown>
  readonly site?: Record<string, unknown>
  /** Extra files written into the project copy before the server is built (path relative to it). */
  readonly files?: Readonly<Record<string, string>>
  /** More pre-registered clients (config `clients:` entries) after the config client. */
  readonly extraClients?: ReadonlyArray<Record<string, unknown>>
  /**
   * `auth.persistence` in SQLite at `<project>/state/oauth.db` (`true`), with extra keys (an
   * object), or off (`false`). Default: on when `MXCP_TEST_PERSISTENCE=sqlite` and `auth` does
   * not set `persistence` itself.
   */
  readonly persistence?: boolean | Record<string, unknown>
}

/**
 * The whole server built in this process from config values: the test's Effect services
 * (notably TestClock) reach every handler, so tests can move time to expire codes and tokens.
 * Same auth setup as `startAuthServer`: `options.provider` (default GitHub) against `fake`, plus
 * the config client.
 */
export const inProcessServer = (fake: FakeApp, options: InProcessOptions = {}) =>
  Effect.gen(function* () {
    const project = copyExample()
    yield* Effect.addFinalizer(() => Effect.sync(project.cleanup))
    writeProjectFiles(project.dir, options.files)
    const fromEnv = options.persistence === undefined && persistenceFromEnv() && options.auth?.["persistence"] === undefined
    const persistence = options.persistence ?? fromEnv
    const persistenceBlock = persistence === false
      ? {}
      : fromEnv && persistenceKindFromEnv() === "postgres"
      ? { persistence: postgresPersistence() }
      : { persistence: { path: join(project.dir, "state", "oauth.db"), ...(persistence === true ? {} : persistence) } }
    const config = AppConfigFromValues({
      projectRoot: project.dir,
      site: {
        mxcp: 1,
        project: "quickstart",
        sql_tools: { enabled: true },
        profiles: { default: { duckdb: { path: ":memory:", init_sql: "sql/setup.sql" } } },
        ...options.site
      },
      user: {
        mxcp: 1,
        transport: { http: { host: "127.0.0.1", port: 0, ...options.http } },
        projects: {
          quickstart: {
            profiles: {
              default: {
                auth: {
                  provider: options.provider ?? "github",
                  [options.provider ?? "github"]: fakeProviderBlock(fake),
                  clients: [
                    {
                      client_id: CONFIG_CLIENT.id,
                      client_secret: CONFIG_CLIENT.secret,
                      name: "Config Client",
                      redirect_uris: [CONFIG_CLIENT.redirectUri],
                      grant_types: ["authorization_code", "refresh_token"]
                    },
                    ...(options.extraClients ?? [])
                  ],
                  ...persistenceBlock,
                  ...options.auth
                }
              }
            }
          }
        }
      },
      overrides: { env: {}, homeDir: project.dir }
    })
    const context = yield* Layer.build(HttpServerLive.pipe(Layer.provide(config)))
    const server = yield* Effect.provide(HttpServer.HttpServer, context)
    const address = server.address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    return { url: `http://127.0.0.1:${address.port}` }
  })

/**
 * A clock for an in-process server that reads the TestClock's time plus a jump. `jump` moves the
 * server's time ahead at once, as after a suspended laptop, without running every periodic task
 * in between (a day of one-minute sweeps through `TestClock.adjust` takes many seconds). Sleeps
 * are the TestClock's. Use: `inProcessServer(fake).pipe(Effect.withClock(jumping.clock))`.
 */
export const jumpingClock = Effect.gen(function* () {
  const test = yield* TestClock.testClock()
  let offsetMillis = 0
  const millis = () => test.unsafeCurrentTimeMillis() + offsetMillis
  const nanos = () => test.unsafeCurrentTimeNanos() + BigInt(offsetMillis) * 1_000_000n
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: millis,
    currentTimeMillis: Effect.sync(millis),
    unsafeCurrentTimeNanos: nanos,
    currentTimeNanos: Effect.sync(nanos),
    sleep: (duration) => test.sleep(duration)
  }
  const jump = (duration: Duration.DurationInput) =>
    Effect.sync(() => {
      offsetMillis += Duration.toMillis(duration)
    })
  return { clock, jump }
})
