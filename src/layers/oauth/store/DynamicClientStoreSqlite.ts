/** The dynamic-client store in SQLite: `DynamicClientStoreSql` on an `OAuthDatabaseSqlite`. */
export { DynamicClientStoreSql as DynamicClientStoreSqlite } from "./DynamicClientStoreSql.js"
