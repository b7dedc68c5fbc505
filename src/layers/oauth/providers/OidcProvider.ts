/**
 * Any OpenID Provider as the upstream identity provider (`provider: oidc`), and the layer the
 * Google and Keycloak presets are made of (`GoogleProvider.ts`, `KeycloakProvider.ts`), on
 * `@effect/platform`'s `HttpClient`.
 *
 * - Endpoints come from the discovery document (`OidcDiscovery.ts`): fetched at startup, again
 *   in the background while it fails; `ready` (run by the flow before `authorizeUrl`) waits for it.
 * - authorize: `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`, a `nonce`
 *   derived from the login's PKCE challenge (`nonceForChallenge`), PKCE S256 when the document's
 *   `code_challenge_methods_supported` lists it, `audience` when configured, then the block's
 *   `extra_authorize_params`.
 * - code exchange: a form POST to the token endpoint (client authentication by HTTP Basic when
 *   the provider offers it, else in the form), never retried. The answer must carry an ID token,
 *   checked before anything else is used: signature against the provider's key set (an unknown
 *   `kid` refetches the set once: key rotation), `iss`, `aud` (our client id), `exp`, `iat`
 *   (`OidcKeys.ts`, with `jose`), then `nonce`, `azp` and `sub` (`idTokenClaimProblem`). A refusal
 *   is a `rejected` `ProviderError`; an unreachable key set `unavailable`.
 * - user: the ID token's claims, then the userinfo endpoint's (whose `sub` must be the ID token's),
 *   with the access token's own claims underneath when it is a JWT that verifies against the
 *   provider's keys (Keycloak puts roles there). `sub` is the user id; `preferred_username`, else
 *   `email`, the username. The block's `claim_mappings` run on these claims (and `scope`, the
 *   granted scopes, when the claims have none).
 * - refresh: `grant_type=refresh_token`; a new refresh token replaces the old one, an answer
 *   without one keeps it; `invalid_grant` ends the session (`UpstreamGrantRevoked`); a new ID
 *   token, if any, is checked like the first (same `sub`, no nonce).
 */
import type { HttpClient } from "@effect/platform"
import { HttpClientRequest } from "@effect/platform"
import { Clock, Effect, Layer, Redacted, Schema } from "effect"
import type { Scope } from "effect"
import type { ClaimMappings } from "../../../domain/oauth/Capabilities.js"
import type { OidcConfig } from "../../../domain/config/UserConfig.js"
import type { UpstreamTokens, UserProfile } from "../../../domain/oauth/Identity.js"
import {
  idTokenClaimProblem,
  issuerOfConfigUrl,
  looksLikeJwt,
  nonceForChallenge,
  profileFromClaims
} from "../../../domain/oauth/OidcRules.js"
import { challengeFromVerifier } from "../../../domain/oauth/Pkce.js"
import { sha256Hex } from "../../../domain/oauth/Tokens.js"
import { IdentityProvider, type ProviderError } from "../../../services/oauth/IdentityProvider.js"
import { capabilitiesFor } from "./ProviderCapabilities.js"
import { makeOidcDiscovery, type OidcEndpoints } from "./OidcDiscovery.js"
import { makeOidcKeys } from "./OidcKeys.js"
import {
  expiresAfter,
  makeProviderHttp,
  optionalNullable,
  type TokenEndpoint,
  tokenAnswerFields,
  tokensFromAnswer
} from "./ProviderHttp.js"

/** One OpenID Provider app, as the OIDC block or a preset describes it. */
export interface OidcProviderSpec {
  /** Which block it came from (for messages about the config). */
  readonly kind: "oidc" | "google" | "keycloak"
  /** `get_user_provider()`, logs, principals: `provider_name`, `google`, `keycloak`. */
  readonly name: string
  /** The provider in messages ("OIDC", "Google", "Keycloak"). */
  readonly display: string
  readonly configUrl: string
  /** The issuer the discovery document must name; undefined: the one it names. */
  readonly expectedIssuer: string | undefined
  /** More `iss` values accepted in ID tokens (Google also writes `accounts.google.com`). */
  readonly extraIssuers: ReadonlyArray<string>
  readonly authorizationEndpoint?: string | undefined
  readonly tokenEndpoint?: string | undefined
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string> | undefined
  readonly scope: string
  readonly callbackPath: string
  readonly audience?: string | undefined
  readonly extraAuthorizeParams: Readonly<Record<string, string>>
  /** Seconds per upstream call, retries included. */
  readonly timeout: number
  readonly claimMappings: ClaimMappings
}

