/**
 * Encryption at rest for registry files: AES-256-GCM with a 32-byte key, a
 * fresh random 96-bit IV per file and a 128-bit authentication tag. The
 * additional authenticated data binds each ciphertext to its place
 * (`<model>@<version>/<file>`), so encrypted files cannot be swapped between
 * versions or names without detection.
 *
 * Stored file: 'QFRE' | format byte 0x01 | IV (12 bytes) | tag (16 bytes) | ciphertext.
 *
 * Decryption happens in memory only; plaintext is never written to disk.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { ConfigError, IntegrityError } from '../core/errors.js';

export const DEFAULT_KEY_ENV = 'QUANTFLOW_REGISTRY_KEY';
export const CIPHER = 'aes-256-gcm';

const MAGIC = Buffer.from('QFRE', 'ascii');
const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1 + IV_BYTES + TAG_BYTES;
const KEY_BYTES = 32;

/**
 * Parses a key given as 64 hex characters or as base64 of 32 bytes. `source`
 * (e.g. the environment variable's name) is named in errors; the key never is.
 */
export function parseRegistryKey(text: string, source: string): Buffer {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(value) || /^[A-Za-z0-9_-]{43}$/.test(value)) {
    const key = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  throw new ConfigError(
    `registry key must be ${KEY_BYTES} bytes given as 64 hex characters or base64 (got ${value.length} characters)`,
    { field: source },
  );
}

/** Reads and parses the key from `env[name]`; undefined when the variable is unset or empty. */
export function registryKeyFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === '') return undefined;
  return parseRegistryKey(text, name);
}

/** A public fingerprint of a key (HMAC of a fixed label), stored to tell a wrong key from a damaged file. */
export function keyId(key: Uint8Array): string {
  return createHmac('sha256', key).update('quantflow-registry key id v1').digest('hex').slice(0, 16);
}

export function encryptBytes(key: Uint8Array, plaintext: Uint8Array, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([MAGIC, Buffer.from([FORMAT]), iv, cipher.getAuthTag(), body]);
}

/**
 * Decrypts one stored file; throws IntegrityError naming `file` when the
 * header is wrong or the tag does not verify (modified ciphertext, or a file
 * moved from elsewhere; a wrong key is refused when the registry is opened).
 */
export function decryptBytes(key: Uint8Array, stored: Uint8Array, aad: string, file: string): Buffer {
  const data = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (data.length < HEADER_BYTES || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new IntegrityError('not an encrypted registry file (bad header)', { file });
  }
  if (data[MAGIC.length] !== FORMAT) {
    throw new IntegrityError(`unknown encrypted file format ${data[MAGIC.length]}`, { file });
  }
  const ivStart = MAGIC.length + 1;
  const iv = data.subarray(ivStart, ivStart + IV_BYTES);
  const tag = data.subarray(ivStart + IV_BYTES, HEADER_BYTES);
  try {
    const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data.subarray(HEADER_BYTES)), decipher.final()]);
  } catch (err) {
    throw new IntegrityError(
      'cannot decrypt: authentication failed, the file was modified, corrupted or moved',
      {
        file,
      },
      { cause: err },
    );
  }
}
