/**
 * The PostgreSQL-only values of `auth.persistence` (`type: postgres`): their defaults and the
 * schemas of `schema` and `pool_size`. Used by the user config (`UserConfig.ts`).
 */
import { Schema } from "effect"
import { WholeNumber } from "./SiteConfig.js"

/** Default `persistence.schema` with `type: postgres`. */
export const DefaultPostgresSchema = "mxcp_oauth"

/** Default `persistence.pool_size` with `type: postgres`: connections per server process. */
export const DefaultPostgresPoolSize = 10

/** Largest `persistence.pool_size`. */
export const MaxPostgresPoolSize = 1000

/** A schema name the server can use unquoted: lowercase, digits and `_`, at most 63 bytes, not `pg_...`. */
export const PostgresSchemaName = Schema.String.pipe(
  Schema.filter((s) => /^[a-z_][a-z0-9_]{0,62}$/.test(s) && !s.startsWith("pg_"), {
    description: "a PostgreSQL schema name: lowercase letters, digits and _, starting with a letter or _, at most 63 characters, not pg_..."
  })
)

export const PoolSize = WholeNumber.pipe(
  Schema.between(1, MaxPostgresPoolSize, { description: `a number of connections from 1 to ${MaxPostgresPoolSize}` })
)
