/**
 * The files of the SQLite OAuth store: the database (mode 0600 in a folder created 0700) and,
 * when no `encryption_key` is configured, the generated key file `<path>.key` (mode 0600).
 *
 * Decisions:
 * - Created files get mode 0600 explicitly (a restrictive umask cannot leave them unwritable, a
 *   loose one cannot open them up). Missing folders are created 0700; an existing folder is left
 *   as it is (it may be shared, e.g. `~/.mxcp` also holds `config.yml`).
 * - An existing database or key file that grants any permission to group or others is refused
 *   with the `chmod` that fixes it: the database holds session metadata and the key decrypts
 *   upstream tokens. SQLite gives its `-wal` and `-shm` files the database file's mode.
 * - The key is generated once and never rewritten: written to a private temporary file, then
 *   hard-linked into place, which fails if another process got there first; the loser reads the
 *   winner's key. Several processes starting together therefore agree on one key.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { dirname } from "node:path"
import { Effect, Either, Redacted } from "effect"
import { ConfigError } from "../../../domain/config/ConfigError.js"
import { decodeKey, KEY_BYTES } from "./SecretBox.js"

export const FILE_MODE = 0o600
export const FOLDER_MODE = 0o700

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The key file next to a database. */
export const keyPathFor = (databasePath: string): string => `${databasePath}.key`

/** Refuse a file that group or others may access at all. */
const checkPrivate = (path: string, what: string): Effect.Effect<void, ConfigError> =>
  Effect.gen(function* () {
    const stat = yield* Effect.try({
      try: () => fs.statSync(path),
      catch: (e) => new ConfigError({ file: path, key: "", message: `cannot read ${what}: ${describe(e)}`, fix: "" })
    })
    if (!stat.isFile()) {
      return yield* new ConfigError({ file: path, key: "", message: `${what} is not a regular file`, fix: "point auth.persistence.path at a file" })
    }
    if ((stat.mode & 0o077) !== 0) {
      return yield* new ConfigError({
        file: path,
        key: "",
        message: `${what} is accessible by other users (mode ${octal(stat.mode)}); refusing to start`,
        fix: `chmod 600 ${path}`
      })
    }
  })

/** Create `path` with mode 0600 if it does not exist yet; true when this call created it. */
const createPrivateFile = (path: string): boolean => {
  try {
    const fd = fs.openSync(path, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, FILE_MODE)
    try {
      fs.fchmodSync(fd, FILE_MODE)
    } finally {
      fs.closeSync(fd)
    }
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false
    throw e
  }
}

/**
 * Make sure the database file exists with mode 0600 in an existing (or new, 0700) folder, and
 * that an existing one is private. The database itself is opened by the caller.
 */
export const prepareDatabaseFile = (path: string): Effect.Effect<void, ConfigError> =>
  Effect.gen(function* () {
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(dirname(path), { recursive: true, mode: FOLDER_MODE })
        createPrivateFile(path)
      },
      catch: (e) =>
        new ConfigError({
          file: path,
          key: "",
          message: `cannot create the OAuth database: ${describe(e)}`,
          fix: "check auth.persistence.path and the folder's permissions"
        })
    })
    yield* checkPrivate(path, "the OAuth database")
  })

/** Read a key file; its content must be the base64 of 32 bytes. */
const readKeyFile = (path: string): Effect.Effect<Buffer, ConfigError> =>
  Effect.gen(function* () {
    yield* checkPrivate(path, "the encryption key file")
    const text = yield* Effect.try({
      try: () => fs.readFileSync(path, "utf8"),
      catch: (e) => new ConfigError({ file: path, key: "", message: `cannot read the encryption key: ${describe(e)}`, fix: "" })
    })
    const key = decodeKey(text)
    if (key === undefined) {
      return yield* new ConfigError({
        file: path,
        key: "",
        message: `the encryption key file does not hold ${KEY_BYTES} base64-encoded bytes`,
        fix: "restore the key file from a backup, or remove it to start over (users log in again)"
      })
    }
    return key
  })

