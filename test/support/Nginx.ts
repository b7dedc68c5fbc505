/**
 * A real nginx in front of test servers, run as a plain child process with everything (config,
 * logs, pid, temp files, a self-signed certificate) in its own temp folder:
 * `nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off; pid DIR/nginx.pid;'`.
 *
 * The server blocks come from `deploy/nginx/mxcp.conf`, the file the README documents, with its
 * `{{PLACEHOLDERS}}` filled in. Without `openssl` the blocks listen on plain http and send a fixed
 * `X-Forwarded-Proto: https`, and `fetch` maps the https origins back to http.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import { createServer, connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { repoRoot } from "./Project.js"

export const NGINX_BIN = process.env["NGINX_BIN"] ?? "/usr/sbin/nginx"

/** The documented server block, `deploy/nginx/mxcp.conf`. */
export const nginxTemplatePath = join(repoRoot, "deploy/nginx/mxcp.conf")
export const nginxTemplate = (): string => readFileSync(nginxTemplatePath, "utf8")

/** A port that was free on 127.0.0.1 a moment ago. */
export const freePort = (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolvePort(port))
    })
  })

/** True when the `openssl` command runs. */
export const hasOpenssl = (): boolean => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

export interface Certificate {
  readonly certPath: string
  readonly keyPath: string
  /** The certificate (PEM): self-signed, so it is its own CA. */
  readonly pem: string
}

/** A self-signed P-256 certificate for `127.0.0.1` and `localhost`, valid for a day, written into `dir`. */
export const makeCertificate = (dir: string): Certificate => {
  const certPath = join(dir, "cert.pem")
  const keyPath = join(dir, "key.pem")
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-nodes", "-days", "1",
      "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
      "-keyout", keyPath, "-out", certPath,
      "-subj", "/CN=localhost",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"
    ],
    { stdio: "ignore" }
  )
  return { certPath, keyPath, pem: readFileSync(certPath, "utf8") }
}

/** One `server {}` block: the documented file with its placeholders filled in. */
export interface ProxySite {
  readonly publicPort: number
  readonly upstreamPort: number
  /** Default `127.0.0.1`. */
  readonly serverName?: string
}

/** Fill in the documented template; fails when a placeholder is left. */
export const renderSite = (
  template: string,
  site: ProxySite,
  tls: Certificate | undefined
): string => {
  const values: Record<string, string> = {
    SERVER_NAME: site.serverName ?? "127.0.0.1",
    PUBLIC_PORT: String(site.publicPort),
    MXCP_PORT: String(site.upstreamPort),
    TLS_CERTIFICATE: tls?.certPath ?? "unused",
    TLS_CERTIFICATE_KEY: tls?.keyPath ?? "unused"
  }
  let text = template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => values[name] ?? whole)
  if (/\{\{[A-Z_]+\}\}/.test(text)) throw new Error(`unknown placeholder left in ${nginxTemplatePath}`)
  if (tls === undefined) {
    // No openssl: plain http, and the proxy still tells mxcp the external scheme is https.
    text = text
      .replace(/^(\s*listen\s+\d+)\s+ssl;/m, "$1;")
      .replace(/^\s*ssl_.*$/gm, "")
      .replace("X-Forwarded-Proto $scheme", "X-Forwarded-Proto https")
  }
  return text
}

