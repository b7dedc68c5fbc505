import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js"
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens
} from "@modelcontextprotocol/sdk/shared/auth.js"
import { type FakeGitHubOptions, type RunningFakeGitHub, startFakeGitHub } from "./fakes/FakeGitHub.js"
import { copyExample } from "./Project.js"
import { type RunningServer, startServer } from "./ServerProcess.js"

export interface AuthServerOptions {
  readonly fake?: FakeGitHubOptions
  /** Extra YAML lines under `auth:` (indented by the caller with 10 spaces). */
  readonly authYaml?: string
  /** YAML for the top-level `transport:` block (e.g. a base_url), without the key itself. */
  readonly transportYaml?: string
  readonly args?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** Extra files written into the project copy before the server starts (path relative to it). */
  readonly files?: Readonly<Record<string, string>>
}

export interface AuthServer {
  readonly server: RunningServer
  readonly fake: RunningFakeGitHub
  readonly url: string
  readonly projectDir: string
  readonly configPath: string
  readonly stop: () => Promise<void>
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

/** The example project served with `provider: github` against a fake GitHub on loopback. */
export const startAuthServer = async (options: AuthServerOptions = {}): Promise<AuthServer> => {
  const fake = await startFakeGitHub(options.fake ?? {})
  const project = copyExample()
  writeProjectFiles(project.dir, options.files)
  const configPath = join(project.dir, "mxcp-user-config.yml")
  writeFileSync(
    configPath,
    `mxcp: 1
${options.transportYaml === undefined ? "" : `transport:\n${options.transportYaml}\n`}projects:
  quickstart:
    profiles:
      default:
        auth:
          provider: github
          github:
            client_id: ${fake.clientId}
            client_secret: \${FAKE_GITHUB_SECRET}
            auth_url: ${fake.config.auth_url}
            token_url: ${fake.config.token_url}
            api_url: ${fake.config.api_url}
            timeout: 3
          clients:
            - client_id: ${CONFIG_CLIENT.id}
              client_secret: ${CONFIG_CLIENT.secret}
              name: Config Client
              redirect_uris: ["${CONFIG_CLIENT.redirectUri}"]
              grant_types: [authorization_code, refresh_token]
${options.authYaml ?? ""}
`
  )
  const server = await startServer(project.dir, ["--config", configPath, ...(options.args ?? [])], {
    FAKE_GITHUB_SECRET: fake.clientSecret,
    ...options.env
  })
  return {
    server,
    fake,
    url: server.url,
    projectDir: project.dir,
    configPath,
    stop: async () => {
      await server.stop()
      await fake.stop()
      project.cleanup()
    }
  }
}

/**
 * A minimal browser: follows redirects by hand, keeps cookies per host, and answers the consent
 * page. `follow` stops at the first redirect whose target starts with `stopAt` and returns it.
 */
export class Browser {
  readonly cookies = new Map<string, Map<string, string>>()
  /** Every URL visited, in order. */
  readonly visited: Array<string> = []

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
    const res = await fetch(url, { ...init, headers, redirect: "manual" })
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
      if (res.status !== 302 || location === null) {
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
