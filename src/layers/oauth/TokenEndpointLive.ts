import { Clock, Effect, Either, Layer, Option } from "effect"
import {
  InvalidClient,
  InvalidGrant,
  InvalidRequest,
  type OAuthError,
  TemporarilyUnavailable,
  UnauthorizedClient
} from "../../domain/oauth/Errors.js"
import { checkCodeVerifier } from "../../domain/oauth/Pkce.js"
import type { AccessTokenRecord, OAuthClient, RotateResult } from "../../domain/oauth/Records.js"
import type {
  AuthorizationCodeGrant,
  ClientCredentials,
  RefreshTokenGrant,
  RevocationRequest,
  TokenRequest
} from "../../domain/oauth/Requests.js"
import { checkResource, mcpResource } from "../../domain/oauth/Resource.js"
import { formatScopes, grantScopes } from "../../domain/oauth/Scopes.js"
import { constantTimeEqual, sha256Hex } from "../../domain/oauth/Tokens.js"
import { ClientRegistry } from "../../services/oauth/ClientRegistry.js"
import { OAuthSettings } from "../../services/oauth/OAuthSettings.js"
import { TokenEndpoint, type TokenRequestContext, type TokenResponse } from "../../services/oauth/TokenEndpoint.js"
import { TokenGenerator } from "../../services/oauth/TokenGenerator.js"
import { type StoreError, type SuccessorTokens, TokenStore } from "../../services/oauth/TokenStore.js"

export const makeTokenEndpoint = Effect.gen(function* () {
  const clients = yield* ClientRegistry
  const store = yield* TokenStore
  const tokens = yield* TokenGenerator
  const settings = yield* OAuthSettings

  /**
   * Authenticate the client without touching any code or token (checklist A8). The credentials
   * were decoded at the edge (one method, never two); here: is it our client, may it use that
   * method, and is the secret right.
   */
  const authenticateClient = (creds: ClientCredentials) =>
    Effect.gen(function* () {
      const invalidClient = () => fail(new InvalidClient({ description: "Client authentication failed" }))
      const found = yield* clients.find(creds.clientId).pipe(
        Effect.catchTag("ClientMetadataRefused", () => Effect.succeed(Option.none<OAuthClient>()))
      )
      if (Option.isNone(found)) return yield* invalidClient()
      const client = found.value
      if (!client.authMethods.includes(creds.method)) return yield* invalidClient()
      if (client.secretHash !== undefined) {
        const secret = creds.method === "none" ? "" : creds.secret
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

  const fail = (error: OAuthError) => Effect.fail(error)
  const invalidGrant = (description: string) => fail(new InvalidGrant({ description }))

  const authorizationCode = (client: OAuthClient, p: AuthorizationCodeGrant, ctx: TokenRequestContext) =>
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
  const refreshToken = (client: OAuthClient, p: RefreshTokenGrant, ctx: TokenRequestContext) =>
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
    p: RefreshTokenGrant,
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

  const token = Effect.fn("TokenEndpoint.token")(function* (request: TokenRequest, ctx: TokenRequestContext) {
    const client = yield* authenticateClient(request.client)
    const grant = request.grant
    return grant.grant_type === "authorization_code"
      ? yield* authorizationCode(client, grant, ctx)
      : yield* refreshToken(client, grant, ctx)
  }, Effect.catchTag("StoreError", storeFailure))

  const revoke = Effect.fn("TokenEndpoint.revoke")(function* (request: RevocationRequest, _ctx: TokenRequestContext) {
    const client = yield* authenticateClient(request.client)
    const presented = request.form.token
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
