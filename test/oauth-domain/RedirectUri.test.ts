import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck, Option } from "effect"
import {
  buildRedirect,
  isLoopbackRedirectUri,
  LOOPBACK_HOSTS,
  matchRedirectUri,
  redirectTarget,
  resolveRedirectUri,
  RESPONSE_PARAMETERS,
  validateClientUrl,
  validateRegistrationRedirectUri
} from "../../src/domain/oauth/RedirectUri.js"

const valid = (uri: string) => Either.isRight(validateRegistrationRedirectUri(uri))
const reason = (uri: string) => Either.getLeft(validateRegistrationRedirectUri(uri))

// ---------------------------------------------------------------------------------------------
// Generators: registered URIs, and near misses of them.

interface UriParts {
  readonly scheme: string
  readonly host: string
  readonly port: number | undefined
  readonly segments: ReadonlyArray<string>
  readonly query: string | undefined
}

const render = (p: UriParts): string =>
  `${p.scheme}://${p.host}${p.port === undefined ? "" : `:${p.port}`}/${p.segments.join("/")}${
    p.query === undefined ? "" : `?${p.query}`
  }`

const label = FastCheck.stringMatching(/^[a-z][a-z0-9]{0,8}$/)
const segment = FastCheck.stringMatching(/^[a-z][a-z0-9_-]{0,7}$/)
const queryArb = FastCheck.option(
  FastCheck.array(FastCheck.tuple(segment.filter((k) => !RESPONSE_PARAMETERS.includes(k)), segment), {
    minLength: 1,
    maxLength: 2
  }).map((kvs) =>
    kvs.map(([k, v]) => `${k}=${v}`).join("&")
  ),
  { nil: undefined }
)
const portArb = FastCheck.integer({ min: 1, max: 65535 })

const httpsParts: FastCheck.Arbitrary<UriParts> = FastCheck.record({
  scheme: FastCheck.constant("https"),
  host: FastCheck.array(label, { minLength: 2, maxLength: 4 }).map((ls) => ls.join(".")),
  port: FastCheck.option(portArb, { nil: undefined }),
  segments: FastCheck.array(segment, { minLength: 1, maxLength: 4 }),
  query: queryArb
})

const loopbackParts: FastCheck.Arbitrary<UriParts> = FastCheck.record({
  scheme: FastCheck.constant("http"),
  host: FastCheck.constantFrom(...LOOPBACK_HOSTS),
  port: FastCheck.option(portArb, { nil: undefined }),
  segments: FastCheck.array(segment, { minLength: 1, maxLength: 4 }),
  query: queryArb
})

const commonMutations = [
  "trailingSlash",
  "dropLastSegment",
  "pathCase",
  "extraQuery",
  "dotDot",
  "encodedDotDot",
  "userinfo",
  "userinfoHostFirst",
  "fragment",
  "schemeCase",
  "schemeSwap",
  "percentEncodeLetter",
  "queryCase"
] as const
type Mutation = (typeof commonMutations)[number] | "port" | "defaultPort" | "hostCase" | "hostSwap"

const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

