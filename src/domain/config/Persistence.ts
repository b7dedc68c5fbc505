/**
 * `auth.persistence` by its `type`: which keys each type takes, the checks the schema alone cannot
 * make (a key that belongs to the other type, the keys `postgres` requires), and the PostgreSQL
 * URL rules. Pure: `AppConfigLive` runs `resolvePersistence` at load time (so `serve` and
 * `validate` stop with one line naming the key), and the composition uses its result.
 *
 * A PostgreSQL URL holds a password: it is never part of a message. `redactedUrl` is the form to
 * show (`postgres://mxcp:***@db.example.com:5432/mxcp`).
 */
import { Either, Redacted } from "effect"
import { ConfigError } from "./ConfigError.js"
import { DefaultPostgresPoolSize, DefaultPostgresSchema } from "./PostgresNames.js"
import { DefaultPersistencePath, type PersistenceConfig } from "./UserConfig.js"

export interface SqlitePersistence {
  readonly type: "sqlite"
  /** The database file (absolute once loaded). */
  readonly path: string
  readonly encryption_key?: Redacted.Redacted<string> | undefined
  readonly sweep_interval?: number | undefined
}

export interface PostgresPersistence {
  readonly type: "postgres"
  readonly url: Redacted.Redacted<string>
  /** Required: every instance seals and verifies rows with it. */
  readonly encryption_key: Redacted.Redacted<string>
  readonly schema: string
  readonly pool_size: number
  readonly sweep_interval?: number | undefined
}

export type Persistence = SqlitePersistence | PostgresPersistence

/** The parts of a PostgreSQL URL worth naming in a message (no password). */
export interface PostgresTarget {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
}

/** `postgres://` or `postgresql://` with a host: the URL's parts, else undefined. */
export const postgresTarget = (text: string): PostgresTarget | undefined => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return undefined
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return undefined
  if (url.hostname === "" && url.searchParams.get("host") === null) return undefined
  const port = url.port === "" ? 5432 : Number(url.port)
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  }
  const user = decode(url.username)
  const database = decode(url.pathname.replace(/^\//, "")) || user || "postgres"
  return { host: url.hostname || (url.searchParams.get("host") ?? ""), port, database, user }
}

/** The URL for messages: the password (and every query value) replaced by `***`. */
export const redactedUrl = (text: string): string => {
  try {
    const url = new URL(text)
    if (url.password !== "") url.password = "***"
    for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, "***")
    return url.toString().replace(/%2A%2A%2A/g, "***")
  } catch {
    return "(a URL that does not parse)"
  }
}

const only = (type: "sqlite" | "postgres") =>
  type === "sqlite"
    ? (["path"] as const)
    : (["url", "schema", "pool_size"] as const)

const withoutAlias = (block: PersistenceConfig): PersistenceConfig => {
  const { auth_encryption_key: _alias, ...rest } = block
  return rest
}

/**
 * The persistence block by type, or the first problem: a key of the other type, or for
 * `postgres` a missing `url` or `encryption_key`, or a `url` that is not a PostgreSQL URL.
 * `key` is the dotted key of the block (`projects.P.profiles.X.auth.persistence`).
 */
export const resolvePersistence = (
  block: PersistenceConfig,
  file: string,
  key: string
): Either.Either<Persistence, ConfigError> => {
  const problem = (name: string, message: string, fix: string) =>
    Either.left(new ConfigError({ file, key: `${key}.${name}`, message, fix }))
  const other = block.type === "sqlite" ? "postgres" : "sqlite"
  for (const name of only(other)) {
    if (block[name] !== undefined) {
      return problem(
        name,
        `"${name}" is only for type: ${other}`,
        block.type === "sqlite" ? `set type: postgres, or remove ${name}` : `remove ${name} (type: postgres keeps the state in the database named by url)`
      )
    }
  }
  if (block.auth_encryption_key !== undefined) {
    // MXCP's name for the key: the same setting, so only one of the two may be given.
    if (block.encryption_key !== undefined) {
      return problem(
        "auth_encryption_key",
        "auth_encryption_key (MXCP's name) and encryption_key are the same setting; both are set",
        "keep one of them"
      )
    }
    return resolvePersistence(
      { ...withoutAlias(block), encryption_key: block.auth_encryption_key },
      file,
      key
    )
  }
  const sweep = block.sweep_interval === undefined ? {} : { sweep_interval: block.sweep_interval }
  if (block.type === "sqlite") {
    return Either.right({
      type: "sqlite",
      path: block.path ?? DefaultPersistencePath,
      ...(block.encryption_key === undefined ? {} : { encryption_key: block.encryption_key }),
      ...sweep
    })
  }
  if (block.url === undefined) {
    return problem("url", 'missing required key "url" (type: postgres)', 'add url: "${DATABASE_URL}" with a postgres://user:password@host:5432/database URL')
  }
  if (postgresTarget(Redacted.value(block.url)) === undefined) {
    return problem(
      "url",
      "invalid value (hidden): not a PostgreSQL URL",
      "use postgres://user:password@host:5432/database (postgresql:// works too; percent-encode special characters in the password)"
    )
  }
  if (block.encryption_key === undefined) {
    return problem(
      "encryption_key",
      'missing required key "encryption_key" (type: postgres: every instance must seal and read rows with the same key)',
      'set encryption_key: "${MXCP_OAUTH_KEY}" to the same 32-byte base64 key on every instance (openssl rand -base64 32)'
    )
  }
  return Either.right({
    type: "postgres",
    url: block.url,
    encryption_key: block.encryption_key,
    schema: block.schema ?? DefaultPostgresSchema,
    pool_size: block.pool_size ?? DefaultPostgresPoolSize,
    ...sweep
  })
}
