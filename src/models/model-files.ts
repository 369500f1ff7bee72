/**
 * A model on disk is one flat directory of files plus `manifest.json`, which
 * records the sha256 and size of every other file. Models travel in memory as
 * `ModelFiles` (name -> bytes), so the registry can verify and decrypt them
 * before anything is parsed, and loaders never read a file that was not checked.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, IntegrityError } from '../core/errors.js';

export type ModelFiles = ReadonlyMap<string, Uint8Array>;

export const MANIFEST_FILE = 'manifest.json';

export interface ManifestEntry {
  readonly sha256: string;
  readonly bytes: number;
}

export interface Manifest {
  readonly formatVersion: 1;
  readonly algorithm: 'sha256';
  readonly files: Readonly<Record<string, ManifestEntry>>;
}

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Model file names are plain names: no directories, no '..', nothing hidden. */
export function assertModelFileName(name: string): void {
  if (!FILE_NAME.test(name) || name.includes('..')) {
    throw new ConfigError(`invalid model file name '${name}' (letters, digits, '.', '_', '-' only)`, { field: 'file' });
  }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The manifest of `files` (any existing manifest entry is ignored). */
export function createManifest(files: ModelFiles): Manifest {
  const entries: Record<string, ManifestEntry> = {};
  for (const name of [...files.keys()].sort()) {
    if (name === MANIFEST_FILE) continue;
    assertModelFileName(name);
    const data = files.get(name) as Uint8Array;
    entries[name] = { sha256: sha256Hex(data), bytes: data.byteLength };
  }
  return { formatVersion: 1, algorithm: 'sha256', files: entries };
}

/** `files` with a fresh manifest added. */
export function withManifest(files: ModelFiles): Map<string, Uint8Array> {
  const out = new Map(files);
  out.delete(MANIFEST_FILE);
  out.set(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(createManifest(out), null, 2)}\n`));
  return out;
}

export function parseManifest(data: Uint8Array | undefined, where: string): Manifest {
  const file = path.join(where, MANIFEST_FILE);
  if (data === undefined) throw new IntegrityError('manifest is missing', { file });
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new IntegrityError(`manifest is not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
  const m = value as Partial<Manifest> | null;
  if (m === null || typeof m !== 'object' || m.formatVersion !== 1 || m.algorithm !== 'sha256') {
    throw new IntegrityError('manifest has an unknown format (expected formatVersion 1, algorithm sha256)', { file });
  }
  if (typeof m.files !== 'object' || m.files === null) {
    throw new IntegrityError("manifest has no 'files' table", { file, field: 'files' });
  }
  for (const [name, entry] of Object.entries(m.files)) {
    const e = entry as Partial<ManifestEntry> | null;
    if (
      !FILE_NAME.test(name) ||
      e === null ||
      typeof e.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(e.sha256) ||
      !Number.isInteger(e.bytes)
    ) {
      throw new IntegrityError(`manifest entry for '${name}' is malformed`, { file, field: `files.${name}` });
    }
  }
  return m as Manifest;
}

/**
 * Throws IntegrityError naming the first file that is missing, unlisted, of the
 * wrong size or whose sha256 differs from the manifest. `where` is the
 * directory (or registry entry) the files came from, used in messages.
 */
export function verifyModelFiles(files: ModelFiles, where: string): Manifest {
  const manifest = parseManifest(files.get(MANIFEST_FILE), where);
  for (const [name, entry] of Object.entries(manifest.files)) {
    const data = files.get(name);
    const file = path.join(where, name);
    if (data === undefined) throw new IntegrityError('file listed in the manifest is missing', { file });
    if (data.byteLength !== entry.bytes) {
      throw new IntegrityError(`size ${data.byteLength} bytes differs from the manifest's ${entry.bytes}`, { file });
    }
    if (sha256Hex(data) !== entry.sha256) {
      throw new IntegrityError('sha256 differs from the manifest: the file was modified or corrupted', { file });
    }
  }
  for (const name of files.keys()) {
    if (name !== MANIFEST_FILE && !(name in manifest.files)) {
      throw new IntegrityError('file is not listed in the manifest', { file: path.join(where, name) });
    }
  }
  return manifest;
}

/**
 * Writes `files` (a manifest is added) as the new directory `dir`, atomically:
 * everything goes to a temporary sibling that is renamed into place last, so a
 * crash leaves either no `dir` or a complete one. Refuses to replace `dir`.
 */
export async function writeModelDirectory(dir: string, files: ModelFiles): Promise<void> {
  const target = path.resolve(dir);
  const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  await mkdir(path.dirname(target), { recursive: true });
  await mkdir(tmp);
  try {
    for (const [name, data] of withManifest(files)) {
      assertModelFileName(name);
      await writeFile(path.join(tmp, name), data);
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConfigError('model directory already exists', { file: target }, { cause: err });
    }
    throw err;
  }
}

/** Reads every file of a model directory and verifies it against the manifest. */
export async function readModelDirectory(dir: string): Promise<ModelFiles> {
  const source = path.resolve(dir);
  let names: string[];
  try {
    names = (await readdir(source, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch (err) {
    throw new ConfigError(`cannot read model directory (${(err as Error).message})`, { file: source }, { cause: err });
  }
  const files = new Map<string, Uint8Array>();
  for (const name of names) files.set(name, await readFile(path.join(source, name)));
  verifyModelFiles(files, source);
  return files;
}
