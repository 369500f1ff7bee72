/** The public shapes of the model registry's API (options, listings, reports). */
import type { ModelFiles } from '../models/model-files.js';
import type { ModelMeta } from '../models/model-meta.js';
import type { MetaSummary } from './model-metadata.js';

/** Points of a save, reported to `onSaveStage` (progress, and crash tests). */
export type SaveStage = 'files-written' | 'version-renamed' | 'index-written';

export interface RegistryOptions {
  /** Create the registry when `root` holds none (default true). */
  readonly create?: boolean;
  /**
   * Encrypt versions at rest. Chosen when the registry is created; given for
   * an existing registry it must match how that registry was created.
   */
  readonly encrypt?: boolean;
  /** The key itself (64 hex characters, base64, or 32 bytes); otherwise read from `keyEnv`. */
  readonly key?: string | Uint8Array;
  /** Environment variable holding the key (default QUANTFLOW_REGISTRY_KEY). */
  readonly keyEnv?: string;
  /** Environment to read `keyEnv` and the signing keys from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Sign every version (Ed25519). Chosen when the registry is created, like
   * `encrypt`; registering then needs the signing key, reading the public key.
   */
  readonly sign?: boolean;
  /** The Ed25519 private seed (64 hex or base64); otherwise read from QUANTFLOW_REGISTRY_SIGNING_KEY. */
  readonly signingKey?: string;
  /** The Ed25519 public key (64 hex or base64); otherwise read from QUANTFLOW_REGISTRY_VERIFY_KEY. */
  readonly verifyKey?: string;
  /** How long a writer waits for another writer of the same model (default 30 s). */
  readonly lockTimeoutMs?: number;
  /** A lock older than this is considered abandoned (default 10 min). */
  readonly staleLockMs?: number;
  readonly onSaveStage?: (stage: SaveStage, ref: string) => void | Promise<void>;
}

export interface RegisterOptions {
  /**
   * Make the new version active. The first version of a name is always made
   * active; later ones only when asked (default false), so registering never
   * silently changes what a running deployment loads.
   */
  readonly activate?: boolean;
}

export interface VersionInfo {
  readonly version: string;
  readonly createdAt: string;
  readonly encrypted: boolean;
  readonly files: number;
  readonly bytes: number;
  readonly active: boolean;
}

export interface RegisteredVersion extends VersionInfo {
  readonly name: string;
  /** 'name@vN' */
  readonly ref: string;
  readonly manifestSha256: string;
}

export interface ModelListing {
  readonly name: string;
  readonly active: string | null;
  readonly latest: string | null;
  readonly versions: readonly VersionInfo[];
  /** Previously active versions, most recent last (what rollback returns to). */
  readonly history: readonly string[];
  /** Summary of the active version's meta.json; null without an active version, or when encrypted and no key was given. */
  readonly metadata: MetaSummary | null;
}

/** Result of promote and rollback. */
export interface ActiveChange {
  readonly name: string;
  /** Active version before the change. */
  readonly previous: string | null;
  readonly active: string | null;
  /** Rollback stack after the change, most recent last. */
  readonly history: readonly string[];
}

export interface VersionDetails extends VersionInfo {
  readonly meta: ModelMeta;
}

export interface ModelDetails {
  readonly name: string;
  readonly active: string | null;
  readonly latest: string | null;
  readonly history: readonly string[];
  readonly versions: readonly VersionDetails[];
}

export interface LoadedModelFiles {
  readonly name: string;
  readonly version: string;
  /** 'name@vN': use it as the predictor's modelVersion. */
  readonly ref: string;
  /** Every file of the version, verified and decrypted, manifest.json included. */
  readonly files: ModelFiles;
  readonly meta: ModelMeta;
}

export interface VersionCheck {
  readonly version: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface ModelCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly active: string | null;
  /**
   * Problems with the model as a whole: an index that is missing, unreadable
   * or damaged, a link out of the registry, version directories the index
   * does not list (`verify --fix` removes those next to a readable index).
   */
  readonly problems: readonly string[];
  readonly versions: readonly VersionCheck[];
  /** Paths of interrupted saves and unindexed version directories (never listed or loaded). */
  readonly leftovers: readonly string[];
}

export interface VerifyReport {
  readonly root: string;
  readonly ok: boolean;
  readonly encrypted: boolean;
  readonly signed: boolean;
  readonly models: readonly ModelCheck[];
  /** Leftovers removed (with `fix`). */
  readonly removed: readonly string[];
}
