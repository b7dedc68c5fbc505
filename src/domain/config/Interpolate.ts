import { Data, Either } from "effect"

/** A path into a parsed YAML tree: mapping keys and list indexes. */
export type KeyPath = ReadonlyArray<string | number>

/** `${VAR}` referenced a variable the environment does not define. */
export class MissingEnvVar extends Data.TaggedError("MissingEnvVar")<{
  readonly variable: string
  readonly path: KeyPath
  readonly message: string
}> {}

const missingEnvVar = (variable: string, path: KeyPath): MissingEnvVar =>
  new MissingEnvVar({ variable, path, message: `Environment variable ${variable} is not set` })

/** Only `${NAME}` with a shell-style name is a reference; `$$`, `$NAME` and the rest stay as they are. */
const reference = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

const isPlainObject = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && Object.getPrototypeOf(u) === Object.prototype

/** Dotted rendering of a key path: `projects.demo.profiles.default.auth.clients[0].client_id`. */
export const formatKeyPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) =>
      typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`,
    ""
  )

/** Replaces every `${VAR}` in one string; fails on the first variable `env` does not define. */
export const interpolateString = (
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  path: KeyPath = []
): Either.Either<string, MissingEnvVar> => {
  let missing: string | undefined
  const out = text.replace(reference, (whole, name: string) => {
    const value = Object.hasOwn(env, name) ? env[name] : undefined
    if (value === undefined) {
      missing ??= name
      return whole
    }
    return value
  })
  return missing === undefined ? Either.right(out) : Either.left(missingEnvVar(missing, path))
}

/**
 * Interpolates `${VAR}` in every string value of a parsed YAML tree (mapping keys are left alone).
 * Returns a new tree; the input is not modified. Non-string scalars pass through unchanged.
 */
export const interpolate = (
  tree: unknown,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<unknown, MissingEnvVar> => {
  const go = (node: unknown, path: KeyPath): Either.Either<unknown, MissingEnvVar> => {
    if (typeof node === "string") return interpolateString(node, env, path)
    if (Array.isArray(node)) {
      const out: Array<unknown> = []
      for (let i = 0; i < node.length; i++) {
        const r = go(node[i], [...path, i])
        if (Either.isLeft(r)) return r
        out.push(r.right)
      }
      return Either.right(out)
    }
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(node)) {
        const r = go(value, [...path, key])
        if (Either.isLeft(r)) return r
        out[key] = r.right
      }
      return Either.right(out)
    }
    return Either.right(node)
  }
  return go(tree, [])
}

/**
 * Like `interpolate`, but never stops: every string value is interpolated, and each variable that
 * `env` does not define is reported once per key (in document order). A string with a missing
 * variable keeps that reference as written.
 */
export const interpolateAll = (
  tree: unknown,
  env: Readonly<Record<string, string | undefined>>
): { readonly tree: unknown; readonly missing: ReadonlyArray<MissingEnvVar> } => {
  const missing: Array<MissingEnvVar> = []
  const go = (node: unknown, path: KeyPath): unknown => {
    if (typeof node === "string") {
      const seen = new Set<string>()
      return node.replace(reference, (whole, name: string) => {
        const value = Object.hasOwn(env, name) ? env[name] : undefined
        if (value !== undefined) return value
        if (!seen.has(name)) {
          seen.add(name)
          missing.push(missingEnvVar(name, path))
        }
        return whole
      })
    }
    if (Array.isArray(node)) return node.map((item: unknown, i) => go(item, [...path, i]))
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(node)) out[key] = go(value, [...path, key])
      return out
    }
    return node
  }
  return { tree: go(tree, []), missing }
}
