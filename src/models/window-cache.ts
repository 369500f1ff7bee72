/**
 * A content-addressed cache of walk-forward window models: a window whose
 * training data, settings, model options, seed and code are unchanged gets
 * the model it got before, read from disk instead of trained. The key hashes
 * exactly what a model depends on; the code version is a hash of the sources
 * of the features and models layers (so an edited formula or optimiser never
 * serves a stale model), plus the package version.
 *
 * Entries are ordinary model directories (manifest-verified on read); a
 * damaged entry is reported, removed and retrained, never used.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../core/logger.js';
import type { FeatureSchema } from '../features/feature-schema.js';
import type { ContextSeries } from '../features/streaming-extractor.js';
import { loadModel } from './load-model.js';
import { type ModelFiles, readModelDirectory, writeModelDirectory } from './model-files.js';
import type { ModelPredictor } from './model-predictor.js';

/** Bumped when the key's layout changes. */
const CACHE_FORMAT = 1;

let code: string | undefined;

/** sha256 over the package version and the sources of src/features and src/models (as run: .ts or built .js). */
export function codeVersion(): string {
  if (code !== undefined) return code;
  const models = path.dirname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256');
  try {
    const require = createRequire(import.meta.url);
    hash.update(String((require('quantflow-ml/package.json') as { version?: string }).version));
  } catch {
    hash.update('unknown');
  }
  for (const dir of [models, path.join(models, '..', 'features'), path.join(models, 'python')]) {
    let names: string[];
    try {
      names = readdirSync(dir)
        .filter((f) => /\.(ts|js|mjs|py)$/.test(f) && !f.endsWith('.d.ts'))
        .sort();
    } catch {
      continue;
    }
    for (const f of names) {
      hash.update(f);
      hash.update(readFileSync(path.join(dir, f)));
    }
  }
  code = hash.digest('hex');
  return code;
}

export interface WindowKeyParts {
  readonly dataHash: string;
  readonly context: ContextSeries | undefined;
  /** Open times of the first and last candle learned from (bounds the context candles hashed). */
  readonly from: number;
  readonly to: number;
  readonly schema: FeatureSchema;
  readonly settings: unknown;
  /** Rows of the fitting, early-stopping and calibration slices. */
  readonly slices: readonly number[];
  readonly kind: string;
  readonly kindOptions: unknown;
  readonly seed: number;
  readonly calibration: string;
  readonly extraOptions: unknown;
}

/** The cache key of a window: sha256 of everything its model depends on. */
export function windowCacheKey(parts: WindowKeyParts): string {
  const hash = createHash('sha256');
  const { context, ...rest } = parts;
  hash.update(JSON.stringify({ format: CACHE_FORMAT, code: codeVersion(), ...rest }));
  // Context candles up to the last learned candle shape the features too.
  for (const [symbol, candles] of [...(context ?? new Map()).entries()].sort(([a], [b]) => a.localeCompare(b))) {
    hash.update(symbol);
    for (const c of candles) {
      if (c.timestamp > parts.to) break;
      hash.update(`${c.timestamp},${c.open},${c.high},${c.low},${c.close},${c.volume};`);
    }
  }
  return hash.digest('hex');
}

export class WindowCache {
  hits = 0;
  misses = 0;

  constructor(readonly dir: string) {}

  /** The cached model of `key` as a predictor named `name@...`, or undefined (missing or damaged: then removed). */
  async load(
    key: string,
    name: string,
    logger?: Logger,
  ): Promise<{ predictor: ModelPredictor; files: ModelFiles } | undefined> {
    const entry = path.join(this.dir, key);
    let files: ModelFiles;
    try {
      files = await readModelDirectory(entry);
    } catch (err) {
      if (!/ENOENT/.test((err as Error).message)) {
        logger?.warn('walk-forward cache: a damaged entry is removed and the window retrained', {
          entry,
          error: (err as Error).message,
        });
        await rm(entry, { recursive: true, force: true });
      }
      this.misses++;
      return undefined;
    }
    try {
      const predictor = await loadModel(files, { where: entry, ...(logger !== undefined ? { logger } : {}) });
      if (predictor.meta.name !== name) {
        await predictor.dispose();
        throw new Error(`entry holds model '${predictor.meta.name}', not '${name}'`);
      }
      this.hits++;
      return { predictor, files };
    } catch (err) {
      logger?.warn('walk-forward cache: an unreadable entry is removed and the window retrained', {
        entry,
        error: (err as Error).message,
      });
      await rm(entry, { recursive: true, force: true });
      this.misses++;
      return undefined;
    }
  }

  async store(key: string, files: ModelFiles, logger?: Logger): Promise<void> {
    try {
      await writeModelDirectory(path.join(this.dir, key), files);
    } catch (err) {
      // Another run stored the same window first, or the disk refused: the cache is an optimisation only.
      logger?.debug('walk-forward cache: entry not stored', { key, error: (err as Error).message });
    }
  }
}
