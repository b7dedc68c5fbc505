/**
 * An authenticated variant of our server for the benchmarks: `provider: github` against the test
 * suite's fake GitHub on loopback, a pre-registered confidential client, and a bearer token
 * obtained through the real login flow before measuring. Every measured request carries it.
 */
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startFakeGitHub } from "../../test/support/fakes/FakeGitHub.js"
import { Browser } from "../../test/support/OAuthHarness.js"
import { mxcpTarget, type RunningTarget, type Target } from "./targets.js"

const CLIENT = { id: "bench-client", secret: "bench-client-secret-0123456789", redirect: "http://127.0.0.1:49153/cb" }

export interface AuthTargetOptions {
  readonly name: string
  readonly mainJs: string
  readonly projectDir: string
  readonly cpus?: string | undefined
  /** Extra YAML lines under `auth:` (10-space indent), e.g. a persistence block. */
  readonly authYaml?: string
}

export const mxcpAuthTarget = (opts: AuthTargetOptions): Target => ({
  name: opts.name,
  mode: "session",
  start: async (): Promise<RunningTarget> => {
    const fake = await startFakeGitHub()
    const dir = mkdtempSync(join(tmpdir(), "mxcp-bench-auth-"))
    const configPath = join(dir, "config.yml")
    writeFileSync(
      configPath,
      `mxcp: 1
projects:
  quickstart:
    profiles:
      default:
        auth:
          provider: github
          github:
            client_id: ${fake.clientId}
            client_secret: ${fake.clientSecret}
            auth_url: ${fake.config.auth_url}
            token_url: ${fake.config.token_url}
            api_url: ${fake.config.api_url}
          clients:
            - client_id: ${CLIENT.id}
              client_secret: ${CLIENT.secret}
              name: Bench
              redirect_uris: ["${CLIENT.redirect}"]
${opts.authYaml ?? ""}
`
    )
    const inner = await mxcpTarget({
      name: opts.name,
      mainJs: opts.mainJs,
      projectDir: opts.projectDir,
      args: ["--config", configPath],
      cpus: opts.cpus
    }).start()
    try {
      const verifier = "b".repeat(64)
      const challenge = createHash("sha256").update(verifier).digest("base64url")
      const query = new URLSearchParams({
        response_type: "code",
        client_id: CLIENT.id,
        redirect_uri: CLIENT.redirect,
        code_challenge: challenge,
        code_challenge_method: "S256"
      })
      const base = inner.url.toString().replace(/\/mcp$/, "")
      const back = await new Browser().follow(`${base}/authorize?${query}`, CLIENT.redirect)
      const res = await fetch(`${base}/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString("base64")}`
        },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: back.searchParams.get("code") ?? "",
          redirect_uri: CLIENT.redirect,
          code_verifier: verifier
        }).toString()
      })
      const body = (await res.json()) as { access_token?: string }
      if (body.access_token === undefined) throw new Error(`no access token: ${JSON.stringify(body)}`)
      return {
        ...inner,
        headers: { ...inner.headers, authorization: `Bearer ${body.access_token}` },
        stop: async () => {
          await inner.stop()
          await fake.stop()
          rmSync(dir, { recursive: true, force: true })
        }
      }
    } catch (e) {
      await inner.stop()
      await fake.stop()
      throw e
    }
  }
})