/** The spec of a `provider: oidc` block (whose `config_url`, `client_id` and `client_secret` the loader required). */
export const oidcSpec = (config: OidcConfig): OidcProviderSpec => ({
  kind: "oidc",
  name: config.provider_name,
  display: "OIDC",
  configUrl: config.config_url ?? "",
  expectedIssuer: config.config_url === undefined ? undefined : issuerOfConfigUrl(config.config_url),
  extraIssuers: [],
  clientId: config.client_id ?? "",
  clientSecret: config.client_secret,
  scope: config.scope,
  callbackPath: config.callback_path,
  audience: config.audience,
  extraAuthorizeParams: config.extra_authorize_params,
  timeout: config.timeout,
  claimMappings: config.claim_mappings ?? {}
})

/** What each call is called in messages and logs. */
const callName = {
  fetchUser: "user lookup (GET userinfo_endpoint)",
  discovery: "discovery (GET config_url)",
  jwks: "key set (GET jwks_uri)",
  idToken: "ID token check"
} as const

const TokenAnswer = Schema.Struct({ ...tokenAnswerFields, id_token: optionalNullable(Schema.String) })
type TokenAnswer = typeof TokenAnswer.Type

const tokenEndpoint: TokenEndpoint<TokenAnswer, typeof TokenAnswer.Encoded> = {
  encoding: "form",
  exchangeGrantType: true,
  schema: TokenAnswer,
  revokedRefreshErrors: new Set(["invalid_grant"]),
  toTokens: (answer, now, previous, oldRefresh) => ({
    ...tokensFromAnswer(answer, previous, oldRefresh),
    expiresAt: expiresAfter(now, answer.expires_in),
    extra: { ...previous?.extra }
  })
}

/** ID token claims kept from the code exchange until the user lookup that follows it. */
const HANDOFF_MS = 120_000
const HANDOFF_MAX = 1000

/** The provider's HTTP side: its credentials, timeout and the names of its calls. */
const providerHttpOf = (spec: OidcProviderSpec) =>
  makeProviderHttp(
    spec.kind,
    {
      client_id: spec.clientId,
      client_secret: spec.clientSecret,
      // The endpoints are the discovery document's; every token call names its URL.
      auth_url: spec.authorizationEndpoint ?? spec.configUrl,
      token_url: spec.tokenEndpoint ?? spec.configUrl,
      scope: spec.scope,
      callback_path: spec.callbackPath,
      timeout: spec.timeout
    },
    callName,
    { name: spec.name, display: spec.display }
  )

/**
 * One look at `spec`'s discovery document, checked as a login would check it (no background
 * retry): what `validate` reports.
 */
export const discoverOnce = (spec: OidcProviderSpec): Effect.Effect<OidcEndpoints, ProviderError, HttpClient.HttpClient> =>
  Effect.scoped(
    Effect.gen(function* () {
      const http = yield* providerHttpOf(spec)
      const discovery = yield* makeOidcDiscovery(http, {
        configUrl: spec.configUrl,
        expectedIssuer: spec.expectedIssuer,
        overrides: { authorizationEndpoint: spec.authorizationEndpoint, tokenEndpoint: spec.tokenEndpoint },
        purpose: "login",
        background: false
      })
      if (discovery.startupError !== undefined) return yield* Effect.fail(discovery.startupError)
      return yield* discovery.endpoints
    })
  )

