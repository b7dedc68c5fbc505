/**
 * The token store in PostgreSQL (`auth.persistence.type: postgres`): `SqlTokenStore` on an
 * `OAuthDatabase` opened by `OAuthDatabasePostgres`, shared by every instance on that database.
 * The behaviour is `SqlTokenStore.ts`'s; what PostgreSQL adds (row locks for the upstream refresh,
 * `FOR SHARE` on the grant of an insert) is decided there by the database's dialect.
 */
import type { Layer } from "effect"
import type { TokenStore } from "../../../services/oauth/TokenStore.js"
import type { OAuthDatabase } from "./OAuthDatabase.js"
import { SqlTokenStoreWith, type SqlTokenStoreOptions } from "./SqlTokenStore.js"

/** The PostgreSQL store with custom limits (tests, embedding). */
export const TokenStorePostgresWith = (options: SqlTokenStoreOptions): Layer.Layer<TokenStore, never, OAuthDatabase> =>
  SqlTokenStoreWith(options)

/** The PostgreSQL store with the default limits; needs an `OAuthDatabase` (`OAuthDatabasePostgres`). */
export const TokenStorePostgres: Layer.Layer<TokenStore, never, OAuthDatabase> = TokenStorePostgresWith({})
