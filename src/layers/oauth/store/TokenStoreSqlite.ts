/**
 * The token store in SQLite (`auth.persistence.type: sqlite`): `SqlTokenStore` on an
 * `OAuthDatabase` opened by `OAuthDatabaseSqlite`. The behaviour is `SqlTokenStore.ts`'s.
 */
import type { Layer } from "effect"
import type { TokenStore } from "../../../services/oauth/TokenStore.js"
import type { OAuthDatabase } from "./OAuthDatabase.js"
import { makeSqlTokenStore, SqlTokenStoreWith, type SqlTokenStoreOptions } from "./SqlTokenStore.js"

export type TokenStoreSqliteOptions = SqlTokenStoreOptions

/** The store's constructor (the benchmark builds it by hand). */
export const makeTokenStoreSqlite = makeSqlTokenStore

/** The SQLite store with custom limits (tests, embedding). */
export const TokenStoreSqliteWith = (options: TokenStoreSqliteOptions): Layer.Layer<TokenStore, never, OAuthDatabase> =>
  SqlTokenStoreWith(options)

/** The SQLite store with the default limits; needs an `OAuthDatabase` (`OAuthDatabaseSqlite`). */
export const TokenStoreSqlite: Layer.Layer<TokenStore, never, OAuthDatabase> = TokenStoreSqliteWith({})
