/**
 * Where everything of a registry lives on disk, and the names it accepts.
 *
 *   <root>/registry.json                 settings: encryption algorithm and key id (checksummed)
 *   <root>/locks/<name>.lock             exclusive writer lock of one model name
 *   <root>/models/<name>/index.json      versions, active version, promotion history (checksummed)
 *   <root>/models/<name>/v<N>/           one version: the model files and manifest.json
 *                                        (encrypted registries: each file as `<file>.enc`)
 *   <root>/models/<name>/.tmp-*          a version being written (ignored; removed by the next writer)
 *   <root>/models/.trash-*               a model being deleted (ignored)
 *
 * The index is the only record of which versions exist: a version directory it
 * does not list (a save that crashed before the index was updated) is never
 * listed or loaded.
 */
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

export const REGISTRY_FILE = 'registry.json';
export const INDEX_FILE = 'index.json';
export const MODELS_DIR = 'models';
export const LOCKS_DIR = 'locks';
export const TEMP_PREFIX = '.tmp-';
export const TRASH_PREFIX = '.trash-';
export const ENCRYPTED_SUFFIX = '.enc';

const MODEL_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const VERSION = /^v([1-9][0-9]{0,8})$/;
const MAX_NAME_LENGTH = 100;

export function isModelName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && MODEL_NAME.test(name) && !name.includes('..');
}

export function assertModelName(name: string): void {
  if (!isModelName(name)) {
    throw new ConfigError(
      `invalid model name '${name}': use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit (at most ${MAX_NAME_LENGTH} characters)`,
      { field: 'name' },
    );
  }
}

/** 'v3' -> 3, or null when `text` is not a version directory name. */
export function versionNumber(text: string): number | null {
  const m = VERSION.exec(text);
  return m === null ? null : Number(m[1]);
}

export function versionLabel(n: number): string {
  return `v${n}`;
}

/** Accepts 'v3' or '3'; throws ConfigError otherwise. */
export function parseVersion(text: string): string {
  const label = /^[0-9]+$/.test(text) ? `v${text}` : text;
  if (versionNumber(label) === null) {
    throw new ConfigError(`invalid version '${text}' (expected v1, v2, ...)`, { field: 'version' });
  }
  return label;
}

export type VersionSelector = { kind: 'active' } | { kind: 'latest' } | { kind: 'exact'; version: string };

export interface ModelRef {
  readonly name: string;
  readonly selector: VersionSelector;
}

/** 'name', 'name@active', 'name@latest', 'name@v3' (or 'name@3'). */
export function parseModelRef(ref: string): ModelRef {
  const at = ref.indexOf('@');
  const name = at === -1 ? ref : ref.slice(0, at);
  const tag = at === -1 ? 'active' : ref.slice(at + 1);
  assertModelName(name);
  if (tag === 'active') return { name, selector: { kind: 'active' } };
  if (tag === 'latest') return { name, selector: { kind: 'latest' } };
  try {
    return { name, selector: { kind: 'exact', version: parseVersion(tag) } };
  } catch {
    throw new ConfigError(`invalid model reference '${ref}' (expected NAME, NAME@active, NAME@latest or NAME@vN)`, {
      field: 'ref',
    });
  }
}

/** Absolute paths of one registry. */
export class RegistryLayout {
  readonly root: string;
  /** The root after symbolic links: everything read must resolve inside it (contained-path.ts). */
  readonly realRoot: string;

  constructor(root: string, realRoot?: string) {
    this.root = path.resolve(root);
    this.realRoot = realRoot ?? this.root;
  }

  get settingsFile(): string {
    return path.join(this.root, REGISTRY_FILE);
  }

  get modelsDir(): string {
    return path.join(this.root, MODELS_DIR);
  }

  get locksDir(): string {
    return path.join(this.root, LOCKS_DIR);
  }

  modelDir(name: string): string {
    return path.join(this.modelsDir, name);
  }

  indexFile(name: string): string {
    return path.join(this.modelDir(name), INDEX_FILE);
  }

  lockFile(name: string): string {
    return path.join(this.locksDir, `${name}.lock`);
  }

  versionDir(name: string, version: string): string {
    return path.join(this.modelDir(name), version);
  }

  /** The on-disk name of a model file: the plain name, or `<name>.enc` when encrypted. */
  storedFile(name: string, version: string, file: string, encrypted: boolean): string {
    return path.join(this.versionDir(name, version), encrypted ? `${file}${ENCRYPTED_SUFFIX}` : file);
  }
}
