import { Clock, Effect, Either, Layer, Option } from "effect"
import {
  AccessDenied,
  InvalidRequest,
  type OAuthError,
  ServerError,
  TemporarilyUnavailable,
  UnsupportedResponseType
} from "../../domain/oauth/Errors.js"
import { verifiedHost } from "../../domain/oauth/ClientIdMetadata.js"
import { challengeFromVerifier, checkCodeChallenge } from "../../domain/oauth/Pkce.js"
import type { AuthRequestRecord, OAuthClient } from "../../domain/oauth/Records.js"
import type { AuthorizeRequest, CallbackQuery, ConsentForm } from "../../domain/oauth/Requests.js"
import { buildRedirect, redirectTarget, resolveRedirectUri } from "../../domain/oauth/RedirectUri.js"
import { checkResource, mcpResource } from "../../domain/oauth/Resource.js"
import { grantScopes } from "../../domain/oauth/Scopes.js"
import { constantTimeEqual, isBase64Url32, sha256Hex } from "../../domain/oauth/Tokens.js"
import { AuthorizationFlow, type FlowContext, type FlowOutcome } from "../../services/oauth/AuthorizationFlow.js"
import { ClientRegistry } from "../../services/oauth/ClientRegistry.js"
import { IdentityProvider, type ProviderError } from "../../services/oauth/IdentityProvider.js"
import { OAuthSettings } from "../../services/oauth/OAuthSettings.js"
import { TokenGenerator } from "../../services/oauth/TokenGenerator.js"
import { type StoreError, TokenStore } from "../../services/oauth/TokenStore.js"

const direct = (error: OAuthError): FlowOutcome => ({ _tag: "DirectError", error })

/** An error redirect to an already-validated redirect URI, with the client's state and `iss`. */
const errorRedirect = (
  redirectUri: string,
  error: OAuthError,
  clientState: string | undefined,
  base: string
): FlowOutcome => ({
  _tag: "Redirect",
  location: buildRedirect(redirectUri, {
    error: error.errorCode,
    error_description: error.description,
    state: clientState,
    iss: base
  })
})

const storeFailure = (e: StoreError) =>
  Effect.logError(`Token store failure in ${e.operation}`).pipe(
    Effect.as(direct(new TemporarilyUnavailable({ description: "The authorization server is temporarily unavailable" })))
  )

