/**
 * Encryption at rest for the few secrets the OAuth store must be able to read back: upstream
 * access and refresh tokens, the upstream PKCE verifier and the client's `state` of a pending
 * flow. Everything else secret (our tokens, codes, upstream `state`, client secrets) is stored
 * only as a SHA-256 hash and never needs this.
 *
 * Decisions:
 * - AES-256-GCM from `node:crypto`, a fresh 96-bit random IV per value. Sealed format, one BLOB:
 *   `0x01 (format version) | iv (12 bytes) | ciphertext | tag (16 bytes)`.
 * - Every value is bound to where it lives through GCM's additional authenticated data: the
 *   caller passes the row's identity (table, field, row id, client, user). A ciphertext copied
 *   into another row, another field or another user's grant fails authentication, so a swapped
 *   row can never hand out another user's token (checklist G55).
 * - Every row also carries a MAC (HMAC-SHA256, truncated to 128 bits) over its table name and
 *   its immutable columns, sealed values included: a row whose token hash, grant, client,
 *   scopes, redirect URI or expiry was edited, or that was moved under another key, fails
 *   verification and is treated as absent. Without the key, nobody can write a row the store
 *   accepts.
 * - The configured 32-byte key is not used directly: HKDF-SHA256 derives one subkey for AES-GCM,
 *   one for the MAC and one for `derive` (the tokens of a refresh rotation, see
 *   `TokenStore.successorTokens`).
 * - Key id: the first 16 hex characters of SHA-256 over a label and the key. It is stored in each
 *   row; a row written under another key is recognised as unreadable before any decryption is
 *   tried (G56), and the id reveals nothing usable about the key.
 * - `open` and `verify` never throw: a wrong key, a truncated blob, a bad tag all give
 *   `undefined`/false, which the store treats as "this session cannot be read" (it ends that
 *   session only).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto"
import { deriveToken } from "../../../domain/oauth/Tokens.js"

/** Bytes in an AES-256 key. */
export const KEY_BYTES = 32

const FORMAT_V1 = 0x01
const IV_BYTES = 12
const TAG_BYTES = 16
const ALGORITHM = "aes-256-gcm"
const MAC_BYTES = 16

/** A column value covered by a row MAC. */
export type MacPart = string | number | null | Uint8Array

export interface SecretBox {
  /** Identifies the key (not secret); stored per row. */
  readonly keyId: string
  /** Encrypt `plaintext` bound to `aad` (the row's identity). */
  readonly seal: (plaintext: string, aad: string) => Buffer
  /** Decrypt a sealed value; undefined when it was not sealed by this key for this `aad`. */
  readonly open: (sealed: Uint8Array, aad: string) => string | undefined
  /** The MAC of a row: its table name and its immutable column values, in a fixed order. */
  readonly mac: (table: string, parts: ReadonlyArray<MacPart>) => Buffer
  /** Constant-time check of a stored MAC. */
  readonly verify: (table: string, parts: ReadonlyArray<MacPart>, mac: Uint8Array | null) => boolean
  /** A token derived from `input` under this key (`deriveToken` with its own subkey); the same for every holder of the key. */
  readonly derive: (label: string, input: string) => string
}

/** Unambiguous encoding of the MAC input: JSON, with byte values as base64 in a tagged object. */
const macInput = (table: string, parts: ReadonlyArray<MacPart>): string =>
  JSON.stringify([table, ...parts.map((p) => (p instanceof Uint8Array ? { b: Buffer.from(p).toString("base64") } : p))])

const subkey = (key: Buffer, info: string): Buffer =>
  Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), `mxcp-ts oauth store ${info}`, KEY_BYTES))

/** The id of a key: a label-separated SHA-256 prefix, 16 hex characters. */
export const keyIdOf = (key: Uint8Array): string =>
  createHash("sha256").update("mxcp-ts oauth store key id\0").update(key).digest("hex").slice(0, 16)

/** A box over a 32-byte key. */
export const makeSecretBox = (key: Uint8Array): SecretBox => {
  if (key.length !== KEY_BYTES) throw new RangeError(`an encryption key has ${KEY_BYTES} bytes, got ${key.length}`)
  const keyId = keyIdOf(key)
  const keyBytes = subkey(Buffer.from(key), "aes-256-gcm")
  const macKey = subkey(Buffer.from(key), "hmac-sha256")
  const deriveKey = subkey(Buffer.from(key), "token derivation")

  const seal = (plaintext: string, aad: string): Buffer => {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv(ALGORITHM, keyBytes, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(Buffer.from(aad, "utf8"))
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
    return Buffer.concat([Buffer.of(FORMAT_V1), iv, body, cipher.getAuthTag()])
  }

  const open = (sealed: Uint8Array, aad: string): string | undefined => {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
    if (buf.length < 1 + IV_BYTES + TAG_BYTES || buf[0] !== FORMAT_V1) return undefined
    const iv = buf.subarray(1, 1 + IV_BYTES)
    const body = buf.subarray(1 + IV_BYTES, buf.length - TAG_BYTES)
    const tag = buf.subarray(buf.length - TAG_BYTES)
    try {
      const decipher = createDecipheriv(ALGORITHM, keyBytes, iv, { authTagLength: TAG_BYTES })
      decipher.setAAD(Buffer.from(aad, "utf8"))
      decipher.setAuthTag(tag)
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8")
    } catch {
      return undefined
    }
  }

  const mac = (table: string, parts: ReadonlyArray<MacPart>): Buffer =>
    createHmac("sha256", macKey).update(macInput(table, parts), "utf8").digest().subarray(0, MAC_BYTES)

  const verify = (table: string, parts: ReadonlyArray<MacPart>, stored: Uint8Array | null): boolean => {
    if (stored === null || stored.byteLength !== MAC_BYTES) return false
    return timingSafeEqual(mac(table, parts), Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength))
  }

  const derive = (label: string, input: string): string => deriveToken(deriveKey, label, input)

  return { keyId, seal, open, mac, verify, derive }
}

/** A 32-byte key from base64 (standard or url-safe alphabet, padding optional); undefined otherwise. */
export const decodeKey = (text: string): Buffer | undefined => {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined
  const bytes = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64")
  return bytes.length === KEY_BYTES ? bytes : undefined
}
