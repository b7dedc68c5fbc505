/**
 * Issue 13: the `oidc`, `google` and `keycloak` provider blocks, `claim_mappings` and `auth.mode`
 * through the real loader (files on disk): defaults, and every refusal naming file, key and fix.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { loadAppConfig } from "../../src/layers/config/AppConfigLive.js"
import { loadError, overrides, project, SiteMinimal, tempDir, writeUserConfig } from "./helpers.js"

const authYaml = (auth: string) => `mxcp: 1
projects:
  demo:
    profiles:
      default:
        auth:
${auth.split("\n").map((l) => (l === "" ? l : `          ${l}`)).join("\n")}
`

const setup = (auth: string) =>
  Effect.gen(function*() {
    const root = yield* tempDir
    const { homeDir, projectDir } = project(root, SiteMinimal)
    const userFile = writeUserConfig(homeDir, authYaml(auth))
    return { o: overrides(projectDir, homeDir), userFile }
  })

const AUTH = "projects.demo.profiles.default.auth"

describe("OIDC provider blocks in the user config", () => {
  it.scoped("oidc: MXCP's defaults (scope, callback_path, provider_name) and claim_mappings decoded", () =>
    Effect.gen(function*() {
      const { o } = yield* setup(`provider: oidc
oidc:
  config_url: https://idp.example.com/.well-known/openid-configuration
  client_id: app
  client_secret: s3cret
  claim_mappings:
    "https://example.com/roles": {admin: [admin, billing.manage]}
    realm_access.roles: {report-viewer: [reports.view]}`)
      const config = yield* loadAppConfig(o)
      expect(config.auth.provider).toBe("oidc")
      expect(config.auth.mode).toBe("issuer")
      expect(config.auth.oidc).toMatchObject({
        scope: "openid profile email",
        callback_path: "/oidc/callback",
        provider_name: "oidc",
        extra_authorize_params: {},
        claim_mappings: { "https://example.com/roles": { admin: ["admin", "billing.manage"] }, "realm_access.roles": { "report-viewer": ["reports.view"] } }
      })
    }))

  it.scoped("oidc without config_url: incomplete, naming the key and the fix", () =>
    Effect.gen(function*() {
      const { o, userFile } = yield* setup(`provider: oidc
oidc: {client_id: app, client_secret: s}`)
      const e = yield* loadError(o)
      expect(e).toMatchObject({ file: userFile, key: `${AUTH}.oidc.config_url`, message: "OIDC OAuth configuration is incomplete" })
      expect(e.fix).toContain("config_url")
    }))

  it.scoped("keycloak without realm and server_url: incomplete, naming both", () =>
    Effect.gen(function*() {
      const { o } = yield* setup(`provider: keycloak
keycloak: {client_id: app, client_secret: s}`)
      const e = yield* loadError(o)
      expect(e).toMatchObject({ key: `${AUTH}.keycloak`, message: "Keycloak OAuth configuration is incomplete" })
      expect(e.fix).toBe(`set realm and server_url in ${AUTH}.keycloak`)
    }))

  it.scoped("google with only credentials: MXCP's endpoints and scope", () =>
    Effect.gen(function*() {
      const { o } = yield* setup(`provider: google
google: {client_id: app, client_secret: s}`)
      const config = yield* loadAppConfig(o)
      expect(config.auth.google).toMatchObject({
        auth_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        scope: "openid profile email",
        callback_path: "/google/callback"
      })
    }))

  it.scoped("a plain-http config_url to a remote host is refused (https, or http on loopback only)", () =>
    Effect.gen(function*() {
      const { o } = yield* setup(`provider: oidc
oidc: {config_url: "http://idp.example.com/.well-known/openid-configuration", client_id: app, client_secret: s}`)
      const e = yield* loadError(o)
      expect(e.key).toBe(`${AUTH}.oidc.config_url`)
      const loopback = yield* setup(`provider: oidc
oidc: {config_url: "http://127.0.0.1:8080/.well-known/openid-configuration", client_id: app, client_secret: s}`)
      expect((yield* loadAppConfig(loopback.o)).auth.oidc?.config_url).toBe("http://127.0.0.1:8080/.well-known/openid-configuration")
    }))

  it.scoped("extra_authorize_params may not override the flow's own parameters (state, nonce, redirect_uri...)", () =>
    Effect.gen(function*() {
      const { o } = yield* setup(`provider: oidc
oidc:
  config_url: https://idp.example.com/.well-known/openid-configuration
  client_id: app
  client_secret: s
  extra_authorize_params: {prompt: consent, nonce: fixed}`)
      const e = yield* loadError(o)
      expect(e.key).toBe(`${AUTH}.oidc.extra_authorize_params.nonce`)
      expect(e.fix).toContain("remove nonce")
    }))

  it.scoped("claim_mappings whose capabilities are not a list: an error naming the key", () =>
    Effect.gen(function*() {
      const { o } = yield* setup(`provider: oidc
oidc:
  config_url: https://idp.example.com/.well-known/openid-configuration
  client_id: app
  client_secret: s
  claim_mappings: {groups: {admins: admin}}`)
      const e = yield* loadError(o)
      expect(e.key).toContain("claim_mappings")
    }))

  it.scoped("auth.mode: verifier is refused by name (not supported yet), never served as issuer mode", () =>
    Effect.gen(function*() {
      const { o, userFile } = yield* setup(`provider: oidc
mode: verifier
oidc: {config_url: "https://idp.example.com/.well-known/openid-configuration"}`)
      const e = yield* loadError(o)
      expect(e).toMatchObject({ file: userFile, key: `${AUTH}.mode` })
      expect(e.message).toContain("verifier mode is not supported")
      expect(e.fix).toContain("remove")
      const bad = yield* setup(`provider: oidc
mode: resource`)
      expect((yield* loadError(bad.o)).key).toBe(`${AUTH}.mode`)
    }))
})
