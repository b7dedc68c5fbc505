/**
 * An OpenID Provider's signing keys and the JWTs signed with them (ID tokens, RFC 9068 access
 * tokens). The key set (`jwks_uri`) is fetched through the provider's `HttpClient` (timeout,
 * retries and messages of `ProviderHttp`); `jose` selects the key and checks the signature, the
 * algorithm, `iss`, `aud`, `exp`, `nbf` and `iat`.
 *
 * Key rotation: a token whose `kid` is not in the cached set makes one refetch (concurrent
 * verifications share it) and one more try; `refetchCooldownMs` spaces such refetches (verifier
 * mode: anyone can send a token naming an unknown key, and the IdP should not be asked for
 * every one). The set is also refetched when older than `maxAgeMs`, so a key the provider has
 * withdrawn stops verifying; if that refetch fails, the old set serves until the next one.
 */
import { Clock, Data, Effect, Either } from "effect"
import { HttpClientRequest } from "@effect/platform"
import { createLocalJWKSet, errors, jwtVerify } from "jose"
import type { JSONWebKeySet, JWTHeaderParameters, JWTPayload } from "jose"
import type { ProviderError } from "../../../services/oauth/IdentityProvider.js"
import { isRecord, type ProviderHttp } from "./ProviderHttp.js"

/** A JWT that does not pass; `reason` reads after "the token ..." and carries no token text. */
export class JwtRefused extends Data.TaggedError("JwtRefused")<{ readonly reason: string }> {}

/** What `jose` threw (kept inside this file: it becomes a `JwtRefused`). */
class JoseFailure extends Data.TaggedError("JoseFailure")<{ readonly cause: unknown }> {}

/** What a JWT must show besides a good signature. */
export interface JwtChecks {
  /** Accepted `iss` values (exact). */
  readonly issuer: ReadonlyArray<string>
  /** Accepted `aud` values: the token's `aud` must contain one (empty: not checked). */
  readonly audience: ReadonlyArray<string>
  readonly algorithms: ReadonlyArray<string>
  /** Claims that must be present. */
  readonly requiredClaims: ReadonlyArray<string>
}

export interface VerifiedJwt {
  readonly header: JWTHeaderParameters
  readonly claims: JWTPayload
}

export interface OidcKeys {
  readonly verify: (token: string, checks: JwtChecks) => Effect.Effect<VerifiedJwt, JwtRefused | ProviderError>
}

/** Seconds of clock difference tolerated on `exp`, `nbf` and `iat`. */
export const CLOCK_TOLERANCE_SECONDS = 30

const claimWords: Readonly<Record<string, string>> = {
  iss: "was issued by another issuer",
  aud: "is meant for another audience",
  nbf: "is not valid yet",
  iat: "has an issue time in the future",
  sub: "has no subject"
}

/** Why jose refused a token, in words (never the token or its claims' values). */
const describeJoseError = (e: unknown): string => {
  if (e instanceof errors.JWTExpired) return "has expired"
  if (e instanceof errors.JWTClaimValidationFailed) {
    return e.reason === "missing" ? `has no ${e.claim} claim` : (claimWords[e.claim] ?? `fails the ${e.claim} claim check`)
  }
  if (e instanceof errors.JWKSNoMatchingKey) return "is signed with a key that is not in the provider's key set"
  if (e instanceof errors.JWKSMultipleMatchingKeys) return "names no key id and the provider's key set has several keys"
  if (e instanceof errors.JWSSignatureVerificationFailed) return "has a signature that does not verify"
  if (e instanceof errors.JOSEAlgNotAllowed) return "is signed with an algorithm that is not accepted"
  if (e instanceof errors.JOSENotSupported) return "uses an unsupported algorithm or key type"
  if (e instanceof errors.JWTInvalid || e instanceof errors.JWSInvalid) return "is not a well-formed signed JWT"
  return "could not be verified"
}

type LocalKeySet = ReturnType<typeof createLocalJWKSet>

