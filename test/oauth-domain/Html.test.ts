import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { escapeHtml } from "../../src/domain/oauth/Html.js"

describe("escapeHtml", () => {
  it("escapes & < > \" ' and backtick", () => {
    expect(escapeHtml(`&<>"'\``)).toBe("&amp;&lt;&gt;&quot;&#39;&#96;")
    expect(escapeHtml("plain text ü")).toBe("plain text ü")
  })

  it("A3 a client name with HTML is shown inert", () => {
    const name = `<script>alert("x")</script><img src=x onerror='y'>`
    const out = escapeHtml(name)
    expect(out).not.toMatch(/[<>"'`]/)
    expect(out).toBe(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt;"
    )
  })

  it("does not double-unescape: existing entities are escaped again", () => {
    expect(escapeHtml("&lt;")).toBe("&amp;lt;")
  })

  it.prop("output never contains a raw special character and decodes back to the input", [FastCheck.string()], ([s]) => {
    const out = escapeHtml(s)
    expect(out).not.toMatch(/[<>"'`]/)
    const decoded = out
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, "\"")
      .replace(/&#39;/g, "'")
      .replace(/&#96;/g, "`")
      .replace(/&amp;/g, "&")
    expect(decoded).toBe(s)
  })
})
