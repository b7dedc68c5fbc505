/**
 * Servers under test for the MCP throughput benchmark. A `Target` knows how to start one server
 * (as a child process) and how the load driver must talk to it; everything else is shared.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"

/**
 * `session`: initialize once per connection and send `mcp-session-id` (2025-era);
 * `stateless`: no session (2025-era requests one by one); `modern`: 2026-07-28 requests (no
 * session; protocol version and client capabilities in `_meta`, `Mcp-Method`/`Mcp-Name` headers).
 */
export type SessionMode = "session" | "stateless" | "modern"

export interface RunningTarget {
  /** The MCP endpoint, always on loopback. */
  readonly url: URL
  /** Extra request headers (e.g. `authorization: Bearer …` for an authenticated variant). */
  readonly headers: Readonly<Record<string, string>>
  readonly pid: number
  /** SIGTERM, then SIGKILL after 5 s; also removes the target's temp folders. */
  readonly stop: () => Promise<void>
}

export interface Target {
  readonly name: string
  readonly mode: SessionMode
  readonly start: () => Promise<RunningTarget>
}

const START_TIMEOUT_MS = 30_000
const KILL_AFTER_MS = 5_000
const LISTENING = /listening on (http:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):\d+)\/mcp/

interface SpawnSpec {
  readonly label: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: NodeJS.ProcessEnv
  /** Pin the child to these CPUs with `taskset` (Linux), e.g. "1". */
  readonly cpus?: string | undefined
  readonly cleanup?: () => void
}

const stopChild = (proc: ChildProcess): Promise<void> => {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const killer = setTimeout(() => proc.kill("SIGKILL"), KILL_AFTER_MS)
    proc.once("exit", () => {
      clearTimeout(killer)
      resolve()
    })
    proc.kill("SIGTERM")
  })
}

/**
 * Spawn `node ...args` and wait for its `listening on http://HOST:PORT/mcp` line on stderr or
 * stdout. Rejects (and kills the child) if it exits first or takes longer than 30 s.
 */
const spawnServer = (spec: SpawnSpec): Promise<RunningTarget> =>
  new Promise((resolve, reject) => {
    const [command, args] = spec.cpus === undefined
      ? [process.execPath, [...spec.args]]
      : ["taskset", ["-c", spec.cpus, process.execPath, ...spec.args]]
    const proc = spawn(command, args, { cwd: spec.cwd, env: spec.env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    let started = false
    let settled = false
    let stopping = false
    const fail = (why: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      void stopChild(proc).then(() => {
        spec.cleanup?.()
        reject(new Error(`${spec.label}: ${why}\n--- output ---\n${output.slice(-4000)}`))
      })
    }
    const timer = setTimeout(() => fail(`not listening after ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS)
    const onData = (chunk: Buffer): void => {
      if (started) return
      output += chunk.toString()
      const match = LISTENING.exec(output)
      if (match?.[1] === undefined || proc.pid === undefined) return
      started = true
      settled = true
      clearTimeout(timer)
      // Keep draining the pipes so a chatty server never blocks on a full pipe.
      resolve({
        url: new URL(`${match[1]}/mcp`),
        headers: {},
        pid: proc.pid,
        stop: () => {
          stopping = true
          return stopChild(proc).then(() => spec.cleanup?.())
        }
      })
    }
    proc.stdout?.on("data", onData)
    proc.stderr?.on("data", onData)
    proc.once("error", (e) => fail(`cannot spawn: ${e.message}`))
    proc.once("exit", (code, signal) => {
      if (!started) fail(`exited (${signal ?? code}) before listening`)
      else if (!stopping) console.error(`!!! ${spec.label} exited unexpectedly (${signal ?? code})`)
    })
  })

/** Copy a project folder to a fresh temp dir, leaving out any existing database (`data/`). */
const copyProject = (projectDir: string): string => {
  const dir = mkdtempSync(join(tmpdir(), "mxcp-bench-project-"))
  cpSync(projectDir, dir, { recursive: true, filter: (src) => basename(src) !== "data" })
  return dir
}

/** The environment for an mxcp child: an empty HOME, no MXCP_CONFIG, plus `extra`. */
const isolatedEnv = (home: string, extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home }
  delete env["MXCP_CONFIG"]
  return { ...env, ...extra }
}

export interface MxcpTargetOptions {
  readonly name: string
  readonly mainJs: string
  readonly projectDir: string
  /** Extra CLI arguments after `serve --port 0`. */
  readonly args?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** Extra request headers, e.g. a bearer token. */
  readonly headers?: Readonly<Record<string, string>>
  readonly cpus?: string | undefined
  /** How the driver talks to it (default `session`). */
  readonly mode?: SessionMode
}

const nodeFlags = (): ReadonlyArray<string> =>
  (process.env["BENCH_NODE_FLAGS"] ?? "").split(" ").filter((f) => f !== "")

/** Our server: `node dist/main.js serve --port 0` in a temp copy of the project. */
export const mxcpTarget = (opts: MxcpTargetOptions): Target => ({
  name: opts.name,
  mode: opts.mode ?? "session",
  start: async () => {
    const project = copyProject(opts.projectDir)
    const home = mkdtempSync(join(tmpdir(), "mxcp-bench-home-"))
    const running = await spawnServer({
      label: opts.name,
      // BENCH_NODE_FLAGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles our server under load.
      args: [...nodeFlags(), opts.mainJs, "serve", "--port", "0", ...(opts.args ?? [])],
      cwd: project,
      env: isolatedEnv(home, opts.env ?? {}),
      cpus: opts.cpus,
      cleanup: () => {
        rmSync(project, { recursive: true, force: true })
        rmSync(home, { recursive: true, force: true })
      }
    })
    return { ...running, headers: { ...opts.headers } }
  }
})

export interface BaselineTargetOptions {
  readonly name: string
  readonly script: string
  readonly setupSql: string
  readonly cwd: string
  readonly cpus?: string | undefined
  /** One `McpServer` per session (the SDK's stateful pattern) instead of one per request. */
  readonly stateful?: boolean
}

/** An SDK-only baseline (`baseline-server.ts`), stateless or stateful, run through tsx's loader. */
export const baselineTarget = (opts: BaselineTargetOptions): Target => ({
  name: opts.name,
  mode: opts.stateful === true ? "session" : "stateless",
  start: () =>
    spawnServer({
      label: opts.name,
      args: ["--import", "tsx", opts.script, opts.setupSql, ...(opts.stateful === true ? ["--stateful"] : [])],
      cwd: opts.cwd,
      env: { ...process.env },
      cpus: opts.cpus
    })
})
