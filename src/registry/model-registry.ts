/**
 * Versioned on-disk model registry: `register` stores a model directory as the
 * next version (v1, v2, ...) of a name, `promote`/`rollback` choose the version
 * served by default, `loadFiles` hands back verified (and decrypted) files.
 * The registry does not care what kind of model it stores (TensorFlow.js,
 * Python): it keeps files plus their meta.json. Layout in registry-layout.ts.
 *
 * Guarantees:
 * - Every load checks the manifest against the sha256 recorded in the index,
 *   every file against the manifest and, when encrypted, each file's GCM tag;
 *   in a signed registry the index entry's Ed25519 signature first, so a
 *   forger who fixes every checksum still fails. An encrypted registry
 *   refuses plaintext versions. Nothing is read through a symbolic link that
 *   leads out of the registry.
 * - A version is written to a temporary directory and renamed into place, then
 *   the index is replaced atomically; only versions in the index exist, so a
 *   crash never leaves a half version that is listed or loaded.
 * - All writers of one model name hold its lock file, so concurrent registers
 *   (from any number of processes) get distinct version numbers; readers need
 *   no lock since the index is only ever replaced whole.
 */
import { mkdir, readdir, readFile, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, describeError, ModelError } from '../core/errors.js';
import type { ModelFiles } from '../models/model-files.js';
import { META_FILE, type ModelMeta, parseModelMeta } from '../models/model-meta.js';
import { fsyncDirectory, replaceFileAtomically, temporaryName } from './atomic-fs.js';
import { realPathInside } from './contained-path.js';
import { findLeftovers, highestVersionOnDisk, removeLeftovers, removeTrash } from './leftovers.js';
import { withLock } from './lock-file.js';
import {
  decodeIndex,
  emptyIndex,
  encodeIndex,
  latestVersion,
  type ModelIndex,
  promoted,
  resolveVersion,
  rolledBack,
  type VersionEntry,
  versionInfos,
  versionsOf,
  withoutVersion,
  withVersion,
} from './model-index.js';
import { type MetaSummary, summarizeMeta } from './model-metadata.js';
import { DEFAULT_KEY_ENV, keyId } from './registry-crypto.js';
import { givenKeys, RegistryKeys } from './registry-keys.js';
import {
  assertModelName,
  isModelName,
  parseModelRef,
  parseVersion,
  RegistryLayout,
  TEMP_PREFIX,
  TRASH_PREFIX,
  versionLabel,
} from './registry-layout.js';
import { createSettings, type RegistrySettings, readSettings } from './registry-settings.js';
import { SIGNATURE_ALGORITHM, SIGNING_KEY_ENV, verifyKeyId } from './registry-signing.js';
import type {
  ActiveChange,
  LoadedModelFiles,
  ModelCheck,
  ModelDetails,
  ModelListing,
  RegisteredVersion,
  RegisterOptions,
  RegistryOptions,
  SaveStage,
  VerifyReport,
  VersionCheck,
  VersionDetails,
} from './registry-types.js';
import { prepareVersion, readSourceDirectory, readVersion, readVersionMeta, writeVersion } from './version-store.js';

export type * from './registry-types.js';

export class ModelRegistry {
  readonly layout: RegistryLayout;
  readonly settings: RegistrySettings;
  private readonly options: RegistryOptions;
  private readonly keys: RegistryKeys;

  private constructor(
    layout: RegistryLayout,
    settings: RegistrySettings,
    options: RegistryOptions,
    keys: RegistryKeys,
  ) {
    this.layout = layout;
    this.settings = settings;
    this.options = options;
    this.keys = keys;
  }

