import { Clock, Deferred, Effect, Layer, Option, Redacted } from "effect"
import { InvalidToken, MissingScope } from "../../domain/oauth/Errors.js"
import type { GrantRecord } from "../../domain/oauth/Records.js"
import { mcpResource } from "../../domain/oauth/Resource.js"
import { formatScopes, missingScopes } from "../../domain/oauth/Scopes.js"
import { isBase64Url32, sha256Hex } from "../../domain/oauth/Tokens.js"
import type { CurrentUser, UpstreamTokens } from "../../domain/oauth/Identity.js"
import { type Authenticated, BearerAuth, type NoToken, type Unavailable } from "../../services/oauth/BearerAuth.js"
import { ClientRegistry } from "../../services/oauth/ClientRegistry.js"
import { IdentityProvider } from "../../services/oauth/IdentityProvider.js"
import { OAuthSettings } from "../../services/oauth/OAuthSettings.js"
import { type StoreError, TokenStore } from "../../services/oauth/TokenStore.js"
import { tracingEnabled } from "../server/Tracing.js"

/** Refresh an upstream token this long before it expires. */
const EXPIRY_SKEW_MS = 30_000

const invalid = (description: string) => new InvalidToken({ description })

/** The store did not answer: the token cannot be checked now (503), which says nothing about it. */
const storeDown = (e: StoreError) =>
  Effect.logError(`Token store failure in ${e.operation}`).pipe(
    Effect.zipRight(Effect.fail<Unavailable>({ _tag: "Unavailable" }))
  )

export const makeBearerAuth = Effect.gen(function* () {
  // A span per /mcp request only when an application tracer collects it (see Tracing.ts).
  const traced: typeof Effect.fnUntraced = (yield* tracingEnabled) ? Effect.fn("BearerAuth.authenticate") : Effect.fnUntraced
  const store = yield* TokenStore
  const clients = yield* ClientRegistry
  const provider = yield* IdentityProvider
  const settings = yield* OAuthSettings
  /**
   * One upstream refresh per grant at a time: concurrent requests of this process wait for it
   * (E43), and `TokenStore.withGrantLock` extends that to every process sharing the store.
   */
  const inFlight = new Map<string, Deferred.Deferred<UpstreamTokens | undefined, StoreError>>()

  /**
   * The refresh itself, run by one request per grant and process, under the grant's lock. The
   * grant is read again first: a refresh that finished after the caller read it (here or in
   * another process) has already rotated the upstream refresh token, and presenting the old one
   * would end the session. Then refreshed upstream and stored before anyone is answered, so a
   * rotated refresh token is never lost. `undefined`: the session ended.
   */
  const runRefresh = (grantId: string): Effect.Effect<UpstreamTokens | undefined, StoreError> =>
    store.withGrantLock(
      grantId,
      Effect.gen(function* () {
        const current = yield* store.getGrant(grantId)
        if (Option.isNone(current) || current.value.revoked) return undefined
        const upstream = current.value.upstream
        const now = yield* Clock.currentTimeMillis
        const refreshToken = upstream.refreshToken
        if (upstream.expiresAt === undefined || now < upstream.expiresAt - EXPIRY_SKEW_MS || refreshToken === undefined) {
          return upstream
        }
        return yield* provider.refresh(refreshToken, upstream).pipe(
          Effect.tap((fresh) =>
            store.updateGrantUpstream(grantId, fresh).pipe(
              Effect.catchTag("StoreError", (e) => Effect.logError(`Token store failure in ${e.operation}`))
            )
          ),
          Effect.tap(() => Effect.logDebug("Upstream token refreshed").pipe(Effect.annotateLogs({ provider: provider.name }))),
          Effect.catchTags({
            UpstreamGrantRevoked: () =>
              store.revokeGrant(grantId).pipe(
                Effect.zipRight(Effect.logInfo("Upstream grant revoked; session ended")),
                Effect.as(undefined)
              ),
            ProviderError: (e) =>
              Effect.logWarning(`Upstream refresh failed (${e.operation}, ${e.kind}); using the current token`).pipe(
                Effect.as(upstream)
              )
          })
        )
      })
    )

  const refreshUpstream = (grant: GrantRecord) =>
    Effect.gen(function* () {
      const fiberId = yield* Effect.fiberId
      // Check and claim in one synchronous step, so two requests never both lead.
      const claim = yield* Effect.sync(() => {
        const existing = inFlight.get(grant.id)
        if (existing !== undefined) return { leader: false, done: existing } as const
        const done = Deferred.unsafeMake<UpstreamTokens | undefined, StoreError>(fiberId)
        inFlight.set(grant.id, done)
        return { leader: true, done } as const
      })
      if (!claim.leader) return yield* Deferred.await(claim.done)
      // Uninterruptible: a caller that goes away must neither lose a rotated refresh token nor
      // leave the requests waiting on this refresh hanging (the provider call has its timeout).
      return yield* runRefresh(grant.id).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => inFlight.delete(grant.id)).pipe(Effect.zipRight(Deferred.done(claim.done, exit)))
        ),
        Effect.uninterruptible
      )
    })

  const authenticate = traced(function* (authorization: string | undefined, base: string) {
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
      // A client removed from the config (or evicted) is locked out at once, tokens included.
      if (!(yield* clients.known(rec.clientId))) {
        return yield* Effect.fail(invalid("The client this token was issued to is no longer registered"))
      }
      return { rec, grant: grant.value }
    })
    const { rec, grant } = yield* lookup.pipe(Effect.catchTag("StoreError", storeDown))
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
      upstream = yield* refreshUpstream(grant).pipe(Effect.catchTag("StoreError", storeDown))
      if (upstream === undefined) return yield* Effect.fail(invalid("The session has ended; log in again"))
    }
    const profile = grant.user
    const user: CurrentUser = {
      provider: profile.provider,
      id: profile.id,
      username: profile.username,
      email: profile.email,
      name: profile.name,
      externalToken: Redacted.value(upstream.accessToken),
      capabilities: profile.capabilities ?? []
    }
    return {
      user,
      clientId: rec.clientId,
      scopes: rec.scopes,
      principal: `${user.provider}:${user.id}`,
      expiresAt: rec.expiresAt
    } satisfies Authenticated
  })

  return BearerAuth.of({ authenticate })
})

export const BearerAuthLive: Layer.Layer<
  BearerAuth,
  never,
  TokenStore | IdentityProvider | OAuthSettings | ClientRegistry
> = Layer.effect(
  BearerAuth,
  makeBearerAuth
)