/** A string that differs from `render(p)` in one way an attacker might try. */
const nearMiss = (p: UriParts, m: Mutation, n: number): string => {
  const s = render(p)
  const i = n % p.segments.length
  const authority = `${p.host}${p.port === undefined ? "" : `:${p.port}`}`
  const path = `/${p.segments.join("/")}`
  const q = p.query === undefined ? "" : `?${p.query}`
  switch (m) {
    case "trailingSlash":
      return `${p.scheme}://${authority}${path}/${q}`
    case "dropLastSegment":
      return p.segments.length > 1
        ? render({ ...p, segments: p.segments.slice(0, -1) })
        : `${p.scheme}://${authority}/${q}`
    case "pathCase":
      return render({ ...p, segments: p.segments.map((seg, j) => (j === i ? upperFirst(seg) : seg)) })
    case "extraQuery":
      return p.query === undefined ? `${s}?extra=1` : `${s}&extra=1`
    case "dotDot":
      return render({ ...p, segments: [...p.segments.slice(0, i), "x", "..", ...p.segments.slice(i)] })
    case "encodedDotDot":
      return render({ ...p, segments: [...p.segments.slice(0, i), "x", "%2e%2e", ...p.segments.slice(i)] })
    case "userinfo":
      return `${p.scheme}://user@${authority}${path}${q}`
    case "userinfoHostFirst":
      return `${p.scheme}://${authority}@evil.example${path}${q}`
    case "fragment":
      return `${s}#frag`
    case "schemeCase":
      return s.replace(/^[a-z]+/, (x) => x.toUpperCase())
    case "schemeSwap":
      return s.replace(/^[a-z]+/, (x) => (x === "https" ? "http" : "https"))
    case "percentEncodeLetter": {
      const seg = p.segments[i] ?? "a"
      const encoded = `%${seg.charCodeAt(0).toString(16)}${seg.slice(1)}`
      return render({ ...p, segments: p.segments.map((x, j) => (j === i ? encoded : x)) })
    }
    case "queryCase":
      return p.query === undefined ? `${s}?` : `${p.scheme}://${authority}${path}?${upperFirst(p.query)}`
    case "port":
      return render({ ...p, port: p.port === undefined ? 8443 : (p.port % 65535) + 1 })
    case "defaultPort":
      return p.port === undefined ? render({ ...p, port: 443 }) : render({ ...p, port: undefined })
    case "hostCase":
      return render({ ...p, host: upperFirst(p.host) })
    case "hostSwap": {
      const others = LOOPBACK_HOSTS.filter((h) => h !== p.host)
      return render({ ...p, host: others[n % others.length] ?? "localhost" })
    }
  }
}

const httpsMutation = FastCheck.constantFrom<Mutation>(...commonMutations, "port", "defaultPort", "hostCase")
const loopbackMutation = FastCheck.constantFrom<Mutation>(...commonMutations, "hostSwap")

// ---------------------------------------------------------------------------------------------

