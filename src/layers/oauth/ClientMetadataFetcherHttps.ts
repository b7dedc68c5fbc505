/**
 * `ClientMetadataFetcher` over Node's `https` client: GET a client's metadata document with the
 * SSRF guard of Client ID Metadata Documents.
 *
 * Decisions:
 * - Node's `https` rather than the platform `HttpClient`: the guard needs the resolution and the
 *   connected socket, which `fetch` hides. The request is wrapped in `Effect.async` (interrupting
 *   the effect destroys the request) and timed by Effect (`CIMD_FETCH_TIMEOUT_MS`).
 * - Addresses are checked three times: once before connecting (a clear error for a name that
 *   resolves to a private address), again on the resolution the socket actually uses (the
 *   request's `lookup` is ours: a name that rebinds between the two answers is refused), and on
 *   the connected socket's remote address (whatever happened on the way). Every address a name
 *   resolves to must be public, not only the one used.
 * - No redirect is followed (Node's client never follows one; a 3xx is refused); only status 200
 *   is accepted; a body over `CIMD_MAX_BYTES` (declared or received) ends the request; no cookies,
 *   no credentials, a fresh connection per fetch (no agent: a pooled socket would skip the checks).
 * - `resolve` is the DNS resolver (Node's `dns.lookup` with every address by default); tests give
 *   their own to simulate rebinding.
 */
import { lookup as dnsLookup } from "node:dns/promises"
import type { LookupAddress } from "node:dns"
import { request as httpsRequest } from "node:https"
import type { IncomingMessage } from "node:http"
import type { Socket } from "node:net"
import { Duration, Effect, Layer } from "effect"
import { CIMD_FETCH_TIMEOUT_MS, CIMD_MAX_BYTES } from "../../domain/oauth/ClientIdMetadata.js"
import { isIpLiteral, isPublicAddress } from "../../domain/oauth/NetworkAddress.js"
import { ClientMetadataFetcher, type FetchedDocument, MetadataFetchFailed } from "../../services/oauth/ClientMetadataFetcher.js"

export type Resolver = (host: string) => Promise<ReadonlyArray<LookupAddress>>

export interface HttpsFetcherOptions {
  /** Allow loopback, private and link-local addresses (`auth.cimd.allow_private_addresses`). */
  readonly allowPrivateAddresses: boolean
  readonly resolve?: Resolver | undefined
  readonly timeoutMs?: number | undefined
  readonly maxBytes?: number | undefined
}

const systemResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true })

const bare = (host: string): string => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host)

class Refusal extends Error {}

/** A network failure's code only (never its message: it may name internal addresses). */
const networkCode = (error: unknown): string => {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : "network error"
}

/** The fetcher's plain implementation (also used by tests with their own resolver). */
export const makeHttpsMetadataFetcher = (options: HttpsFetcherOptions): ClientMetadataFetcher.Shape => {
  const resolve = options.resolve ?? systemResolver
  const maxBytes = options.maxBytes ?? CIMD_MAX_BYTES
  const timeoutMs = options.timeoutMs ?? CIMD_FETCH_TIMEOUT_MS

  /** Resolve `host` and refuse any non-public answer (unless allowed). */
  const checkedAddresses = async (host: string): Promise<ReadonlyArray<LookupAddress>> => {
    const name = bare(host)
    const addresses: ReadonlyArray<LookupAddress> = isIpLiteral(name)
      ? [{ address: name, family: name.includes(":") ? 6 : 4 }]
      : await resolve(name).catch(() => {
        throw new Refusal(`the host ${name} does not resolve`)
      })
    if (addresses.length === 0) throw new Refusal(`the host ${name} does not resolve`)
    if (!options.allowPrivateAddresses) {
      const refused = addresses.find((a) => !isPublicAddress(a.address))
      if (refused !== undefined) throw new Refusal(`the host ${name} resolves to a non-public address`)
    }
    return addresses
  }

  const get = (url: URL, signal: AbortSignal): Promise<FetchedDocument> =>
    new Promise<FetchedDocument>((resolvePromise, reject) => {
      const fail = (error: unknown) => reject(error)
      const req = httpsRequest(
        {
          protocol: "https:",
          hostname: bare(url.hostname),
          port: url.port === "" ? 443 : Number(url.port),
          path: `${url.pathname}${url.search}`,
          method: "GET",
          headers: { accept: "application/json" },
          agent: false,
          signal,
          ...(isIpLiteral(bare(url.hostname)) ? {} : { servername: url.hostname }),
          lookup: (hostname, lookupOptions, callback) => {
            checkedAddresses(hostname).then(
              (addresses) => {
                if (lookupOptions.all === true) callback(null, addresses as Array<LookupAddress>)
                else callback(null, addresses[0]!.address, addresses[0]!.family)
              },
              (error: Error) => callback(error, "", 0)
            )
          }
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0
          if (status >= 300 && status < 400) {
            res.destroy()
            return fail(new Refusal(`the document URL answered a redirect (${status}), which is not followed`))
          }
          if (status !== 200) {
            res.destroy()
            return fail(new Refusal(`the document URL answered HTTP ${status}`))
          }
          const declared = Number(res.headers["content-length"] ?? "0")
          if (declared > maxBytes) {
            res.destroy()
            return fail(new Refusal(`the metadata document is larger than ${maxBytes} bytes`))
          }
          const chunks: Array<Buffer> = []
          let size = 0
          res.on("data", (chunk: Buffer) => {
            size += chunk.length
            if (size > maxBytes) {
              res.destroy()
              fail(new Refusal(`the metadata document is larger than ${maxBytes} bytes`))
              return
            }
            chunks.push(chunk)
          })
          res.on("end", () => {
            const cacheControl = res.headers["cache-control"]
            resolvePromise({ body: Buffer.concat(chunks).toString("utf8"), cacheControl })
          })
          res.on("error", fail)
        }
      )
      req.on("socket", (socket: Socket) => {
        socket.once("connect", () => {
          const remote = socket.remoteAddress
          if (!options.allowPrivateAddresses && (remote === undefined || !isPublicAddress(remote))) {
            req.destroy(new Refusal("the connection reached a non-public address"))
          }
        })
      })
      req.on("error", fail)
      req.end()
    })

  const fetch = (url: URL) =>
    Effect.gen(function* () {
      if (url.protocol !== "https:") return yield* new MetadataFetchFailed({ reason: "only https metadata documents are fetched" })
      const text = yield* Effect.tryPromise({
        try: async (signal) => {
          // Checked before connecting, for a clear answer; the socket's own resolution is checked again.
          await checkedAddresses(url.hostname)
          return await get(url, signal)
        },
        catch: (error) =>
          new MetadataFetchFailed({
            reason: error instanceof Refusal
              ? error.message
              : `the metadata document could not be fetched (${networkCode(error)})`
          })
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(timeoutMs),
          onTimeout: () => new MetadataFetchFailed({ reason: `the metadata document did not arrive within ${timeoutMs / 1000} seconds` })
        })
      )
      return text
    })

  return ClientMetadataFetcher.of({ fetch })
}

/** The fetcher as a layer. */
export const ClientMetadataFetcherHttps = (options: HttpsFetcherOptions): Layer.Layer<ClientMetadataFetcher> =>
  Layer.succeed(ClientMetadataFetcher, makeHttpsMetadataFetcher(options))
