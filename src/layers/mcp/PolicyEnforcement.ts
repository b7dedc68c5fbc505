/**
 * Policies in the call path of `McpEndpointsLive`: the input rules before the SQL, the output
 * rules on the result, each refusal logged once. A denial is logged at info with the endpoint,
 * the rule, the user and the reason (never argument values); a rule that cannot be evaluated
 * denies, logged at error. The client gets the rule's reason, or a line naming the rule that
 * could not be evaluated.
 */
import { Effect, Either } from "effect"
import type { TypeSpec } from "../../domain/mcp/Endpoint.js"
import {
  applyOutput,
  checkInput,
  type EndpointPolicies,
  type PolicyRefusal,
  policyUser,
  ruleLabel
} from "../../domain/mcp/Policies.js"
import type { CurrentUser } from "../../domain/oauth/Identity.js"

/** The endpoint a policy guards, as logs name it. */
export interface Guarded {
  readonly kind: "tool" | "resource" | "prompt"
  readonly name: string
  readonly policies: EndpointPolicies
}

const who = (user: CurrentUser | undefined): string =>
  user === undefined ? "anonymous" : `${user.provider}:${user.username}`

/** A CEL error message never carries the user's upstream token. */
const scrub = (text: string, user: CurrentUser | undefined): string =>
  user !== undefined && user.externalToken.length >= 4 ? text.split(user.externalToken).join("[REDACTED]") : text

/** Logs the refusal and gives the text the client sees. */
const refuse = (endpoint: Guarded, user: CurrentUser | undefined, refusal: PolicyRefusal): Effect.Effect<string> => {
  const base = { endpoint: endpoint.name, kind: endpoint.kind, rule: ruleLabel(refusal.rule), user: who(user) }
  if (refusal._tag === "Denied") {
    return Effect.logInfo(`Policy denied ${endpoint.kind} ${endpoint.name}`).pipe(
      Effect.annotateLogs({ ...base, reason: refusal.reason }),
      Effect.as(refusal.reason)
    )
  }
  return Effect.logError(`Policy rule could not be evaluated; ${endpoint.kind} ${endpoint.name} denied`).pipe(
    Effect.annotateLogs({ ...base, error: scrub(refusal.error, user) }),
    Effect.as(`Access denied: ${ruleLabel(refusal.rule)} could not be evaluated (the server log says why)`)
  )
}

/** The input rules on the validated arguments: the refusal text, or undefined to go on. */
export const enforceInput = (
  endpoint: Guarded,
  user: CurrentUser | undefined,
  args: Readonly<Record<string, unknown>>
): Effect.Effect<string | undefined> => {
  if (endpoint.policies.input.length === 0) return Effect.succeed(undefined)
  const refusal = checkInput(endpoint.policies, policyUser(user), args)
  return refusal === undefined ? Effect.succeed(undefined) : refuse(endpoint, user, refusal)
}

/** The output rules on the result: the result to send (filtered, masked), or the refusal text. */
export const enforceOutput = (
  endpoint: Guarded,
  user: CurrentUser | undefined,
  value: unknown,
  returns: TypeSpec | undefined
): Effect.Effect<Either.Either<unknown, string>> => {
  if (endpoint.policies.output.length === 0) return Effect.succeed(Either.right(value))
  const verdict = applyOutput(endpoint.policies, policyUser(user), value, returns)
  if (verdict._tag !== "Allowed") return refuse(endpoint, user, verdict).pipe(Effect.map(Either.left))
  if (verdict.applied.length === 0) return Effect.succeed(Either.right(verdict.value))
  return Effect.logDebug(`Output policies applied to ${endpoint.kind} ${endpoint.name}`).pipe(
    Effect.annotateLogs({
      endpoint: endpoint.name,
      rules: verdict.applied.map((r) => `${ruleLabel(r)} ${r.action}`).join(", "),
      user: who(user)
    }),
    Effect.as(Either.right(verdict.value))
  )
}
