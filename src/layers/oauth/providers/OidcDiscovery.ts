/**
 * An OpenID Provider's discovery document (OpenID Connect Discovery 1.0): fetched at startup with
 * the provider's timeout, and, when that fails (IdP down, DNS, a bad document), fetched again in
 * the background with a growing backoff (1 s doubling up to 2 minutes) until it succeeds. A login
 * or token check that needs it before then fetches it itself (one fetch at a time), so the first
 * request after the IdP is back works.
 *
 * The document must name the expected issuer (Discovery 4.3: the config URL without
 * `/.well-known/openid-configuration`; for a preset, the one its URLs are built from), and every
 * endpoint it gives must be https (http only on a loopback host), as `config_url` itself.
 * `overrides` replace the authorization and token endpoints (the Google preset's `auth_url` and
 * `token_url`).
 */
import { HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Schedule, Schema } from "effect"
import type { Scope } from "effect"
import { isSecureUrl } from "../../../domain/config/UserConfig.js"
import { acceptedAlgorithms } from "../../../domain/oauth/OidcRules.js"
import type { ProviderError } from "../../../services/oauth/IdentityProvider.js"
import { type ClientAuthMethod, optionalNullable, type ProviderHttp } from "./ProviderHttp.js"

const DocumentWire = Schema.Struct({
  issuer: Schema.NonEmptyString,
  authorization_endpoint: optionalNullable(Schema.String),
  token_endpoint: optionalNullable(Schema.String),
  userinfo_endpoint: optionalNullable(Schema.String),
  jwks_uri: optionalNullable(Schema.String),
  introspection_endpoint: optionalNullable(Schema.String),
  code_challenge_methods_supported: optionalNullable(Schema.Array(Schema.String)),
  id_token_signing_alg_values_supported: optionalNullable(Schema.Array(Schema.String)),
  token_endpoint_auth_methods_supported: optionalNullable(Schema.Array(Schema.String)),
  introspection_endpoint_auth_methods_supported: optionalNullable(Schema.Array(Schema.String))
})

/** What this server uses of a discovery document, checked. */
export interface OidcEndpoints {
  /** The issuer exactly as the document spells it (what `iss` claims must equal). */
  readonly issuer: string
  readonly authorizationEndpoint: string | undefined
  readonly tokenEndpoint: string | undefined
  readonly userinfoEndpoint: string | undefined
  readonly jwksUri: string
  readonly introspectionEndpoint: string | undefined
  /** `code_challenge_methods_supported` lists S256. */
  readonly pkceS256: boolean
  /** ID token algorithms to accept (the advertised asymmetric ones; RS256 when none are advertised). */
  readonly idTokenAlgorithms: ReadonlyArray<string>
  /** How to authenticate at the token endpoint: Basic when offered (the RFC default when unsaid), else the form. */
  readonly tokenAuth: ClientAuthMethod
  readonly introspectionAuth: ClientAuthMethod
}

export interface DiscoverySpec {
  readonly configUrl: string
  /** The issuer the document must name (trailing slashes aside); undefined: whatever it names. */
  readonly expectedIssuer: string | undefined
  readonly overrides?: {
    readonly authorizationEndpoint?: string | undefined
    readonly tokenEndpoint?: string | undefined
  }
  /** `login`: the authorization and token endpoints are required too. */
  readonly purpose: "login" | "verify"
  /** Log a failed first fetch and retry it in the background (default); false: one look (`validate`). */
  readonly background?: boolean
}

export interface OidcDiscovery {
  /** The checked document: cached, else fetched now. */
  readonly endpoints: Effect.Effect<OidcEndpoints, ProviderError>
  /** The document if it has been fetched (for code that cannot wait, e.g. building a URL). */
  readonly cached: () => OidcEndpoints | undefined
  /** Why the fetch at startup failed, if it did. */
  readonly startupError: ProviderError | undefined
}

const trimSlash = (s: string): string => s.replace(/\/+$/, "")

const authMethod = (offered: ReadonlyArray<string> | undefined): ClientAuthMethod =>
  offered === undefined || offered.length === 0 || offered.includes("client_secret_basic") || !offered.includes("client_secret_post")
    ? "client_secret_basic"
    : "client_secret_post"

/** Backoff of the background refetch: 1 s, doubling, at most 2 minutes apart. */
const refetchSchedule = Schedule.exponential(Duration.seconds(1)).pipe(Schedule.union(Schedule.spaced(Duration.minutes(2))))