/**
 * The key set behind `jwksUri` (the discovery document's `jwks_uri`, resolved when first needed)
 * on `http`, whose `jwks` call is named in its messages.
 */
export const makeOidcKeys = (
  http: ProviderHttp<"jwks">,
  jwksUri: Effect.Effect<string, ProviderError>,
  options: { readonly refetchCooldownMs: number; readonly maxAgeMs: number }
): Effect.Effect<OidcKeys> =>
  Effect.gen(function* () {
    const lock = yield* Effect.makeSemaphore(1)
    let current: { readonly set: LocalKeySet; readonly fetchedAt: number } | undefined

    const fetchSet = Effect.gen(function* () {
      const uri = yield* jwksUri
      const json = yield* http.get(
        "jwks",
        HttpClientRequest.get(uri).pipe(HttpClientRequest.acceptJson),
        (answer) => http.apiJson("jwks", answer)
      )
      if (!isRecord(json) || !Array.isArray(json["keys"])) {
        return yield* http.error("jwks", "bad_response", "failed: the response is not a JSON Web Key Set ({\"keys\": [...]})")
      }
      const set = Either.try(() => createLocalJWKSet(json as unknown as JSONWebKeySet))
      if (Either.isLeft(set)) return yield* http.error("jwks", "bad_response", "failed: the key set is not valid")
      return { set: set.right, fetchedAt: yield* Clock.currentTimeMillis }
    })

    /**
     * The set to use: the cached one unless it is missing, older than `maxAgeMs`, or (`stale`) the
     * one a verification just found wanting; a refetch that fails while a set is cached keeps it.
     */
    const keySet = (stale: number | undefined) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const cached = current
          const fresh = cached !== undefined && now - cached.fetchedAt < options.maxAgeMs &&
            (stale === undefined || cached.fetchedAt !== stale)
          if (fresh) return cached
          const fetched = yield* Effect.either(fetchSet)
          if (Either.isRight(fetched)) {
            current = fetched.right
            return fetched.right
          }
          if (cached !== undefined && stale === undefined) {
            yield* Effect.logWarning(`${fetched.left.message}; verifying with the key set fetched before`)
            return cached
          }
          return yield* Effect.fail(fetched.left)
        })
      )

    const attempt = (set: LocalKeySet, token: string, checks: JwtChecks, now: number) =>
      Effect.tryPromise({
        try: () =>
          jwtVerify(token, set, {
            issuer: [...checks.issuer],
            // An empty list would refuse every token; no audiences means no audience check.
            ...(checks.audience.length === 0 ? {} : { audience: [...checks.audience] }),
            algorithms: [...checks.algorithms],
            requiredClaims: [...checks.requiredClaims],
            currentDate: new Date(now),
            clockTolerance: CLOCK_TOLERANCE_SECONDS
          }),
        catch: (cause) => new JoseFailure({ cause })
      })

    const verify = (token: string, checks: JwtChecks): Effect.Effect<VerifiedJwt, JwtRefused | ProviderError> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const first = yield* keySet(undefined)
        let result = yield* Effect.either(attempt(first.set, token, checks, now))
        if (Either.isLeft(result) && result.left.cause instanceof errors.JWKSNoMatchingKey) {
          // A set fetched for this very verification is as fresh as a refetch would be.
          if (first.fetchedAt >= now || now - first.fetchedAt < options.refetchCooldownMs) {
            return yield* new JwtRefused({ reason: describeJoseError(result.left.cause) })
          }
          yield* Effect.logDebug("A token names a key that is not in the cached key set; fetching the key set again")
          const second = yield* keySet(first.fetchedAt)
          result = yield* Effect.either(attempt(second.set, token, checks, now))
        }
        if (Either.isLeft(result)) return yield* new JwtRefused({ reason: describeJoseError(result.left.cause) })
        return { header: result.right.protectedHeader, claims: result.right.payload }
      })

    return { verify }
  })
