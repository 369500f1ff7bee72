/**
 * `models/<name>/index.json`: the single record of a model's versions, which
 * one is active and the stack of previously active versions (for rollback).
 * Pure functions here; reading and writing are in model-registry.ts under the
 * model's lock. The file is checksummed (checksummed-json.ts) and strictly
 * validated on every read.
 */
import { IntegrityError, ModelError } from '../core/errors.js';
import { decodeChecksummed, encodeChecksummed } from './checksummed-json.js';
import { type VersionSelector, versionNumber } from './registry-layout.js';
import type { VersionInfo } from './registry-types.js';

export interface VersionEntry {
  /** When the version was registered (ISO, wall clock). */
  readonly createdAt: string;
  readonly encrypted: boolean;
  /** sha256 of the version's plaintext manifest.json: guards the manifest itself. */
  readonly manifestSha256: string;
  /** Model files (manifest excluded) and their total plaintext size. */
  readonly files: number;
  readonly bytes: number;
  /** Ed25519 signature (base64) of the entry, in signed registries (registry-signing.ts). */
  readonly signature?: string;
}

export interface ModelIndex {
  readonly formatVersion: 1;
  readonly name: string;
  /** Number of the next version to allocate; numbers are never reused. */
  readonly nextVersion: number;
  readonly active: string | null;
  /** Previously active versions, most recent last. */
  readonly history: readonly string[];
  readonly versions: Readonly<Record<string, VersionEntry>>;
}

/** Promotions remembered for rollback; older ones are forgotten. */
export const MAX_HISTORY = 100;

export function emptyIndex(name: string): ModelIndex {
  return { formatVersion: 1, name, nextVersion: 1, active: null, history: [], versions: {} };
}

export function encodeIndex(index: ModelIndex): Uint8Array {
  return encodeChecksummed(index as unknown as Record<string, unknown>);
}

/** Parses and validates an index file's bytes; IntegrityError naming `file` on any inconsistency. */
export function decodeIndex(data: Uint8Array, file: string, expectedName: string): ModelIndex {
  const body = decodeChecksummed(data, file);
  const fail = (message: string, field?: string): never => {
    throw new IntegrityError(`index is inconsistent: ${message}`, field === undefined ? { file } : { file, field });
  };
  if (body.formatVersion !== 1) fail(`unknown formatVersion ${String(body.formatVersion)}`, 'formatVersion');
  if (body.name !== expectedName) fail(`belongs to model '${String(body.name)}', not '${expectedName}'`, 'name');
  const next = body.nextVersion;
  if (typeof next !== 'number' || !Number.isInteger(next) || next < 1) fail('bad nextVersion', 'nextVersion');
  const versionsValue = body.versions;
  if (versionsValue === null || typeof versionsValue !== 'object' || Array.isArray(versionsValue)) {
    fail('versions is not an object', 'versions');
  }
  const versions: Record<string, VersionEntry> = {};
  for (const [label, raw] of Object.entries(versionsValue as Record<string, unknown>)) {
    const n = versionNumber(label);
    const e = raw as Partial<VersionEntry> | null;
    if (
      n === null ||
      n >= (next as number) ||
      e === null ||
      typeof e !== 'object' ||
      typeof e.createdAt !== 'string' ||
      typeof e.encrypted !== 'boolean' ||
      typeof e.manifestSha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(e.manifestSha256) ||
      !Number.isInteger(e.files) ||
      !Number.isInteger(e.bytes) ||
      (e.signature !== undefined && typeof e.signature !== 'string')
    ) {
      fail(`entry '${label}' is malformed`, `versions.${label}`);
    }
    versions[label] = e as VersionEntry;
  }
  const active = body.active;
  if (active !== null && (typeof active !== 'string' || !(active in versions))) {
    fail(`active version '${String(active)}' is not a registered version`, 'active');
  }
  const history = body.history;
  if (!Array.isArray(history) || history.some((v) => typeof v !== 'string' || !(v in versions))) {
    fail('history lists a version that is not registered', 'history');
  }
  return {
    formatVersion: 1,
    name: expectedName,
    nextVersion: next as number,
    active: active as string | null,
    history: history as string[],
    versions,
  };
}

