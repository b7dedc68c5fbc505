import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:https"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeHttpsMetadataFetcher } from "../../src/layers/oauth/ClientMetadataFetcherHttps.js"
import { type AuthServer, Browser, startAuthServer } from "../support/OAuthHarness.js"
import { ModernOAuthProvider, modernClient, modernTransport } from "../support/ModernClient.js"
import { type Certificate, makeCertificate } from "../support/Nginx.js"

const REDIRECT = "http://127.0.0.1:49997/callback"

/** An https server on 127.0.0.1 (test certificate) serving metadata documents, counting hits per path. */
interface DocServer {
  readonly origin: string
  readonly hits: Map<string, number>
  readonly connections: () => number
  readonly close: () => Promise<void>
}

const startDocServer = async (cert: Certificate): Promise<DocServer> => {
  const hits = new Map<string, number>()
  let connections = 0
  let origin = ""
  const doc = (path: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ client_id: `${origin}${path}`, client_name: "Metadata Client", redirect_uris: [REDIRECT], ...extra })
  const server: Server = createServer({ key: readFileSync(cert.keyPath, "utf8"), cert: cert.pem }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const json = (body: string, headers: Record<string, string> = {}) => {
      res.writeHead(200, { "content-type": "application/json", ...headers })
      res.end(body)
    }
    switch (path) {
      case "/client.json":
      case "/cached.json":
        return json(doc(path), { "cache-control": "max-age=600" })
      case "/nostore.json":
        return json(doc(path), { "cache-control": "no-store" })
      case "/mismatch.json":
        return json(doc(path, { client_id: `${origin}/someone-else.json` }))
      case "/big.json":
        return json(doc(path, { padding: "x".repeat(6 * 1024) }))
      case "/slow.json":
        // Never answers: the server's 5 s limit ends the fetch.
        return
      case "/redirect.json":
        res.writeHead(302, { location: `${origin}/client.json` })
        return res.end()
      default:
        res.writeHead(404)
        return res.end()
    }
  })
  server.on("connection", () => {
    connections++
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    hits,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      })
  }
}

const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

/** GET /authorize for `clientId` as a browser would; status and page text. */
const authorize = async (auth: AuthServer, clientId: string, redirectUri = REDIRECT) => {
  const params = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    state: "s",
    code_challenge: challenge,
    code_challenge_method: "S256"
  })
  const res = await fetch(`${auth.url}/authorize?${params}`, { redirect: "manual", headers: { accept: "text/html" } })
  return { status: res.status, text: await res.text() }
}

