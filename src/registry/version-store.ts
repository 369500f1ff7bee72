/**
 * One version directory: preparing the files to store, writing them (plain or
 * encrypted, atomically) and reading them back with every check: the version
 * directory and each file must really lie inside the registry (no symbolic
 * link out), the manifest must match the hash recorded in the index, each
 * file the manifest and, when encrypted, each file's authentication tag.
 * Plaintext of an encrypted version only ever exists in memory. (The index
 * entry itself, its signature and encryption flag, is checked by the caller
 * before: registry-keys.ts.)
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, IntegrityError } from '../core/errors.js';
import {
  assertModelFileName,
  MANIFEST_FILE,
  type ModelFiles,
  parseManifest,
  sha256Hex,
  verifyModelFiles,
  withManifest,
} from '../models/model-files.js';
import { META_FILE, type ModelMeta, parseModelMeta } from '../models/model-meta.js';
import { writeDirectoryAtomically } from './atomic-fs.js';
import { realPathInside } from './contained-path.js';
import type { VersionEntry } from './model-index.js';
import { decryptBytes, encryptBytes } from './registry-crypto.js';
import { ENCRYPTED_SUFFIX, type RegistryLayout } from './registry-layout.js';

/** The key of an encrypted version; null for a plaintext one. */
export type VersionKey = Buffer | null;

export interface PreparedVersion {
  /** Files including a freshly written manifest.json. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly meta: ModelMeta;
  readonly manifestSha256: string;
  readonly fileCount: number;
  readonly bytes: number;
}

/** Reads a flat model directory; an existing manifest.json is verified, a missing one is created. */
export async function readSourceDirectory(dir: string): Promise<ModelFiles> {
  const source = path.resolve(dir);
  let entries: Dirent[];
  try {
    entries = await readdir(source, { withFileTypes: true });
  } catch (err) {
    throw new ConfigError(`cannot read model directory (${(err as Error).message})`, { file: source }, { cause: err });
  }
  const files = new Map<string, Uint8Array>();
  for (const entry of entries) {
    const file = path.join(source, entry.name);
    if (!entry.isFile()) throw new ConfigError('model directories must be flat: only files are registered', { file });
    try {
      assertModelFileName(entry.name);
    } catch (err) {
      throw new ConfigError(
        "file name not allowed in a model (letters, digits, '.', '_', '-' only)",
        { file },
        { cause: err },
      );
    }
    files.set(entry.name, await readFile(file));
  }
  return files;
}

/** Checks the files to register (manifest if any, meta.json) and adds a fresh manifest. */
export function prepareVersion(files: ModelFiles, source: string): PreparedVersion {
  if (files.has(MANIFEST_FILE)) verifyModelFiles(files, source);
  const meta = parseModelMeta(files.get(META_FILE), source);
  const complete = withManifest(files);
  for (const name of complete.keys()) assertModelFileName(name);
  const manifest = complete.get(MANIFEST_FILE) as Uint8Array;
  let bytes = 0;
  for (const [name, data] of complete) if (name !== MANIFEST_FILE) bytes += data.byteLength;
  return { files: complete, meta, manifestSha256: sha256Hex(manifest), fileCount: complete.size - 1, bytes };
}

/** Associated data of one encrypted file: binds the ciphertext to its model, version and name. */
function aadOf(model: string, version: string, file: string): string {
  return `quantflow-registry:${model}@${version}/${file}`;
}

/** Writes the version directory atomically; `key` encrypts every file (manifest included). */
export async function writeVersion(
  layout: RegistryLayout,
  model: string,
  version: string,
  tempDir: string,
  prepared: PreparedVersion,
  key: Buffer | null,
  beforeRename?: () => Promise<void> | void,
): Promise<void> {
  function* stored(): Generator<readonly [string, Uint8Array]> {
    for (const [name, data] of prepared.files) {
      yield key === null
        ? [name, data]
        : [`${name}${ENCRYPTED_SUFFIX}`, encryptBytes(key, data, aadOf(model, version, name))];
    }
  }
  await writeDirectoryAtomically(layout.versionDir(model, version), tempDir, stored(), beforeRename);
}

/** Reads, decrypts and verifies every file of a version. */
export async function readVersion(
  layout: RegistryLayout,
  model: string,
  version: string,
  entry: VersionEntry,
  key: VersionKey,
): Promise<ModelFiles> {
  const dir = layout.versionDir(model, version);
  await realPathInside(layout.realRoot, dir);
  let names: string[];
  try {
    // Links are read too (and refused by readStored when they lead out), so they are named, not skipped.
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.isFile() || d.isSymbolicLink())
      .map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new IntegrityError('version directory listed in the index is missing', { file: dir }, { cause: err });
    }
    throw err;
  }
  const files = new Map<string, Uint8Array>();
  for (const stored of names) {
    const name = entry.encrypted ? plainName(stored, dir) : stored;
    files.set(name, await readStored(layout, model, version, entry, name, key));
  }
  checkManifest(layout, model, version, entry, files.get(MANIFEST_FILE));
  verifyModelFiles(files, dir);
  return files;
}

