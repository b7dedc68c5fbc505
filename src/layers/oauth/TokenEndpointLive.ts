import { Clock, Effect, Either, Layer, Option } from "effect"
import {
  InvalidClient,
  InvalidGrant,
  InvalidRequest,
  type OAuthError,
  TemporarilyUnavailable,
  UnauthorizedClient,
  UnsupportedGrantType
} from "../../domain/oauth/Errors.js"
import { checkCodeVerifier } from "../../domain/oauth/Pkce.js"
import type { AccessTokenRecord, OAuthClient, RotateResult } from "../../domain/oauth/Records.js"
import { checkResource, mcpResource } from "../../domain/oauth/Resource.js"
import { formatScopes, grantScopes } from "../../domain/oauth/Scopes.js"
import { constantTimeEqual, sha256Hex } from "../../domain/oauth/Tokens.js"
import type { RawParams } from "../../services/oauth/AuthorizationFlow.js"
import { ClientRegistry } from "../../services/oauth/ClientRegistry.js"
import { OAuthSettings } from "../../services/oauth/OAuthSettings.js"
import { TokenEndpoint, type TokenEndpointFailure, type TokenRequestContext, type TokenResponse } from "../../services/oauth/TokenEndpoint.js"
import { TokenGenerator } from "../../services/oauth/TokenGenerator.js"
import { type StoreError, type SuccessorTokens, TokenStore } from "../../services/oauth/TokenStore.js"
import { singleParams } from "./Params.js"

const TOKEN_PARAMS = [
  "grant_type",
  "code",
  "redirect_uri",
  "code_verifier",
  "refresh_token",
  "scope",
  "resource",
  "client_id",
  "client_secret",
  "token",
  "token_type_hint"
] as const

interface BasicCredentials {
  readonly clientId: string
  readonly secret: string
}

/** RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`. */
const parseBasic = (authorization: string | undefined): Either.Either<BasicCredentials | undefined, void> => {
  if (authorization === undefined) return Either.right(undefined)
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization)
  if (m === null || m[1] === undefined) return /^Basic\b/i.test(authorization) ? Either.left(undefined) : Either.right(undefined)
  const decoded = Buffer.from(m[1], "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return Either.left(undefined)
  try {
    return Either.right({
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "))
    })
  } catch {
    return Either.left(undefined)
  }
}

