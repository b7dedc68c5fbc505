/**
 * The load phase: N concurrent connections hammer one target with `tools/call get_product`
 * for warm-up + duration; only calls completing inside the measured window are counted.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { cpus } from "node:os"
import { performance } from "node:perf_hooks"
import { setTimeout as sleep } from "node:timers/promises"
import { CallError, type ExpectedProduct, McpConnection } from "./mcp-client.js"
import type { RunningTarget, SessionMode } from "./targets.js"

export interface LoadOptions {
  readonly connections: number
  readonly warmupMs: number
  readonly durationMs: number
  /** Rotated through by every connection (each starting at a different offset). */
  readonly products: ReadonlyArray<ExpectedProduct>
}

export interface ErrorTally {
  count: number
  readonly example: string
}

export interface PhaseResult {
  /** Successful calls completed inside the measured window. */
  readonly requests: number
  readonly windowMs: number
  readonly latenciesMs: Array<number>
  /** Every failure, warm-up included, by kind. */
  readonly errors: Map<string, ErrorTally>
  /** CPU time over the measured window (as sampled: `cpuWindowMs`), in ms; undefined where it cannot be read. */
  readonly cpuWindowMs: number
  readonly driverCpuMs: number
  readonly serverCpuMs: number | undefined
  /** Busy CPU time of the whole machine (all cores) over the same window. */
  readonly machineCpuMs: number
}

/** Back-off after a failed call, so a refusing server does not turn a loop into a hot spin. */
const ERROR_BACKOFF_MS = 20

const clockTicksPerSecond = ((): number => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** user + system CPU of a process (all its threads) in ms, from /proc (Linux only). */
export const processCpuMs = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // After "pid (comm) " come: state(3) ... utime(14) stime(15); field 3 is index 0 here.
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicksPerSecond : undefined
  } catch {
    return undefined
  }
}

/** Busy (non-idle) CPU time summed over all cores, in ms. */
export const machineCpuMs = (): number =>
  cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0)

const driverCpuMs = (): number => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

const recordError = (errors: Map<string, ErrorTally>, e: unknown): void => {
  const kind = e instanceof CallError ? e.kind : "driver"
  const message = e instanceof Error ? e.message : String(e)
  const tally = errors.get(kind)
  if (tally === undefined) errors.set(kind, { count: 1, example: message })
  else tally.count++
}

interface Window {
  readonly start: number
  readonly end: number
}

/** One connection's loop; returns when the measured window is over. */
const runConnection = async (
  conn: McpConnection,
  offset: number,
  opts: LoadOptions,
  window: Window,
  latencies: Array<number>,
  errors: Map<string, ErrorTally>
): Promise<void> => {
  for (let i = offset; performance.now() < window.end; i++) {
    const product = opts.products[i % opts.products.length]
    if (product === undefined) return
    const t0 = performance.now()
    try {
      await conn.getProduct(product)
      const t1 = performance.now()
      if (t1 >= window.start && t1 <= window.end) latencies.push(t1 - t0)
    } catch (e) {
      recordError(errors, e)
      await sleep(ERROR_BACKOFF_MS)
    }
  }
}

interface CpuSnapshot {
  readonly at: number
  readonly driver: number
  readonly server: number | undefined
  readonly machine: number
}

const snapshot = (pid: number): CpuSnapshot => ({
  at: performance.now(),
  driver: driverCpuMs(),
  server: processCpuMs(pid),
  machine: machineCpuMs()
})

/** Open the connections (sessions), drive the target, close the connections. */
export const runPhase = async (target: RunningTarget, mode: SessionMode, opts: LoadOptions): Promise<PhaseResult> => {
  const errors = new Map<string, ErrorTally>()
  const latencies: Array<number> = []
  const conns = Array.from({ length: opts.connections }, () => new McpConnection(target.url, target.headers, mode))
  const opened = await Promise.all(
    conns.map((c) =>
      c.open().then(
        () => c,
        (e: unknown) => {
          recordError(errors, e)
          return undefined
        }
      )
    )
  )
  const live = opened.filter((c): c is McpConnection => c !== undefined)

  const t0 = performance.now()
  const window: Window = { start: t0 + opts.warmupMs, end: t0 + opts.warmupMs + opts.durationMs }
  let before: CpuSnapshot | undefined
  let after: CpuSnapshot | undefined
  const startTimer = setTimeout(() => (before = snapshot(target.pid)), opts.warmupMs)
  const endTimer = setTimeout(() => (after = snapshot(target.pid)), opts.warmupMs + opts.durationMs)
  await Promise.all(live.map((c, i) => runConnection(c, i, opts, window, latencies, errors)))
  clearTimeout(startTimer)
  clearTimeout(endTimer)
  before ??= snapshot(target.pid)
  after ??= snapshot(target.pid)
  await Promise.all(conns.map((c) => c.close()))

  return {
    requests: latencies.length,
    windowMs: opts.durationMs,
    latenciesMs: latencies,
    errors,
    cpuWindowMs: after.at - before.at,
    driverCpuMs: after.driver - before.driver,
    serverCpuMs: after.server !== undefined && before.server !== undefined ? after.server - before.server : undefined,
    machineCpuMs: after.machine - before.machine
  }
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] ?? Number.NaN
}
