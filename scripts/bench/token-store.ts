/**
 * Token store benchmark, in one run:
 *
 *   npm run build && npx tsx scripts/bench/token-store.ts [--store sqlite|postgres]
 *       [--sizes 1000,1000000] [--seconds 5] [--duration 8] [--warmup 1] [--rounds 2]
 *       [--connections 16] [--skip-lookups] [--skip-http]
 *
 * `--store postgres` measures the PostgreSQL store instead, on a throwaway cluster of its own
 * (test/support/Postgres.ts: Debian's `postgresql` server binaries, `fsync=off`; the same for
 * both sides of each comparison). Goal there: postgres / memory >= 0.85 for tools/call.
 *
 * 1. Validation lookups/s against `TokenStoreSqlite` with N stored sessions (a grant with sealed
 *    upstream tokens, an access token and a refresh token each), built in bulk into a fresh file
 *    per size with the store's own row encoding. One lookup = what BearerAuth does per request:
 *    the access token by hash, then its grant (MAC checks and decryption included). Random
 *    sessions, one fiber, after a warm-up. Goal: the largest size within 1.5x of the smallest.
 * 2. Authenticated `tools/call` throughput of two server processes (`dist/main.js`), one with
 *    the in-memory store and one with `auth.persistence` (SQLite), measured in turns (the order
 *    flips every round), bearer token from a real login against the fake GitHub (through
 *    `auth-target.ts`). Goal: SQLite / memory >= 0.9.
 *
 * A report: the exit code is 0 whatever the numbers, 1 only when something cannot run.
 */
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"
import type { GrantRecord } from "../../src/domain/oauth/Records.js"
import { OAuthDatabase, OAuthDatabaseSqlite } from "../../src/layers/oauth/store/OAuthDatabase.js"
import {
  AccessTokenRows,
  GrantRows,
  RefreshTokenRows
} from "../../src/layers/oauth/store/SealedRows.js"
import { makeTokenStoreSqlite } from "../../src/layers/oauth/store/TokenStoreSqlite.js"
import { OAuthDatabasePostgres } from "../../src/layers/oauth/store/OAuthDatabasePostgres.js"
import { type PostgresCluster, startPostgres } from "../../test/support/Postgres.js"
import { mxcpAuthTarget } from "./auth-target.js"
import { type PhaseResult, percentile, runPhase } from "./load.js"
import { loadExpectedProducts } from "./mcp-client.js"
import type { RunningTarget, Target } from "./targets.js"

const LOOKUP_GOAL = 1.5
const HTTP_GOAL: Record<StoreKind, number> = { sqlite: 0.9, postgres: 0.85 }
type StoreKind = "sqlite" | "postgres"
/** The benchmark's own PostgreSQL cluster (`--store postgres`), started once. */
let cluster: PostgresCluster | undefined
const BENCH_KEY = Buffer.alloc(32, 3).toString("base64")
const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(BENCH_DIR, "../..")
const PROJECT_DIR = join(ROOT, "examples/quickstart")
const MAIN_JS = join(ROOT, "dist/main.js")

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  readonly store: StoreKind
  readonly sizes: ReadonlyArray<number>
  readonly seconds: number
  readonly durationS: number
  readonly warmupS: number
  readonly rounds: number
  readonly connections: number
  readonly lookups: boolean
  readonly http: boolean
}