export const makeAuthorizationFlow = Effect.gen(function* () {
  const clients = yield* ClientRegistry
  const store = yield* TokenStore
  const provider = yield* IdentityProvider
  const tokens = yield* TokenGenerator
  const settings = yield* OAuthSettings

  /** The browser-binding cookie: reuse a well-formed one the browser already has. */
  const bindingFor = (ctx: FlowContext) =>
    ctx.bindingCookie !== undefined && isBase64Url32(ctx.bindingCookie) ? Effect.succeed(ctx.bindingCookie) : tokens.token

  const providerFailure = (e: ProviderError): OAuthError => {
    const description = `The identity provider call failed (${e.operation})`
    return e.kind === "unavailable" ? new TemporarilyUnavailable({ description }) : new ServerError({ description })
  }

  /**
   * Send the browser to the provider: mint the single-use upstream state and PKCE verifier. A
   * provider that is not ready (an OpenID Provider whose discovery document cannot be read) ends
   * the request with an error redirect to the client, as a failed login does.
   */
  const toUpstream = (rec: AuthRequestRecord, ctx: FlowContext, bindingCookie: string | undefined) =>
    Effect.gen(function* () {
      if (provider.ready !== undefined) {
        const ready = yield* Effect.either(provider.ready)
        if (Either.isLeft(ready)) {
          yield* Effect.logWarning(`Upstream login cannot start: ${ready.left.message}`).pipe(
            Effect.annotateLogs({ provider: provider.name, operation: ready.left.operation, kind: ready.left.kind })
          )
          yield* store.deleteAuthRequest(rec.id)
          return errorRedirect(rec.redirectUri, providerFailure(ready.left), rec.clientState, ctx.base)
        }
      }
      const upstreamState = yield* tokens.token
      const verifier = yield* tokens.token
      yield* store.updateAuthRequest({
        ...rec,
        status: "upstream",
        upstreamStateHash: sha256Hex(upstreamState),
        upstreamVerifier: verifier
      })
      yield* Effect.logDebug("Redirecting to the upstream provider").pipe(
        Effect.annotateLogs({ provider: provider.name, client_id: rec.clientId })
      )
      const location = provider.authorizeUrl({
        state: upstreamState,
        redirectUri: `${ctx.base}${provider.callbackPath}`,
        codeChallenge: challengeFromVerifier(verifier)
      })
      return { _tag: "Redirect", location, bindingCookie } satisfies FlowOutcome
    })

  const authorize = Effect.fn("AuthorizationFlow.authorize")(function* (p: AuthorizeRequest, ctx: FlowContext) {

    // Until client and redirect URI are validated, errors are shown here, never redirected.
    if (p["client_id"] === undefined) return direct(new InvalidRequest({ description: "client_id is required" }))
    // A refused metadata document is shown here; a store failure still ends in `storeFailure`.
    const looked = yield* clients.find(p["client_id"]).pipe(
      Effect.map((found) => Either.right(found)),
      Effect.catchTag("ClientMetadataRefused", (e) => Effect.succeed(Either.left(e)))
    )
    if (Either.isLeft(looked)) {
      return direct(new InvalidRequest({ description: `The client's metadata document was refused: ${looked.left.reason}` }))
    }
    const found = looked.right
    if (Option.isNone(found)) return direct(new InvalidRequest({ description: "Unknown client_id" }))
    const client: OAuthClient = found.value
    const redirect = resolveRedirectUri(client.redirectUris, p["redirect_uri"])
    if (Either.isLeft(redirect)) return direct(redirect.left)
    const redirectUri = redirect.right
    const clientState = p["state"]
    const fail = (e: OAuthError) => errorRedirect(redirectUri, e, clientState, ctx.base)

    if (p["response_type"] !== "code") {
      return fail(
        p["response_type"] === undefined
          ? new InvalidRequest({ description: "response_type is required" })
          : new UnsupportedResponseType({ description: "Only response_type=code is supported" })
      )
    }
    const challenge = checkCodeChallenge(p["code_challenge"], p["code_challenge_method"])
    if (Either.isLeft(challenge)) return fail(challenge.left)
    const resource = checkResource(p["resource"], mcpResource(ctx.base))
    if (Either.isLeft(resource)) return fail(resource.left)
    const scopes = grantScopes(p["scope"], client.scopes)
    if (Either.isLeft(scopes)) return fail(scopes.left)

    const now = yield* Clock.currentTimeMillis
    const csrf = yield* tokens.token
    const binding = yield* bindingFor(ctx)
    const rec: AuthRequestRecord = {
      id: yield* tokens.id,
      clientId: client.clientId,
      redirectUri,
      clientState,
      codeChallenge: challenge.right,
      scopes: [...scopes.right],
      resource: resource.right,
      csrfHash: sha256Hex(csrf),
      bindingHash: sha256Hex(binding),
      status: "consent",
      upstreamStateHash: undefined,
      upstreamVerifier: undefined,
      createdAt: now,
      expiresAt: now + settings.requestTtlMs
    }
    yield* store.putAuthRequest(rec)

    // Clients from config are trusted by the operator; dynamically registered ones must be
    // approved by the user every time (confused-deputy protection, checklist C20/C25).
    if (client.source === "config") return yield* toUpstream(rec, ctx, binding)
    return {
      _tag: "ConsentPage",
      bindingCookie: binding,
      page: {
        flowId: rec.id,
        csrfToken: csrf,
        clientName: client.name,
        clientId: client.clientId,
        ...(client.source === "metadata" ? { verifiedHost: verifiedHost(new URL(client.clientId)) } : {}),
        redirectTarget: redirectTarget(redirectUri),
        scopes: rec.scopes,
        providerName: settings.providerDisplayName
      }
    } satisfies FlowOutcome
  }, Effect.catchTag("StoreError", storeFailure))

  const consent = Effect.fn("AuthorizationFlow.consent")(function* (form: ConsentForm, ctx: FlowContext) {
    const { flow, csrf, decision } = form
    if (flow === undefined || csrf === undefined) {
      return direct(new InvalidRequest({ description: "The consent form is incomplete" }))
    }
    const now = yield* Clock.currentTimeMillis
    const found = yield* store.getAuthRequest(flow, now)
    if (Option.isNone(found) || found.value.status !== "consent") {
      return direct(new InvalidRequest({ description: "This authorization request is unknown or has expired" }))
    }
    const rec = found.value
    const cookieOk = ctx.bindingCookie !== undefined && constantTimeEqual(sha256Hex(ctx.bindingCookie), rec.bindingHash)
    const csrfOk = constantTimeEqual(sha256Hex(csrf), rec.csrfHash)
    if (!cookieOk || !csrfOk) {
      return direct(new AccessDenied({ description: "The consent form does not belong to this browser session" }))
    }
    if (decision === "deny") {
      yield* store.deleteAuthRequest(rec.id)
      return errorRedirect(rec.redirectUri, new AccessDenied({ description: "The user denied the request" }), rec.clientState, ctx.base)
    }
    if (decision !== "approve") return direct(new InvalidRequest({ description: "decision must be approve or deny" }))
    return yield* toUpstream(rec, ctx, undefined)
  }, Effect.catchTag("StoreError", storeFailure))

  const callback = Effect.fn("AuthorizationFlow.callback")(function* (query: CallbackQuery, ctx: FlowContext) {
    const { state, code, error } = query
    // The provider's own error code, logged first: it often explains a failure found below (a
    // redirect_uri_mismatch on a callback host whose cookies the login's browser does not have).
    const upstreamError = error === undefined ? undefined : error.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 64)
    const upstreamLog = upstreamError === undefined ? {} : { upstream_error: upstreamError }
    const said = upstreamError === undefined ? "" : ` (the identity provider answered ${upstreamError})`
    if (upstreamError !== undefined) {
      yield* Effect.logInfo("The upstream provider returned an error").pipe(
        Effect.annotateLogs({ provider: provider.name, ...upstreamLog })
      )
    }
    const refused = (reason: string) =>
      Effect.logWarning(`Upstream callback refused: ${reason}`).pipe(Effect.annotateLogs({ provider: provider.name, ...upstreamLog }))
    if (state === undefined) {
      yield* refused("no state parameter")
      return direct(new InvalidRequest({ description: `Invalid state parameter${said}` }))
    }
    const now = yield* Clock.currentTimeMillis
    // Single use: taken out of the store whatever happens next.
    const found = yield* store.takeAuthRequestByUpstreamState(sha256Hex(state), now)
    if (Option.isNone(found)) {
      yield* refused("unknown, expired or already used state")
      return direct(new InvalidRequest({ description: `Invalid state parameter${said}` }))
    }
    const rec = found.value
    if (ctx.bindingCookie === undefined || !constantTimeEqual(sha256Hex(ctx.bindingCookie), rec.bindingHash)) {
      yield* Effect.logWarning("Upstream callback from a browser that did not start the flow").pipe(
        Effect.annotateLogs({ client_id: rec.clientId, binding_cookie: ctx.bindingCookie === undefined ? "missing" : "mismatch", ...upstreamLog })
      )
      return direct(new AccessDenied({ description: `This login was started in another browser; start again${said}` }))
    }
    const fail = (e: OAuthError) => errorRedirect(rec.redirectUri, e, rec.clientState, ctx.base)
    if (error !== undefined) {
      return fail(
        error === "access_denied"
          ? new AccessDenied({ description: "The user denied access at the identity provider" })
          : new ServerError({ description: "The identity provider returned an error" })
      )
    }
    if (code === undefined || rec.upstreamVerifier === undefined) {
      return fail(new ServerError({ description: "The identity provider returned no code" }))
    }
    const login = Effect.gen(function* () {
      const upstream = yield* provider.exchangeCode({
        code,
        redirectUri: `${ctx.base}${provider.callbackPath}`,
        codeVerifier: rec.upstreamVerifier ?? ""
      })
      const user = yield* provider.fetchUser(upstream)
      return { upstream, user }
    })
    const result = yield* Effect.either(login)
    if (Either.isLeft(result)) {
      yield* Effect.logWarning(`Upstream login failed: ${result.left.message}`).pipe(
        Effect.annotateLogs({ provider: provider.name, operation: result.left.operation, kind: result.left.kind })
      )
      return fail(providerFailure(result.left))
    }
    const { upstream, user } = result.right
    const grantId = yield* tokens.id
    const ourCode = yield* tokens.token
    const issuedAt = yield* Clock.currentTimeMillis
    yield* store.putGrant({
      id: grantId,
      clientId: rec.clientId,
      user,
      upstream,
      scopes: rec.scopes,
      resource: rec.resource,
      createdAt: issuedAt,
      revoked: false
    })
    yield* store.putCode({
      codeHash: sha256Hex(ourCode),
      grantId,
      clientId: rec.clientId,
      redirectUri: rec.redirectUri,
      codeChallenge: rec.codeChallenge,
      scopes: rec.scopes,
      resource: rec.resource,
      expiresAt: issuedAt + settings.codeTtlMs
    })
    yield* Effect.logInfo("User logged in").pipe(
      Effect.annotateLogs({ provider: user.provider, user_id: user.id, username: user.username, client_id: rec.clientId })
    )
    return {
      _tag: "Redirect",
      location: buildRedirect(rec.redirectUri, { code: ourCode, state: rec.clientState, iss: ctx.base })
    } satisfies FlowOutcome
  }, Effect.catchTag("StoreError", storeFailure))

  return AuthorizationFlow.of({ authorize, consent, callback })
})

export const AuthorizationFlowLive: Layer.Layer<
  AuthorizationFlow,
  never,
  ClientRegistry | TokenStore | IdentityProvider | TokenGenerator | OAuthSettings
> = Layer.effect(AuthorizationFlow, makeAuthorizationFlow)
