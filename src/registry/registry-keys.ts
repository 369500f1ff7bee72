/**
 * The keys a registry is opened with, checked once at open against the
 * settings recorded at creation, and what each version must satisfy before
 * any of its files is read:
 *
 * - an encrypted registry opens only with its key (the key id must match); a
 *   key given for a plaintext registry is refused, not silently ignored;
 * - a signed registry opens only with its public key (or the signing key it
 *   derives from); a verify key given for an unsigned registry is refused, so
 *   nothing in the registry directory can switch verification off for a
 *   reader that has a key configured;
 * - every version of an encrypted registry must be encrypted and every
 *   version of a signed registry must carry a valid signature.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { ConfigError, IntegrityError } from '../core/errors.js';
import type { VersionEntry } from './model-index.js';
import { keyId, parseRegistryKey, registryKeyFromEnv } from './registry-crypto.js';
import type { RegistrySettings } from './registry-settings.js';
import {
  checkVersionSignature,
  parseSigningKey,
  parseVerifyKey,
  SIGNING_KEY_ENV,
  signVersion,
  VERIFY_KEY_ENV,
  verifyKeyId,
} from './registry-signing.js';
import type { RegistryOptions } from './registry-types.js';

export interface GivenKeys {
  readonly encryption: Buffer | undefined;
  readonly signing: KeyObject | undefined;
  /** The public key given, or derived from the signing key. */
  readonly verify: KeyObject | undefined;
}

/** The keys given in the options or the environment (nothing is checked against a registry yet). */
export function givenKeys(options: RegistryOptions, keyEnv: string): GivenKeys {
  const env = options.env ?? process.env;
  const fromEnv = (name: string) => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };
  const signingText = options.signingKey ?? fromEnv(SIGNING_KEY_ENV);
  const verifyText = options.verifyKey ?? fromEnv(VERIFY_KEY_ENV);
  const signing =
    signingText === undefined
      ? undefined
      : parseSigningKey(signingText, options.signingKey !== undefined ? 'signingKey' : SIGNING_KEY_ENV);
  const verify =
    verifyText !== undefined
      ? parseVerifyKey(verifyText, options.verifyKey !== undefined ? 'verifyKey' : VERIFY_KEY_ENV)
      : signing === undefined
        ? undefined
        : createPublicKey(signing);
  if (signing !== undefined && verify !== undefined && verifyKeyId(createPublicKey(signing)) !== verifyKeyId(verify)) {
    throw new ConfigError(`${SIGNING_KEY_ENV} and ${VERIFY_KEY_ENV} are not the two halves of one key pair`, {
      field: VERIFY_KEY_ENV,
    });
  }
  return { encryption: resolveKey(options, keyEnv), signing, verify };
}

export class RegistryKeys {
  private constructor(
    private readonly settings: RegistrySettings,
    private readonly keys: GivenKeys,
    private readonly settingsFile: string,
  ) {}

  /** Checks the keys given against the registry's settings; ConfigError naming what is missing or wrong. */
  static check(settings: RegistrySettings, keys: GivenKeys, keyEnv: string, settingsFile: string): RegistryKeys {
    const where = { file: settingsFile };
    const enc = settings.encryption;
    if (enc === null && keys.encryption !== undefined) {
      throw new ConfigError(
        `an encryption key is set (${keyEnv}) but this registry is not encrypted: unset it, or use an encrypted registry (created with --encrypt)`,
        { ...where, field: keyEnv },
      );
    }
    if (enc !== null) {
      if (keys.encryption === undefined) {
        throw new ConfigError(`registry is encrypted: set ${keyEnv} to its key (32 bytes as 64 hex or base64)`, {
          ...where,
          field: keyEnv,
        });
      }
      if (keyId(keys.encryption) !== enc.keyId) {
        throw new ConfigError(
          `the key in ${keyEnv} is not the key this registry was created with (key id ${enc.keyId})`,
          { ...where, field: keyEnv },
        );
      }
    }
    const sig = settings.signing;
    if (sig === null && keys.verify !== undefined) {
      throw new ConfigError(
        `a signing or verify key is set (${VERIFY_KEY_ENV} / ${SIGNING_KEY_ENV}) but this registry is not signed: unset it, or use a signed registry (created with --sign)`,
        { ...where, field: 'signing' },
      );
    }
    if (sig !== null) {
      if (keys.verify === undefined) {
        throw new ConfigError(
          `registry is signed: set ${VERIFY_KEY_ENV} to its public key (or ${SIGNING_KEY_ENV} to write)`,
          { ...where, field: VERIFY_KEY_ENV },
        );
      }
      if (verifyKeyId(keys.verify) !== sig.keyId) {
        throw new ConfigError(
          `the public key given is not the key this registry is signed with (key id ${sig.keyId})`,
          { ...where, field: VERIFY_KEY_ENV },
        );
      }
    }
    return new RegistryKeys(settings, keys, settingsFile);
  }

  /** The key to encrypt new versions with (null for a plaintext registry). */
  get encryptionKey(): Buffer | null {
    return this.keys.encryption ?? null;
  }

  /** The signature of a new version's entry (undefined for an unsigned registry); throws without the signing key. */
  sign(model: string, version: string, entry: Pick<VersionEntry, 'manifestSha256' | 'encrypted'>): string | undefined {
    if (this.settings.signing === null) return undefined;
    if (this.keys.signing === undefined) {
      throw new ConfigError(`registry is signed: set ${SIGNING_KEY_ENV} to register models`, {
        file: this.settingsFile,
        field: SIGNING_KEY_ENV,
      });
    }
    return signVersion(this.keys.signing, { model, version, ...entry });
  }

  /**
   * Checks an index entry before any file of its version is read and returns
   * the key to decrypt it with (null when plaintext). `indexFile` is named in errors.
   */
  forRead(model: string, version: string, entry: VersionEntry, indexFile: string): Buffer | null {
    const ref = `${model}@${version}`;
    const field = `versions.${version}.encrypted`;
    if (this.settings.encryption !== null && !entry.encrypted) {
      throw new IntegrityError(
        `${ref} is stored in plaintext in an encrypted registry: refused (an encrypted registry holds only encrypted versions)`,
        { file: indexFile, field },
      );
    }
    if (this.settings.encryption === null && entry.encrypted) {
      throw new IntegrityError(`${ref} claims to be encrypted in a plaintext registry: refused`, {
        file: indexFile,
        field,
      });
    }
    if (this.settings.signing !== null) {
      checkVersionSignature(this.keys.verify as KeyObject, { model, version, ...entry }, entry.signature, indexFile);
    }
    return entry.encrypted ? (this.keys.encryption as Buffer) : null;
  }
}

/** The encryption key from the options, else from the environment variable; undefined when neither is set. */
export function resolveKey(options: RegistryOptions, keyEnv: string): Buffer | undefined {
  const given = options.key;
  if (given === undefined) return registryKeyFromEnv(keyEnv, options.env ?? process.env);
  if (typeof given === 'string') return parseRegistryKey(given, 'key');
  if (given.byteLength !== 32) throw new ConfigError('registry key must be 32 bytes', { field: 'key' });
  return Buffer.from(given);
}