/** One file of a version (e.g. meta.json), checked against a manifest checked against the index. */
export async function readVersionFile(
  layout: RegistryLayout,
  model: string,
  version: string,
  entry: VersionEntry,
  name: string,
  key: VersionKey,
): Promise<Uint8Array> {
  const dir = layout.versionDir(model, version);
  const manifestBytes = await readStored(layout, model, version, entry, MANIFEST_FILE, key);
  const manifest = checkManifest(layout, model, version, entry, manifestBytes);
  const expected = manifest.files[name];
  const file = path.join(dir, name);
  if (expected === undefined) throw new IntegrityError('file is not listed in the manifest', { file });
  const data = await readStored(layout, model, version, entry, name, key);
  if (data.byteLength !== expected.bytes || sha256Hex(data) !== expected.sha256) {
    throw new IntegrityError('sha256 differs from the manifest: the file was modified or corrupted', { file });
  }
  return data;
}

export async function readVersionMeta(
  layout: RegistryLayout,
  model: string,
  version: string,
  entry: VersionEntry,
  key: VersionKey,
): Promise<ModelMeta> {
  const data = await readVersionFile(layout, model, version, entry, META_FILE, key);
  return parseModelMeta(data, layout.versionDir(model, version));
}

function plainName(stored: string, dir: string): string {
  if (!stored.endsWith(ENCRYPTED_SUFFIX)) {
    throw new IntegrityError('unexpected unencrypted file in an encrypted version', { file: path.join(dir, stored) });
  }
  return stored.slice(0, -ENCRYPTED_SUFFIX.length);
}

async function readStored(
  layout: RegistryLayout,
  model: string,
  version: string,
  entry: VersionEntry,
  name: string,
  key: VersionKey,
): Promise<Uint8Array> {
  const file = layout.storedFile(model, version, name, entry.encrypted);
  if (entry.encrypted && key === null) {
    throw new ConfigError('version is encrypted and no registry key was given', { file });
  }
  let data: Uint8Array;
  try {
    await realPathInside(layout.realRoot, file);
    data = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new IntegrityError('file is missing', { file }, { cause: err });
    }
    throw err;
  }
  if (!entry.encrypted || key === null) return data;
  return decryptBytes(key, data, aadOf(model, version, name), file);
}

function checkManifest(
  layout: RegistryLayout,
  model: string,
  version: string,
  entry: VersionEntry,
  data: Uint8Array | undefined,
): ReturnType<typeof parseManifest> {
  const dir = layout.versionDir(model, version);
  const file = path.join(dir, MANIFEST_FILE);
  if (data === undefined) throw new IntegrityError('manifest is missing', { file });
  if (sha256Hex(data) !== entry.manifestSha256) {
    throw new IntegrityError("manifest's sha256 differs from the registry index: the manifest was modified", { file });
  }
  return parseManifest(data, dir);
}
