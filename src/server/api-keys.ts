/**
 * API keys of the HTTP server. A key has a label (what the logs show, never
 * the key) and scopes: `admin` (model management; implies the others),
 * `predict` and `read` (statistics, model listings, metrics).
 *
 * Sources:
 * - `QUANTFLOW_API_KEYS`: `KEY:SCOPES,KEY:SCOPES`, scopes joined by '+'
 *   (`k1:admin,k2:predict+read`); labelled `env-1`, `env-2`, ...
 * - a JSON keys file: `{"keys": [{"id": "bot-1", "sha256": "<64 hex>", "scopes": ["predict"]},
 *   {"id": "ops", "key": "<plaintext>", "scopes": "admin"}]}` (or the bare array).
 *   Storing the sha256 of a key is preferred: `printf %s "$KEY" | sha256sum`.
 *
 * Only sha256 digests are kept in memory. A presented key is hashed and
 * compared with every known digest by `crypto.timingSafeEqual`, without an
 * early exit, so the time taken says nothing about how close a guess was.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../core/errors.js';

export const SCOPES = ['admin', 'predict', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

export const API_KEYS_ENV = 'QUANTFLOW_API_KEYS';

/** Plaintext keys shorter than this are accepted but reported as weak. */
export const MIN_KEY_LENGTH = 16;

export interface ApiKeyEntry {
  /** Shown in logs and error messages instead of the key. */
  readonly label: string;
  readonly scopes: ReadonlySet<Scope>;
  /** sha256 of the key. */
  readonly digest: Buffer;
}

export interface ApiKeySpec {
  readonly label: string;
  readonly scopes: readonly Scope[] | string;
  /** The key in plaintext, or... */
  readonly key?: string;
  /** ...its sha256 as 64 hex digits. */
  readonly sha256?: string;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function hashApiKey(key: string): string {
  return sha256(key).toString('hex');
}

function parseScopes(value: unknown, where: string): Set<Scope> {
  const list =
    typeof value === 'string' ? value.split('+').map((s) => s.trim()) : Array.isArray(value) ? value : undefined;
  if (list === undefined || list.length === 0) {
    throw new ConfigError(`${where}: scopes must be a non-empty list of ${SCOPES.join(', ')}`, { field: 'scopes' });
  }
  const out = new Set<Scope>();
  for (const s of list) {
    if (typeof s !== 'string' || !(SCOPES as readonly string[]).includes(s)) {
      throw new ConfigError(`${where}: unknown scope '${String(s)}' (expected ${SCOPES.join(', ')})`, {
        field: 'scopes',
      });
    }
    out.add(s as Scope);
  }
  return out;
}

/** Compares presented keys with the configured ones; see the module comment. */
export class ApiKeyStore {
  private readonly entries: readonly ApiKeyEntry[];
  /** Labels of plaintext keys shorter than MIN_KEY_LENGTH. */
  readonly weak: readonly string[];