/** Generate a key into `path` unless it exists; never replaces an existing key. */
const createKeyFile = (path: string): Effect.Effect<void, ConfigError> =>
  Effect.try({
    try: () => {
      if (fs.existsSync(path)) return
      const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`
      const fd = fs.openSync(tmp, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, FILE_MODE)
      try {
        fs.fchmodSync(fd, FILE_MODE)
        fs.writeSync(fd, `${randomBytes(KEY_BYTES).toString("base64")}\n`)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
      try {
        fs.linkSync(tmp, path)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      } finally {
        fs.rmSync(tmp, { force: true })
      }
    },
    catch: (e) =>
      new ConfigError({
        file: path,
        key: "",
        message: `cannot create the encryption key file: ${describe(e)}`,
        fix: "make the folder writable, or set auth.persistence.encryption_key"
      })
  })

/**
 * The key for upstream tokens at rest: `encryption_key` when configured (validated when the
 * config was decoded), else the one in `<path>.key`, generated on first use.
 */
export const loadEncryptionKey = (
  databasePath: string,
  configured: Redacted.Redacted<string> | undefined
): Effect.Effect<Buffer, ConfigError> =>
  Effect.gen(function* () {
    if (configured !== undefined) {
      const key = decodeKey(Redacted.value(configured))
      if (key !== undefined) return key
      return yield* new ConfigError({
        file: databasePath,
        key: "auth.persistence.encryption_key",
        message: `the encryption key is not ${KEY_BYTES} bytes of base64`,
        fix: "generate one with: openssl rand -base64 32"
      })
    }
    const keyPath = keyPathFor(databasePath)
    yield* createKeyFile(keyPath)
    return yield* readKeyFile(keyPath)
  })

/** The nearest folder at or above `dir` that exists (for a folder `prepareDatabaseFile` would create). */
const nearestExisting = (dir: string): string => {
  let current = dir
  while (!fs.existsSync(current) && dirname(current) !== current) current = dirname(current)
  return current
}

/**
 * What `prepareDatabaseFile` and `loadEncryptionKey` would refuse, found without creating or
 * changing anything (for `mxcp validate`): the folder must be (or be creatable in) a writable
 * folder, an existing database or key file must be private, and a key file must hold a key.
 * Gives every problem found; `warnings` are notes that do not stop a start.
 */
export const inspectStateFiles = (
  databasePath: string,
  configured: Redacted.Redacted<string> | undefined
): Effect.Effect<{ readonly problems: ReadonlyArray<ConfigError>; readonly warnings: ReadonlyArray<string> }> =>
  Effect.gen(function* () {
    const problems: Array<ConfigError> = []
    const warnings: Array<string> = []
    const folder = dirname(databasePath)
    const existing = nearestExisting(folder)
    const folderStat = fs.statSync(existing, { throwIfNoEntry: false })
    if (folderStat === undefined || !folderStat.isDirectory()) {
      problems.push(new ConfigError({
        file: databasePath,
        key: "",
        message: `${existing} is not a folder, so the OAuth database cannot be created`,
        fix: "point auth.persistence.path into a folder"
      }))
    } else {
      try {
        fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK)
      } catch {
        problems.push(new ConfigError({
          file: databasePath,
          key: "",
          message: `the folder ${existing} is not writable by this user`,
          fix: `make ${existing} writable by the server's user, or choose another auth.persistence.path`
        }))
      }
    }
    const databaseExists = fs.existsSync(databasePath)
    if (databaseExists) {
      const checked = yield* Effect.either(checkPrivate(databasePath, "the OAuth database"))
      if (Either.isLeft(checked)) problems.push(checked.left)
    }
    if (configured === undefined) {
      const keyPath = keyPathFor(databasePath)
      if (fs.existsSync(keyPath)) {
        const read = yield* Effect.either(readKeyFile(keyPath))
        if (Either.isLeft(read)) problems.push(read.left)
      } else if (databaseExists) {
        warnings.push(
          `${keyPath}: the OAuth database exists but its key file does not; a new key will be generated and ` +
            "stored upstream tokens can no longer be decrypted (those users log in again)"
        )
      }
    }
    return { problems, warnings }
  })