describe("registration redirect URI validation", () => {
  it("accepts https, loopback http and private-use schemes", () => {
    for (
      const uri of [
        "https://app.example.com/oauth/callback",
        "https://app.example.com:8443/cb?x=1",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:49153/oauth/callback",
        "http://localhost:3000/callback",
        "http://[::1]:8080/cb",
        "com.example.app:/oauth2redirect",
        "com.example.app://callback",
        "cursor.app:/cb"
      ]
    ) {
      expect(validateRegistrationRedirectUri(uri), uri).toStrictEqual(Either.right(uri))
    }
  })

  it("A1 javascript:, data:, vbscript:, file: in any case, whitespace and control characters", () => {
    for (
      const uri of [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "javascript://example.com/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DATA:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "FILE://localhost/etc/passwd",
        " https://app.example.com/cb",
        "https://app.example.com/cb ",
        "\thttps://app.example.com/cb",
        "https://app.example.com/cb\n",
        "\u0000javascript:alert(1)",
        "java\u0000script:alert(1)",
        "java\tscript:alert(1)",
        "https://app.example.com/c\u0007b",
        "https://app.example.com/c\u007fb",
        "https://app.example.com/c b"
      ]
    ) {
      expect(valid(uri), JSON.stringify(uri)).toBe(false)
    }
    expect(reason("JaVaScRiPt:alert(1)")).toStrictEqual(Option.some("uses the forbidden scheme javascript:"))
    expect(Option.getOrThrow(reason(" https://app.example.com/cb"))).toContain("whitespace")
    expect(Option.getOrThrow(reason("https://app.example.com/c\u0007b"))).toContain("control characters")
  })

  it("A2 non-loopback http, userinfo, fragments, unparseable", () => {
    for (
      const uri of [
        "http://app.example.com/cb",
        "http://127.0.0.2/cb",
        "http://127.1/cb",
        "http://127.0.0.1.evil.com/cb",
        "http://localhost.evil.com/cb",
        "http://[::2]/cb",
        "http://0.0.0.0/cb",
        "http://localhost@evil/cb",
        "http://user:pass@127.0.0.1/cb",
        "https://user@app.example.com/cb",
        "https://app.example.com@evil.com/cb",
        "com.example.app://user@host/cb",
        "https://app.example.com/cb#frag",
        "https://app.example.com/cb#",
        "http://127.0.0.1/cb#x",
        "com.example.app:/cb#x",
        "",
        "/relative/cb",
        "//app.example.com/cb",
        "app.example.com/cb",
        "https:",
        "https:/app.example.com/cb",
        "https:///cb",
        "https://:443/cb",
        "https://app.example.com:0/cb",
        "https://app.example.com:65536/cb",
        "https://app.example.com:08/cb",
        "https://app.example.com:/cb",
        "https://app.exa mple.com/cb",
        "https://app.example.com\\@evil.com/cb",
        "https://[::1/cb",
        "https://app.example.com/%zz",
        "https://app.example.com/<script>",
        "https://app.example.com/\"x\"",
        "https://ex\u00e4mple.com/cb",
        "myapp:/cb", // private-use scheme without a dot
        "com.example.app:",
        "mailto:a@example.com",
        "ftp://example.com/cb",
        `https://app.example.com/${"a".repeat(2000)}`
      ]
    ) {
      expect(valid(uri), JSON.stringify(uri)).toBe(false)
    }
  })

  it("B18 a query that already carries a response parameter (code, state, iss, error...) is refused", () => {
    for (const name of RESPONSE_PARAMETERS) {
      for (const uri of [`https://app.example.com/cb?${name}=x`, `http://127.0.0.1:8080/cb?a=1&${name}`, `com.example.app:/cb?${name}=`]) {
        expect(reason(uri), uri).toStrictEqual(Option.some(`must not carry the response parameter ${name} in its query`))
      }
    }
    expect(valid("https://app.example.com/cb?%73tate=x")).toBe(false)
    expect(valid("https://app.example.com/cb?stateful=1&codes=2&tenant=iss")).toBe(true)
  })

  it.prop("forbidden schemes are refused in any letter case", [
    FastCheck.constantFrom("javascript", "data", "vbscript", "file"),
    FastCheck.array(FastCheck.boolean(), { minLength: 10, maxLength: 10 }),
    FastCheck.constantFrom(":alert(1)", "://x/y", ":,x", ":/etc/passwd")
  ], ([scheme, upper, rest]) => {
    const mixed = scheme.split("").map((c, i) => (upper[i] === true ? c.toUpperCase() : c)).join("")
    expect(valid(`${mixed}${rest}`)).toBe(false)
  })

  it.prop("generated https and loopback URIs are valid", [FastCheck.oneof(httpsParts, loopbackParts)], ([p]) => {
    expect(valid(render(p))).toBe(true)
  })

  it("client URLs (client_uri, logo_uri...) must be https or loopback http", () => {
    expect(Either.isRight(validateClientUrl("https://example.com/logo.png"))).toBe(true)
    expect(Either.isRight(validateClientUrl("https://example.com/about#team"))).toBe(true)
    expect(Either.isRight(validateClientUrl("http://localhost:3000/"))).toBe(true)
    for (
      const url of [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:image/png;base64,AAAA",
        "http://example.com/",
        "https://user@example.com/",
        "com.example.app:/x",
        " https://example.com/"
      ]
    ) {
      expect(Either.isLeft(validateClientUrl(url)), url).toBe(true)
    }
  })
})

