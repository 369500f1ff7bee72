/**
 * Which key a registry uses and when: none for plaintext registries; for
 * encrypted ones the key given in the options or the environment, checked
 * against the key id recorded at creation before anything is written with it.
 */
import { ConfigError } from '../core/errors.js';
import type { VersionEntry } from './model-index.js';
import { keyId, parseRegistryKey, registryKeyFromEnv } from './registry-crypto.js';
import type { RegistrySettings } from './registry-settings.js';
import type { RegistryOptions } from './registry-types.js';
import type { VersionKey } from './version-store.js';

export class RegistryKeys {
  private readonly settings: RegistrySettings;
  private readonly options: RegistryOptions;
  private readonly keyEnv: string;
  private readonly settingsFile: string;

  constructor(settings: RegistrySettings, options: RegistryOptions, keyEnv: string, settingsFile: string) {
    this.settings = settings;
    this.options = options;
    this.keyEnv = keyEnv;
    this.settingsFile = settingsFile;
  }

  /** A key was given (it may still be the wrong one). */
  has(): boolean {
    return resolveKey(this.options, this.keyEnv) !== undefined;
  }

  /** The key to encrypt new versions with (null for a plaintext registry); must match the registry's key. */
  forWrite(): Buffer | null {
    const enc = this.settings.encryption;
    if (enc === null) return null;
    const key = this.require();
    if (keyId(key) !== enc.keyId) {
      throw new ConfigError(
        `the key in ${this.keyEnv} is not the key this registry was created with (key id ${enc.keyId}); refusing to write`,
        { file: this.settingsFile },
      );
    }
    return key;
  }

  /** The key to read `entry` with: null when it is not encrypted; throws when it is and no key was given. */
  forRead(entry: VersionEntry): VersionKey | null {
    if (!entry.encrypted) return null;
    const key = this.require();
    return { key, mismatched: this.settings.encryption !== null && keyId(key) !== this.settings.encryption.keyId };
  }

  private require(): Buffer {
    const key = resolveKey(this.options, this.keyEnv);
    if (key === undefined) {
      throw new ConfigError(`registry is encrypted: set ${this.keyEnv} to its key (32 bytes as 64 hex or base64)`, {
        file: this.settingsFile,
      });
    }
    return key;
  }
}

/** The key from the options, else from the environment variable; undefined when neither is set. */
export function resolveKey(options: RegistryOptions, keyEnv: string): Buffer | undefined {
  const given = options.key;
  if (given === undefined) return registryKeyFromEnv(keyEnv, options.env ?? process.env);
  if (typeof given === 'string') return parseRegistryKey(given, 'key');
  if (given.byteLength !== 32) throw new ConfigError('registry key must be 32 bytes', { field: 'key' });
  return Buffer.from(given);
}