  constructor(specs: readonly ApiKeySpec[]) {
    const entries: ApiKeyEntry[] = [];
    const weak: string[] = [];
    const labels = new Set<string>();
    for (const spec of specs) {
      const where = `API key '${spec.label}'`;
      if (spec.label.length === 0 || labels.has(spec.label)) {
        throw new ConfigError(`${where}: labels must be non-empty and unique`, { field: 'id' });
      }
      labels.add(spec.label);
      let digest: Buffer;
      if (spec.key !== undefined && spec.sha256 === undefined) {
        if (spec.key.length === 0) throw new ConfigError(`${where}: the key is empty`, { field: 'key' });
        if (spec.key.length < MIN_KEY_LENGTH) weak.push(spec.label);
        digest = sha256(spec.key);
      } else if (spec.sha256 !== undefined && spec.key === undefined) {
        if (!/^[0-9a-fA-F]{64}$/.test(spec.sha256)) {
          throw new ConfigError(`${where}: sha256 must be 64 hex digits`, { field: 'sha256' });
        }
        digest = Buffer.from(spec.sha256, 'hex');
      } else {
        throw new ConfigError(`${where}: give exactly one of 'key' and 'sha256'`, { field: 'key' });
      }
      if (entries.some((e) => e.digest.equals(digest))) {
        throw new ConfigError(`${where}: the same key is configured twice`, { field: 'key' });
      }
      entries.push({ label: spec.label, scopes: parseScopes(spec.scopes, where), digest });
    }
    this.entries = entries;
    this.weak = weak;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Label and scopes of each key (no secrets), for start-up logs. */
  describe(): Array<{ label: string; scopes: Scope[] }> {
    return this.entries.map((e) => ({ label: e.label, scopes: [...e.scopes] }));
  }

  /** The entry of `presented`, or undefined. Constant time in the key's value. */
  find(presented: string): ApiKeyEntry | undefined {
    const digest = sha256(presented);
    let found: ApiKeyEntry | undefined;
    for (const entry of this.entries) {
      // No early exit: every digest is compared.
      if (timingSafeEqual(digest, entry.digest) && found === undefined) found = entry;
    }
    return found;
  }
}

/** `admin` implies every scope. */
export function hasScope(entry: ApiKeyEntry, scope: Scope): boolean {
  return entry.scopes.has(scope) || entry.scopes.has('admin');
}

/** Parses `KEY:SCOPES,KEY:SCOPES` (the value of QUANTFLOW_API_KEYS). A key may contain ':' (split at the last). */
export function parseApiKeysEnv(value: string, variable = API_KEYS_ENV): ApiKeySpec[] {
  const out: ApiKeySpec[] = [];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  items.forEach((item, i) => {
    const at = item.lastIndexOf(':');
    if (at <= 0 || at === item.length - 1) {
      throw new ConfigError(`${variable}: entry ${i + 1} must be KEY:SCOPES (scopes joined by '+')`, {
        field: variable,
        index: i,
      });
    }
    out.push({ label: `env-${i + 1}`, key: item.slice(0, at), scopes: item.slice(at + 1) });
  });
  return out;
}

/** Parses the JSON of a keys file (see the module comment). */
export function parseApiKeysJson(text: string, file: string): ApiKeySpec[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`keys file is not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
  const list = Array.isArray(value)
    ? value
    : typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys)
      ? (value as { keys: unknown[] }).keys
      : undefined;
  if (list === undefined) {
    throw new ConfigError('expected {"keys": [...]} or an array of {id, key | sha256, scopes}', { file });
  }
  return list.map((item, i): ApiKeySpec => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new ConfigError('each key must be an object {id, key | sha256, scopes}', { file, index: i });
    }
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['id', 'label', 'key', 'sha256', 'scopes'].includes(k)) {
        throw new ConfigError(`unknown field '${k}'`, { file, index: i, field: k });
      }
    }
    const label = o.id ?? o.label ?? `file-${i + 1}`;
    if (typeof label !== 'string') throw new ConfigError('id must be a string', { file, index: i, field: 'id' });
    if (o.key !== undefined && typeof o.key !== 'string') {
      throw new ConfigError('key must be a string', { file, index: i, field: 'key' });
    }
    if (o.sha256 !== undefined && typeof o.sha256 !== 'string') {
      throw new ConfigError('sha256 must be a string', { file, index: i, field: 'sha256' });
    }
    if (typeof o.scopes !== 'string' && !Array.isArray(o.scopes)) {
      throw new ConfigError('scopes must be a list or a string like "predict+read"', {
        file,
        index: i,
        field: 'scopes',
      });
    }
    return {
      label,
      scopes: o.scopes as Scope[] | string,
      ...(o.key !== undefined ? { key: o.key as string } : {}),
      ...(o.sha256 !== undefined ? { sha256: o.sha256 as string } : {}),
    };
  });
}

export async function readApiKeysFile(file: string): Promise<ApiKeySpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read keys file (${(err as Error).message})`, { file }, { cause: err });
  }
  return parseApiKeysJson(text, file);
}

/**
 * The key presented by a request: `Authorization: Bearer KEY` or `X-API-Key: KEY`.
 * Undefined when neither header is there (or the Authorization scheme is not Bearer).
 */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') {
    const key = auth.slice(7).trim();
    if (key.length > 0) return key;
  }
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header.trim();
  return undefined;
}
