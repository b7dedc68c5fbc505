/**
 * Raw HTTP helpers for the registration and /authorize checklist rows (A, B): register a client,
 * build an /authorize URL, and read an answer without following redirects.
 */
import { createHash, randomBytes } from "node:crypto"
import { expect } from "@effect/vitest"
import { jsonObjectOf } from "./RawHttp.js"

/** What the rows look at in an HTTP answer. */
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The JSON body, or undefined when the body is not JSON. */
  readonly json: Record<string, unknown> | undefined
}

const answer = async (res: Response): Promise<Answer> => {
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: jsonObjectOf(text) }
}

/** GET (or any method) without following redirects. */
export const send = async (url: string, init: RequestInit = {}): Promise<Answer> =>
  answer(await fetch(url, { ...init, redirect: "manual" }))

/** POST /register with a JSON body. */
export const register = (base: string, body: unknown): Promise<Answer> =>
  send(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })

/** A registered DCR client as the tests use it. */
export interface DcrClient {
  readonly id: string
  readonly secret: string | undefined
  readonly redirectUris: ReadonlyArray<string>
  readonly body: Record<string, unknown>
}

/** Register and expect a 201. */
export const registerOk = async (base: string, body: Record<string, unknown>): Promise<DcrClient> => {
  const res = await register(base, body)
  if (res.status !== 201 || res.json === undefined) throw new Error(`registration failed: ${res.status} ${res.text}`)
  const secret = res.json["client_secret"]
  return {
    id: String(res.json["client_id"]),
    secret: typeof secret === "string" ? secret : undefined,
    redirectUris: res.json["redirect_uris"] as ReadonlyArray<string>,
    body: res.json
  }
}

/** A public DCR client (the MCP SDK's usual shape). */
export const publicClient = (redirectUris: ReadonlyArray<string>, extra: Record<string, unknown> = {}) => ({
  client_name: "Row Test Client",
  redirect_uris: redirectUris,
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
  ...extra
})

export const newVerifier = (): string => randomBytes(32).toString("base64url")
export const challengeOf = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

/**
 * An /authorize URL. `params` override the defaults (a valid S256 request); a value of
 * `undefined` removes that parameter. Pass a URLSearchParams to send repeated parameters as is.
 */
export const authorizeUrl = (
  base: string,
  params: Record<string, string | undefined> | URLSearchParams,
  verifier = newVerifier()
): string => {
  if (params instanceof URLSearchParams) return `${base}/authorize?${params}`
  const defaults: Record<string, string | undefined> = {
    response_type: "code",
    code_challenge: challengeOf(verifier),
    code_challenge_method: "S256",
    ...params
  }
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(defaults)) if (v !== undefined) search.set(k, v)
  return `${base}/authorize?${search}`
}

/** A direct error: the status, no redirect, and (asked for JSON) the RFC 6749 body with `error`. */
export const expectDirectError = (res: Answer, error: string, status = 400): void => {
  expect(res.headers.get("location")).toBeNull()
  expect(res.status).toBe(status)
  expect(res.json).toEqual({ error, error_description: expect.any(String) })
}

/**
 * An error redirect: 302 to `redirectUri` (exactly, before its query) with `error`, the client's
 * `state` and `iss`, each exactly once, and no `code`.
 */
export const expectErrorRedirect = (
  res: Answer,
  options: { readonly redirectUri: string; readonly error: string; readonly state: string | undefined; readonly iss: string }
): URL => {
  expect(res.status).toBe(302)
  const location = res.headers.get("location")
  expect(location).not.toBeNull()
  const target = new URL(location ?? "")
  expect(`${target.origin}${target.pathname}`).toBe(options.redirectUri)
  const q = target.searchParams
  expect(q.getAll("error")).toEqual([options.error])
  expect(q.getAll("iss")).toEqual([options.iss])
  expect(q.getAll("state")).toEqual(options.state === undefined ? [] : [options.state])
  expect(q.has("code")).toBe(false)
  return target
}
