import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { checkResource, mcpResource } from "../../src/domain/oauth/Resource.js"

const BASE = "https://mcp.example.com"
const expected = mcpResource(BASE)

describe("RFC 8707 resource", () => {
  it("the protected resource is BASE/mcp", () => {
    expect(expected).toBe("https://mcp.example.com/mcp")
    expect(mcpResource("http://127.0.0.1:8000/")).toBe("http://127.0.0.1:8000/mcp")
  })

  it("absent is fine, the exact value is bound", () => {
    expect(checkResource(undefined, expected)).toStrictEqual(Either.right(undefined))
    expect(checkResource(expected, expected)).toStrictEqual(Either.right(expected))
  })

  it("B16 another server, near misses and fragments → invalid_target", () => {
    for (
      const r of [
        "https://evil.example.com/mcp",
        "https://mcp.example.com",
        "https://mcp.example.com/",
        "https://mcp.example.com/mcp/",
        "https://MCP.example.com/mcp",
        "http://mcp.example.com/mcp",
        "https://mcp.example.com:443/mcp",
        "https://mcp.example.com/mcp?x=1",
        "https://mcp.example.com/mcp#frag",
        ""
      ]
    ) {
      const result = checkResource(r, expected)
      expect(Either.isLeft(result), r).toBe(true)
      if (Either.isLeft(result)) expect(result.left.errorCode).toBe("invalid_target")
    }
  })

  it("a fragment is named in the description", () => {
    const result = checkResource(`${expected}#x`, expected)
    expect(Either.isLeft(result) && result.left.description).toContain("fragment")
  })
})
