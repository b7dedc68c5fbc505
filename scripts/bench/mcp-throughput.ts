/**
 * MCP throughput benchmark: our server in each of its modes against baselines made of the MCP SDK
 * alone (its stateful pattern, one McpServer per session, and its stateless pattern, one per
 * request), all serving `get_product` from DuckDB, all as child processes, compared like for
 * like (see COMPARISONS).
 *
 *   npm run bench -- [--duration 10] [--connections 16] [--rounds 2] [--warmup 1] [--pin]
 *                    [--targets mxcp,sdk-stateful]
 *
 * Targets are driven one at a time, alternating (ours, baseline, ours, baseline, ...), each time
 * with a warm-up before the measured window. It prints requests, req/s, p50/p99 latency and
 * errors per target, the CPU model, then each comparison's req/s ratio against its goal. It is a report: the
 * exit code is 0 whatever the numbers, and 1 only when a target cannot be started.
 *
 * `--pin` (Linux, needs `taskset`) puts the driver on CPU 0 and the servers on CPU 1, so the
 * driver's own CPU use never competes with the server being measured.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join, resolve } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { type ErrorTally, machineCpuMs, type PhaseResult, percentile, runPhase } from "./load.js"
import { type ExpectedProduct, loadExpectedProducts, McpConnection } from "./mcp-client.js"
import { mxcpAuthTarget } from "./auth-target.js"
import { baselineTarget, mxcpTarget, type RunningTarget, type Target } from "./targets.js"

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(BENCH_DIR, "../..")
const PROJECT_DIR = join(ROOT, "examples/quickstart")
const SETUP_SQL = join(PROJECT_DIR, "sql/setup.sql")
const MAIN_JS = join(ROOT, "dist/main.js")

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  readonly durationS: number
  readonly warmupS: number
  readonly connections: number
  readonly rounds: number
  readonly pin: boolean
  /** Names of the targets to run; undefined: all. */
  readonly targets: ReadonlyArray<string> | undefined
}

const numberOption = (raw: string | undefined, name: string, fallback: number, max: number): number => {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`--${name} must be a number in (0, ${max}], got '${raw}'`)
  return n
}

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      rounds: { type: "string" },
      pin: { type: "boolean", default: false },
      targets: { type: "string" }
    }
  })
  return {
    durationS: numberOption(values.duration, "duration", 10, 600),
    warmupS: numberOption(values.warmup, "warmup", 1, 60),
    connections: Math.round(numberOption(values.connections, "connections", 16, 256)),
    rounds: Math.round(numberOption(values.rounds, "rounds", 2, 20)),
    pin: values.pin === true,
    targets: values.targets?.split(",").map((t) => t.trim()).filter((t) => t !== "")
  }
}

// ---------------------------------------------------------------------------------------------
// Targets: add a variant of our server (e.g. authenticated) as one more `mxcpTarget(...)` entry.

const BASELINE_NAME = "sdk-stateless"
const STATEFUL_BASELINE_NAME = "sdk-stateful"
const AUTH_NAME = "mxcp-auth"
const STATELESS_NAME = "mxcp-stateless"
const MODERN_NAME = "mxcp-2026"

/**
 * The comparisons, like for like (issue 17): our session mode against the SDK's stateful pattern
 * (one McpServer per session), our stateless modes (`--stateless`, and the 2026-07-28 era)
 * against the SDK's stateless pattern (one per request); then OAuth's cost on our own server.
 */
const COMPARISONS: ReadonlyArray<{ readonly ours: string; readonly base: string; readonly goal: number; readonly why: string }> = [
  { ours: "mxcp", base: STATEFUL_BASELINE_NAME, goal: 1.0, why: "sessions vs the SDK's stateful pattern" },
  { ours: AUTH_NAME, base: STATEFUL_BASELINE_NAME, goal: 1.0, why: "authenticated sessions vs the SDK's stateful pattern without auth" },
  { ours: STATELESS_NAME, base: BASELINE_NAME, goal: 1.2, why: "--stateless vs the SDK's stateless pattern" },
  { ours: MODERN_NAME, base: BASELINE_NAME, goal: 1.2, why: "2026-07-28 vs the SDK's stateless pattern" },
  { ours: MODERN_NAME, base: "mxcp", goal: 1.0, why: "2026-07-28 vs our 2025 sessions" },
  { ours: AUTH_NAME, base: "mxcp", goal: 0.9, why: "what token validation costs" }
]

