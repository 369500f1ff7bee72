/**
 * The one Predictor implementation: any backend (ScaledModel) plus the scaler,
 * calibration and metadata saved with it. Input checks, scaling, calibration,
 * the conversion of regression outputs from model space, and the optional
 * cache of repeated inputs live here once, whatever runs the model, so every
 * path (batch, streaming, API, embedded) answers the same.
 */
import { LRUCache } from 'lru-cache';
import { DataError, ModelError } from '../core/errors.js';
import type { FeatureScaler } from '../features/scaler.js';
import { fromModelSpace, type TargetKind } from '../features/targets.js';
import { type Calibration, calibrate, calibrateRegression } from './calibration.js';
import type { ModelMeta } from './model-meta.js';
import type { PredictionCacheStats, Predictor } from './predictor.js';
import type { ScaledModel } from './scaled-model.js';

export interface ModelPredictorOptions {
  /** Defaults to the model's name. */
  modelVersion?: string;
  /** Entries of the LRU cache of single-row predictions; 0 or absent = no cache. */
  cache?: number;
  /** Column names for error messages (default: the scaler's feature names). */
  featureNames?: readonly string[];
  /** Applied to every direction probability (calibration.json); absent = raw probabilities. */
  calibration?: Calibration;
}

export class ModelPredictor implements Predictor {
  readonly modelVersion: string;
  readonly inputWidth: number;
  readonly featureNames: readonly string[];
  readonly target: TargetKind;
  readonly calibration: Calibration | undefined;
  private readonly cache: LRUCache<string, number> | undefined;
  private hits = 0;
  private misses = 0;
  private disposed = false;

  constructor(
    readonly model: ScaledModel,
    readonly scaler: FeatureScaler,
    readonly meta: ModelMeta,
    options: ModelPredictorOptions = {},
  ) {
    this.modelVersion = options.modelVersion ?? meta.name;
    this.inputWidth = model.inputWidth;
    if (meta.inputWidth !== model.inputWidth) {
      throw new ModelError(`meta.json says ${meta.inputWidth} inputs but the model takes ${model.inputWidth}`, {
        field: 'inputWidth',
      });
    }
    if (scaler.nFeatures !== model.inputWidth) {
      throw new ModelError(`the scaler has ${scaler.nFeatures} features but the model takes ${model.inputWidth}`, {
        field: 'scaler',
      });
    }
    this.featureNames = options.featureNames ?? scaler.featureNames;
    this.target = meta.label.kind;
    this.calibration = options.calibration;
    if (this.calibration !== undefined && (this.calibration.method === 'residual') === (this.target === 'direction')) {
      throw new ModelError(`a ${this.calibration.method} calibration does not fit a ${this.target} model`, {
        field: 'calibration',
      });
    }
    const size = options.cache ?? 0;
    if (!Number.isInteger(size) || size < 0) {
      throw new ModelError(`cache size must be an integer >= 0, got ${size}`, { field: 'cache' });
    }
    this.cache = size > 0 ? new LRUCache<string, number>({ max: size }) : undefined;
  }

  async predict(row: ArrayLike<number>): Promise<number> {
    this.assertOpen();
    const width = this.inputWidth;
    if (row.length !== width) throw new DataError(`expected ${width} values, got ${row.length}`, { field: 'row' });
    for (let i = 0; i < width; i++) {
      const v = row[i]!;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new DataError(`feature '${this.featureNames[i] ?? `feature ${i}`}' is ${String(v)}`, {
          field: 'row',
          index: i,
        });
      }
    }
    let key: string | undefined;
    if (this.cache !== undefined) {
      key = this.cacheKey(row);
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        this.hits++;
        return hit;
      }
      this.misses++;
    }
    // The scaler takes arrays; a plain ArrayLike (e.g. a Buffer view) is copied once.
    const input = ArrayBuffer.isView(row) || Array.isArray(row) ? (row as Float64Array) : Float64Array.from(row);
    const scaled = this.scaler.transform(input, new Float32Array(width));
    const raw = (await this.model.predictScaled(scaled))[0];
    const p = this.finish(raw, 0);
    if (key !== undefined) this.cache!.set(key, p);
    return p;
  }

  async predictBatch(rows: Float32Array): Promise<Float32Array> {
    const out = await this.predictBatchRaw(rows);
    for (let i = 0; i < out.length; i++) out[i] = this.finish(out[i], i);
    return out;
  }

  /**
   * The model's own answers before calibration (direction: raw probabilities)
   * or conversion from model space (regression), checked to be probabilities
   * (direction) or finite. For reliability diagrams and calibration fitting.
   */
  async predictBatchRaw(rows: Float32Array): Promise<Float32Array> {
    this.assertOpen();
    const width = this.inputWidth;
    if (rows.length % width !== 0) {
      throw new DataError(`expected a multiple of ${width} values (rows of ${width}), got ${rows.length}`, {
        field: 'rows',
      });
    }
    if (rows.length === 0) return new Float32Array(0);
    // The scaler names the feature and row of a non-finite value.
    const scaled = this.scaler.transform(rows, new Float32Array(rows.length));
    const out = await this.model.predictScaled(scaled);
    if (out.length !== rows.length / width) {
      throw new ModelError(`the model answered ${out.length} probabilities for ${rows.length / width} rows`);
    }
    for (let i = 0; i < out.length; i++) this.check(out[i], i);
    return out;
  }

  /** A raw direction probability through this model's calibration (itself when uncalibrated). */
  calibrate(p: number): number {
    return this.calibration === undefined || this.calibration.method === 'residual'
      ? p
      : calibrate(this.calibration, p);
  }

  /** A raw answer checked, then calibrated or taken out of model space. */
  private finish(raw: number | undefined, row: number): number {
    const v = this.check(raw, row);
    return this.target === 'direction'
      ? this.calibrate(v)
      : fromModelSpace(this.target, calibrateRegression(this.calibration, v));
  }

  private check(raw: number | undefined, row: number): number {
    const ok = raw !== undefined && (this.target === 'direction' ? raw >= 0 && raw <= 1 : Number.isFinite(raw));
    if (!ok) {
      const what = this.target === 'direction' ? 'a probability in [0, 1]' : 'a finite number';
      throw new ModelError(`the model answered ${raw} for row ${row}, not ${what}`, {
        field: 'prediction',
        index: row,
      });
    }
    return raw;
  }

  cacheStats(): PredictionCacheStats {
    return {
      enabled: this.cache !== undefined,
      hits: this.hits,
      misses: this.misses,
      size: this.cache?.size ?? 0,
      capacity: this.cache?.max ?? 0,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.cache?.clear();
    await this.model.dispose();
  }

  private cacheKey(row: ArrayLike<number>): string {
    // The exact float64 bytes of the row: equal keys mean bit-identical inputs.
    const bytes = Buffer.from(Float64Array.from(row as ArrayLike<number>).buffer);
    return `${this.modelVersion}\u0000${bytes.toString('base64')}`;
  }

  private assertOpen(): void {
    if (this.disposed) throw new ModelError(`predictor ${this.modelVersion} was disposed`);
  }
}
