/**
 * Keyed integrity of registry versions: Ed25519 signatures. Whoever registers
 * models holds the private key (QUANTFLOW_REGISTRY_SIGNING_KEY); servers and
 * other readers need only the public key (QUANTFLOW_REGISTRY_VERIFY_KEY), so
 * a compromised server cannot sign a model either.
 *
 * Each version's index entry carries a signature over its model name, version
 * label, manifest sha256 and encryption flag. The manifest lists the sha256 of
 * every file, so changing any byte of a version (and fixing every checksum
 * after it, up to the index's) still fails the signature.
 *
 * Keys are the raw 32-byte Ed25519 private seed and public key, written like
 * the encryption key: 64 hex characters or base64 (`quantflow models keygen`).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as signBytes,
  verify as verifyBytes,
} from 'node:crypto';
import { ConfigError, IntegrityError } from '../core/errors.js';
import { sha256Hex } from '../models/model-files.js';
import { parseRegistryKey } from './registry-crypto.js';

export const SIGNING_KEY_ENV = 'QUANTFLOW_REGISTRY_SIGNING_KEY';
export const VERIFY_KEY_ENV = 'QUANTFLOW_REGISTRY_VERIFY_KEY';
export const SIGNATURE_ALGORITHM = 'ed25519';

// DER wrappers of raw Ed25519 keys (RFC 8410): PKCS#8 for the private seed, SPKI for the public key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** What a signature covers: one version's identity and content (through its manifest's sha256). */
export interface SignedFields {
  readonly model: string;
  readonly version: string;
  readonly manifestSha256: string;
  readonly encrypted: boolean;
}

function message(f: SignedFields): Buffer {
  return Buffer.from(
    `quantflow-registry-version v1\n${f.model}\n${f.version}\n${f.manifestSha256}\n${f.encrypted}`,
    'utf8',
  );
}

/** A public fingerprint of a verify key, recorded in registry.json to tell a wrong key from a forged version. */
export function verifyKeyId(key: KeyObject): string {
  const raw = key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return sha256Hex(raw).slice(0, 16);
}

export function parseSigningKey(text: string, source: string): KeyObject {
  const seed = parseRegistryKey(text, source);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function parseVerifyKey(text: string, source: string): KeyObject {
  const raw = parseRegistryKey(text, source);
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch (err) {
    throw new ConfigError('not an Ed25519 public key', { field: source }, { cause: err });
  }
}

/** A fresh key pair as base64 text: the private seed and the public key. */
export function generateSigningKeys(): { signingKey: string; verifyKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    signingKey: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length).toString('base64'),
    verifyKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length).toString('base64'),
  };
}

export function signVersion(key: KeyObject, fields: SignedFields): string {
  return signBytes(null, message(fields), key).toString('base64');
}

/** Throws IntegrityError naming `file` unless `signature` is `key`'s signature of `fields`. */
export function checkVersionSignature(
  key: KeyObject,
  fields: SignedFields,
  signature: string | undefined,
  file: string,
): void {
  const ref = `${fields.model}@${fields.version}`;
  if (signature === undefined) {
    throw new IntegrityError(`${ref} is not signed, and this registry requires signed versions`, {
      file,
      field: `versions.${fields.version}.signature`,
    });
  }
  let ok = false;
  try {
    ok = verifyBytes(null, message(fields), key, Buffer.from(signature, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new IntegrityError(
      `the signature of ${ref} does not verify with the registry's public key: its files or its index entry were changed by someone without the signing key`,
      { file, field: `versions.${fields.version}.signature` },
    );
  }
}