  /**
   * Opens the registry at `root`, creating it unless `create: false`. Refuses
   * (ConfigError) an encrypted or signed registry without its key, and a key
   * the registry does not use (see registry-keys.ts).
   */
  static async open(root: string, options: RegistryOptions = {}): Promise<ModelRegistry> {
    const paths = new RegistryLayout(root);
    const keyEnv = options.keyEnv ?? DEFAULT_KEY_ENV;
    const given = givenKeys(options, keyEnv);
    let settings = await readSettings(paths.settingsFile);
    if (settings === null) {
      if (options.create === false) {
        throw new ConfigError('no model registry here (register a model to create one)', { file: paths.root });
      }
      let encryption: RegistrySettings['encryption'] = null;
      if (options.encrypt === true) {
        if (given.encryption === undefined) {
          throw new ConfigError(`encryption requested but no key given: set ${keyEnv} (32 bytes as 64 hex or base64)`, {
            field: keyEnv,
          });
        }
        encryption = { algorithm: 'aes-256-gcm', keyId: keyId(given.encryption) };
      }
      let signing: RegistrySettings['signing'] = null;
      if (options.sign === true) {
        if (given.signing === undefined || given.verify === undefined) {
          throw new ConfigError(
            `signing requested but no signing key given: set ${SIGNING_KEY_ENV} (create one with: quantflow models keygen)`,
            { field: SIGNING_KEY_ENV },
          );
        }
        signing = { algorithm: SIGNATURE_ALGORITHM, keyId: verifyKeyId(given.verify) };
      }
      const wanted: RegistrySettings = { formatVersion: 1, createdAt: new Date().toISOString(), encryption, signing };
      RegistryKeys.check(wanted, given, keyEnv, paths.settingsFile); // refused before anything is written
      settings = await createSettings(paths.settingsFile, wanted);
    }
    if (options.encrypt !== undefined && options.encrypt !== (settings.encryption !== null)) {
      throw new ConfigError(
        `registry was created ${settings.encryption === null ? 'without' : 'with'} encryption; that is fixed at creation`,
        { file: paths.settingsFile, field: 'encryption' },
      );
    }
    if (options.sign !== undefined && options.sign !== (settings.signing !== null)) {
      throw new ConfigError(
        `registry was created ${settings.signing === null ? 'without' : 'with'} signing; that is fixed at creation`,
        { file: paths.settingsFile, field: 'signing' },
      );
    }
    const keys = RegistryKeys.check(settings, given, keyEnv, paths.settingsFile);
    const layout = new RegistryLayout(paths.root, await realpath(paths.root));
    return new ModelRegistry(layout, settings, options, keys);
  }

  get root(): string {
    return this.layout.root;
  }

  get encrypted(): boolean {
    return this.settings.encryption !== null;
  }

  /** Versions carry Ed25519 signatures, checked at every load. */
  get signed(): boolean {
    return this.settings.signing !== null;
  }

  /** Stores `source` (files in memory, or a flat model directory) as the next version of `name`. */
  async register(name: string, source: ModelFiles | string, options: RegisterOptions = {}): Promise<RegisteredVersion> {
    assertModelName(name);
    const files = typeof source === 'string' ? await readSourceDirectory(source) : source;
    const prepared = prepareVersion(files, typeof source === 'string' ? path.resolve(source) : `(files for ${name})`);
    const key = this.keys.encryptionKey;
    return this.locked(name, async () => {
      const existing = await this.readIndex(name);
      const index = existing ?? emptyIndex(name);
      const dir = this.layout.modelDir(name);
      await mkdir(dir, { recursive: true });
      await removeLeftovers(dir, existing, { unindexed: false });
      // skip numbers of unindexed directories too: a number never names two different models
      const n = Math.max(index.nextVersion, (await highestVersionOnDisk(dir)) + 1);
      const version = versionLabel(n);
      const ref = `${name}@${version}`;
      await writeVersion(this.layout, name, version, path.join(dir, temporaryName(TEMP_PREFIX)), prepared, key, () =>
        this.stage('files-written', ref),
      );
      await this.stage('version-renamed', ref);
      const encrypted = key !== null;
      const signature = this.keys.sign(name, version, { manifestSha256: prepared.manifestSha256, encrypted });
      const entry: VersionEntry = {
        createdAt: new Date().toISOString(),
        encrypted,
        manifestSha256: prepared.manifestSha256,
        files: prepared.fileCount,
        bytes: prepared.bytes,
        ...(signature !== undefined ? { signature } : {}),
      };
      const next = withVersion(index, version, entry, options.activate === true);
      await this.writeIndex(next);
      await this.stage('index-written', ref);
      const { signature: _signature, ...shown } = entry;
      return { name, ref, version, ...shown, active: next.active === version, manifestSha256: prepared.manifestSha256 };
    });
  }

  /** Every model with its versions and the active version's metadata summary. */
  async list(): Promise<ModelListing[]> {
    const out: ModelListing[] = [];
    for (const name of await this.modelNames()) {
      const index = await this.readIndex(name);
      if (index === null) continue; // a first save that never completed
      let metadata: MetaSummary | null = null;
      const activeEntry = index.active === null ? undefined : index.versions[index.active];
      if (index.active !== null && activeEntry !== undefined) {
        metadata = summarizeMeta(await this.readMeta(name, index.active, activeEntry));
      }
      out.push({
        name,
        active: index.active,
        latest: latestVersion(index),
        versions: versionInfos(index),
        history: index.history,
        metadata,
      });
    }
    return out;
  }

