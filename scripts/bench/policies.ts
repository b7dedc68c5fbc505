/**
 * Policies benchmark (issue 14): `tools/call get_product` on our server with OAuth on (fake
 * GitHub on loopback, a real bearer token), once as the example ships it and once with two input
 * rules and one output rule on the same tool; same run, the two servers measured alternately.
 *
 *   npm run build && npx tsx scripts/bench/policies.ts [--duration 10] [--connections 16]
 *                                                     [--rounds 3] [--warmup 1] [--pin]
 *
 * It prints the CPU model, requests, req/s, p50/p99 latency, errors and server CPU per request
 * for each, then policies/none req/s against the goal (>= 0.95x). It is a report: the exit code
 * is 0 whatever the numbers, and 1 only when a server cannot be started.
 *
 * The rules never fire on the benchmark's ids, so both servers return the same rows (the output
 * rule masks `added`, which the driver does not check): what is measured is building the CEL
 * context and evaluating three compiled conditions per call.
 */
import { execFileSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { mxcpAuthTarget } from "./auth-target.js"
import { type ErrorTally, type PhaseResult, percentile, runPhase } from "./load.js"
import { loadExpectedProducts, McpConnection } from "./mcp-client.js"
import type { RunningTarget, Target } from "./targets.js"

const GOAL_RATIO = 0.95
const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(BENCH_DIR, "../..")
const PROJECT_DIR = join(ROOT, "examples/quickstart")
const SETUP_SQL = join(PROJECT_DIR, "sql/setup.sql")
const MAIN_JS = join(ROOT, "dist/main.js")

/** The example's get_product, with two input rules and one output rule. */
const GUARDED_TOOL = `mxcp: 1
tool:
  name: get_product
  description: Get one product by id.
  parameters:
    - name: id
      type: integer
      description: Product id
      minimum: 1
  return:
    type: object
  source:
    file: ../sql/get_product.sql
  annotations:
    readOnlyHint: true
  policies:
    input:
      - condition: "user.role == 'suspended' || user.email.endsWith('@blocked.example')"
        action: deny
        reason: "Suspended accounts may not read products"
      - condition: "id > 100000 && !('catalog.admin' in user.permissions)"
        action: deny
        reason: "Only catalog admins may read archived products"
    output:
      - condition: "!('catalog.admin' in user.permissions)"
        action: mask_fields
        fields: [added]
`

const options = () => {
  const { values } = parseArgs({
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      rounds: { type: "string" },
      pin: { type: "boolean", default: false }
    }
  })
  const num = (raw: string | undefined, name: string, fallback: number, max: number): number => {
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`--${name} must be a number in (0, ${max}], got '${raw}'`)
    return n
  }
  return {
    durationS: num(values.duration, "duration", 10, 600),
    warmupS: num(values.warmup, "warmup", 1, 60),
    connections: Math.round(num(values.connections, "connections", 16, 256)),
    rounds: Math.round(num(values.rounds, "rounds", 3, 20)),
    pin: values.pin === true
  }
}

interface Totals {
  requests: number
  windowMs: number
  serverCpuMs: number | undefined
  latencies: Array<number>
  errors: Map<string, ErrorTally>
}

const add = (t: Totals, r: PhaseResult): void => {
  t.requests += r.requests
  t.windowMs += r.windowMs
  t.serverCpuMs = t.serverCpuMs === undefined || r.serverCpuMs === undefined ? undefined : t.serverCpuMs + r.serverCpuMs
  t.latencies.push(...r.latenciesMs)
  for (const [kind, e] of r.errors) {
    const prev = t.errors.get(kind)
    if (prev === undefined) t.errors.set(kind, { count: e.count, example: e.example })
    else prev.count += e.count
  }
}

const fresh = (): Totals => ({ requests: 0, windowMs: 0, serverCpuMs: 0, latencies: [], errors: new Map() })
const reqPerSec = (t: Totals): number => (t.windowMs > 0 ? (t.requests * 1000) / t.windowMs : 0)
const errorCount = (t: Totals): number => [...t.errors.values()].reduce((n, e) => n + e.count, 0)

const line = (name: string, round: string, t: Totals): string => {
  const sorted = [...t.latencies].sort((a, b) => a - b)
  const perReq = t.serverCpuMs === undefined || t.requests === 0 ? "n/a" : `${((t.serverCpuMs * 1000) / t.requests).toFixed(0)} µs`
  return [
    name.padEnd(10),
    round.padStart(5),
    String(t.requests).padStart(9),
    reqPerSec(t).toFixed(0).padStart(8),
    percentile(sorted, 50).toFixed(2).padStart(8),
    percentile(sorted, 99).toFixed(2).padStart(8),
    String(errorCount(t)).padStart(7),
    perReq.padStart(15)
  ].join(" ")
}

