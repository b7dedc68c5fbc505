/**
 * Flow pieces for the persistence tests: start a login and stop half-way (to finish it after a
 * restart), collect every secret a server handed out, read the database files as bytes.
 */
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { challengeOf, newVerifier, type TestClient } from "../support/OAuthFlows.js"
import { Browser, consentForm } from "../support/OAuthHarness.js"

/** The /authorize URL for `client` with a fresh state and the S256 challenge of `verifier`. */
export const authorizeUrl = (base: string, client: TestClient, verifier: string): string =>
  `${base}/authorize?${new URLSearchParams({
    response_type: "code",
    client_id: client.id,
    redirect_uri: client.redirectUri,
    state: randomBytes(8).toString("hex"),
    code_challenge: challengeOf(verifier),
    code_challenge_method: "S256"
  })}`

/** A login stopped half-way, to be finished later by the same browser. */
export interface PendingLogin {
  readonly browser: Browser
  readonly client: TestClient
  readonly verifier: string
  /** Finish it: the code our server redirects the client to. */
  readonly finish: () => Promise<string>
  /** Every secret this login has shown so far: verifier, states, codes, cookies, CSRF token. */
  readonly secrets: () => ReadonlyArray<string>
}

/** Secret-looking values a browser has seen: cookies, and `state`/`code` parameters of visited URLs. */
const browserSecrets = (browser: Browser): Array<string> => [
  ...[...browser.cookies.values()].flatMap((jar) => [...jar.values()]),
  ...browser.visited.flatMap((u) => {
    const params = new URL(u).searchParams
    return ["state", "code"].flatMap((k) => params.getAll(k))
  })
]

const codeOf = (url: URL): string => {
  const code = url.searchParams.get("code")
  if (code === null) throw new Error(`no code in ${url.toString()}`)
  return code
}

/** A config client's login, stopped when the browser is sent to the upstream provider. */
export const stopAtUpstream = async (base: string, upstreamBase: string, client: TestClient): Promise<PendingLogin> => {
  const browser = new Browser()
  const verifier = newVerifier()
  const upstream = await browser.follow(authorizeUrl(base, client, verifier), upstreamBase)
  return {
    browser,
    client,
    verifier,
    finish: async () => codeOf(await browser.follow(upstream.toString(), client.redirectUri)),
    secrets: () => [verifier, ...browserSecrets(browser)]
  }
}

/** A registered client's login, stopped at our consent page (not yet answered). */
export const stopAtConsent = async (base: string, client: TestClient): Promise<PendingLogin> => {
  const browser = new Browser()
  const verifier = newVerifier()
  const pageUrl = authorizeUrl(base, client, verifier)
  const res = await browser.request(pageUrl)
  if (res.status !== 200) throw new Error(`expected the consent page, got ${res.status}`)
  const html = await res.text()
  return {
    browser,
    client,
    verifier,
    finish: async () => {
      const decided = await browser.decide(pageUrl, html, "approve")
      const location = decided.headers.get("location")
      if (decided.status !== 302 || location === null) throw new Error(`consent failed: ${decided.status} ${await decided.text()}`)
      return codeOf(await browser.follow(new URL(location, pageUrl).toString(), client.redirectUri))
    },
    secrets: () => [verifier, consentForm(html).csrf, ...browserSecrets(browser)]
  }
}

/** The database file and its WAL, as SQLite left them (missing files are empty). */
export const databaseBytes = (path: string): Buffer =>
  Buffer.concat([path, `${path}-wal`, `${path}-shm`].map((p) => (existsSync(p) ? readFileSync(p) : Buffer.alloc(0))))

/** The values of `secrets` found in `bytes`, as UTF-8 (what SQLite stores text as). */
export const plaintextIn = (bytes: Buffer, secrets: Iterable<string>): ReadonlyArray<string> =>
  [...secrets].filter((s) => s !== "" && bytes.includes(Buffer.from(s, "utf8")))