const buildTargets = (cpus: string | undefined): ReadonlyArray<Target> => [
  mxcpTarget({ name: "mxcp", mainJs: MAIN_JS, projectDir: PROJECT_DIR, cpus }),
  // The same server, same process settings, driven with 2026-07-28 stateless requests (no flag).
  mxcpTarget({ name: MODERN_NAME, mainJs: MAIN_JS, projectDir: PROJECT_DIR, cpus, mode: "modern" }),
  // The same server started with --stateless, driven with 2025 requests and no session.
  mxcpTarget({ name: STATELESS_NAME, mainJs: MAIN_JS, projectDir: PROJECT_DIR, cpus, args: ["--stateless"], mode: "stateless" }),
  // The same server with OAuth on (fake GitHub on loopback) and a bearer token on every request.
  mxcpAuthTarget({ name: AUTH_NAME, mainJs: MAIN_JS, projectDir: PROJECT_DIR, cpus }),
  baselineTarget({ name: BASELINE_NAME, script: join(BENCH_DIR, "baseline-server.ts"), setupSql: SETUP_SQL, cwd: ROOT, cpus }),
  baselineTarget({
    name: STATEFUL_BASELINE_NAME,
    script: join(BENCH_DIR, "baseline-server.ts"),
    setupSql: SETUP_SQL,
    cwd: ROOT,
    cpus,
    stateful: true
  })
]

const selectTargets = (all: ReadonlyArray<Target>, names: ReadonlyArray<string> | undefined): ReadonlyArray<Target> => {
  if (names === undefined) return all
  const unknown = names.filter((n) => !all.some((t) => t.name === n))
  if (unknown.length > 0) throw new Error(`unknown target(s) ${unknown.join(", ")}; known: ${all.map((t) => t.name).join(", ")}`)
  return all.filter((t) => names.includes(t.name))
}