describe("Client ID Metadata Documents (server process, documents over https on 127.0.0.1)", () => {
  let dir: string
  let cert: Certificate
  let docs: DocServer
  let auth: AuthServer
  let guarded: AuthServer

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mxcp-cimd-"))
    cert = makeCertificate(dir)
    docs = await startDocServer(cert)
    const fake = { user: { login: "octo", id: 4242, name: "Octo Cat", email: "octo@example.com" } }
    auth = await startAuthServer({
      fake,
      authYaml: "          cimd:\n            allow_private_addresses: true\n",
      env: { NODE_EXTRA_CA_CERTS: cert.certPath }
    })
    guarded = await startAuthServer({ fake, env: { NODE_EXTRA_CA_CERTS: cert.certPath } })
  }, 60_000)
  afterAll(async () => {
    await auth?.stop()
    await guarded?.stop()
    await docs?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("CIMD the authorization server metadata advertises client_id_metadata_document_supported", async () => {
    const meta = (await (await fetch(`${auth.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
    expect(meta["client_id_metadata_document_supported"]).toBe(true)
  })

  it("CIMD a public client identified by its document URL goes through consent (showing its host) to a token and calls whoami", async () => {
    const clientId = `${docs.origin}/client.json`
    const provider = new ModernOAuthProvider(REDIRECT, clientId)
    const mcpUrl = new URL(`${auth.url}/mcp`)
    await expect(modernClient().connect(modernTransport(mcpUrl, { authProvider: provider }))).rejects.toThrow()
    expect(provider.authorizationUrl?.searchParams.get("client_id")).toBe(clientId)
    const pages: Array<string> = []
    const browser = new Browser(async (input, init) => {
      const res = await fetch(input, init)
      if ((res.headers.get("content-type") ?? "").includes("text/html")) pages.push(await res.clone().text())
      return res
    })
    const back = await browser.follow(provider.authorizationUrl!.toString(), REDIRECT)
    const consent = pages.find((p) => p.includes('name="csrf"')) ?? ""
    expect(consent).toContain("Metadata Client")
    expect(consent).toContain(`Published by</dt><dd><strong>${new URL(docs.origin).host}</strong>`)
    expect(back.searchParams.get("iss")).toBe(auth.url)
    await modernTransport(mcpUrl, { authProvider: provider }).finishAuth(back.searchParams)
    const client = modernClient()
    await client.connect(modernTransport(mcpUrl, { authProvider: provider }))
    const who = await client.callTool({ name: "whoami", arguments: {} })
    expect((who.structuredContent as { username: string }).username).toBe("octo")
    await client.close()
  })

  it("CIMD documents are cached for their Cache-Control lifetime; no-store is fetched every time", async () => {
    for (let i = 0; i < 2; i++) {
      expect((await authorize(auth, `${docs.origin}/cached.json`)).status).toBe(200)
      expect((await authorize(auth, `${docs.origin}/nostore.json`)).status).toBe(200)
    }
    expect(docs.hits.get("/cached.json")).toBe(1)
    expect(docs.hits.get("/nostore.json")).toBe(2)
  })

  it("CIMD refused: a document whose client_id is not its URL, a redirect URI it does not list, over 5 KB, a redirect", async () => {
    const mismatch = await authorize(auth, `${docs.origin}/mismatch.json`)
    expect(mismatch.status).toBe(400)
    expect(mismatch.text).toContain("client_id is not the URL it was fetched from")
    const redirect = await authorize(auth, `${docs.origin}/client.json`, "http://127.0.0.1:49997/elsewhere")
    expect(redirect.status).toBe(400)
    expect(redirect.text).toContain("redirect_uri is not registered")
    // The RFC 8252 loopback rule: any port of a listed loopback redirect URI.
    expect((await authorize(auth, `${docs.origin}/client.json`, "http://127.0.0.1:1234/callback")).status).toBe(200)
    const big = await authorize(auth, `${docs.origin}/big.json`)
    expect(big.status).toBe(400)
    expect(big.text).toContain("larger than 5120 bytes")
    const moved = await authorize(auth, `${docs.origin}/redirect.json`)
    expect(moved.status).toBe(400)
    expect(moved.text).toContain("redirect (302)")
  })

  it("CIMD refused: an http URL, a URL without a path, userinfo or a fragment (nothing fetched)", async () => {
    const before = docs.connections()
    const port = new URL(docs.origin).port
    for (const [id, reason] of [
      [`http://127.0.0.1:${port}/client.json`, "must use https"],
      [`${docs.origin}/`, "must have a path"],
      [`${docs.origin}`, "must have a path"],
      [`https://user@127.0.0.1:${port}/client.json`, "userinfo"],
      [`${docs.origin}/client.json#x`, "fragment"]
    ] as const) {
      const res = await authorize(auth, id)
      expect(res.status, id).toBe(400)
      expect(res.text, id).toContain(reason)
    }
    expect(docs.connections()).toBe(before)
  })

  it("CIMD refused: a document that does not arrive within 5 seconds", async () => {
    const slow = await authorize(auth, `${docs.origin}/slow.json`)
    expect(slow.status).toBe(400)
    expect(slow.text).toContain("did not arrive within 5 seconds")
  }, 15_000)

  it("CIMD SSRF guard on (the default): loopback by name or address is refused before any connection", async () => {
    const before = docs.connections()
    const port = new URL(docs.origin).port
    for (const id of [`https://localhost:${port}/client.json`, `https://127.0.0.1:${port}/client.json`, `https://[::1]:${port}/client.json`]) {
      const res = await authorize(guarded, id)
      expect(res.status, id).toBe(400)
      expect(res.text, id).toContain("resolves to a non-public address")
    }
    expect(docs.connections()).toBe(before)
  })

  it("CIMD SSRF guard: a name that rebinds from a public address to loopback between checks never connects", async () => {
    let queries = 0
    const fetcher = makeHttpsMetadataFetcher({
      allowPrivateAddresses: false,
      resolve: async () => {
        queries++
        return queries === 1 ? [{ address: "93.184.215.14", family: 4 }] : [{ address: "127.0.0.1", family: 4 }]
      }
    })
    const before = docs.connections()
    const port = new URL(docs.origin).port
    const exit = await Effect.runPromiseExit(fetcher.fetch(new URL(`https://rebind.example:${port}/client.json`)))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(JSON.stringify(exit)).toContain("non-public address")
    expect(queries).toBe(2)
    expect(docs.connections()).toBe(before)
  })
})