  /** One model: every version with its full meta.json (validation metrics included). */
  async get(name: string): Promise<ModelDetails> {
    const index = await this.requireIndex(name);
    const versions: VersionDetails[] = [];
    for (const info of versionInfos(index)) {
      const entry = index.versions[info.version] as VersionEntry;
      versions.push({ ...info, meta: await this.readMeta(name, info.version, entry) });
    }
    return { name, active: index.active, latest: latestVersion(index), history: index.history, versions };
  }

  /** Names of registered models, sorted. */
  async names(): Promise<string[]> {
    const out: string[] = [];
    for (const name of await this.modelNames()) if ((await this.readIndex(name)) !== null) out.push(name);
    return out;
  }

  /**
   * Verified files of 'name' (the active version), 'name@active', 'name@latest'
   * or 'name@vN'. Throws IntegrityError naming the file on any mismatch.
   */
  async loadFiles(ref: string): Promise<LoadedModelFiles> {
    const { name, selector } = parseModelRef(ref);
    let index = await this.requireIndex(name);
    const version = resolveVersion(index, selector, ref);
    const entry = index.versions[version] as VersionEntry;
    let files: ModelFiles;
    try {
      files = await readVersion(this.layout, name, version, entry, this.access(name, version, entry));
    } catch (err) {
      // A concurrent delete may have removed the version between reading the index and the files.
      index = await this.requireIndex(name);
      if (index.versions[version] === undefined) {
        throw new ModelError(`${name}@${version} was deleted while loading`, { field: 'version' }, { cause: err });
      }
      throw err;
    }
    const meta = parseModelMeta(files.get(META_FILE), this.layout.versionDir(name, version));
    return { name, version, ref: `${name}@${version}`, files, meta };
  }

  /** Makes `version` ('v3' or '3') the active version; the previous one goes onto the rollback history. */
  async promote(name: string, version: string): Promise<ActiveChange> {
    const label = parseVersion(version);
    return this.updateIndex(name, (index) => promoted(index, label));
  }

  /** Back to the previously active version. */
  async rollback(name: string): Promise<ActiveChange> {
    return this.updateIndex(name, rolledBack);
  }

  /**
   * `delete(name, version)` removes one version; refused for the active version
   * unless `force`, in which case the active version falls back as by rollback
   * (or to none). `delete(name)` removes the model and all its versions and
   * always needs `force` while it has an active version. Version numbers of a
   * model are never reused while the model exists.
   */
  async delete(name: string, version?: string, options: { force?: boolean } = {}): Promise<void> {
    assertModelName(name);
    const force = options.force === true;
    if (version !== undefined) {
      const label = parseVersion(version);
      await this.locked(name, async () => {
        const index = await this.requireIndex(name);
        await this.writeIndex(withoutVersion(index, label, force));
        await rm(this.layout.versionDir(name, label), { recursive: true, force: true });
      });
      return;
    }
    await this.locked(name, async () => {
      const index = await this.requireIndex(name);
      if (index.active !== null && !force) {
        throw new ModelError(
          `model '${name}' has an active version (${index.active}); deleting the whole model needs force`,
          { field: 'name' },
        );
      }
      const trash = path.join(this.layout.modelsDir, temporaryName(`${TRASH_PREFIX}${name}-`));
      await rename(this.layout.modelDir(name), trash);
      await fsyncDirectory(this.layout.modelsDir);
      await rm(trash, { recursive: true, force: true });
    });
  }

  /**
   * Checks every version (of `name`, or of all models): index, manifest, each
   * file's sha256 and GCM tag. Never throws for a damaged model; reports it.
   * With `fix`, removes leftovers of interrupted saves and deletes.
   */
  async verify(name?: string, options: { fix?: boolean } = {}): Promise<VerifyReport> {
    const names = await this.modelNames();
    if (name !== undefined) {
      assertModelName(name);
      if (!names.includes(name)) await this.requireIndex(name); // throws: no such model
    }
    const selected = name === undefined ? names : [name];
    const models: ModelCheck[] = [];
    const removed: string[] = [];
    for (const n of selected) models.push(await this.verifyModel(n));
    if (options.fix === true) {
      for (const n of selected) {
        await this.locked(n, async () => {
          const index = await this.readIndex(n).catch(() => undefined);
          if (index === undefined) return; // never delete anything next to an index we cannot read
          removed.push(...(await removeLeftovers(this.layout.modelDir(n), index, { unindexed: true })));
        });
      }
      if (name === undefined) removed.push(...(await removeTrash(this.layout.modelsDir)));
    }
    return {
      root: this.root,
      ok: models.every((m) => m.ok),
      encrypted: this.encrypted,
      signed: this.signed,
      models,
      removed: options.fix === true ? removed : [],
    };
  }

