import { Effect } from "effect"

/** The tracer every Effect program has unless the application installs its own (e.g. OpenTelemetry). */
export const defaultTracer = Effect.runSync(Effect.tracer)

/**
 * True when spans go somewhere: the application provided a tracer other than Effect's default.
 * Hot paths (one span per query, per tool call, per HTTP request) only pay for spans then.
 */
export const tracingEnabled: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== defaultTracer)
