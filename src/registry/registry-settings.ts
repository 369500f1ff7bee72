/**
 * `registry.json`: settings fixed when the registry is created: whether
 * versions are encrypted and the id of the key (a one-way fingerprint, never
 * the key), so a wrong key is reported as such; whether versions are signed,
 * and the id of the public key. Files written before signing existed have no
 * `signing` field and read as unsigned. Checksummed like the
 * model indexes; created atomically and exclusively, so two processes creating
 * the same registry agree on one settings file.
 */
import { IntegrityError } from '../core/errors.js';
import { createFileAtomically } from './atomic-fs.js';
import { encodeChecksummed, readChecksummedFile } from './checksummed-json.js';
import { CIPHER } from './registry-crypto.js';
import { SIGNATURE_ALGORITHM } from './registry-signing.js';

export interface RegistrySettings {
  readonly formatVersion: 1;
  readonly createdAt: string;
  readonly encryption: { readonly algorithm: typeof CIPHER; readonly keyId: string } | null;
  readonly signing: { readonly algorithm: typeof SIGNATURE_ALGORITHM; readonly keyId: string } | null;
}

export async function readSettings(file: string): Promise<RegistrySettings | null> {
  const body = await readChecksummedFile(file);
  if (body === null) return null;
  if (body.formatVersion !== 1 || typeof body.createdAt !== 'string') {
    throw new IntegrityError('unknown registry format (expected formatVersion 1)', { file, field: 'formatVersion' });
  }
  const enc = body.encryption as Partial<NonNullable<RegistrySettings['encryption']>> | null | undefined;
  if (enc === undefined || (enc !== null && (enc.algorithm !== CIPHER || typeof enc.keyId !== 'string'))) {
    throw new IntegrityError(`encryption must be null or { algorithm: '${CIPHER}', keyId }`, {
      file,
      field: 'encryption',
    });
  }
  const signing = body.signing as Partial<NonNullable<RegistrySettings['signing']>> | null | undefined;
  if (
    signing !== undefined &&
    signing !== null &&
    (signing.algorithm !== SIGNATURE_ALGORITHM || typeof signing.keyId !== 'string')
  ) {
    throw new IntegrityError(`signing must be null or { algorithm: '${SIGNATURE_ALGORITHM}', keyId }`, {
      file,
      field: 'signing',
    });
  }
  return { ...(body as unknown as RegistrySettings), signing: (signing ?? null) as RegistrySettings['signing'] };
}

/** Creates the settings file unless it exists; returns the settings in force either way. */
export async function createSettings(file: string, wanted: RegistrySettings): Promise<RegistrySettings> {
  if (await createFileAtomically(file, encodeChecksummed(wanted as unknown as Record<string, unknown>))) return wanted;
  const existing = await readSettings(file);
  if (existing === null) throw new IntegrityError('registry settings vanished while being created', { file });
  return existing;
}
