import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import {
  AccessDenied,
  ConfigIncomplete,
  InvalidClient,
  InvalidClientMetadata,
  InvalidGrant,
  InvalidRedirectUri,
  InvalidRequest,
  InvalidScope,
  InvalidState,
  InvalidTarget,
  InvalidToken,
  isOAuthError,
  MissingScope,
  OAuthError,
  oauthErrorStatus,
  ServerError,
  TemporarilyUnavailable,
  toOAuthErrorBody,
  UnauthorizedClient,
  UnsupportedGrantType,
  UnsupportedResponseType
} from "../../src/domain/oauth/Errors.js"

const d = { description: "why" }

const table: ReadonlyArray<readonly [OAuthError, string, number]> = [
  [new InvalidRequest(d), "invalid_request", 400],
  [new InvalidClient(d), "invalid_client", 401],
  [new InvalidGrant(d), "invalid_grant", 400],
  [new UnauthorizedClient(d), "unauthorized_client", 400],
  [new UnsupportedGrantType(d), "unsupported_grant_type", 400],
  [new InvalidScope(d), "invalid_scope", 400],
  [new InvalidTarget(d), "invalid_target", 400],
  [new InvalidRedirectUri(d), "invalid_redirect_uri", 400],
  [new InvalidClientMetadata(d), "invalid_client_metadata", 400],
  [new AccessDenied(d), "access_denied", 403],
  [new UnsupportedResponseType(d), "unsupported_response_type", 400],
  [new ServerError(d), "server_error", 500],
  [new TemporarilyUnavailable(d), "temporarily_unavailable", 503],
  [new InvalidState(d), "invalid_request", 400],
  [new MissingScope({ description: "why", requiredScopes: ["a", "b"] }), "insufficient_scope", 403],
  [new InvalidToken(d), "invalid_token", 401],
  [new ConfigIncomplete({ description: "why", file: "f.yml", key: "k", fix: "set k" }), "server_error", 500]
]

describe("OAuth errors", () => {
  it("each error carries its RFC code and HTTP status", () => {
    for (const [e, code, status] of table) {
      expect(e.errorCode).toBe(code)
      expect(oauthErrorStatus(e)).toBe(status)
    }
  })

  it("the wire body is exactly {error, error_description}: no _tag, no other field", () => {
    for (const [e, code] of table) {
      const body = toOAuthErrorBody(e)
      expect(body).toStrictEqual({ error: code, error_description: "why" })
      expect(Object.keys(body).sort()).toEqual(["error", "error_description"])
      expect(JSON.stringify(body)).not.toContain("_tag")
    }
  })

  it("ConfigIncomplete keeps file, key and fix but only the description reaches the wire", () => {
    const e = new ConfigIncomplete({
      description: "GitHub OAuth configuration is incomplete",
      file: "/home/u/.mxcp/config.yml",
      key: "projects.p.profiles.default.auth.github.client_secret",
      fix: "set client_secret"
    })
    expect(e.file).toBe("/home/u/.mxcp/config.yml")
    expect(e.fix).toBe("set client_secret")
    expect(JSON.stringify(toOAuthErrorBody(e))).not.toContain("config.yml")
  })

  it("MissingScope carries the required scopes", () => {
    const e = new MissingScope({ description: "needs scopes", requiredScopes: ["mxcp:access", "read"] })
    expect(e.requiredScopes).toEqual(["mxcp:access", "read"])
    expect(e.status).toBe(403)
  })

  it("errors are Schema-encodable and decodable through the OAuthError union", () => {
    for (const [e] of table) {
      const encoded = Schema.encodeSync(OAuthError)(e)
      const decoded = Schema.decodeUnknownEither(OAuthError)(encoded)
      expect(Either.isRight(decoded)).toBe(true)
      if (Either.isRight(decoded)) {
        expect(decoded.right._tag).toBe(e._tag)
        expect(decoded.right.errorCode).toBe(e.errorCode)
      }
    }
  })

  it("isOAuthError recognises our errors only", () => {
    for (const [e] of table) expect(isOAuthError(e)).toBe(true)
    expect(isOAuthError(new Error("x"))).toBe(false)
    expect(isOAuthError({ _tag: "InvalidGrant" })).toBe(false)
    expect(isOAuthError(null)).toBe(false)
    expect(isOAuthError("InvalidGrant")).toBe(false)
  })
})