const started: Array<{ readonly name: string; readonly target: Target; readonly running: RunningTarget }> = []
const temp: Array<string> = []

const cleanup = async (): Promise<void> => {
  await Promise.all(started.splice(0).map((s) => s.running.stop()))
  for (const dir of temp.splice(0)) rmSync(dir, { recursive: true, force: true })
}

const main = async (): Promise<number> => {
  const opts = options()
  if (!existsSync(MAIN_JS)) {
    console.error(`!!! ${MAIN_JS} does not exist: run \`npm run build\``)
    return 1
  }
  let serverCpus: string | undefined
  if (opts.pin) {
    execFileSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" })
    serverCpus = "1"
  }
  console.log(`CPU: ${cpus()[0]?.model ?? "unknown"} (${cpus().length} cores), load average ${(loadavg()[0] ?? 0).toFixed(2)}`)

  // The guarded project: the example with get_product's file replaced.
  const guardedDir = mkdtempSync(join(tmpdir(), "mxcp-bench-policies-"))
  temp.push(guardedDir)
  cpSync(PROJECT_DIR, guardedDir, { recursive: true, filter: (src) => !src.includes(`${PROJECT_DIR}/data`) })
  writeFileSync(join(guardedDir, "tools/get_product.yml"), GUARDED_TOOL)

  const targets = [
    { name: "none", target: mxcpAuthTarget({ name: "none", mainJs: MAIN_JS, projectDir: PROJECT_DIR, cpus: serverCpus }) },
    { name: "policies", target: mxcpAuthTarget({ name: "policies", mainJs: MAIN_JS, projectDir: guardedDir, cpus: serverCpus }) }
  ]
  for (const { name, target } of targets) {
    try {
      const running = await target.start()
      started.push({ name, target, running })
      console.log(`started ${name}: ${running.url.href} (pid ${running.pid})`)
    } catch (e) {
      console.error(`\n!!! FAILED TO START ${name}: ${e instanceof Error ? e.message : String(e)}\n`)
      return 1
    }
  }

  const products = await loadExpectedProducts(SETUP_SQL)
  for (const s of started) {
    const conn = new McpConnection(s.running.url, s.running.headers, s.target.mode)
    try {
      await conn.open()
      for (const p of products) await conn.getProduct(p)
      console.log(`smoke test ${s.name}: ok`)
    } finally {
      await conn.close()
    }
  }

  console.log(
    `\n${opts.connections} connections, ${opts.warmupS} s warm-up + ${opts.durationS} s measured, ${opts.rounds} round(s), ` +
      `alternating${opts.pin ? ", driver on CPU 0 and servers on CPU 1" : ""}\n`
  )
  console.log("target     round  requests    req/s   p50 ms   p99 ms  errors  server CPU/req")
  const totals = new Map(started.map((s) => [s.name, fresh()]))
  for (let round = 1; round <= opts.rounds; round++) {
    // Alternate which goes first, so neither always runs on a warmer (or busier) machine.
    const order = round % 2 === 1 ? started : [...started].reverse()
    for (const s of order) {
      const result = await runPhase(s.running, s.target.mode, {
        connections: opts.connections,
        warmupMs: opts.warmupS * 1000,
        durationMs: opts.durationS * 1000,
        products
      })
      const one = fresh()
      add(one, result)
      console.log(line(s.name, String(round), one))
      const total = totals.get(s.name)
      if (total !== undefined) add(total, result)
    }
  }
  console.log("")
  for (const [name, t] of totals) console.log(line(name, "all", t))
  for (const [name, t] of totals) {
    if (t.errors.size === 0) continue
    console.error(`!!! ${name}: ${errorCount(t)} FAILED REQUESTS — its numbers are not valid`)
    for (const [kind, e] of t.errors) console.error(`!!!   ${kind}: ${e.count}× e.g. ${e.example.slice(0, 300)}`)
  }
  const none = totals.get("none")
  const guarded = totals.get("policies")
  if (none !== undefined && guarded !== undefined && reqPerSec(none) > 0) {
    const ratio = reqPerSec(guarded) / reqPerSec(none)
    const clean = errorCount(none) === 0 && errorCount(guarded) === 0
    const verdict = !clean ? "FAIL (errors during the run)" : ratio >= GOAL_RATIO ? "PASS" : "FAIL"
    console.log(`\npolicies / none req/s: ${ratio.toFixed(3)}x (goal >= ${GOAL_RATIO}x): ${verdict}`)
  }
  return 0
}

let interrupted = false
const onSignal = (signal: NodeJS.Signals): void => {
  if (interrupted) return
  interrupted = true
  console.error(`\n${signal}: stopping servers`)
  void cleanup().finally(() => process.exit(130))
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)

main()
  .catch((e: unknown) => {
    console.error(`!!! benchmark failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    return 1
  })
  .then(async (code) => {
    await cleanup()
    process.exit(code)
  })
