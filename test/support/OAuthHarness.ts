import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js"
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens
} from "@modelcontextprotocol/sdk/shared/auth.js"
import {
  type FakeProviderName,
  type FakeProviderOptions,
  fakeProviderBlock,
  type RunningFakeProvider,
  startFakeProvider
} from "./fakes/FakeProviders.js"
import { copyExample } from "./Project.js"
import { type RunningServer, startServer } from "./ServerProcess.js"

export interface AuthServerOptions<P extends FakeProviderName = "github"> {
  /** The upstream provider, served by its fake. Default `github`. */
  readonly provider?: P
  readonly fake?: FakeProviderOptions[P]
  /** Extra YAML lines under `auth:` (indented by the caller with 10 spaces). */
  readonly authYaml?: string
  /** YAML for the top-level `transport:` block (e.g. a base_url), without the key itself. */
  readonly transportYaml?: string
  /** More top-level YAML of the user config (e.g. `logging:\n  format: json`), ending with a newline. */
  readonly userYaml?: string
  readonly args?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** Extra files written into the project copy before the server starts (path relative to it). */
  readonly files?: Readonly<Record<string, string>>
  /**
   * `auth.persistence` in SQLite at `<project>/state/oauth.db`. Default: on when the environment
   * has `MXCP_TEST_PERSISTENCE=sqlite` (to run a whole suite against the SQLite store) and
   * `authYaml` does not configure persistence itself.
   */
  readonly persistence?: boolean
}

/** Options of `AuthServer.restart`. */
export interface RestartOptions {
  /** Replace the `authYaml` lines of the config before starting again. */
  readonly authYaml?: string
  /** Stop the running process with this signal (default SIGTERM; SIGKILL for crash tests). */
  readonly signal?: NodeJS.Signals
  /** Listen on a new port instead of the previous one (default: same port, same URL). */
  readonly newPort?: boolean
}

export interface AuthServer<P extends FakeProviderName = "github"> {
  readonly server: RunningServer
  readonly fake: RunningFakeProvider[P]
  readonly url: string
  readonly projectDir: string
  readonly configPath: string
  /** The SQLite file when persistence is on in SQLite (undefined in PostgreSQL). */
  readonly persistencePath: string | undefined
  /** Stop the server process, the fake and remove the project copy (once, whichever handle). */
  readonly stop: () => Promise<void>
  /**
   * Stop this server process and start a new one on the same project, config (optionally with
   * new `authYaml`), fake GitHub and port (so browsers keep their cookies and pending upstream
   * redirects still arrive). Use the returned handle from then on.
   */
  readonly restart: (options?: RestartOptions) => Promise<AuthServer<P>>
  /**
   * Another server process on the same config (so the same persistence file and fake), on its
   * own copy of the project (DuckDB files are per process). Stopped with the returned `stop`.
   */
  readonly startPeer: () => Promise<RunningServer>
}

/**
 * `MXCP_TEST_PERSISTENCE=sqlite` or `postgres`: harness servers keep their OAuth state in SQLite,
 * or in PostgreSQL (the `oauth-postgres` project's cluster, `MXCP_TEST_PG_URL`).
 */
export const persistenceFromEnv = (): boolean => persistenceKindFromEnv() !== undefined

export const persistenceKindFromEnv = (): "sqlite" | "postgres" | undefined => {
  const kind = process.env["MXCP_TEST_PERSISTENCE"]
  return kind === "sqlite" || kind === "postgres" ? kind : undefined
}

/** The key every PostgreSQL harness server shares (instances of one deployment share it). */
export const PG_HARNESS_KEY = Buffer.alloc(32, 9).toString("base64")

let harnessSchemas = 0

/**
 * `auth.persistence` values for a server on the `oauth-postgres` cluster: a schema of its own
 * (peers and restarts reuse the config, so they share it), a small pool.
 */
export const postgresPersistence = (): Record<string, string | number> => {
  const url = process.env["MXCP_TEST_PG_URL"]
  if (url === undefined) throw new Error("MXCP_TEST_PERSISTENCE=postgres needs MXCP_TEST_PG_URL (the oauth-postgres project's global setup sets it)")
  const schema = `h_${process.pid}_${++harnessSchemas}_${Math.floor(Math.random() * 1e9)}`
  return { type: "postgres", url, encryption_key: PG_HARNESS_KEY, schema, pool_size: 4 }
}

