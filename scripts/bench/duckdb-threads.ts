/**
 * DuckDB `threads` benchmark: CPU per query of our DuckDB session (`DuckDbSessionNode`, pool of
 * 4) under concurrent tiny queries, with DuckDB's default `threads` against the server default
 * (`serverThreads(cores)`, used when serving over HTTP), in one run:
 *
 *   npx tsx scripts/bench/duckdb-threads.ts [--seconds 4] [--rounds 3] [--concurrency 16]
 *       [--busy-core | --no-busy-core]
 *
 * Each round runs both settings in turn (the order flips every round) for `--seconds`, issuing
 * the quickstart's `get_product` query (prepared, one `$id` parameter) from `--concurrency`
 * fibers, and reads this process's CPU time (all threads) and the query count. With
 * `--busy-core` (the default) a child process keeps one core busy meanwhile, standing in for a
 * server's own JavaScript thread, so DuckDB competes for cores as it does inside `serve`.
 *
 * Prints queries/s and CPU µs per query of both and the ratio default / server default. A report:
 * exit code 0 whatever the numbers.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { availableParallelism } from "node:os"
import { dirname, join, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { DuckDbSession } from "../../src/services/duckdb/DuckDbSession.js"
import { DEFAULT_POOL_SIZE, DuckDbSessionNode, serverThreads } from "../../src/layers/duckdb/DuckDbSessionNode.js"

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const SETUP_SQL = readFileSync(join(ROOT, "examples/quickstart/sql/setup.sql"), "utf8")
const QUERY = readFileSync(join(ROOT, "examples/quickstart/sql/get_product.sql"), "utf8")

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    "busy-core": { type: "boolean", default: true },
    "no-busy-core": { type: "boolean", default: false }
  }
})
const seconds = Number(values.seconds)
const rounds = Math.round(Number(values.rounds))
const concurrency = Math.round(Number(values.concurrency))
if (!(seconds > 0 && rounds > 0 && concurrency > 0)) {
  console.error("--seconds, --rounds and --concurrency must be positive numbers")
  process.exit(2)
}
const busyCore = values["busy-core"] === true && values["no-busy-core"] !== true

interface Setting {
  readonly name: string
  readonly threads: number | undefined
}

interface Measured {
  queries: number
  cpuMs: number
  wallMs: number
}

const cores = availableParallelism()
const settings: ReadonlyArray<Setting> = [
  { name: "duckdb default", threads: undefined },
  { name: `server default (${serverThreads(cores)})`, threads: serverThreads(cores) }
]

/** Run the query from `concurrency` fibers for `seconds` on a fresh session with `threads`. */
const measure = (setting: Setting): Promise<Measured> =>
  Effect.gen(function*() {
    const db = yield* DuckDbSession
    yield* db.exec(SETUP_SQL)
    const ids = (yield* db.query("SELECT id FROM products ORDER BY id")).map((r) => Number(r["id"]))
    // Warm-up: every pooled connection prepares the statement.
    yield* Effect.forEach(ids, (id) => db.query(QUERY, { id }), { concurrency, discard: true })
    let queries = 0
    const deadline = performance.now() + seconds * 1000
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const worker = (offset: number) =>
      Effect.gen(function*() {
        let i = offset
        while (performance.now() < deadline) {
          yield* db.query(QUERY, { id: ids[i++ % ids.length] })
          queries++
        }
      })
    yield* Effect.forEach(Array.from({ length: concurrency }, (_, i) => i), worker, { concurrency, discard: true })
    const cpu = process.cpuUsage(cpu0)
    return { queries, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - t0 }
  }).pipe(
    Effect.provide(DuckDbSessionNode({ path: ":memory:", readonly: false, threads: setting.threads })),
    Effect.runPromise
  )

const main = async (): Promise<void> => {
  console.log(
    `${cores} cores, pool of ${DEFAULT_POOL_SIZE} connections, ${concurrency} concurrent queries, ` +
      `${seconds} s x ${rounds} round(s) per setting, ${busyCore ? "one core kept busy" : "no busy core"}`
  )
  const hog = busyCore
    ? spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" })
    : undefined
  const totals = new Map<string, Measured>(settings.map((s) => [s.name, { queries: 0, cpuMs: 0, wallMs: 0 }]))
  try {
    console.log(`\n${"setting".padEnd(24)} round  queries/s  CPU µs/query`)
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? settings : [...settings].reverse()
      for (const setting of order) {
        const m = await measure(setting)
        const total = totals.get(setting.name)!
        total.queries += m.queries
        total.cpuMs += m.cpuMs
        total.wallMs += m.wallMs
        console.log(
          `${setting.name.padEnd(24)} ${String(round).padStart(5)}  ${(m.queries / (m.wallMs / 1000)).toFixed(0).padStart(9)}` +
            `  ${((m.cpuMs * 1000) / m.queries).toFixed(0).padStart(12)}`
        )
      }
    }
  } finally {
    hog?.kill()
  }
  console.log("")
  const perQuery = settings.map((s) => {
    const t = totals.get(s.name)!
    const cpuUs = (t.cpuMs * 1000) / t.queries
    console.log(`${s.name.padEnd(24)}   all  ${(t.queries / (t.wallMs / 1000)).toFixed(0).padStart(9)}  ${cpuUs.toFixed(0).padStart(12)}`)
    return cpuUs
  })
  const [byDefault, byServer] = perQuery
  if (byDefault !== undefined && byServer !== undefined) {
    console.log(`\nCPU per query, duckdb default / server default: ${(byDefault / byServer).toFixed(2)}x`)
  }
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