  // --- internals -------------------------------------------------------------

  private async verifyModel(name: string): Promise<ModelCheck> {
    let index: ModelIndex | null;
    try {
      index = await this.readIndex(name);
    } catch (err) {
      return { name, ok: false, active: null, problems: [describeError(err)], versions: [], leftovers: [] };
    }
    const found = await findLeftovers(this.layout.modelDir(name), index);
    const leftovers = [...found.temporary, ...found.unindexed];
    const problems: string[] = [];
    if (index === null && found.unindexed.length > 0) {
      problems.push(
        `${this.layout.indexFile(name)}: index is missing; ${found.unindexed.length} version director${found.unindexed.length === 1 ? 'y is' : 'ies are'} on disk but listed nowhere, so none can be loaded`,
      );
    } else if (found.unindexed.length > 0) {
      problems.push(
        `${found.unindexed.map((d) => path.basename(d)).join(', ')} on disk not listed in ${this.layout.indexFile(name)} (never loaded; verify --fix removes them)`,
      );
    }
    const versions: VersionCheck[] = [];
    for (const version of index === null ? [] : versionsOf(index)) {
      const entry = (index as ModelIndex).versions[version] as VersionEntry;
      try {
        const files = await readVersion(this.layout, name, version, entry, this.access(name, version, entry));
        parseModelMeta(files.get(META_FILE), this.layout.versionDir(name, version));
        versions.push({ version, ok: true });
      } catch (err) {
        versions.push({ version, ok: false, error: describeError(err) });
      }
    }
    return {
      name,
      ok: problems.length === 0 && versions.every((v) => v.ok),
      active: index?.active ?? null,
      problems,
      versions,
      leftovers,
    };
  }

  /** The checks of an index entry (encryption policy, signature) and the key to read its version with. */
  private access(name: string, version: string, entry: VersionEntry): Buffer | null {
    return this.keys.forRead(name, version, entry, this.layout.indexFile(name));
  }

  private stage(stage: SaveStage, ref: string): Promise<void> | void {
    return this.options.onSaveStage?.(stage, ref);
  }

  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.layout.lockFile(name), fn, {
      what: `model '${name}'`,
      ...(this.options.lockTimeoutMs !== undefined ? { timeoutMs: this.options.lockTimeoutMs } : {}),
      ...(this.options.staleLockMs !== undefined ? { staleMs: this.options.staleLockMs } : {}),
    });
  }

  private async updateIndex(name: string, change: (index: ModelIndex) => ModelIndex): Promise<ActiveChange> {
    assertModelName(name);
    return this.locked(name, async () => {
      const before = await this.requireIndex(name);
      const after = change(before);
      if (after !== before) await this.writeIndex(after);
      return { name, previous: before.active, active: after.active, history: after.history };
    });
  }

  /** A model's index (versions, active version, history), checksum-verified; null when there is no such model. */
  async readIndex(name: string): Promise<ModelIndex | null> {
    const file = this.layout.indexFile(name);
    let data: Uint8Array;
    try {
      await realPathInside(this.layout.realRoot, this.layout.modelDir(name));
      data = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return decodeIndex(data, file, name);
  }

  private async requireIndex(name: string): Promise<ModelIndex> {
    assertModelName(name);
    const index = await this.readIndex(name);
    if (index === null) {
      const known = await this.names();
      throw new ModelError(
        `no model '${name}' in the registry (models: ${known.length === 0 ? 'none' : known.join(', ')})`,
        { file: this.root, field: 'name' },
      );
    }
    return index;
  }

  private async writeIndex(index: ModelIndex): Promise<void> {
    await replaceFileAtomically(this.layout.indexFile(index.name), encodeIndex(index));
  }

  private async readMeta(name: string, version: string, entry: VersionEntry): Promise<ModelMeta> {
    return readVersionMeta(this.layout, name, version, entry, this.access(name, version, entry));
  }

  private async modelNames(): Promise<string[]> {
    try {
      const entries = await readdir(this.layout.modelsDir, { withFileTypes: true });
      // Links are listed too, so that one leading out of the registry is reported (readIndex refuses it), not missed.
      return entries
        .filter((d) => (d.isDirectory() || d.isSymbolicLink()) && isModelName(d.name))
        .map((d) => d.name)
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}
