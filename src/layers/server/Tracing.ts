import { Effect } from "effect"

/** The tracer every Effect program has unless the application installs its own (e.g. OpenTelemetry). */
export const defaultTracer = Effect.runSync(Effect.tracer)

/**
 * True when spans go somewhere: the application provided a tracer other than Effect's default.
 * Hot paths (one span per query, per tool call, per HTTP request) only pay for spans then.
 */
export const tracingEnabled: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== defaultTracer)

/** `Effect.fnUntraced`, also for bodies that return an Effect instead of being generators. */
const untracedMethod = (body: Function, ...pipeables: ReadonlyArray<Function>): Function => {
  if (Object.prototype.toString.call(body) === "[object GeneratorFunction]") {
    return (Effect.fnUntraced as Function)(body, ...pipeables)
  }
  return function(this: unknown, ...args: ReadonlyArray<unknown>) {
    let effect: unknown
    try {
      effect = body.apply(this, args)
    } catch (defect) {
      // As Effect.fn does: a body that throws is a defect of the returned effect.
      effect = Effect.die(defect)
    }
    for (const pipeable of pipeables) effect = pipeable(effect, ...args)
    return effect
  }
}

/**
 * Builds a service method: `Effect.fn(name)` (a span per call, and the two call-site stack traces
 * it captures) when an application tracer collects spans; otherwise the same function without
 * either. For services on the per-request path (token store, client registry), where those would
 * cost more than the lookup itself.
 */
export const methodFn: Effect.Effect<(name: string) => Effect.fn.Gen & Effect.fn.NonGen> = Effect.map(
  tracingEnabled,
  (tracing) => tracing ? (name: string) => Effect.fn(name) : () => untracedMethod as unknown as Effect.fn.Gen & Effect.fn.NonGen
)