/** A pre-registered confidential client that every harness config carries. */
export const CONFIG_CLIENT = {
  id: "config-client",
  secret: "config-client-secret-0123456789",
  redirectUri: "http://127.0.0.1:49153/oauth/callback"
}

/**
 * A second confidential config client allowed two scopes (not in the default configs: add it with
 * `scopedClientConfig` through `inProcessServer`'s `extraClients`).
 */
export const SCOPED_CLIENT = {
  id: "scoped-client",
  secret: "scoped-client-secret-0123456789",
  redirectUri: "http://127.0.0.1:49155/oauth/callback",
  scopes: ["mxcp:access", "mxcp:extra"]
}

/** `SCOPED_CLIENT` as a config `clients:` entry. */
export const scopedClientConfig = {
  client_id: SCOPED_CLIENT.id,
  client_secret: SCOPED_CLIENT.secret,
  name: "Scoped Client",
  redirect_uris: [SCOPED_CLIENT.redirectUri],
  grant_types: ["authorization_code", "refresh_token"],
  scopes: SCOPED_CLIENT.scopes
}

/** Write `files` (paths relative to `dir`, folders created) into a project copy. */
export const writeProjectFiles = (dir: string, files: Readonly<Record<string, string>> | undefined): void => {
  for (const [name, text] of Object.entries(files ?? {})) {
    const path = join(dir, name)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, text)
  }
}

/**
 * The example project served with `provider: <provider>` (default github) against that provider's
 * fake on loopback. The client secret reaches the config as `${FAKE_<PROVIDER>_SECRET}`.
 */
export const startAuthServer = async <P extends FakeProviderName = "github">(
  options: AuthServerOptions<P> = {}
): Promise<AuthServer<P>> => {
  const provider: FakeProviderName = options.provider ?? "github"
  const fake = await startFakeProvider<P>(provider as P, options.fake ?? {})
  const secretVar = `FAKE_${provider.toUpperCase()}_SECRET`
  const providerYaml = Object.entries(fakeProviderBlock(fake, `\${${secretVar}}`))
    .map(([key, value]) => `            ${key}: ${value}\n`)
    .join("")
  const project = copyExample()
  writeProjectFiles(project.dir, options.files)
  const configPath = join(project.dir, "mxcp-user-config.yml")
  const fromEnv = options.persistence === undefined && persistenceFromEnv() && !(options.authYaml ?? "").includes("persistence:")
  const persistence = options.persistence ?? fromEnv
  const onPostgres = fromEnv && persistenceKindFromEnv() === "postgres"
  const persistencePath = persistence && !onPostgres ? join(project.dir, "state", "oauth.db") : undefined
  const persistenceYaml = onPostgres
    ? `          persistence:\n${Object.entries(postgresPersistence()).map(([k, v]) => `            ${k}: ${typeof v === "number" ? v : JSON.stringify(v)}\n`).join("")}`
    : persistencePath === undefined
    ? ""
    : `          persistence:\n            path: ${persistencePath}\n`
  const writeConfig = (authYaml: string | undefined) =>
    writeFileSync(
      configPath,
      `mxcp: 1
${options.userYaml ?? ""}${options.transportYaml === undefined ? "" : `transport:\n${options.transportYaml}\n`}projects:
  quickstart:
    profiles:
      default:
        auth:
          provider: ${provider}
          ${provider}:
${providerYaml}          clients:
            - client_id: ${CONFIG_CLIENT.id}
              client_secret: ${CONFIG_CLIENT.secret}
              name: Config Client
              redirect_uris: ["${CONFIG_CLIENT.redirectUri}"]
              grant_types: [authorization_code, refresh_token]
${authYaml ?? ""}
${persistenceYaml}`
    )
  writeConfig(options.authYaml)
  const args = ["--config", configPath, ...(options.args ?? [])]
  const env = { [secretVar]: fake.clientSecret, ...options.env }
  const peers: Array<{ server: RunningServer; cleanup: () => void }> = []
  let current = await startServer(project.dir, args, env)
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await current.stop()
    for (const peer of peers.splice(0)) {
      await peer.server.stop()
      peer.cleanup()
    }
    await fake.stop()
    project.cleanup()
  }
  const handle = (server: RunningServer): AuthServer<P> => ({
    server,
    fake,
    url: server.url,
    projectDir: project.dir,
    configPath,
    persistencePath,
    stop,
    restart: async (restartOptions = {}) => {
      await server.stop(restartOptions.signal)
      if (restartOptions.authYaml !== undefined) writeConfig(restartOptions.authYaml)
      const port = restartOptions.newPort === true ? 0 : Number(new URL(server.url).port)
      current = await startServer(project.dir, args, env, { port })
      return handle(current)
    },
    startPeer: async () => {
      const copy = copyExample()
      const peer = await startServer(copy.dir, args, env).catch((e: unknown) => {
        copy.cleanup()
        throw e
      })
      peers.push({ server: peer, cleanup: copy.cleanup })
      return peer
    }
  })
  return handle(current)
}

