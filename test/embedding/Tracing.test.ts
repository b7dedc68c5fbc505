import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Tracer } from "effect"
import { defaultTracer, methodFn, tracingEnabled } from "../../src/layers/server/Tracing.js"
import { makeTokenStoreMemory } from "../../src/layers/oauth/store/TokenStoreMemory.js"

/** A tracer that records the names of the spans it is asked to open, then opens them as usual. */
const recordingTracer = () => {
  const names: Array<string> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      names.push(name)
      return defaultTracer.span(name, parent, context, links, startTime, kind, options)
    },
    context: (f, fiber) => defaultTracer.context(f, fiber)
  })
  return { names, tracer }
}

describe("spans of per-request services", () => {
  it.effect("only an application tracer turns them on", () =>
    Effect.gen(function*() {
      expect(yield* tracingEnabled).toBe(false)
      const { names, tracer } = recordingTracer()
      expect(yield* tracingEnabled.pipe(Effect.withTracer(tracer))).toBe(true)

      // Built under the application's tracer: every store call is a span named after the method.
      const traced = yield* makeTokenStoreMemory().pipe(Effect.withTracer(tracer))
      yield* traced.getGrant("nope").pipe(Effect.withTracer(tracer))
      expect(names).toContain("TokenStoreMemory.getGrant")

      // Built without one: the same calls open no span, even under a tracer later on.
      names.length = 0
      const untraced = yield* makeTokenStoreMemory()
      expect(Option.isNone(yield* untraced.getGrant("nope").pipe(Effect.withTracer(tracer)))).toBe(true)
      expect(names).toEqual([])
    }))

  it.effect("untraced methods behave as Effect.fn: generator or effect bodies, pipeables, defects", () =>
    Effect.gen(function*() {
      const fn = yield* methodFn
      const fromGenerator = fn("gen")(function*(a: number, b: number) {
        return a + (yield* Effect.succeed(b))
      })
      expect(yield* fromGenerator(1, 2)).toBe(3)

      const fromEffect = fn("plain")((a: number) => Effect.succeed(a * 2), (effect, a) => Effect.map(effect, (n) => n + a))
      expect(yield* fromEffect(5)).toBe(15)

      const throwing = fn("throws")((_: number): Effect.Effect<number> => {
        throw new Error("boom")
      })
      const exit = yield* Effect.exit(throwing(1))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    }))
})