/** Pin this process (all its threads) to CPU 0; children get CPU 1. Returns the children's CPU list. */
const pinDriver = (): string => {
  execFileSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" })
  return "1"
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

interface Started {
  readonly target: Target
  readonly running: RunningTarget
}

const started: Array<Started> = []

const stopAll = async (): Promise<void> => {
  const all = started.splice(0)
  await Promise.all(all.map((s) => s.running.stop()))
}

const startAll = async (targets: ReadonlyArray<Target>): Promise<boolean> => {
  for (const target of targets) {
    try {
      const running = await target.start()
      started.push({ target, running })
      console.log(`started ${target.name}: ${running.url.href} (pid ${running.pid}, ${target.mode})`)
    } catch (e) {
      console.error(`\n!!! FAILED TO START ${target.name}: ${e instanceof Error ? e.message : String(e)}\n`)
      return false
    }
  }
  return true
}

/** One connection calling every product once: fails fast and readably before the timed runs. */
const smokeTest = async ({ target, running }: Started, products: ReadonlyArray<ExpectedProduct>): Promise<void> => {
  const conn = new McpConnection(running.url, running.headers, target.mode)
  try {
    await conn.open()
    for (const p of products) await conn.getProduct(p)
    console.log(`smoke test ${target.name}: ok`)
  } catch (e) {
    console.error(`!!! smoke test ${target.name} FAILED: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    await conn.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface Totals {
  requests: number
  windowMs: number
  cpuWindowMs: number
  driverCpuMs: number
  serverCpuMs: number | undefined
  machineCpuMs: number
  latencies: Array<number>
  errors: Map<string, ErrorTally>
}

const emptyTotals = (): Totals => ({
  requests: 0,
  windowMs: 0,
  cpuWindowMs: 0,
  driverCpuMs: 0,
  serverCpuMs: 0,
  machineCpuMs: 0,
  latencies: [],
  errors: new Map()
})

const addPhase = (t: Totals, r: PhaseResult): void => {
  t.requests += r.requests
  t.windowMs += r.windowMs
  t.cpuWindowMs += r.cpuWindowMs
  t.driverCpuMs += r.driverCpuMs
  t.serverCpuMs = t.serverCpuMs === undefined || r.serverCpuMs === undefined ? undefined : t.serverCpuMs + r.serverCpuMs
  t.machineCpuMs += r.machineCpuMs
  for (const l of r.latenciesMs) t.latencies.push(l)
  for (const [kind, e] of r.errors) {
    const prev = t.errors.get(kind)
    if (prev === undefined) t.errors.set(kind, { count: e.count, example: e.example })
    else prev.count += e.count
  }
}

const errorCount = (errors: Map<string, ErrorTally>): number => [...errors.values()].reduce((n, e) => n + e.count, 0)
const reqPerSec = (t: Totals): number => (t.windowMs > 0 ? (t.requests * 1000) / t.windowMs : 0)
const pct = (cpuMs: number | undefined, windowMs: number): string =>
  cpuMs === undefined || windowMs <= 0 ? "n/a" : `${Math.round((cpuMs * 100) / windowMs)}%`

const HEADER = ["target", "round", "requests", "req/s", "p50 ms", "p99 ms", "errors", "server CPU", "driver CPU", "other CPU", "server CPU/req"]
const WIDTHS = [15, 6, 9, 9, 8, 8, 7, 11, 11, 10, 15]

const row = (cells: ReadonlyArray<string>): string =>
  cells.map((c, i) => (i === 0 ? c.padEnd(WIDTHS[i] ?? 10) : c.padStart(WIDTHS[i] ?? 10))).join(" ")

/** CPU used by everything but the driver and the target: other processes on the machine. */
const otherCpuMs = (t: Totals): number | undefined =>
  t.serverCpuMs === undefined ? undefined : Math.max(0, t.machineCpuMs - t.serverCpuMs - t.driverCpuMs)

const line = (name: string, round: string, t: Totals): string => {
  const sorted = [...t.latencies].sort((a, b) => a - b)
  const perReq = t.serverCpuMs === undefined || t.requests === 0 ? "n/a" : `${((t.serverCpuMs * 1000) / t.requests).toFixed(0)} µs`
  return row([
    name,
    round,
    String(t.requests),
    reqPerSec(t).toFixed(0),
    percentile(sorted, 50).toFixed(2),
    percentile(sorted, 99).toFixed(2),
    String(errorCount(t.errors)),
    pct(t.serverCpuMs, t.cpuWindowMs),
    pct(t.driverCpuMs, t.cpuWindowMs),
    pct(otherCpuMs(t), t.cpuWindowMs),
    perReq
  ])
}

const printErrors = (name: string, errors: Map<string, ErrorTally>): void => {
  if (errors.size === 0) return
  console.error(`\n!!! ${name}: ${errorCount(errors)} FAILED REQUESTS — its numbers are not valid`)
  for (const [kind, e] of errors) console.error(`!!!   ${kind}: ${e.count}× e.g. ${e.example.slice(0, 300)}`)
}

const printVerdict = (totals: ReadonlyMap<string, Totals>): void => {
  console.log("")
  for (const c of COMPARISONS) {
    const ours = totals.get(c.ours)
    const base = totals.get(c.base)
    if (ours === undefined || base === undefined) continue
    if (reqPerSec(base) === 0) {
      console.log(`${c.ours} / ${c.base}: no throughput for ${c.base}, no ratio`)
      continue
    }
    const ratio = reqPerSec(ours) / reqPerSec(base)
    const clean = errorCount(ours.errors) === 0 && errorCount(base.errors) === 0
    const verdict = !clean ? "FAIL (errors during the run)" : ratio >= c.goal ? "PASS" : "FAIL"
    console.log(`${c.ours} / ${c.base} req/s: ${ratio.toFixed(2)}x (goal >= ${c.goal}x; ${c.why}): ${verdict}`)
  }
}

/** Share of a core that other processes may use before the report calls the numbers noisy. */
const NOISE_LIMIT = 0.25

/** Other work on the machine skews everything: sample it for 1 s before starting. */
const reportIdleMachine = async (): Promise<void> => {
  console.log(`machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, node ${process.version}`)
  const before = machineCpuMs()
  await sleep(1000)
  const busyCores = (machineCpuMs() - before) / 1000
  const text = `before start: ${busyCores.toFixed(2)} of ${cpus().length} cores busy (load average ${(loadavg()[0] ?? 0).toFixed(2)})`
  if (busyCores > NOISE_LIMIT) console.error(`!!! ${text}: the machine is not idle, numbers will be noisy`)
  else console.log(text)
}

/** ... and say so again if other processes used CPU during the measured windows. */
const reportNoise = (totals: ReadonlyMap<string, Totals>): void => {
  for (const [name, t] of totals) {
    const other = otherCpuMs(t)
    if (other !== undefined && other / t.cpuWindowMs > NOISE_LIMIT) {
      console.error(`!!! ${name}: other processes used ${pct(other, t.cpuWindowMs)} of a core while it was measured: numbers are noisy`)
    }
  }
}

// ---------------------------------------------------------------------------------------------

const main = async (): Promise<number> => {
  const opts = parseOptions(process.argv.slice(2))
  const serverCpus = opts.pin ? pinDriver() : undefined
  const targets = selectTargets(buildTargets(serverCpus), opts.targets)
  if (targets.some((t) => t.name !== BASELINE_NAME) && !existsSync(MAIN_JS)) {
    console.error(`!!! ${MAIN_JS} does not exist: run \`npm run build\` (or \`npm run bench\`)`)
    return 1
  }
  await reportIdleMachine()
  const products = await loadExpectedProducts(SETUP_SQL)
  if (!(await startAll(targets))) return 1

  console.log(
    `\n${opts.connections} connections, ${opts.warmupS} s warm-up + ${opts.durationS} s measured, ` +
      `${opts.rounds} round(s), alternating targets${opts.pin ? ", driver on CPU 0 and servers on CPU 1" : ""}\n`
  )
  for (const s of started) await smokeTest(s, products)

  const totals = new Map<string, Totals>(started.map((s) => [s.target.name, emptyTotals()]))
  console.log(`\n${row(HEADER)}`)
  for (let round = 1; round <= opts.rounds; round++) {
    for (const s of started) {
      const result = await runPhase(s.running, s.target.mode, {
        connections: opts.connections,
        warmupMs: opts.warmupS * 1000,
        durationMs: opts.durationS * 1000,
        products
      })
      const one = emptyTotals()
      addPhase(one, result)
      console.log(line(s.target.name, String(round), one))
      const total = totals.get(s.target.name)
      if (total !== undefined) addPhase(total, result)
    }
  }
  console.log("")
  for (const [name, t] of totals) console.log(line(name, "all", t))
  reportNoise(totals)
  for (const [name, t] of totals) printErrors(name, t.errors)
  printVerdict(totals)
  return 0
}

// Ctrl-C reaches this process twice (from the terminal and relayed by the tsx CLI): `on`, not
// `once`, so that the second one does not kill it before the servers are stopped.
let interrupted = false
const onSignal = (signal: NodeJS.Signals): void => {
  if (interrupted) return
  interrupted = true
  console.error(`\n${signal}: stopping servers`)
  void stopAll().finally(() => process.exit(130))
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)

main()
  .catch((e: unknown) => {
    console.error(`!!! benchmark failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    return 1
  })
  .then(async (code) => {
    await stopAll()
    process.exit(code)
  })
