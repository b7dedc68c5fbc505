/**
 * The connection pool of a session: a fixed number of connections handed out first come, first
 * served, with two rules on top.
 *
 * - Fair sharing (K7): the queries of one principal (a user) hold at most `perPrincipal`
 *   connections at once (`max(1, size - 1)`: a lone user still gets all but one connection,
 *   and every other user always finds one). A principal's further queries wait in a FIFO queue
 *   of their own, not in the pool's, so they never stand in front of another user's query.
 *   The query timeout covers both waits.
 * - Clean connections (K3): a connection marked `dirty` by its query (see Statements.ts) is
 *   closed on release and a new one takes its place before anyone else can use it; its prepared
 *   statements go with it.
 */
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api"
import { Clock, Duration, Effect, Option, Queue } from "effect"
import type { Scope } from "effect"
import type { SqlError } from "../../services/duckdb/DuckDbSession.js"
import { SqlTimeout } from "../../services/duckdb/DuckDbSession.js"
import type { PooledConnection } from "./Statements.js"
import { closeQuietly } from "./Statements.js"

export interface Pool {
  /**
   * Runs `use` with a connection, waiting at most `timeoutMs` (0 or less: no limit) for the
   * principal's turn and a free connection; `use` gets the time left.
   */
  readonly withConnection: <A, E>(
    timeoutMs: number,
    principal: string | undefined,
    use: (pooled: PooledConnection, remainingMs: number) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | SqlTimeout>
  readonly size: number
  readonly perPrincipal: number
}

export const hasTimeout = (timeoutMs: number): boolean => timeoutMs > 0 && Number.isFinite(timeoutMs)

/** Connections one principal may hold at once in a pool of `size`. */
export const perPrincipalLimit = (size: number): number => Math.max(1, size - 1)

/**
 * One query's place with its principal: `waiting` in the principal's queue, `holding` one of
 * its slots, or `done`. Only `finish` gives a held slot back, so interruption at any point
 * neither leaks nor double-frees a slot.
 */
interface Ticket {
  state: "idle" | "waiting" | "holding" | "done"
  resume?: (() => void) | undefined
}

/** The queries of one principal: how many hold a slot, and who waits for one (FIFO). */
interface Gate {
  active: number
  readonly waiting: Array<Ticket>
}

export const makePool = (
  instance: DuckDBInstance,
  size: number,
  attempt: <A>(f: () => Promise<A>) => Effect.Effect<A, SqlError>
): Effect.Effect<Pool, SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const connections = yield* Queue.bounded<PooledConnection>(size)
    const open = new Set<PooledConnection>()
    const closeOne = (pooled: PooledConnection) => {
      for (const cached of pooled.statements.values()) closeQuietly(() => cached.prepared.destroySync())
      pooled.statements.clear()
      closeQuietly(() => pooled.connection.closeSync())
      open.delete(pooled)
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => [...open].forEach(closeOne)))
    const pooledOf = (connection: DuckDBConnection): PooledConnection => {
      const pooled: PooledConnection = {
        connection,
        id: connection.clientContext.connectionId,
        statements: new Map(),
        dirty: false
      }
      open.add(pooled)
      return pooled
    }
    for (let i = 0; i < size; i++) {
      yield* Queue.offer(connections, pooledOf(yield* attempt(() => instance.connect())))
    }

    /** Back into the pool, or, when dirty, closed and replaced by a fresh connection. */
    const release = (pooled: PooledConnection): Effect.Effect<void> =>
      Effect.suspend(() => releaseNow(pooled))
    const releaseNow = (pooled: PooledConnection): Effect.Effect<void> => {
      if (!pooled.dirty) return Queue.offer(connections, pooled)
      closeOne(pooled)
      return Effect.retry(attempt(() => instance.connect()), { times: 2 }).pipe(
        Effect.flatMap((connection) => Queue.offer(connections, pooledOf(connection))),
        Effect.catchAll((error) =>
          Effect.logWarning("DuckDB: could not replace a pooled connection; the pool is one smaller").pipe(
            Effect.annotateLogs({ error: error.message })
          )
        ),
        Effect.asVoid
      )
    }

    const perPrincipal = perPrincipalLimit(size)
    const gates = new Map<string, Gate>()
    const gateOf = (principal: string): Gate => {
      let gate = gates.get(principal)
      if (gate === undefined) {
        gate = { active: 0, waiting: [] }
        gates.set(principal, gate)
      }
      return gate
    }

    /** Takes a slot at once if the principal has one free. */
    const tryEnter = (principal: string, ticket: Ticket): boolean => {
      const gate = gateOf(principal)
      if (gate.active >= perPrincipal) return false
      gate.active++
      ticket.state = "holding"
      return true
    }

    /** Waits (interruptibly, FIFO) until the principal's next free slot is this ticket's. */
    const enter = (principal: string, ticket: Ticket): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (tryEnter(principal, ticket)) return Effect.void
        const gate = gateOf(principal)
        return Effect.async<void>((resume) => {
          ticket.state = "waiting"
          ticket.resume = () => resume(Effect.void)
          gate.waiting.push(ticket)
          return Effect.sync(() => {
            // Interrupted while still queued: leave the queue. A slot already handed over is
            // given back by `finish`, which always runs.
            if (ticket.state === "waiting") {
              gate.waiting.splice(gate.waiting.indexOf(ticket), 1)
              ticket.state = "done"
            }
          })
        })
      })

    /** Gives the ticket's slot back (to the principal's next waiting query, if any). */
    const finish = (principal: string, ticket: Ticket): void => {
      const gate = gates.get(principal)
      if (gate === undefined) return
      if (ticket.state === "waiting") {
        gate.waiting.splice(gate.waiting.indexOf(ticket), 1)
      } else if (ticket.state === "holding") {
        const next = gate.waiting.shift()
        if (next === undefined) gate.active--
        else {
          // The slot passes straight to the principal's next query.
          next.state = "holding"
          next.resume?.()
        }
      }
      ticket.state = "done"
      if (gate.active === 0 && gate.waiting.length === 0) gates.delete(principal)
    }

    const timedOut = (timeoutMs: number) => new SqlTimeout({ timeoutMs })

    /**
     * The principal's slot, then a connection: at once when both are free (the common case,
     * with no timer at all); otherwise waiting, bounded by the timeout. Gives the connection and
     * the time the wait started (undefined when nothing waited).
     */
    const acquire = (
      timeoutMs: number,
      principal: string | undefined,
      ticket: Ticket
    ): Effect.Effect<readonly [PooledConnection, number | undefined], SqlTimeout> =>
      Effect.suspend(() => {
        const needsTurn = principal !== undefined && !tryEnter(principal, ticket)
        const waitForAll = (start: number | undefined) => {
          const take = Queue.take(connections)
          const wait = needsTurn && principal !== undefined ? Effect.zipRight(enter(principal, ticket), take) : take
          const bounded = hasTimeout(timeoutMs)
            ? wait.pipe(Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => timedOut(timeoutMs) }))
            : wait
          return Effect.map(bounded, (pooled) => [pooled, start] as const)
        }
        const slow = hasTimeout(timeoutMs) ? Effect.flatMap(Clock.currentTimeMillis, waitForAll) : waitForAll(undefined)
        if (needsTurn) return slow
        return Effect.flatMap(
          Queue.poll(connections),
          (free) => Option.isSome(free) ? Effect.succeed([free.value, undefined] as const) : slow
        )
      })

    const withConnection = <A, E>(
      timeoutMs: number,
      principal: string | undefined,
      use: (pooled: PooledConnection, remainingMs: number) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | SqlTimeout> =>
      // Not acquireUseRelease: its acquire is uninterruptible, and waiting for a turn or a free
      // connection must be interruptible so that the timeout also bounds the wait.
      Effect.uninterruptibleMask((restore) => {
        const ticket: Ticket = { state: "idle" }
        const acquired = restore(acquire(timeoutMs, principal, ticket)).pipe(
          Effect.flatMap(([pooled, start]) =>
            Effect.flatMap(
              start === undefined ? Effect.succeed(timeoutMs) : Effect.map(
                Clock.currentTimeMillis,
                (now) => Math.max(1, timeoutMs - (now - start))
              ),
              (remaining) => restore(use(pooled, remaining)).pipe(Effect.ensuring(release(pooled)))
            )
          )
        )
        if (principal === undefined) return acquired
        return Effect.ensuring(acquired, Effect.sync(() => finish(principal, ticket)))
      })

    return { withConnection, size, perPrincipal }
  })
