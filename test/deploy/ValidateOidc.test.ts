/**
 * Issue 13: `mxcp validate` with `provider: oidc`, `google` and `keycloak` reads the discovery
 * document once (as startup does) and prints the issuer it found, or reports why it cannot be
 * used with the file, the key and the fix; `mode: verifier` is refused by name. Real
 * `node dist/main.js validate` processes against a real OpenID Provider on 127.0.0.1.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type RunningOpenIdProvider, startOpenIdProvider } from "../support/fakes/OpenIdProvider.js"
import { copyExample } from "../support/Project.js"
import { runCli } from "../support/ServerProcess.js"

const validate = async (auth: string) => {
  const project = copyExample()
  try {
    const config = join(project.dir, "user-config.yml")
    writeFileSync(config, `mxcp: 1\nprojects:\n  quickstart:\n    profiles:\n      default:\n        auth:\n${auth}`)
    const result = await runCli(project.dir, ["validate", "--config", config])
    return { ...result, config }
  } finally {
    project.cleanup()
  }
}

const block = (provider: string, keys: Readonly<Record<string, string>>) =>
  `          provider: ${provider}\n          ${provider}:\n${Object.entries(keys).map(([k, v]) => `            ${k}: "${v}"\n`).join("")}`

const AUTH = "projects.quickstart.profiles.default.auth"

describe.concurrent("validate with OpenID providers", () => {
  let idp: RunningOpenIdProvider
  let keycloak: RunningOpenIdProvider
  beforeAll(async () => {
    idp = await startOpenIdProvider({ layout: "default" })
    keycloak = await startOpenIdProvider({ layout: "keycloak", realm: "corp" })
  })
  afterAll(async () => {
    await idp?.stop()
    await keycloak?.stop()
  })

  it("oidc: prints the issuer found in the discovery document and the callback URL; exit 0", async () => {
    const r = await validate(block("oidc", { config_url: idp.configUrl, client_id: "app", client_secret: "s3cret" }))
    expect(r.code).toBe(0)
    const lines = r.stdout.split("\n")
    expect(lines).toContain("Auth: oidc (profile default)")
    expect(lines).toContain(`OpenID Provider: issuer ${idp.issuer} (from ${idp.configUrl})`)
    expect(lines).toContain("Callback URL to register with OIDC: http://127.0.0.1:8000/oidc/callback")
    expect(r.stdout + r.stderr).not.toContain("s3cret")
  })

  it("keycloak: the realm's issuer under server_url", async () => {
    const r = await validate(block("keycloak", { server_url: keycloak.baseUrl, realm: "corp", client_id: "app", client_secret: "s" }))
    expect(r.code).toBe(0)
    expect(r.stdout.split("\n")).toContain(
      `OpenID Provider: issuer ${keycloak.baseUrl}/realms/corp (from ${keycloak.baseUrl}/realms/corp/.well-known/openid-configuration)`
    )
  })

  it("keycloak with a wrong realm: one error naming server_url and the realm fix; exit 1", async () => {
    const r = await validate(block("keycloak", { server_url: keycloak.baseUrl, realm: "nope", client_id: "app", client_secret: "s" }))
    expect(r.code).toBe(1)
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("Error: "))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(r.config)
    expect(errors[0]).toContain(`${AUTH}.keycloak.server_url`)
    expect(errors[0]).toContain("HTTP 404")
    expect(errors[0]).toContain("realm")
  })

  it("oidc with an unreachable discovery URL: an error naming config_url; exit 1", async () => {
    const r = await validate(block("oidc", { config_url: "http://127.0.0.1:9/.well-known/openid-configuration", client_id: "app", client_secret: "s", timeout: "2" }))
    expect(r.code).toBe(1)
    const error = r.stderr.split("\n").find((l) => l.startsWith("Error: ")) ?? ""
    expect(error).toContain(`${AUTH}.oidc.config_url`)
    expect(error).toContain("could not be reached")
  })

  it("google pointed at a document naming another issuer: the error says which issuer it found", async () => {
    const r = await validate(block("google", {
      config_url: `${idp.baseUrl}/other/.well-known/openid-configuration`,
      client_id: "app",
      client_secret: "s"
    }))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${AUTH}.google.config_url`)
  })

  it("mode: verifier is refused with the key and the fix; exit 1", async () => {
    const r = await validate(`          provider: oidc\n          mode: verifier\n          oidc:\n            config_url: "${idp.configUrl}"\n`)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`${AUTH}.mode`)
    expect(r.stderr).toContain("verifier mode is not supported")
  })
})
