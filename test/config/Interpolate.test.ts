import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { formatKeyPath, interpolate, interpolateString, MissingEnvVar } from "../../src/domain/config/Interpolate.js"

describe("interpolate", () => {
  it.effect("replaces ${VAR} in nested mappings and lists, several per string", () =>
    Effect.gen(function*() {
      const tree = {
        a: "${A}",
        nested: { deep: { both: "${A}-${B}/${A}", list: ["x", "${B}", { inList: "pre ${C} post" }] } },
        n: 8000,
        t: true,
        nul: null
      }
      const out = yield* interpolate(tree, { A: "1", B: "two", C: "" })
      expect(out).toEqual({
        a: "1",
        nested: { deep: { both: "1-two/1", list: ["x", "two", { inList: "pre  post" }] } },
        n: 8000,
        t: true,
        nul: null
      })
      // the input is not modified
      expect(tree.a).toBe("${A}")
    }))

  it.effect("leaves $$, $VAR, ${} and invalid names alone", () =>
    Effect.gen(function*() {
      const out = yield* interpolate(
        { a: "$$", b: "$HOME and $", c: "${}", d: "${1BAD}", e: "${ok", f: "${a-b}" },
        { HOME: "/h", ok: "x" }
      )
      expect(out).toEqual({ a: "$$", b: "$HOME and $", c: "${}", d: "${1BAD}", e: "${ok", f: "${a-b}" })
    }))

  it.effect("does not interpolate mapping keys", () =>
    Effect.gen(function*() {
      const out = yield* interpolate({ "${K}": "v" }, { K: "key" })
      expect(out).toEqual({ "${K}": "v" })
    }))

  it.effect("an unset variable fails with its name, the key path and the exact message", () =>
    Effect.gen(function*() {
      const r = yield* Effect.either(
        interpolate({ projects: { demo: { clients: [{ id: "ok" }, { secret: "x${SECRET_X}" }] } } }, {})
      )
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left).toBeInstanceOf(MissingEnvVar)
        expect(r.left.variable).toBe("SECRET_X")
        expect(r.left.path).toEqual(["projects", "demo", "clients", 1, "secret"])
        expect(r.left.message).toBe("Environment variable SECRET_X is not set")
      }
    }))

  it.effect("reports the first unset variable of a string", () =>
    Effect.gen(function*() {
      const r = yield* Effect.either(interpolateString("${SET}${FIRST}${SECOND}", { SET: "y" }))
      expect(Either.isLeft(r) && r.left.variable).toBe("FIRST")
    }))

  it("formats key paths with dots and list indexes", () => {
    expect(formatKeyPath(["projects", "demo", "clients", 0, "client_id"])).toBe("projects.demo.clients[0].client_id")
    expect(formatKeyPath([])).toBe("")
  })
})
