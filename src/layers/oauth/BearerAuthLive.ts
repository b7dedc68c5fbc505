import { Clock, Deferred, Effect, Layer, Option, Redacted } from "effect"
import { InvalidToken, MissingScope } from "../../domain/oauth/Errors.js"
import type { GrantRecord } from "../../domain/oauth/Records.js"
import { mcpResource } from "../../domain/oauth/Resource.js"
import { formatScopes, missingScopes } from "../../domain/oauth/Scopes.js"
import { isBase64Url32, sha256Hex } from "../../domain/oauth/Tokens.js"
import type { UpstreamTokens } from "../../domain/oauth/Identity.js"
import { type Authenticated, BearerAuth, type NoToken } from "../../services/BearerAuth.js"
import { IdentityProvider } from "../../services/IdentityProvider.js"
import { OAuthSettings } from "../../services/OAuthSettings.js"
import { TokenStore } from "../../services/TokenStore.js"

/** Refresh an upstream token this long before it expires. */
const EXPIRY_SKEW_MS = 30_000

const invalid = (description: string) => new InvalidToken({ description })

export const makeBearerAuth = Effect.gen(function* () {
  const store = yield* TokenStore
  const provider = yield* IdentityProvider
  const settings = yield* OAuthSettings
  /** One upstream refresh per grant at a time; concurrent requests wait for it (E43). */
  const inFlight = new Map<string, Deferred.Deferred<UpstreamTokens | undefined>>()

  const refreshUpstream = (grant: GrantRecord) =>
    Effect.gen(function* () {
      const existing = inFlight.get(grant.id)
      if (existing !== undefined) return yield* Deferred.await(existing)
      const done = yield* Deferred.make<UpstreamTokens | undefined>()
      inFlight.set(grant.id, done)
      const refreshToken = grant.upstream.refreshToken
      const outcome = yield* (refreshToken === undefined
        ? Effect.succeed(grant.upstream)
        : provider.refresh(refreshToken, grant.upstream).pipe(
          // Stored before anyone is answered, so a rotated refresh token is never lost.
          Effect.tap((fresh) => store.updateGrantUpstream(grant.id, fresh)),
          Effect.tap(() => Effect.logDebug("Upstream token refreshed").pipe(Effect.annotateLogs({ provider: provider.name }))),
          Effect.catchTags({
            UpstreamGrantRevoked: () =>
              store.revokeGrant(grant.id).pipe(
                Effect.zipRight(Effect.logInfo("Upstream grant revoked; session ended")),
                Effect.as(undefined)
              ),
            ProviderError: (e) =>
              Effect.logWarning(`Upstream refresh failed (${e.operation}, ${e.kind}); using the current token`).pipe(
                Effect.as(grant.upstream)
              ),
            StoreError: (e) =>
              Effect.logError(`Token store failure in ${e.operation}`).pipe(Effect.as(grant.upstream))
          }),
          Effect.catchTag("StoreError", (e) =>
            Effect.logError(`Token store failure in ${e.operation}`).pipe(Effect.as(undefined))
          )
        )).pipe(Effect.ensuring(Effect.sync(() => inFlight.delete(grant.id))))
      yield* Deferred.succeed(done, outcome)
      return outcome
    })

  const authenticate = Effect.fn("BearerAuth.authenticate")(function* (authorization: string | undefined, base: string) {
    if (authorization === undefined || authorization.trim() === "") return yield* Effect.fail<NoToken>({ _tag: "NoToken" })
    const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization)
    if (m === null || m[1] === undefined) return yield* Effect.fail(invalid("The Authorization header is not a Bearer token"))
    const token = m[1]
    // Our tokens have one shape; anything else (an upstream token, garbage) is not worth a lookup.
    if (!isBase64Url32(token)) return yield* Effect.fail(invalid("The access token is invalid"))
    const now = yield* Clock.currentTimeMillis
    const lookup = Effect.gen(function* () {
      const access = yield* store.getAccessToken(sha256Hex(token), now)
      if (Option.isNone(access)) return yield* Effect.fail(invalid("The access token is invalid, expired or revoked"))
      const rec = access.value
      if (rec.resource !== undefined && rec.resource !== mcpResource(base)) {
        return yield* Effect.fail(invalid("The access token was issued for another resource"))
      }
      const grant = yield* store.getGrant(rec.grantId)
      if (Option.isNone(grant) || grant.value.revoked) return yield* Effect.fail(invalid("The session has ended"))
      return { rec, grant: grant.value }
    })
    const { rec, grant } = yield* lookup.pipe(
      Effect.catchTag("StoreError", (e) =>
        Effect.logError(`Token store failure in ${e.operation}`).pipe(
          Effect.zipRight(Effect.fail(invalid("The access token could not be verified")))
        )
      )
    )
    const missing = missingScopes(rec.scopes, settings.requiredScopes)
    if (missing.length > 0) {
      return yield* Effect.fail(
        new MissingScope({
          description: `The access token lacks required scopes: ${formatScopes(missing)}`,
          requiredScopes: settings.requiredScopes
        })
      )
    }
    let upstream: UpstreamTokens | undefined = grant.upstream
    if (upstream.expiresAt !== undefined && now >= upstream.expiresAt - EXPIRY_SKEW_MS) {
      upstream = yield* refreshUpstream(grant)
      if (upstream === undefined) return yield* Effect.fail(invalid("The session has ended; log in again"))
    }
    const user = grant.user
    return {
      user,
      sqlUser: {
        username: user.username,
        email: user.email,
        provider: user.provider,
        externalToken: Redacted.value(upstream.accessToken)
      },
      clientId: rec.clientId,
      scopes: rec.scopes,
      principal: `${user.provider}:${user.id}`,
      expiresAt: rec.expiresAt
    } satisfies Authenticated
  })

  return BearerAuth.of({ authenticate })
})

export const BearerAuthLive: Layer.Layer<BearerAuth, never, TokenStore | IdentityProvider | OAuthSettings> = Layer.effect(
  BearerAuth,
  makeBearerAuth
)