export interface RunningNginx {
  readonly dir: string
  /** True when nginx terminates TLS (openssl was available). */
  readonly tls: boolean
  /** The self-signed certificate clients must trust (PEM), when `tls`. */
  readonly ca: string | undefined
  /** The external origin of site `index`: `https://127.0.0.1:<publicPort>`. */
  readonly origin: (index?: number) => string
  /** A `fetch` that trusts the certificate (or, without TLS, maps the https origins to http). */
  readonly fetch: typeof fetch
  readonly errorLog: () => string
  readonly accessLog: () => string
  /** Stop nginx and remove its folder. */
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

/** Start nginx with one documented server block per site; resolves once every public port accepts connections. */
export const startNginx = async (options: {
  readonly sites: ReadonlyArray<ProxySite>
  /** Default: TLS when `openssl` is available. */
  readonly tls?: boolean
}): Promise<RunningNginx> => {
  if (!existsSync(NGINX_BIN)) {
    throw new Error(`nginx is not installed (${NGINX_BIN}): apt-get install nginx (.ci/run does), or set NGINX_BIN`)
  }
  const dir = mkdtempSync(join(tmpdir(), "mxcp-nginx-"))
  // Run as root, nginx's workers switch to `nobody`: they must be able to enter the folder.
  chmodSync(dir, 0o755)
  mkdirSync(join(dir, "tmp"))
  const tls = (options.tls ?? hasOpenssl()) ? makeCertificate(dir) : undefined
  const template = nginxTemplate()
  const sitesConf = options.sites.map((site) => renderSite(template, site, tls)).join("\n")
  writeFileSync(join(dir, "mxcp.conf"), sitesConf)
  const errorLogPath = join(dir, "error.log")
  const accessLogPath = join(dir, "access.log")
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;
error_log ${errorLogPath} info;
events {
    worker_connections 256;
}
http {
    access_log ${accessLogPath};
    client_body_temp_path ${dir}/tmp/client_body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    include ${dir}/mxcp.conf;
}
`
  )
  let output = ""
  const proc = spawn(
    NGINX_BIN,
    ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", errorLogPath, "-g", `daemon off; pid ${dir}/nginx.pid;`],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  proc.stdout?.on("data", (d: Buffer) => (output += d.toString()))
  proc.stderr?.on("data", (d: Buffer) => (output += d.toString()))
  const exited = new Promise<void>((r) => proc.once("exit", () => r()))
  const readLog = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "")
  const errorLog = () => output + readLog(errorLogPath)
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
    for (const site of options.sites) await waitForPort(site.publicPort, proc, errorLog)
  } catch (e) {
    await stop()
    throw e
  }
  const origin = (index = 0) => `https://127.0.0.1:${options.sites[index]?.publicPort ?? 0}`
  const origins = options.sites.map((_, i) => origin(i))
  return {
    dir,
    tls: tls !== undefined,
    ca: tls?.pem,
    origin,
    fetch: fetchTrusting(
      tls?.pem,
      tls !== undefined ? (u) => u : (u) => (origins.includes(u.origin) ? new URL(u.toString().replace(/^https:/, "http:")) : u)
    ),
    errorLog,
    accessLog: () => readLog(accessLogPath),
    stop
  }
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304])

/**
 * A `fetch` over `node:http`/`node:https` that trusts `ca` for https (Node 20's global fetch
 * cannot be given a CA): enough of fetch for the MCP SDK client and the test browser (string or
 * form bodies, streamed response bodies, `signal`, no redirect following).
 */
export const fetchTrusting = (ca: string | undefined, mapUrl: (url: URL) => URL = (u) => u): typeof fetch => {
  const agent = new https.Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) })
  const fetchLike = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = new Request(input, init)
    const url = mapUrl(new URL(request.url))
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer())
    const headers: Record<string, string> = {}
    request.headers.forEach((value, name) => {
      headers[name] = value
    })
    if (body !== undefined) headers["content-length"] = String(body.length)
    const signal = init.signal ?? undefined
    return new Promise<Response>((resolveResponse, reject) => {
      const options: https.RequestOptions = { method: request.method, headers, ...(signal === undefined ? {} : { signal }) }
      const onResponse = (res: http.IncomingMessage) => {
        const status = res.statusCode ?? 0
        const responseHeaders = new Headers()
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!)
        const empty = request.method === "HEAD" || NULL_BODY_STATUS.has(status)
        if (empty) res.resume()
        const stream = empty
          ? null
          : new ReadableStream<Uint8Array>({
            start(controller) {
              res.on("data", (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)))
              res.on("end", () => controller.close())
              res.on("error", (e) => controller.error(e))
            },
            cancel() {
              res.destroy()
            }
          })
        resolveResponse(new Response(stream, { status, statusText: res.statusMessage ?? "", headers: responseHeaders }))
      }
      const req = url.protocol === "https:"
        ? https.request(url, { ...options, agent }, onResponse)
        : http.request(url, options, onResponse)
      req.once("error", reject)
      req.end(body)
    })
  }
  return fetchLike as typeof fetch
}