describe("redirect URI matching", () => {
  it("exact match", () => {
    const reg = ["https://app.example.com/cb", "com.example.app:/cb"]
    expect(matchRedirectUri(reg, "https://app.example.com/cb")).toBe(true)
    expect(matchRedirectUri(reg, "com.example.app:/cb")).toBe(true)
    expect(matchRedirectUri([], "https://app.example.com/cb")).toBe(false)
  })

  it("B11 trailing slash, path, case, extra query, .., %2e%2e, port, userinfo → no match", () => {
    const reg = ["https://app.example.com/oauth/cb?x=1"]
    for (
      const p of [
        "https://app.example.com/oauth/cb/?x=1",
        "https://app.example.com/oauth/cb?x=1/",
        "https://app.example.com/oauth/other?x=1",
        "https://app.example.com/oauth?x=1",
        "https://app.example.com/OAUTH/cb?x=1",
        "https://APP.example.com/oauth/cb?x=1",
        "HTTPS://app.example.com/oauth/cb?x=1",
        "https://app.example.com/oauth/cb?x=1&y=2",
        "https://app.example.com/oauth/cb?x=2",
        "https://app.example.com/oauth/cb",
        "https://app.example.com/oauth/cb?x=1#f",
        "https://app.example.com/oauth/x/../cb?x=1",
        "https://app.example.com/oauth/x/%2e%2e/cb?x=1",
        "https://app.example.com/oauth/x/%2E%2E/cb?x=1",
        "https://app.example.com/oauth/./cb?x=1",
        "https://app.example.com/oauth/%63b?x=1",
        "https://app.example.com:443/oauth/cb?x=1",
        "https://app.example.com:8443/oauth/cb?x=1",
        "https://user@app.example.com/oauth/cb?x=1",
        "https://app.example.com@evil.com/oauth/cb?x=1",
        "http://app.example.com/oauth/cb?x=1",
        "https://app.example.com.evil.com/oauth/cb?x=1",
        "https://app.example.com\\@evil.com/oauth/cb?x=1",
        " https://app.example.com/oauth/cb?x=1",
        "https://app.example.com/oauth/cb?x=1 ",
        ""
      ]
    ) {
      expect(matchRedirectUri(reg, p), p).toBe(false)
    }
  })

  it("B12 loopback port rule", () => {
    const reg = ["http://127.0.0.1:1111/cb"]
    expect(matchRedirectUri(reg, "http://127.0.0.1:1111/cb")).toBe(true)
    expect(matchRedirectUri(reg, "http://127.0.0.1:2222/cb")).toBe(true)
    expect(matchRedirectUri(reg, "http://127.0.0.1/cb")).toBe(true)
    expect(matchRedirectUri(reg, "http://localhost:2222/cb")).toBe(false)
    expect(matchRedirectUri(reg, "http://[::1]:2222/cb")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:2222/other")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:2222/cb/")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:2222/cb?x=1")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:2222/cb#x")).toBe(false)
    expect(matchRedirectUri(reg, "https://127.0.0.1:2222/cb")).toBe(false)
    expect(matchRedirectUri(reg, "http://x@127.0.0.1:2222/cb")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:2222@evil.com/cb")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:0/cb")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:99999/cb")).toBe(false)
    expect(matchRedirectUri(reg, "http://127.0.0.1:/cb")).toBe(false)
    expect(matchRedirectUri(["http://localhost/cb"], "http://localhost:5555/cb")).toBe(true)
    expect(matchRedirectUri(["http://localhost/cb"], "http://127.0.0.1:5555/cb")).toBe(false)
    expect(matchRedirectUri(["http://[::1]:1/cb"], "http://[::1]:5555/cb")).toBe(true)
    // The port rule is for loopback http only.
    expect(matchRedirectUri(["https://127.0.0.1:1111/cb"], "https://127.0.0.1:2222/cb")).toBe(false)
    expect(matchRedirectUri(["https://app.example.com:1111/cb"], "https://app.example.com:2222/cb")).toBe(false)
  })

  it.prop(
    "near misses of an https URI never match",
    [httpsParts, httpsMutation, FastCheck.nat()],
    ([p, m, n]) => {
      const registered = render(p)
      const presented = nearMiss(p, m, n)
      expect(presented).not.toBe(registered)
      expect(matchRedirectUri([registered], presented)).toBe(false)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "near misses of a loopback URI never match, whatever the port",
    [loopbackParts, loopbackMutation, FastCheck.nat(), FastCheck.option(portArb, { nil: undefined })],
    ([p, m, n, port]) => {
      const registered = render(p)
      // The attacker may also pick any port: the port rule must not rescue a near miss.
      const presented = nearMiss({ ...p, port }, m, n)
      expect(matchRedirectUri([registered], presented)).toBe(false)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "loopback URIs match with any port or none",
    [loopbackParts, FastCheck.option(portArb, { nil: undefined })],
    ([p, port]) => {
      const registered = render(p)
      expect(isLoopbackRedirectUri(registered)).toBe(true)
      expect(matchRedirectUri([registered], render({ ...p, port }))).toBe(true)
    }
  )

  it.prop(
    "non-loopback URIs only match themselves",
    [httpsParts, FastCheck.option(portArb, { nil: undefined })],
    ([p, port]) => {
      FastCheck.pre(port !== p.port)
      expect(isLoopbackRedirectUri(render(p))).toBe(false)
      expect(matchRedirectUri([render(p)], render({ ...p, port }))).toBe(false)
    }
  )
})