/** The OIDC `IdentityProvider` of `spec` on whatever `HttpClient` the environment provides. */
export const makeOidcProvider = (
  spec: OidcProviderSpec
): Effect.Effect<IdentityProvider.Shape, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const http = yield* providerHttpOf(spec)
    const discovery = yield* makeOidcDiscovery(http, {
      configUrl: spec.configUrl,
      expectedIssuer: spec.expectedIssuer,
      overrides: { authorizationEndpoint: spec.authorizationEndpoint, tokenEndpoint: spec.tokenEndpoint },
      purpose: "login"
    })
    // ID tokens come straight from the token endpoint: an unknown key is worth a refetch every time.
    const keys = yield* makeOidcKeys(http, Effect.map(discovery.endpoints, (e) => e.jwksUri), {
      refetchCooldownMs: 0,
      maxAgeMs: 3_600_000
    })
    const span = `${spec.display}Provider`
    const handoff = new Map<string, { readonly claims: Readonly<Record<string, unknown>>; readonly until: number }>()

    const remember = (accessToken: Redacted.Redacted<string>, claims: Readonly<Record<string, unknown>>, now: number) => {
      for (const [key, entry] of handoff) if (entry.until <= now || handoff.size >= HANDOFF_MAX) handoff.delete(key)
      handoff.set(sha256Hex(Redacted.value(accessToken)), { claims, until: now + HANDOFF_MS })
    }
    const takeClaims = (accessToken: Redacted.Redacted<string>, now: number): Readonly<Record<string, unknown>> => {
      const key = sha256Hex(Redacted.value(accessToken))
      const entry = handoff.get(key)
      handoff.delete(key)
      return entry !== undefined && entry.until > now ? entry.claims : {}
    }

    const tokenUrl = (doc: OidcEndpoints) => doc.tokenEndpoint ?? spec.configUrl

    /** The ID token, verified; its claims. */
    const checkIdToken = (idToken: string, doc: OidcEndpoints, expected: { readonly nonce?: string; readonly sub?: string }) =>
      keys.verify(idToken, {
        issuer: [doc.issuer, ...spec.extraIssuers],
        audience: [spec.clientId],
        algorithms: doc.idTokenAlgorithms,
        requiredClaims: ["iss", "sub", "aud", "exp", "iat"]
      }).pipe(
        Effect.catchTag("JwtRefused", (e) => Effect.fail(http.error("idToken", "rejected", `failed: the ID token ${e.reason}`))),
        Effect.flatMap(({ claims }) => {
          const problem = idTokenClaimProblem(claims, { clientId: spec.clientId, ...expected })
          return problem === undefined
            ? Effect.succeed(claims as Readonly<Record<string, unknown>>)
            : Effect.fail(http.error("idToken", "rejected", `failed: the ID token is refused: ${problem}`))
        })
      )

    const ready = discovery.endpoints.pipe(Effect.asVoid)

    const authorizeUrl: IdentityProvider.Shape["authorizeUrl"] = ({ codeChallenge, redirectUri, state }) => {
      const doc = discovery.cached()
      if (doc?.authorizationEndpoint === undefined) {
        // The flow runs `ready` first; reaching here is a programming error, not a user's.
        throw new Error(`${spec.display} authorizeUrl called before the discovery document was read`)
      }
      const url = new URL(doc.authorizationEndpoint)
      const params: ReadonlyArray<readonly [string, string]> = [
        ["response_type", "code"],
        ["client_id", spec.clientId],
        ["redirect_uri", redirectUri],
        ["scope", spec.scope],
        ["state", state],
        ["nonce", nonceForChallenge(codeChallenge)],
        ...(doc.pkceS256 ? ([["code_challenge", codeChallenge], ["code_challenge_method", "S256"]] as const) : []),
        ...(spec.audience === undefined ? [] : ([["audience", spec.audience]] as const)),
        ...Object.entries(spec.extraAuthorizeParams)
      ]
      for (const [key, value] of params) url.searchParams.set(key, value)
      return url.toString()
    }

    const exchangeCode = Effect.fn(`${span}.exchangeCode`)(
      function* (params: { readonly code: string; readonly redirectUri: string; readonly codeVerifier: string }) {
        const doc = yield* discovery.endpoints
        const fields = yield* http.tokenAnswer(
          "exchangeCode",
          tokenEndpoint,
          {
            grant_type: "authorization_code",
            code: params.code,
            redirect_uri: params.redirectUri,
            ...(doc.pkceS256 ? { code_verifier: params.codeVerifier } : {}),
            ...(spec.audience === undefined ? {} : { audience: spec.audience })
          },
          { url: tokenUrl(doc), clientAuth: doc.tokenAuth }
        ).pipe(
          Effect.catchTag("UpstreamGrantRevoked", () =>
            Effect.fail(http.error("exchangeCode", "rejected", "was refused: invalid_grant"))
          )
        )
        if (fields.id_token === undefined || fields.id_token === "") {
          return yield* http.error("exchangeCode", "bad_response", "failed: the response has no id_token (does scope include openid?)")
        }
        const claims = yield* checkIdToken(fields.id_token, doc, {
          nonce: nonceForChallenge(challengeFromVerifier(params.codeVerifier))
        }).pipe(http.logFailure("idToken"))
        const now = yield* Clock.currentTimeMillis
        const tokens = tokenEndpoint.toTokens(fields, now, undefined, undefined)
        remember(tokens.accessToken, claims, now)
        return { ...tokens, extra: { ...tokens.extra, sub: String(claims["sub"]) } } satisfies UpstreamTokens
      }
    )

    /** The access token's own claims when it is a JWT of this issuer (else none); never fails. */
    const accessTokenClaims = (accessToken: Redacted.Redacted<string>, doc: OidcEndpoints) => {
      const token = Redacted.value(accessToken)
      if (!looksLikeJwt(token)) return Effect.succeed({} as Readonly<Record<string, unknown>>)
      return keys.verify(token, { issuer: [doc.issuer], audience: [], algorithms: doc.idTokenAlgorithms, requiredClaims: [] }).pipe(
        Effect.map(({ claims }) => claims as Readonly<Record<string, unknown>>),
        Effect.catchAll(() => Effect.succeed({} as Readonly<Record<string, unknown>>))
      )
    }

    const fetchUser = (tokens: UpstreamTokens): Effect.Effect<UserProfile, ProviderError> =>
      Effect.gen(function* () {
        const doc = yield* discovery.endpoints
        const now = yield* Clock.currentTimeMillis
        const idClaims = takeClaims(tokens.accessToken, now)
        let userinfo: Readonly<Record<string, unknown>> = {}
        if (doc.userinfoEndpoint !== undefined) {
          const request = HttpClientRequest.get(doc.userinfoEndpoint).pipe(
            HttpClientRequest.bearerToken(tokens.accessToken),
            HttpClientRequest.acceptJson
          )
          const json = yield* http.get("fetchUser", request, (answer) => http.apiJson("fetchUser", answer))
          userinfo = yield* http.jsonObject("fetchUser", json)
          const expectedSub = idClaims["sub"] ?? tokens.extra["sub"]
          if (expectedSub !== undefined && userinfo["sub"] !== expectedSub) {
            return yield* http.error("fetchUser", "bad_response", "failed: the userinfo sub is not the ID token's")
          }
        }
        const claims = { ...(yield* accessTokenClaims(tokens.accessToken, doc)), ...idClaims, ...userinfo }
        const profile = profileFromClaims(spec.name, claims)
        if (profile === undefined) {
          return yield* http.error("fetchUser", "bad_response", "failed: neither the ID token nor userinfo names the user (sub)")
        }
        const capabilities = yield* capabilitiesFor(spec.name, spec.claimMappings, claims, tokens.scopes)
        return { ...profile, capabilities }
      }).pipe(http.logFailure("fetchUser"), Effect.withSpan(`${span}.fetchUser`))

    const refresh = Effect.fn(`${span}.refresh`)(
      function* (refreshToken: Redacted.Redacted<string>, previous: UpstreamTokens) {
        const doc = yield* discovery.endpoints
        const fields = yield* http.tokenAnswer(
          "refresh",
          tokenEndpoint,
          {
            grant_type: "refresh_token",
            refresh_token: Redacted.value(refreshToken),
            ...(spec.audience === undefined ? {} : { audience: spec.audience })
          },
          { url: tokenUrl(doc), clientAuth: doc.tokenAuth }
        )
        const sub = previous.extra["sub"]
        if (fields.id_token !== undefined && fields.id_token !== "") {
          yield* checkIdToken(fields.id_token, doc, sub === undefined ? {} : { sub }).pipe(http.logFailure("idToken"))
        }
        return tokenEndpoint.toTokens(fields, yield* Clock.currentTimeMillis, previous, refreshToken)
      }
    )

    return IdentityProvider.of({
      name: spec.name,
      callbackPath: spec.callbackPath,
      ready,
      authorizeUrl,
      exchangeCode,
      fetchUser,
      refresh
    })
  })

/** The OIDC `IdentityProvider` of `spec`; needs an `HttpClient` (and keeps a background discovery retry while it lives). */
export const OidcProvider = (spec: OidcProviderSpec): Layer.Layer<IdentityProvider, never, HttpClient.HttpClient> =>
  Layer.scoped(IdentityProvider, makeOidcProvider(spec))
