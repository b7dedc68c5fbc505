import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { compilePrompt, renderPrompt, templatePlaceholders } from "../../src/domain/mcp/PromptTemplate.js"
import { matchUri, parseUriTemplate, templateVariables } from "../../src/domain/mcp/UriTemplate.js"

describe("renderPrompt", () => {
  it("substitutes {{param}} with or without inner whitespace", () => {
    expect(renderPrompt("Hi {{name}}, {{ name }}! {{  n  }}", { name: "Ann", n: 3 })).toBe("Hi Ann, Ann! 3")
  })
  it("renders null as empty, booleans and numbers as written, objects as JSON", () => {
    expect(renderPrompt("[{{a}}][{{b}}][{{c}}][{{d}}]", { a: null, b: false, c: 1.5, d: { x: [1] } })).toBe(
      '[][false][1.5][{"x":[1]}]'
    )
  })
  it("Prompts with Jinja: {% if %}, {% for %}, filters, attribute access; missing values are empty, autoescape is off", () => {
    const text = "{% if urgent %}URGENT: {% endif %}{{ title | upper }} by {{ who.name | default('someone') }}" +
      "{% for t in tags %} #{{ t }}{% if not loop.last %},{% endif %}{% endfor %}{{ missing }} <{{ html }}>"
    expect(renderPrompt(text, { urgent: true, title: "db down", who: {}, tags: ["ops", "db"], html: "a & <b>" }))
      .toBe("URGENT: DB DOWN by someone #ops, #db <a & <b>>")
    expect(renderPrompt("{% if x %}yes{% else %}no{% endif %} {{ None }}{{ True }}", { x: false })).toBe("no true")
  })
  it("does not re-expand substituted text and takes $ literally", () => {
    expect(renderPrompt("{{a}} {{b}}", { a: "{{b}}", b: "$& $1" })).toBe("{{b}} $& $1")
  })
  it("Prompts with Jinja: a template that does not compile says why; include/import read no file", () => {
    const broken = compilePrompt("{% if x %}no end")
    expect(broken.ok).toBe(false)
    expect(!broken.ok && broken.error).toContain("endif")
    expect(() => renderPrompt('{% include "/etc/passwd" %}', {})).toThrow(/template not found/)
  })
  it("lists the variables a template reads, once each, in order; not the ones it binds, filters or loop", () => {
    expect(templatePlaceholders("{{b}} {{ a }} {{b}}")).toEqual(["b", "a"])
    expect(templatePlaceholders("{% for t in tags %}{{ t | upper }}{{ loop.index }}{% endfor %}{% set z = q %}{{ z }}{{ u.name }}"))
      .toEqual(["tags", "q", "u"])
    expect(templatePlaceholders("{{1x}}")).toEqual([])
  })
})

describe("URI templates", () => {
  it("lists variables", () => {
    expect(templateVariables("data://users/{id}/orders/{order_id}")).toEqual(["id", "order_id"])
    expect(templateVariables("data://static")).toEqual([])
  })
  it("matches one segment per variable and percent-decodes", () => {
    expect(matchUri("data://users/{id}", "data://users/42")).toEqual({ id: "42" })
    expect(matchUri("data://users/{id}", "data://users/J%C3%BCrgen%2Fx")).toEqual({ id: "Jürgen/x" })
    expect(matchUri("data://users/{id}/orders/{o}", "data://users/1/orders/2")).toEqual({ id: "1", o: "2" })
    expect(matchUri("files://{name}.csv", "files://report.csv")).toEqual({ name: "report" })
  })
  it("does not match across segments, empty values, other URIs or bad encodings", () => {
    expect(matchUri("data://users/{id}", "data://users/1/2")).toBeNull()
    expect(matchUri("data://users/{id}", "data://users/")).toBeNull()
    expect(matchUri("data://users/{id}", "data://people/1")).toBeNull()
    expect(matchUri("data://users/{id}", "data://users/%E0%A4%A")).toBeNull()
    expect(matchUri("data://users/{id}", "data://users/1?x=2")).toBeNull()
  })
  it("regex characters in literals are literal", () => {
    expect(matchUri("a+b://x.y/{v}", "a+b://x.y/1")).toEqual({ v: "1" })
    expect(matchUri("a+b://x.y/{v}", "aab://xzy/1")).toBeNull()
  })
  it("static URIs match only themselves", () => {
    expect(matchUri("data://static", "data://static")).toEqual({})
    expect(matchUri("data://static", "data://static/")).toBeNull()
  })
  it("rejects malformed and level 2+ templates", () => {
    const err = (t: string) => Either.getLeft(parseUriTemplate(t))
    expect(err("data://{id")).toEqual(expect.objectContaining({ value: "unmatched '{' at position 8" }))
    expect(err("data://id}")).toEqual(expect.objectContaining({ value: "unmatched '}' at position 10" }))
    expect(err("data://{+p}")._tag).toBe("Some")
    expect(err("data://{?q}")._tag).toBe("Some")
    expect(err("data://{1x}")._tag).toBe("Some")
    expect(err("data://{a}/{a}")).toEqual(expect.objectContaining({ value: "variable 'a' appears more than once" }))
    expect(err("data://{a}{b}")._tag).toBe("Some")
    expect(matchUri("data://{id", "data://{id")).toBeNull()
  })
})
