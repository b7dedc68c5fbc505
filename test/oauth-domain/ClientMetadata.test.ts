import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import {
  allowsRefreshToken,
  isPublicClient,
  type RegisteredClientMetadata,
  validateClientMetadata
} from "../../src/domain/oauth/ClientMetadata.js"
import { toOAuthErrorBody } from "../../src/domain/oauth/Errors.js"
import { escapeHtml } from "../../src/domain/oauth/Html.js"

const base = { redirect_uris: ["https://app.example.com/cb"] }

const ok = (input: unknown): RegisteredClientMetadata => {
  const r = validateClientMetadata(input)
  if (Either.isLeft(r)) throw new Error(`expected success, got ${JSON.stringify(toOAuthErrorBody(r.left))}`)
  return r.right
}

const errorCode = (input: unknown): string | undefined => {
  const r = validateClientMetadata(input)
  return Either.isLeft(r) ? r.left.errorCode : undefined
}

describe("client registration metadata", () => {
  it("minimal request: RFC 7591 defaults", () => {
    expect(ok(base)).toStrictEqual({
      redirect_uris: ["https://app.example.com/cb"],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic"
    })
  })

  it("a typical MCP client registration", () => {
    const m = ok({
      client_name: "Claude Code (mxcp)",
      redirect_uris: ["http://localhost:53142/callback", "http://127.0.0.1:53142/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: "mxcp:access  mxcp:access",
      client_uri: "https://claude.ai",
      software_id: "ignored",
      contacts: ["x@example.com"]
    })
    expect(m).toStrictEqual({
      client_name: "Claude Code (mxcp)",
      redirect_uris: ["http://localhost:53142/callback", "http://127.0.0.1:53142/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: "mxcp:access",
      client_uri: "https://claude.ai"
    })
    expect(isPublicClient(m)).toBe(true)
    expect(allowsRefreshToken(m)).toBe(true)
    expect(allowsRefreshToken(ok(base))).toBe(false)
    expect(isPublicClient(ok(base))).toBe(false)
  })

  it("null and empty values mean absent; names are trimmed", () => {
    expect(
      ok({ ...base, client_name: "  My App  ", client_uri: null, logo_uri: "", scope: null, grant_types: null })
    ).toStrictEqual({
      redirect_uris: ["https://app.example.com/cb"],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      client_name: "My App"
    })
  })

  it("duplicate redirect URIs and grant types are folded", () => {
    const m = ok({
      redirect_uris: ["https://app.example.com/cb", "https://app.example.com/cb"],
      grant_types: ["refresh_token", "authorization_code", "refresh_token"]
    })
    expect(m.redirect_uris).toEqual(["https://app.example.com/cb"])
    expect(m.grant_types).toEqual(["authorization_code", "refresh_token"])
  })

  it("A1 dangerous redirect URIs → invalid_redirect_uri", () => {
    for (
      const uri of [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,x",
        "vbscript:x",
        "file:///etc/passwd",
        " https://app.example.com/cb",
        "\u0001https://app.example.com/cb",
        "https://app.example.com/cb\r\n"
      ]
    ) {
      expect(errorCode({ redirect_uris: ["https://ok.example.com/cb", uri] }), JSON.stringify(uri)).toBe(
        "invalid_redirect_uri"
      )
    }
    const r = validateClientMetadata({ redirect_uris: ["javascript:alert(1)"] })
    expect(Either.isLeft(r) && toOAuthErrorBody(r.left)).toStrictEqual({
      error: "invalid_redirect_uri",
      error_description: "redirect_uris[0] uses the forbidden scheme javascript:"
    })
  })

  it("A2 no redirect URIs, non-loopback http, userinfo, fragment → 400 invalid_redirect_uri", () => {
    for (
      const input of [
        {},
        { redirect_uris: [] },
        { redirect_uris: null },
        { redirect_uris: "https://app.example.com/cb" },
        { redirect_uris: [42] },
        { redirect_uris: ["http://app.example.com/cb"] },
        { redirect_uris: ["http://localhost@evil/cb"] },
        { redirect_uris: ["https://app.example.com/cb#x"] },
        { redirect_uris: Array.from({ length: 11 }, (_, i) => `https://app.example.com/cb${i}`) }
      ]
    ) {
      const r = validateClientMetadata(input)
      expect(Either.isLeft(r), JSON.stringify(input)).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left.errorCode).toBe("invalid_redirect_uri")
        expect(r.left.status).toBe(400)
      }
    }
  })

  it("A3 client_uri / logo_uri / tos_uri / policy_uri javascript: → invalid_client_metadata; HTML names kept for escaping", () => {
    for (const field of ["client_uri", "logo_uri", "tos_uri", "policy_uri"]) {
      for (const v of ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:image/svg+xml,<svg/>", "http://evil.com/x"]) {
        expect(errorCode({ ...base, [field]: v }), `${field}=${v}`).toBe("invalid_client_metadata")
      }
    }
    const name = "<img src=x onerror=alert(1)>Evil"
    const m = ok({ ...base, client_name: name, logo_uri: "https://app.example.com/logo.png" })
    expect(m.client_name).toBe(name)
    expect(escapeHtml(m.client_name ?? "")).toBe("&lt;img src=x onerror=alert(1)&gt;Evil")
  })

  it("client_name: length cap and no control or bidi characters", () => {
    expect(ok({ ...base, client_name: "é".repeat(200) }).client_name).toHaveLength(200)
    expect(errorCode({ ...base, client_name: "a".repeat(201) })).toBe("invalid_client_metadata")
    expect(errorCode({ ...base, client_name: "Good\u202Eevil" })).toBe("invalid_client_metadata")
    expect(errorCode({ ...base, client_name: "Line\nbreak" })).toBe("invalid_client_metadata")
    expect(errorCode({ ...base, client_name: 42 })).toBe("invalid_client_metadata")
  })

  it("A5 unsupported or inconsistent grant_types, response_types, token_endpoint_auth_method → invalid_client_metadata", () => {
    const bad: ReadonlyArray<Record<string, unknown>> = [
      { grant_types: ["implicit"] },
      { grant_types: ["password"] },
      { grant_types: ["client_credentials"] },
      { grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"] },
      { grant_types: ["refresh_token"] },
      { grant_types: [] },
      { grant_types: "authorization_code" },
      { response_types: ["token"] },
      { response_types: ["code", "id_token"] },
      { response_types: ["code token"] },
      { response_types: [] },
      { token_endpoint_auth_method: "private_key_jwt" },
      { token_endpoint_auth_method: "client_secret_jwt" },
      { token_endpoint_auth_method: "tls_client_auth" },
      { token_endpoint_auth_method: "NONE" },
      { token_endpoint_auth_method: 1 },
      { scope: "a\"b" },
      { scope: 5 }
    ]
    for (const extra of bad) {
      const r = validateClientMetadata({ ...base, ...extra })
      expect(Either.isLeft(r), JSON.stringify(extra)).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left.errorCode).toBe("invalid_client_metadata")
        expect(r.left.status).toBe(400)
      }
    }
    for (const method of ["none", "client_secret_post", "client_secret_basic"] as const) {
      expect(ok({ ...base, token_endpoint_auth_method: method }).token_endpoint_auth_method).toBe(method)
    }
  })

  it("a body that is not an object → invalid_client_metadata", () => {
    for (const input of [null, "x", 42, [base]]) {
      expect(errorCode(input), JSON.stringify(input)).toBe("invalid_client_metadata")
    }
  })

  it("error descriptions never echo attacker text with quotes or backslashes", () => {
    for (
      const input of [
        { redirect_uris: ["https://app.example.com/\"<x>"] },
        { ...base, grant_types: ["\"evil\\"] },
        { ...base, token_endpoint_auth_method: "\"evil\\" },
        { ...base, client_uri: "https://ex.com/\"" }
      ]
    ) {
      const r = validateClientMetadata(input)
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r)) expect(r.left.description).not.toMatch(/["\\]/)
    }
  })
})
