/**
 * K7: one principal never holds every pooled connection; its further queries wait in its own
 * FIFO queue, bounded by the query timeout, while other principals go ahead.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber } from "effect"
import { DuckDbSessionNode } from "../../src/layers/duckdb/DuckDbSessionNode.js"
import { perPrincipalLimit } from "../../src/layers/duckdb/Pool.js"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"

/** Runs for minutes unless interrupted. */
const endless = "SELECT count(*) AS c FROM range(10000000000) t(i) WHERE i % 7 = 3"

describe("K7 fair sharing of the pool", () => {
  layer(DuckDbSessionNode({ path: ":memory:", readonly: false, poolSize: 4, timeoutMs: 60_000 }), {
    excludeTestServices: true
  })("pool of 4", (it) => {
    it.effect("K7 a principal with pool-size heavy queries leaves a connection: another principal's query answers", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        expect(perPrincipalLimit(4)).toBe(3)
        const heavy = yield* Effect.forEach(
          [1, 2, 3, 4],
          () => Effect.fork(db.query(endless, {}, { principal: "alice" })),
          { concurrency: "unbounded" }
        )
        yield* Effect.sleep(Duration.millis(300))
        // Bob, and a caller with no principal, get the free connection (each in turn).
        expect(yield* db.query("SELECT 'bob' AS who", {}, { principal: "bob", timeoutMs: 10_000 })).toEqual([{ who: "bob" }])
        expect(yield* db.query("SELECT 'anyone' AS who", {}, { timeoutMs: 10_000 })).toEqual([{ who: "anyone" }])
        // Alice's queries are all still going (three running, one waiting for her turn).
        for (const fiber of heavy) expect((yield* Fiber.poll(fiber))._tag).toBe("None")
        // Her own fifth query waits behind them, and its timeout covers that wait.
        const waited = yield* Effect.flip(db.query("SELECT 1 AS a", {}, { principal: "alice", timeoutMs: 300 }))
        expect(waited._tag).toBe("SqlTimeout")
        yield* Effect.forEach(heavy, Fiber.interrupt, { discard: true })
        expect(yield* db.query("SELECT 2 AS a", {}, { principal: "alice", timeoutMs: 10_000 })).toEqual([{ a: 2 }])
      }))

    it.effect("K7 a principal's waiting queries start in the order they came (FIFO), as its slots free up", () =>
      Effect.gen(function*() {
        const db = yield* DuckDbSession
        const running = yield* Effect.forEach(
          [1, 2, 3],
          () => Effect.fork(db.query(endless, {}, { principal: "carol" })),
          { concurrency: "unbounded" }
        )
        yield* Effect.sleep(Duration.millis(200))
        const order: Array<number> = []
        const queued = yield* Effect.forEach(
          [1, 2, 3, 4, 5],
          (n) =>
            Effect.fork(
              db.query("SELECT $n AS n", { n }, { principal: "carol" }).pipe(
                Effect.tap(() => Effect.sync(() => order.push(n)))
              )
            ),
          { concurrency: 1 }
        )
        yield* Effect.sleep(Duration.millis(300))
        // Dave is not held up by carol's queue.
        expect(yield* db.query("SELECT 'dave' AS who", {}, { principal: "dave", timeoutMs: 10_000 })).toEqual([{ who: "dave" }])
        expect(order).toEqual([])
        // One slot frees up: carol's queued queries pass through it one by one, in order.
        yield* Fiber.interrupt(running[0]!)
        yield* Effect.forEach(queued, Fiber.join, { discard: true })
        expect(order).toEqual([1, 2, 3, 4, 5])
        yield* Effect.forEach(running.slice(1), Fiber.interrupt, { discard: true })
        // Every slot came back: carol can run three at once again.
        const exits = yield* Effect.forEach([1, 2, 3], (n) => Effect.exit(db.query("SELECT $n AS n", { n }, { principal: "carol", timeoutMs: 5000 })), {
          concurrency: "unbounded"
        })
        expect(exits.every(Exit.isSuccess)).toBe(true)
      }))
  })
})
