/**
 * Several real server processes sharing one PostgreSQL schema (the `auth.persistence` block of a
 * multi-instance deployment), and nginx in front of them: round robin for everything, except
 * `/mcp`, which stays on one instance per bearer token (`hash $http_authorization consistent`):
 * MCP sessions are per instance until session sharing lands. (Hashing on `Mcp-Session-Id` does
 * not work: the initialize request has no session id yet, so it lands elsewhere than the rest.)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NGINX_BIN } from "./Nginx.js"

/** The key every instance of a test deployment shares. */
export const DEPLOYMENT_KEY = Buffer.alloc(32, 5).toString("base64")

/** `auth.persistence` (and more `auth:` lines) for the harness's `authYaml` (10 spaces in). */
export const postgresAuthYaml = (url: string, schema: string, extra = ""): string =>
  `          persistence:
            type: postgres
            url: "${url}"
            encryption_key: "${DEPLOYMENT_KEY}"
            schema: ${schema}
            pool_size: 4
${extra}`

export interface Balancer {
  readonly url: string
  readonly port: number
  readonly accessLog: () => string
  readonly stop: () => Promise<void>
}

const waitForPort = async (port: number, proc: ChildProcess, log: () => string): Promise<void> => {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}:\n${log()}`)
    const open = await new Promise<boolean>((resolveOpen) => {
      const socket = connect(port, "127.0.0.1")
      socket.once("connect", () => {
        socket.destroy()
        resolveOpen(true)
      })
      socket.once("error", () => resolveOpen(false))
    })
    if (open) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nginx did not listen on ${port} in 10 s:\n${log()}`)
}

/** nginx on `port` (plain HTTP, loopback) in front of `backends` (`http://127.0.0.1:<port>` origins). */
export const startBalancer = async (port: number, backends: ReadonlyArray<string>): Promise<Balancer> => {
  if (!existsSync(NGINX_BIN)) throw new Error(`nginx is not installed (${NGINX_BIN}): apt-get install nginx`)
  const dir = mkdtempSync(join(tmpdir(), "mxcp-lb-"))
  chmodSync(dir, 0o755)
  mkdirSync(join(dir, "tmp"))
  const servers = backends.map((b) => `        server ${new URL(b).host} max_fails=1 fail_timeout=2s;`).join("\n")
  const log = join(dir, "error.log")
  const access = join(dir, "access.log")
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;
error_log ${log} info;
events { worker_connections 256; }
http {
    log_format up '$request_method $uri $status $upstream_addr';
    access_log ${access} up;
    client_body_temp_path ${dir}/tmp/client_body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    upstream mxcp {
${servers}
    }
    upstream mxcp_sessions {
        hash $http_authorization consistent;
${servers}
    }
    server {
        listen 127.0.0.1:${port};
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Connection "";
        proxy_next_upstream error timeout;
        location / {
            proxy_pass http://mxcp;
        }
        location = /mcp {
            proxy_buffering off;
            proxy_pass http://mxcp_sessions;
        }
    }
}
`
  )
  let output = ""
  const proc = spawn(NGINX_BIN, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", log, "-g", `daemon off; pid ${dir}/nginx.pid;`], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  proc.stdout?.on("data", (d: Buffer) => (output += d.toString()))
  proc.stderr?.on("data", (d: Buffer) => (output += d.toString()))
  const exited = new Promise<void>((r) => proc.once("exit", () => r()))
  const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "")
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM")
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForPort(port, proc, () => output + read(log))
  } catch (e) {
    await stop()
    throw e
  }
  return { url: `http://127.0.0.1:${port}`, port, accessLog: () => read(access), stop }
}