/**
 * A minimal browser: follows redirects by hand, keeps cookies per host, and answers the consent
 * page. `follow` stops at the first redirect whose target starts with `stopAt` and returns it.
 */
export class Browser {
  readonly cookies = new Map<string, Map<string, string>>()
  /** Every URL visited, in order. */
  readonly visited: Array<string> = []

  /** `fetchImpl`: another fetch, e.g. one that trusts a test certificate (default: the global one). */
  constructor(readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init)) {}

  cookieHeader(url: URL): string | undefined {
    const jar = this.cookies.get(url.host)
    if (jar === undefined || jar.size === 0) return undefined
    return [...jar].map(([k, v]) => `${k}=${v}`).join("; ")
  }

  remember(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";")
      const eq = pair?.indexOf("=") ?? -1
      if (pair === undefined || eq < 0) continue
      const jar = this.cookies.get(url.host) ?? new Map<string, string>()
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
      this.cookies.set(url.host, jar)
    }
  }

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url)
    this.visited.push(url)
    const headers = new Headers(init.headers)
    const cookie = this.cookieHeader(u)
    if (cookie !== undefined) headers.set("cookie", cookie)
    if (!headers.has("accept")) headers.set("accept", "text/html")
    const res = await this.fetchImpl(url, { ...init, headers, redirect: "manual" })
    this.remember(u, res)
    return res
  }

  /** Submit the consent form on `html` with `decision`. */
  async decide(pageUrl: string, html: string, decision: "approve" | "deny"): Promise<Response> {
    const form = consentForm(html)
    return this.request(new URL("/consent", pageUrl).toString(), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ flow: form.flow, csrf: form.csrf, decision }).toString()
    })
  }

  async follow(start: string, stopAt: string, decision: "approve" | "deny" = "approve", maxHops = 10): Promise<URL> {
    let res = await this.request(start)
    let current = start
    for (let hop = 0; hop < maxHops; hop++) {
      if (res.status === 200 && (res.headers.get("content-type") ?? "").includes("text/html")) {
        const html = await res.text()
        res = await this.decide(current, html, decision)
        continue
      }
      const location = res.headers.get("location")
      if ((res.status !== 302 && res.status !== 303) || location === null) {
        throw new Error(`unexpected ${res.status} at ${current}: ${await res.text()}`)
      }
      const next = new URL(location, current).toString()
      if (next.startsWith(stopAt)) return new URL(next)
      current = next
      res = await this.request(next)
    }
    throw new Error("too many redirects")
  }
}

/** The hidden inputs of the consent form. */
export const consentForm = (html: string): { flow: string; csrf: string } => {
  const value = (name: string) => {
    const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)
    if (m === null || m[1] === undefined) throw new Error(`no ${name} input in consent page`)
    return m[1]
  }
  return { flow: value("flow"), csrf: value("csrf") }
}

/** An in-memory OAuthClientProvider for the MCP SDK client (a CLI-style public client). */
export class TestOAuthProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined
  savedTokens: OAuthTokens | undefined
  verifier = ""
  authorizationUrl: URL | undefined

  constructor(
    readonly redirect = "http://127.0.0.1:49999/callback",
    readonly metadataOverrides: Partial<OAuthClientMetadata> = {}
  ) {}

  get redirectUrl(): string {
    return this.redirect
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "SDK Test Client",
      redirect_uris: [this.redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...this.metadataOverrides
    }
  }
  clientInformation() {
    return this.info
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info
  }
  tokens() {
    return this.savedTokens
  }
  saveTokens(tokens: OAuthTokens) {
    this.savedTokens = tokens
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url
  }
  saveCodeVerifier(v: string) {
    this.verifier = v
  }
  codeVerifier() {
    return this.verifier
  }
}