describe("resolveRedirectUri", () => {
  it("omitted with exactly one registered → that one", () => {
    expect(resolveRedirectUri(["https://a.example.com/cb"], undefined)).toStrictEqual(
      Either.right("https://a.example.com/cb")
    )
  })

  it("B13 omitted while two are registered → direct 400", () => {
    const r = resolveRedirectUri(["https://a.example.com/cb", "https://a.example.com/cb2"], undefined)
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) {
      expect(r.left.errorCode).toBe("invalid_request")
      expect(r.left.status).toBe(400)
    }
    expect(Either.isLeft(resolveRedirectUri([], undefined))).toBe(true)
  })

  it("presented and matching → the presented URI (its own loopback port)", () => {
    expect(resolveRedirectUri(["http://127.0.0.1/cb"], "http://127.0.0.1:4321/cb")).toStrictEqual(
      Either.right("http://127.0.0.1:4321/cb")
    )
  })

  it("presented and not matching → invalid_request, even with one registered", () => {
    const r = resolveRedirectUri(["https://a.example.com/cb"], "https://evil.example.com/cb")
    expect(Either.isLeft(r) && r.left.errorCode).toBe("invalid_request")
    expect(Either.isLeft(resolveRedirectUri(["https://a.example.com/cb"], ""))).toBe(true)
  })
})

describe("buildRedirect", () => {
  it("adds a query, or extends the existing one", () => {
    expect(buildRedirect("https://a.example.com/cb", { code: "abc", state: "s" })).toBe(
      "https://a.example.com/cb?code=abc&state=s"
    )
    expect(buildRedirect("https://a.example.com/cb?x=1", { code: "abc" })).toBe("https://a.example.com/cb?x=1&code=abc")
    expect(buildRedirect("https://a.example.com/cb?", { code: "abc" })).toBe("https://a.example.com/cb?code=abc")
    expect(buildRedirect("https://a.example.com/cb?x=1&", { code: "abc" })).toBe("https://a.example.com/cb?x=1&code=abc")
    expect(buildRedirect("com.example.app:/cb", { code: "abc" })).toBe("com.example.app:/cb?code=abc")
  })

  it("encodes values, skips undefined, keeps the URI as written", () => {
    expect(
      buildRedirect("http://127.0.0.1:80/cb", {
        code: "a b&c=d",
        state: undefined,
        iss: "https://mcp.example.com"
      })
    ).toBe("http://127.0.0.1:80/cb?code=a%20b%26c%3Dd&iss=https%3A%2F%2Fmcp.example.com")
    expect(buildRedirect("https://a.example.com/cb", {})).toBe("https://a.example.com/cb")
  })

  it("puts the query before a fragment", () => {
    expect(buildRedirect("https://a.example.com/cb#f", { code: "c" })).toBe("https://a.example.com/cb?code=c#f")
  })

  it.prop(
    "the client reads back exactly the parameters we sent, next to its own",
    [httpsParts, FastCheck.string(), FastCheck.option(FastCheck.string(), { nil: undefined })],
    ([p, code, state]) => {
      const uri = render(p)
      const out = new URL(buildRedirect(uri, { code, state, iss: "https://mcp.example.com" }))
      expect(out.searchParams.getAll("code")).toEqual([code])
      expect(out.searchParams.getAll("state")).toEqual(state === undefined ? [] : [state])
      expect(out.searchParams.getAll("iss")).toEqual(["https://mcp.example.com"])
      for (const [k, v] of new URLSearchParams(p.query ?? "")) expect(out.searchParams.getAll(k)).toContain(v)
      expect(out.pathname).toBe(`/${p.segments.join("/")}`)
    }
  )
})

describe("redirectTarget (shown on the consent page)", () => {
  it("host for http(s), scheme for private-use", () => {
    expect(redirectTarget("https://app.example.com/cb?x=1")).toBe("app.example.com")
    expect(redirectTarget("http://127.0.0.1:49153/cb")).toBe("127.0.0.1:49153")
    expect(redirectTarget("com.example.app:/cb")).toBe("com.example.app:")
  })
})