/** Version labels, oldest first. */
export function versionsOf(index: ModelIndex): string[] {
  return Object.keys(index.versions).sort((a, b) => (versionNumber(a) ?? 0) - (versionNumber(b) ?? 0));
}

export function latestVersion(index: ModelIndex): string | null {
  return versionsOf(index).at(-1) ?? null;
}

/** Adds a version; it becomes active when `activate` or when nothing is active yet. */
export function withVersion(index: ModelIndex, label: string, entry: VersionEntry, activate: boolean): ModelIndex {
  const n = versionNumber(label) as number;
  const next = {
    ...index,
    nextVersion: Math.max(index.nextVersion, n + 1),
    versions: { ...index.versions, [label]: entry },
  };
  return activate || index.active === null ? promoted(next, label) : next;
}

/** `label` becomes active; the previously active version is pushed onto the history. */
export function promoted(index: ModelIndex, label: string): ModelIndex {
  if (!(label in index.versions)) {
    throw new ModelError(`model '${index.name}' has no version ${label} (versions: ${listOrNone(index)})`, {
      field: 'version',
    });
  }
  if (index.active === label) return index;
  const history = index.active === null ? index.history : [...index.history, index.active].slice(-MAX_HISTORY);
  return { ...index, active: label, history };
}

/** Back to the previously active version (popped from the history). */
export function rolledBack(index: ModelIndex): ModelIndex {
  const history = [...index.history];
  for (let previous = history.pop(); previous !== undefined; previous = history.pop()) {
    if (previous !== index.active && previous in index.versions) return { ...index, active: previous, history };
  }
  throw new ModelError(`model '${index.name}' has no previously active version to roll back to`, { field: 'history' });
}

/**
 * Removes a version. Removing the active version requires `force`; the active
 * version then falls back as by rollback, or to nothing if there is no history.
 */
export function withoutVersion(index: ModelIndex, label: string, force: boolean): ModelIndex {
  if (!(label in index.versions)) {
    throw new ModelError(`model '${index.name}' has no version ${label} (versions: ${listOrNone(index)})`, {
      field: 'version',
    });
  }
  if (index.active === label && !force) {
    throw new ModelError(
      `${index.name}@${label} is the active version: promote or roll back to another version first, or force the deletion`,
      { field: 'version' },
    );
  }
  const { [label]: _removed, ...versions } = index.versions;
  const history = index.history.filter((v) => v !== label);
  const rest: ModelIndex = { ...index, versions, history };
  if (index.active !== label) return rest;
  const fallback = history.at(-1) ?? null;
  return { ...rest, active: fallback, history: fallback === null ? [] : history.slice(0, -1) };
}

function listOrNone(index: ModelIndex): string {
  const all = versionsOf(index);
  return all.length === 0 ? 'none' : all.join(', ');
}

/** The version a selector points at; ModelError naming the reference when there is none. */
export function resolveVersion(index: ModelIndex, selector: VersionSelector, ref: string): string {
  if (selector.kind === 'active') {
    if (index.active === null) throw new ModelError(`model '${index.name}' has no active version`, { field: 'ref' });
    return index.active;
  }
  if (selector.kind === 'latest') {
    const latest = latestVersion(index);
    if (latest === null) throw new ModelError(`model '${index.name}' has no versions`, { field: 'ref' });
    return latest;
  }
  if (!(selector.version in index.versions)) {
    throw new ModelError(`${ref}: no such version (versions: ${listOrNone(index)})`, { field: 'ref' });
  }
  return selector.version;
}

/** The public view of every version, oldest first. */
export function versionInfos(index: ModelIndex): VersionInfo[] {
  return versionsOf(index).map((version) => {
    const e = index.versions[version] as VersionEntry;
    return {
      version,
      createdAt: e.createdAt,
      encrypted: e.encrypted,
      files: e.files,
      bytes: e.bytes,
      active: index.active === version,
    };
  });
}
