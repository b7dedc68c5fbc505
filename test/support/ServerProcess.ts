import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { mainJs } from "./Project.js"

/** The environment for a child server: an empty HOME (no ~/.mxcp/config.yml) and no MXCP_CONFIG. */
export const isolatedEnv = (extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: mkdtempSync(join(tmpdir(), "mxcp-home-")) }
  delete env["MXCP_CONFIG"]
  return { ...env, ...extra }
}

export interface RunningServer {
  readonly url: string
  readonly proc: ChildProcess
  /** Everything the server wrote to stderr so far (and, after it, stdout). */
  readonly stderr: () => string
  /** Everything the server wrote to stdout so far (nothing, for the HTTP transport). */
  readonly stdout: () => string
  /** Resolves with the exit code once the process has exited (whoever stopped it). */
  readonly exited: Promise<number | null>
  /** Send a signal and wait for exit; resolves with the exit code. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/**
 * Start `node dist/main.js serve --port 0` (or `--port <options.port>`) in `cwd` and wait for its
 * "listening on" log line (which carries the real port). Fails if the process exits first or
 * takes over 20 s.
 */
export const startServer = (
  cwd: string,
  args: ReadonlyArray<string> = [],
  env: Readonly<Record<string, string>> = {},
  options: { readonly port?: number } = {}
): Promise<RunningServer> =>
  new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [mainJs, "serve", "--port", String(options.port ?? 0), ...args], {
      cwd,
      env: isolatedEnv(env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let err = ""
    let out = ""
    const timer = setTimeout(() => {
      proc.kill("SIGKILL")
      reject(new Error(`server did not start in 20 s; stderr:\n${err}`))
    }, 20_000)
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)))
    proc.stdout?.on("data", (d: Buffer) => {
      out += d.toString()
    })
    proc.stderr?.on("data", (d: Buffer) => {
      err += d.toString()
      const m = /listening on (http:\/\/[^\s"]+)\/mcp/.exec(err)
      if (m !== null && m[1] !== undefined) {
        clearTimeout(timer)
        resolvePromise({
          url: m[1],
          proc,
          stderr: () => err + out,
          stdout: () => out,
          exited,
          stop: (signal = "SIGTERM") => {
            if (proc.exitCode !== null) return Promise.resolve(proc.exitCode)
            proc.kill(signal)
            return exited
          }
        })
      }
    })
    proc.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening; stderr:\n${err}`))
    })
  })

/** Run `node dist/main.js ...args` to completion. */
export const runCli = (
  cwd: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolvePromise) => {
    const proc = spawn(process.execPath, [mainJs, ...args], {
      cwd,
      env: isolatedEnv(env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.once("exit", (code) => resolvePromise({ code, stdout, stderr }))
  })

/** A TCP port that was free a moment ago on 127.0.0.1 (for servers that do not log their port). */
export const freePort = (): Promise<number> =>
  new Promise((resolvePromise, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      probe.close(() => resolvePromise(port))
    })
  })

/** Poll `check` every 50 ms until it returns true; fails after `timeoutMs` with `what`. */
export const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