export const makeTokenEndpoint = Effect.gen(function* () {
  const clients = yield* ClientRegistry
  const store = yield* TokenStore
  const tokens = yield* TokenGenerator
  const settings = yield* OAuthSettings

  /** Authenticate the client without touching any code or token (checklist A8). */
  const authenticateClient = (p: Record<string, string | undefined>, authorization: string | undefined) =>
    Effect.gen(function* () {
      const basic = parseBasic(authorization)
      const usedBasic = authorization !== undefined && /^Basic\b/i.test(authorization)
      const failWith = (error: OAuthError) => Effect.fail<TokenEndpointFailure>({ error, usedBasic })
      const invalidClient = () => failWith(new InvalidClient({ description: "Client authentication failed" }))
      if (Either.isLeft(basic)) return yield* invalidClient()
      const creds = basic.right
      if (creds !== undefined && p["client_secret"] !== undefined) {
        return yield* failWith(new InvalidRequest({ description: "Use one client authentication method, not two" }))
      }
      if (creds !== undefined && p["client_id"] !== undefined && p["client_id"] !== creds.clientId) {
        return yield* failWith(new InvalidRequest({ description: "client_id does not match the Authorization header" }))
      }
      const clientId = creds?.clientId ?? p["client_id"]
      if (clientId === undefined) return yield* invalidClient()
      const found = yield* clients.find(clientId)
      if (Option.isNone(found)) return yield* invalidClient()
      const client = found.value
      const method = creds !== undefined ? "client_secret_basic" : p["client_secret"] !== undefined ? "client_secret_post" : "none"
      if (!client.authMethods.includes(method)) return yield* invalidClient()
      if (client.secretHash !== undefined) {
        const secret = creds?.secret ?? p["client_secret"] ?? ""
        // Compare hashes: constant time, and the stored value is never the secret itself (A9).
        if (!constantTimeEqual(sha256Hex(secret), client.secretHash)) return yield* invalidClient()
      }
      return client
    })

  const issueTokens = (
    client: OAuthClient,
    grantId: string,
    scopes: ReadonlyArray<string>,
    resource: string | undefined,
    now: number
  ) =>
    Effect.gen(function* () {
      const access = yield* tokens.token
      yield* store.putAccessToken({
        tokenHash: sha256Hex(access),
        grantId,
        clientId: client.clientId,
        scopes,
        resource,
        expiresAt: now + settings.accessTokenTtlMs
      })
      let refresh: string | undefined
      if (client.grantTypes.includes("refresh_token")) {
        refresh = yield* tokens.token
        yield* store.putRefreshToken({
          tokenHash: sha256Hex(refresh),
          grantId,
          clientId: client.clientId,
          scopes,
          expiresAt: now + settings.refreshTokenTtlMs
        })
      }
      return {
        access_token: access,
        token_type: "Bearer",
        expires_in: Math.floor(settings.accessTokenTtlMs / 1000),
        scope: formatScopes(scopes),
        ...(refresh === undefined ? {} : { refresh_token: refresh })
      } satisfies TokenResponse
    })

  const fail = (error: OAuthError, usedBasic = false) => Effect.fail<TokenEndpointFailure>({ error, usedBasic })
  const invalidGrant = (description: string) => fail(new InvalidGrant({ description }))

  const authorizationCode = (client: OAuthClient, p: Record<string, string | undefined>, ctx: TokenRequestContext) =>
    Effect.gen(function* () {
      const code = p["code"]
      if (code === undefined) return yield* fail(new InvalidRequest({ description: "code is required" }))
      if (p["code_verifier"] === undefined) {
        return yield* fail(new InvalidRequest({ description: "code_verifier is required" }))
      }
      const resource = checkResource(p["resource"], mcpResource(ctx.base))
      if (Either.isLeft(resource)) return yield* fail(resource.left)
      const now = yield* Clock.currentTimeMillis
      const redeemed = yield* store.redeemCode(sha256Hex(code), now)
      if (redeemed._tag === "NotFound") return yield* invalidGrant("The authorization code is invalid or expired")
      if (redeemed._tag === "AlreadyUsed") {
        // RFC 6749 §4.1.2: a replayed code revokes what its first redemption issued.
        yield* store.revokeGrant(redeemed.grantId)
        yield* Effect.logWarning("Authorization code replayed: grant revoked").pipe(
          Effect.annotateLogs({ client_id: redeemed.clientId })
        )
        return yield* invalidGrant("The authorization code was already used")
      }
      const rec = redeemed.record
      const reject = (description: string) =>
        store.revokeGrant(rec.grantId).pipe(Effect.zipRight(invalidGrant(description)))
      if (rec.clientId !== client.clientId) return yield* reject("The authorization code was issued to another client")
      if (p["redirect_uri"] !== undefined && p["redirect_uri"] !== rec.redirectUri) {
        return yield* reject("redirect_uri does not match the authorization request")
      }
      if (p["redirect_uri"] === undefined && client.redirectUris.length > 1) {
        return yield* reject("redirect_uri is required")
      }
      const verified = checkCodeVerifier(p["code_verifier"], rec.codeChallenge)
      if (Either.isLeft(verified)) {
        yield* store.revokeGrant(rec.grantId)
        return yield* fail(verified.left)
      }
      if (resource.right !== undefined && rec.resource !== undefined && resource.right !== rec.resource) {
        return yield* reject("resource does not match the authorization request")
      }
      return yield* issueTokens(client, rec.grantId, rec.scopes, resource.right ?? rec.resource, now)
    })

  /**
   * The refresh_token grant. The tokens of a rotation are derived from the presented refresh token
   * (`TokenStore.successorTokens`), so a retry of a rotation whose answer was lost (a crash, a cut
   * connection, parallel requests of one client) can be answered with exactly the tokens of that
   * answer: within `refresh_reuse_grace`, by the same client, while the successor refresh token
   * has not been used yet. Every other presentation of a rotated token is reuse and revokes the
   * whole grant (RFC 9700 4.14, E37).
   */
  const refreshToken = (client: OAuthClient, p: Record<string, string | undefined>, ctx: TokenRequestContext) =>
    Effect.gen(function* () {
      const presented = p["refresh_token"]
      if (presented === undefined) return yield* fail(new InvalidRequest({ description: "refresh_token is required" }))
      if (!client.grantTypes.includes("refresh_token")) {
        return yield* fail(new UnauthorizedClient({ description: "This client may not use refresh tokens" }))
      }
      const resource = checkResource(p["resource"], mcpResource(ctx.base))
      if (Either.isLeft(resource)) return yield* fail(resource.left)
      const now = yield* Clock.currentTimeMillis
      const oldHash = sha256Hex(presented)
      const current = yield* store.getRefreshToken(oldHash, now)
      // Binding is checked before rotating, so another client cannot burn this token (E38).
      if (Option.isSome(current) && current.value.clientId !== client.clientId) {
        return yield* invalidGrant("The refresh token was issued to another client")
      }
      const baseScopes = Option.isSome(current) ? current.value.scopes : []
      const scopes = grantScopes(p["scope"], baseScopes)
      if (Option.isSome(current) && Either.isLeft(scopes)) return yield* fail(scopes.left)
      const grantId = Option.isSome(current) ? current.value.grantId : ""
      if (Option.isSome(current)) {
        const grant = yield* store.getGrant(grantId)
        if (Option.isNone(grant) || grant.value.revoked) return yield* invalidGrant("The grant was revoked")
      }
      const successor = yield* store.successorTokens(presented)
      const narrowed = [...Either.getOrElse(scopes, () => new Set(baseScopes))]
      const access: AccessTokenRecord = {
        tokenHash: sha256Hex(successor.access),
        grantId,
        clientId: client.clientId,
        scopes: narrowed,
        resource: resource.right,
        expiresAt: now + settings.accessTokenTtlMs
      }
      const rotated = yield* store.rotateRefreshToken(
        oldHash,
        {
          tokenHash: sha256Hex(successor.refresh),
          grantId,
          clientId: client.clientId,
          scopes: baseScopes,
          expiresAt: now + settings.refreshTokenTtlMs
        },
        now,
        { access, reuseGraceMs: settings.refreshReuseGraceMs, clientId: client.clientId }
      )
      switch (rotated._tag) {
        case "NotFound":
          return yield* invalidGrant("The refresh token is invalid or expired")
        case "AlreadyUsed": {
          // A retired refresh token came back: someone holds a copy. End the whole grant (E37).
          yield* store.revokeGrant(rotated.grantId)
          yield* Effect.logWarning("Refresh token reused after rotation: grant revoked").pipe(
            Effect.annotateLogs({ client_id: rotated.clientId })
          )
          return yield* invalidGrant("The refresh token was already used")
        }
        case "Redeemed":
          return {
            access_token: successor.access,
            token_type: "Bearer",
            expires_in: Math.floor(settings.accessTokenTtlMs / 1000),
            scope: formatScopes(narrowed),
            refresh_token: successor.refresh
          } satisfies TokenResponse
        case "Replayed":
          return yield* replayRotation(client, p, rotated, successor, resource.right, now)
      }
    })

  /**
   * A retry of a rotation that already happened, within the reuse grace: the same answer again
   * (same access token, same successor refresh token), with `expires_in` what is left of that
   * access token. Nothing is rotated, nothing revoked. If that access token is gone (revoked
   * through /revoke, or expired), a new one is minted under the same grant instead.
   */
  const replayRotation = (
    client: OAuthClient,
    p: Record<string, string | undefined>,
    replayed: Extract<RotateResult, { _tag: "Replayed" }>,
    successor: SuccessorTokens,
    resource: string | undefined,
    now: number
  ) =>
    Effect.gen(function* () {
      const { record } = replayed
      const scopes = grantScopes(p["scope"], record.scopes)
      if (Either.isLeft(scopes)) return yield* fail(scopes.left)
      const grant = yield* store.getGrant(record.grantId)
      if (Option.isNone(grant) || grant.value.revoked) return yield* invalidGrant("The grant was revoked")
      yield* Effect.logInfo("Refresh retried within the reuse grace: the rotation's answer is sent again").pipe(
        Effect.annotateLogs({ client_id: client.clientId })
      )
      const kept = replayed.access
      if (kept !== undefined && kept.expiresAt - now >= 1000) {
        return {
          access_token: successor.access,
          token_type: "Bearer",
          expires_in: Math.floor((kept.expiresAt - now) / 1000),
          scope: formatScopes(kept.scopes),
          refresh_token: successor.refresh
        } satisfies TokenResponse
      }
      const fresh = yield* tokens.token
      const granted = [...scopes.right]
      yield* store.putAccessToken({
        tokenHash: sha256Hex(fresh),
        grantId: record.grantId,
        clientId: client.clientId,
        scopes: granted,
        resource,
        expiresAt: now + settings.accessTokenTtlMs
      })
      return {
        access_token: fresh,
        token_type: "Bearer",
        expires_in: Math.floor(settings.accessTokenTtlMs / 1000),
        scope: formatScopes(granted),
        refresh_token: successor.refresh
      } satisfies TokenResponse
    })

  const storeFailure = (e: StoreError) =>
    Effect.logError(`Token store failure in ${e.operation}`).pipe(
      Effect.zipRight(fail(new TemporarilyUnavailable({ description: "The authorization server is temporarily unavailable" })))
    )

  const token = Effect.fn("TokenEndpoint.token")(function* (form: RawParams, ctx: TokenRequestContext) {
    const parsed = singleParams(form, TOKEN_PARAMS)
    if (Either.isLeft(parsed)) return yield* fail(parsed.left)
    const p = parsed.right
    const grantType = p["grant_type"]
    if (grantType === undefined) return yield* fail(new InvalidRequest({ description: "grant_type is required" }))
    if (grantType !== "authorization_code" && grantType !== "refresh_token") {
      return yield* fail(new UnsupportedGrantType({ description: `grant_type ${grantType.slice(0, 40)} is not supported` }))
    }
    const client = yield* authenticateClient(p, ctx.authorization)
    return grantType === "authorization_code"
      ? yield* authorizationCode(client, p, ctx)
      : yield* refreshToken(client, p, ctx)
  }, Effect.catchTag("StoreError", storeFailure))

  const revoke = Effect.fn("TokenEndpoint.revoke")(function* (form: RawParams, ctx: TokenRequestContext) {
    const parsed = singleParams(form, TOKEN_PARAMS)
    if (Either.isLeft(parsed)) return yield* fail(parsed.left)
    const p = parsed.right
    const client = yield* authenticateClient(p, ctx.authorization)
    const presented = p["token"]
    if (presented === undefined) return yield* fail(new InvalidRequest({ description: "token is required" }))
    const hash = sha256Hex(presented)
    const now = yield* Clock.currentTimeMillis
    const refresh = yield* store.getRefreshToken(hash, now)
    if (Option.isSome(refresh)) {
      // Revoking a refresh token ends the grant, with every access token it produced.
      if (refresh.value.clientId === client.clientId) yield* store.revokeGrant(refresh.value.grantId)
      return
    }
    const access = yield* store.getAccessToken(hash, now)
    if (Option.isSome(access) && access.value.clientId === client.clientId) yield* store.deleteAccessToken(hash)
  }, Effect.catchTag("StoreError", storeFailure))

  return TokenEndpoint.of({ token, revoke })
})

export const TokenEndpointLive: Layer.Layer<
  TokenEndpoint,
  never,
  ClientRegistry | TokenStore | TokenGenerator | OAuthSettings
> = Layer.effect(TokenEndpoint, makeTokenEndpoint)
