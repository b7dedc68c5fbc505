/** The defaults both token stores keep (memory and SQLite): how much pending state, and for how long. */

/** Default cap on pending authorization requests. */
export const MAX_PENDING_AUTH_REQUESTS = 10_000

/** Default age after which a grant with no live code or token left is dropped by `sweep`. */
export const EMPTY_GRANT_GRACE_MS = 10 * 60 * 1000

/** Rows deleted per statement by `sweep`. */
export const SWEEP_BATCH_SIZE = 1000

/** Default number of verified, decrypted grants kept in memory. */
export const VERIFIED_GRANT_CACHE_SIZE = 10_000