const positive = (raw: string | undefined, name: string, fallback: number): number => {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got '${raw}'`)
  return n
}

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      store: { type: "string" },
      sizes: { type: "string" },
      seconds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      connections: { type: "string" },
      "skip-lookups": { type: "boolean", default: false },
      "skip-http": { type: "boolean", default: false }
    }
  })
  const sizes = (values.sizes ?? "1000,1000000").split(",").map((s) => Math.round(positive(s.trim(), "sizes", 1)))
  const store = values.store ?? "sqlite"
  if (store !== "sqlite" && store !== "postgres") throw new Error(`--store must be sqlite or postgres, got '${store}'`)
  return {
    store,
    sizes,
    seconds: positive(values.seconds, "seconds", 5),
    durationS: positive(values.duration, "duration", 8),
    warmupS: positive(values.warmup, "warmup", 1),
    rounds: Math.round(positive(values.rounds, "rounds", 2)),
    connections: Math.round(positive(values.connections, "connections", 16)),
    lookups: values["skip-lookups"] !== true,
    http: values["skip-http"] !== true
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Validation lookups

const sha256Hex = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex")
const accessTokenOf = (i: number): string => `bench-access-token-${i}`
const grantIdOf = (i: number): string => `bench-grant-${i.toString().padStart(9, "0")}`

const HOUR = 3_600_000
const SESSIONS_PER_STATEMENT = 400
const STATEMENTS_PER_TRANSACTION = 25

const sessionGrant = (i: number, now: number): GrantRecord => ({
  id: grantIdOf(i),
  clientId: "bench-client",
  user: { provider: "github", id: String(1_000_000 + i), username: `user${i}`, email: `user${i}@example.com`, name: `User ${i}` },
  upstream: {
    accessToken: Redacted.make(`gho_${sha256Hex(`upstream-${i}`).slice(0, 36)}`),
    scopes: ["read:user", "user:email"],
    extra: {}
  },
  scopes: ["mxcp:access"],
  resource: undefined,
  createdAt: now,
  revoked: false
})

/**
 * Insert `n` sessions with multi-row INSERTs in large transactions. While loading, durability is
 * off and the page cache large; both are back to the store's settings before measuring.
 */
const buildSessions = (db: OAuthDatabase.Shape, n: number, now: number) =>
  Effect.gen(function* () {
    const { box, sql } = db
    const sqlite = db.dialect === "sqlite"
    const cache = sqlite ? ((yield* sql<{ cache_size: number }>`PRAGMA cache_size`)[0]?.cache_size ?? -2000) : 0
    if (sqlite) {
      yield* sql`PRAGMA synchronous = OFF`
      yield* sql`PRAGMA cache_size = -1000000`
    }
    let next = 0
    while (next < n) {
      yield* sql.withTransaction(
        Effect.gen(function* () {
          for (let s = 0; s < STATEMENTS_PER_TRANSACTION && next < n; s++) {
            const end = Math.min(n, next + SESSIONS_PER_STATEMENT)
            const grants = []
            const access = []
            const refresh = []
            for (let i = next; i < end; i++) {
              grants.push({ ...GrantRows.encode(box, sessionGrant(i, now)), revoked: 0 })
              const base = { grantId: grantIdOf(i), clientId: "bench-client", scopes: ["mxcp:access"] }
              access.push({ ...AccessTokenRows.encode(box, { ...base, tokenHash: sha256Hex(accessTokenOf(i)), resource: undefined, expiresAt: now + HOUR }) })
              refresh.push({ ...RefreshTokenRows.encode(box, { ...base, tokenHash: sha256Hex(`bench-refresh-${i}`), expiresAt: now + 720 * HOUR }) })
            }
            // Grants first: the token triggers update their `live_until`.
            yield* sql`INSERT INTO grants ${sql.insert(grants)}`
            yield* sql`INSERT INTO access_tokens ${sql.insert(access)}`
            yield* sql`INSERT INTO refresh_tokens ${sql.insert(refresh)}`
            next = end
          }
        })
      )
      if (n >= 100_000 && next % 100_000 < SESSIONS_PER_STATEMENT * STATEMENTS_PER_TRANSACTION) {
        process.stderr.write(`  built ${next.toLocaleString("en")} sessions\n`)
      }
    }
    if (sqlite) {
      yield* sql.unsafe(`PRAGMA cache_size = ${Math.trunc(cache)}`)
      yield* sql`PRAGMA synchronous = FULL`
      yield* sql`PRAGMA wal_checkpoint(TRUNCATE)`
    } else {
      yield* sql`VACUUM ANALYZE`
    }
    if (sqlite) yield* sql`ANALYZE`
  })

interface LookupResult {
  readonly size: number
  readonly buildS: number
  readonly fileMb: number
  readonly lookups: number
  readonly perSecond: number
  readonly p50us: number
  readonly p99us: number
}

/** A deterministic spread of session numbers in [0, n). */
const sample = (n: number, count: number): Array<number> => {
  let x = 0x9e3779b9
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) >>> 0
    return x % n
  })
}

const measureLookups = (kind: StoreKind, size: number, seconds: number): Promise<LookupResult> => {
  const dir = mkdtempSync(join(tmpdir(), "mxcp-bench-store-"))
  const path = join(dir, "oauth.db")
  const schema = `bench_${size}`
  const database = kind === "sqlite"
    ? OAuthDatabaseSqlite({ path })
    : OAuthDatabasePostgres({ url: Redacted.make(cluster!.url), encryptionKey: Redacted.make(BENCH_KEY), schema, poolSize: 4 })
  const program = Effect.gen(function* () {
    const ctx = yield* Layer.build(database)
    const db = Context.get(ctx, OAuthDatabase)
    const now = yield* Clock.currentTimeMillis
    const t0 = performance.now()
    yield* buildSessions(db, size, now)
    const buildS = (performance.now() - t0) / 1000
    const store = yield* makeTokenStoreSqlite().pipe(Effect.provideService(OAuthDatabase, db))
    const hashes = sample(size, 50_000).map((i) => sha256Hex(accessTokenOf(i)))

    const lookup = (hash: string) =>
      Effect.gen(function* () {
        const token = yield* store.getAccessToken(hash, now)
        if (Option.isNone(token)) return yield* Effect.dieMessage("a stored token was not found")
        const grant = yield* store.getGrant(token.value.grantId)
        if (Option.isNone(grant)) return yield* Effect.dieMessage("a stored grant was not found")
      })
    const run = (ms: number, latencies: Array<number> | undefined) =>
      Effect.gen(function* () {
        const end = performance.now() + ms
        let count = 0
        while (performance.now() < end) {
          const a = performance.now()
          yield* lookup(hashes[count % hashes.length]!)
          if (latencies !== undefined) latencies.push((performance.now() - a) * 1000)
          count++
        }
        return count
      })
    yield* run(1000, undefined)
    const latencies: Array<number> = []
    const m0 = performance.now()
    const lookups = yield* run(seconds * 1000, latencies)
    const elapsed = (performance.now() - m0) / 1000
    latencies.sort((a, b) => a - b)
    const fileMb = kind === "sqlite"
      ? (statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0)) / 1e6
      : ((yield* db.sql<{ bytes: number }>`SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${schema} AND c.relkind = 'r'`)[0]?.bytes ?? 0) / 1e6
    return {
      size,
      buildS,
      fileMb,
      lookups,
      perSecond: lookups / elapsed,
      p50us: percentile(latencies, 50),
      p99us: percentile(latencies, 99)
    } satisfies LookupResult
  })
  return Effect.runPromise(Effect.scoped(program)).finally(() => rmSync(dir, { recursive: true, force: true }))
}

const lookupBench = async (opts: Options): Promise<void> => {
  const label = opts.store === "sqlite" ? "TokenStoreSqlite" : "TokenStorePostgres"
  console.log(`\n== validation lookups (access token by hash + its grant), ${label}, ${opts.seconds} s each ==\n`)
  console.log(["sessions", "build s", "file MB", "lookups", "lookups/s", "p50 µs", "p99 µs"].map((h, i) => (i === 0 ? h.padEnd(10) : h.padStart(10))).join(" "))
  const results: Array<LookupResult> = []
  for (const size of opts.sizes) {
    const r = await measureLookups(opts.store, size, opts.seconds)
    results.push(r)
    console.log(
      [
        r.size.toLocaleString("en").padEnd(10),
        r.buildS.toFixed(1).padStart(10),
        r.fileMb.toFixed(0).padStart(10),
        String(r.lookups).padStart(10),
        r.perSecond.toFixed(0).padStart(10),
        r.p50us.toFixed(1).padStart(10),
        r.p99us.toFixed(1).padStart(10)
      ].join(" ")
    )
  }
  const small = results[0]
  const large = results[results.length - 1]
  if (small !== undefined && large !== undefined && large !== small) {
    const slowdown = small.perSecond / large.perSecond
    console.log(
      `\n${small.size.toLocaleString("en")} / ${large.size.toLocaleString("en")} sessions lookups/s: ${slowdown.toFixed(2)}x slower ` +
        `(goal <= ${LOOKUP_GOAL}x): ${slowdown <= LOOKUP_GOAL ? "PASS" : "FAIL"}`
    )
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Authenticated tools/call, SQLite vs memory

const started: Array<RunningTarget> = []

const httpBench = async (opts: Options): Promise<void> => {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} does not exist: run \`npm run build\``)
  const stateDir = mkdtempSync(join(tmpdir(), "mxcp-bench-state-"))
  const targets: ReadonlyArray<Target> = [
    mxcpAuthTarget({ name: "memory", mainJs: MAIN_JS, projectDir: PROJECT_DIR }),
    mxcpAuthTarget({
      name: opts.store,
      mainJs: MAIN_JS,
      projectDir: PROJECT_DIR,
      authYaml: opts.store === "sqlite"
        ? `          persistence:\n            path: ${join(stateDir, "oauth.db")}`
        : `          persistence:\n            type: postgres\n            url: "${cluster!.url}"\n            encryption_key: "${BENCH_KEY}"\n            schema: bench_http`
    })
  ]
  try {
    const products = await loadExpectedProducts(join(PROJECT_DIR, "sql/setup.sql"))
    const running: Array<[string, RunningTarget]> = []
    for (const t of targets) {
      const r = await t.start()
      started.push(r)
      running.push([t.name, r])
    }
    console.log(
      `\n== authenticated tools/call get_product: ${opts.connections} connections, ${opts.warmupS} s warm-up + ` +
        `${opts.durationS} s, ${opts.rounds} round(s), alternating ==\n`
    )
    const totals = new Map<string, { requests: number; ms: number; errors: number; latencies: Array<number> }>()
    for (let round = 1; round <= opts.rounds; round++) {
      // Alternate which target goes first, so a drifting machine load favours neither.
      const order = round % 2 === 1 ? running : [...running].reverse()
      for (const [name, target] of order) {
        const r: PhaseResult = await runPhase(target, "session", {
          connections: opts.connections,
          warmupMs: opts.warmupS * 1000,
          durationMs: opts.durationS * 1000,
          products
        })
        const errors = [...r.errors.values()].reduce((n, e) => n + e.count, 0)
        const t = totals.get(name) ?? { requests: 0, ms: 0, errors: 0, latencies: [] }
        t.requests += r.requests
        t.ms += r.windowMs
        t.errors += errors
        t.latencies.push(...r.latenciesMs)
        totals.set(name, t)
        console.log(`${name.padEnd(8)} round ${round}: ${((r.requests * 1000) / r.windowMs).toFixed(0)} req/s, ${errors} errors`)
        for (const [kind, e] of r.errors) console.error(`!!!   ${kind}: ${e.count}× e.g. ${e.example.slice(0, 200)}`)
      }
    }
    const rate = (name: string) => {
      const t = totals.get(name)
      return t === undefined || t.ms === 0 ? 0 : (t.requests * 1000) / t.ms
    }
    for (const [name, t] of totals) {
      const sorted = [...t.latencies].sort((a, b) => a - b)
      console.log(`${name.padEnd(8)} all: ${rate(name).toFixed(0)} req/s, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, ${t.errors} errors`)
    }
    const ratio = rate("memory") > 0 ? rate(opts.store) / rate("memory") : 0
    const clean = [...totals.values()].every((t) => t.errors === 0)
    console.log(
      `\n${opts.store} / memory req/s: ${ratio.toFixed(2)}x (goal >= ${HTTP_GOAL[opts.store]}x): ${
        !clean ? "FAIL (errors)" : ratio >= HTTP_GOAL[opts.store] ? "PASS" : "FAIL"
      }`
    )
  } finally {
    for (const r of started.splice(0)) await r.stop()
    rmSync(stateDir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------

const main = async (): Promise<number> => {
  const opts = parseOptions(process.argv.slice(2))
  if (opts.store === "postgres") cluster = await startPostgres({ database: "bench" })
  try {
    if (opts.lookups) await lookupBench(opts)
    if (opts.http) await httpBench(opts)
  } finally {
    cluster?.stop()
  }
  return 0
}

const onSignal = (): void => {
  void Promise.all(started.splice(0).map((r) => r.stop())).finally(() => {
    cluster?.stop()
    process.exit(130)
  })
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)

main()
  .catch((e: unknown) => {
    console.error(`!!! benchmark failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    return 1
  })
  .then((code) => process.exit(code))
