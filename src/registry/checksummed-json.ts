/**
 * JSON files that carry their own sha256: `{ ...body, "checksum": sha256 }`,
 * the hash taken over the canonical form of the body (keys sorted, no spaces).
 * Any edit, truncation or bit flip makes reading fail with an IntegrityError
 * naming the file, instead of silently changing which model is served.
 */
import { readFile } from 'node:fs/promises';
import { IntegrityError } from '../core/errors.js';
import { sha256Hex } from '../models/model-files.js';

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function encodeChecksummed(body: Readonly<Record<string, unknown>>): Uint8Array {
  const { checksum: _ignored, ...rest } = body;
  const checksum = sha256Hex(canonicalJson(rest));
  return new TextEncoder().encode(`${JSON.stringify({ ...rest, checksum }, null, 2)}\n`);
}

/** Parses and checks a checksummed JSON object; the returned body has no `checksum` key. */
export function decodeChecksummed(data: Uint8Array, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    throw new IntegrityError(
      `not valid JSON, the file is corrupted (${(err as Error).message})`,
      { file },
      { cause: err },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new IntegrityError('not a JSON object, the file is corrupted', { file });
  }
  const { checksum, ...body } = value as Record<string, unknown>;
  if (typeof checksum !== 'string') throw new IntegrityError('checksum is missing', { file, field: 'checksum' });
  if (sha256Hex(canonicalJson(body)) !== checksum) {
    throw new IntegrityError('checksum does not match the content: the file was edited or corrupted', {
      file,
      field: 'checksum',
    });
  }
  return body;
}

/** Reads `file`; null when it does not exist. */
export async function readChecksummedFile(file: string): Promise<Record<string, unknown> | null> {
  let data: Uint8Array;
  try {
    data = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return decodeChecksummed(data, file);
}