/**
 * The discovery document of `spec` on `http` (its `discovery` call named in messages). Fetches it
 * once now; a failure is logged and retried in the background for as long as the scope lives.
 */
export const makeOidcDiscovery = (
  http: ProviderHttp<"discovery">,
  spec: DiscoverySpec
): Effect.Effect<OidcDiscovery, never, Scope.Scope> =>
  Effect.gen(function* () {
    const lock = yield* Effect.makeSemaphore(1)
    let current: OidcEndpoints | undefined
    const invalid = (detail: string) => http.error("discovery", "bad_response", `failed: ${detail}`)

    const endpoint = (name: string, value: string | undefined, required: boolean): Effect.Effect<string | undefined, ProviderError> => {
      if (value === undefined || value === "") {
        return required ? Effect.fail(invalid(`the document has no ${name}`)) : Effect.succeed(undefined)
      }
      return isSecureUrl(value)
        ? Effect.succeed(value)
        : Effect.fail(invalid(`the document's ${name} is not an https URL (http is accepted only on loopback hosts)`))
    }

    const check = (doc: typeof DocumentWire.Type): Effect.Effect<OidcEndpoints, ProviderError> =>
      Effect.gen(function* () {
        if (spec.expectedIssuer !== undefined && trimSlash(doc.issuer) !== trimSlash(spec.expectedIssuer)) {
          return yield* invalid(
            `the document names the issuer ${doc.issuer.slice(0, 200)}, not ${spec.expectedIssuer} (check the URL)`
          )
        }
        const login = spec.purpose === "login"
        const authorizationEndpoint = yield* endpoint(
          "authorization_endpoint",
          spec.overrides?.authorizationEndpoint ?? doc.authorization_endpoint,
          login
        )
        const tokenEndpoint = yield* endpoint("token_endpoint", spec.overrides?.tokenEndpoint ?? doc.token_endpoint, login)
        const jwksUri = yield* endpoint("jwks_uri", doc.jwks_uri, true)
        return {
          issuer: doc.issuer,
          authorizationEndpoint,
          tokenEndpoint,
          userinfoEndpoint: yield* endpoint("userinfo_endpoint", doc.userinfo_endpoint, false),
          jwksUri: jwksUri ?? "",
          introspectionEndpoint: yield* endpoint("introspection_endpoint", doc.introspection_endpoint, false),
          pkceS256: doc.code_challenge_methods_supported?.includes("S256") === true,
          idTokenAlgorithms: acceptedAlgorithms(doc.id_token_signing_alg_values_supported),
          tokenAuth: authMethod(doc.token_endpoint_auth_methods_supported),
          introspectionAuth: authMethod(
            doc.introspection_endpoint_auth_methods_supported ?? doc.token_endpoint_auth_methods_supported
          )
        } satisfies OidcEndpoints
      })

    const fetchDocument = Effect.gen(function* () {
      const request = HttpClientRequest.get(spec.configUrl).pipe(HttpClientRequest.acceptJson)
      const json = yield* http.get("discovery", request, (answer) => http.apiJson("discovery", answer))
      const doc = yield* http.decode("discovery", DocumentWire, yield* http.jsonObject("discovery", json))
      return yield* check(doc)
    })

    const endpoints: Effect.Effect<OidcEndpoints, ProviderError> = Effect.suspend(() =>
      current !== undefined
        ? Effect.succeed(current)
        : lock.withPermits(1)(
          Effect.suspend(() =>
            current !== undefined
              ? Effect.succeed(current)
              : fetchDocument.pipe(
                Effect.tap((found) =>
                  Effect.sync(() => {
                    current = found
                  }).pipe(Effect.zipRight(Effect.logInfo(`OpenID Provider discovered: issuer ${found.issuer}`)))
                )
              )
          )
        )
    )

    const first = yield* Effect.either(endpoints)
    if (first._tag === "Left" && spec.background !== false) {
      yield* Effect.logError(
        `${first.left.message}; logins and token checks fail until the discovery document can be read (retrying in the background)`
      )
      yield* endpoints.pipe(
        Effect.tapError((e) => Effect.logDebug(`${e.message}; retrying`)),
        Effect.retry(refetchSchedule),
        Effect.ignore,
        Effect.forkScoped
      )
    }
    return { endpoints, cached: () => current, startupError: first._tag === "Left" ? first.left : undefined }
  })
