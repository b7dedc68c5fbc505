/**
 * A throwaway PostgreSQL cluster for tests: Debian's server binaries (`/usr/lib/postgresql/<v>/bin`,
 * or `PG_BIN`), a fresh data folder under the system temp folder, its own port on 127.0.0.1 and its
 * own socket folder, `fsync=off` (the tests crash it on purpose, they never need durability of the
 * cluster itself). As root, initdb refuses to run, so the cluster runs as the `postgres` user
 * (through `runuser`); as any other user it runs as that user.
 *
 * `stop()` ends it and removes its folder; `crash()` is `pg_ctl -m immediate stop` (the same data
 * folder starts again with `start()`, recovering like after a power cut).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"

export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust authentication, no password). */
  readonly url: string
  readonly port: number
  readonly database: string
  /** A URL for another database of the same cluster, created on first use. */
  readonly databaseUrl: (name: string) => string
  /** Runs SQL through psql as the superuser; gives psql's output (unaligned, tuples only). */
  readonly psql: (sql: string, database?: string) => string
  /** Stops the server (fast shutdown); the data folder stays, `start()` brings it back. */
  readonly pause: () => void
  /** Stops the server abruptly (immediate shutdown, like a crash); `start()` recovers it. */
  readonly crash: () => void
  readonly start: () => void
  readonly running: () => boolean
  /** Stops the server and deletes its folder. */
  readonly stop: () => void
}

/** The folder holding initdb/pg_ctl, or undefined when no PostgreSQL server is installed. */
export const postgresBinDir = (): string | undefined => {
  const fromEnv = process.env["PG_BIN"]
  if (fromEnv !== undefined && existsSync(join(fromEnv, "pg_ctl"))) return fromEnv
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin")
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Start a new cluster with one database (`mxcp` unless named). Takes about 2 s. */
export const startPostgres = async (options: { readonly database?: string } = {}): Promise<PostgresCluster> => {
  const bin = postgresBinDir()
  if (bin === undefined) {
    throw new Error("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): apt-get install postgresql")
  }
  const asRoot = userInfo().uid === 0
  const folder = mkdtempSync(join(tmpdir(), "mxcp-pg-"))
  const data = join(folder, "data")
  const sockets = join(folder, "sockets")
  chmodSync(folder, 0o755)
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim())
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
    chownSync(folder, uid, gid)
  }
  const run = (tool: string, args: ReadonlyArray<string>, check = true) => {
    const [command, fullArgs] = asRoot
      ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] as const
      : [join(bin, tool), [...args]] as const
    const result = spawnSync(command, fullArgs, { encoding: "utf8", cwd: folder, timeout: 60_000 })
    if (check && result.status !== 0) {
      throw new Error(`${tool} ${args.join(" ")} failed (${result.status}): ${result.stderr || result.stdout}`)
    }
    return result
  }
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
  // The socket folder belongs to the cluster's user.
  if (asRoot) execFileSync("runuser", ["-u", "postgres", "--", "mkdir", "-p", sockets])
  else execFileSync("mkdir", ["-p", sockets])

  const port = await freePort()
  const database = options.database ?? "mxcp"
  const serverOptions = `-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
  const start = () => {
    run("pg_ctl", ["-D", data, "-l", join(folder, "server.log"), "-w", "-t", "30", "-o", serverOptions, "start"])
  }
  const stopWith = (mode: "fast" | "immediate") => {
    run("pg_ctl", ["-D", data, "-w", "-t", "30", "-m", mode, "stop"], false)
  }
  const running = () => run("pg_ctl", ["-D", data, "status"], false).status === 0
  start()
  const created = new Set<string>()
  const psql = (sql: string, db = "postgres") => {
    const result = run("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
    return result.stdout.trim()
  }
  const createDatabase = (name: string) => {
    if (created.has(name)) return
    run("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name])
    created.add(name)
  }
  createDatabase(database)
  const urlFor = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`
  return {
    url: urlFor(database),
    port,
    database,
    databaseUrl: (name) => {
      createDatabase(name)
      return urlFor(name)
    },
    psql,
    pause: () => stopWith("fast"),
    crash: () => stopWith("immediate"),
    start,
    running,
    stop: () => {
      if (running()) stopWith("immediate")
      rmSync(folder, { recursive: true, force: true })
    }
  }
}
