/**
 * What every model looks like to the rest of the system (strategy, backtest,
 * API, tracker): raw, unscaled feature rows in, probability of "up" out. A
 * TensorFlow.js model and a Python model are interchangeable behind it.
 */
import type { Calibration } from './calibration.js';
import type { ModelMeta } from './model-meta.js';

export interface Predictor {
  /** Identifies the exact weights answering, e.g. 'btc-1h@v3'; keys caches and tracker statistics. */
  readonly modelVersion: string;
  /** Values per input row: feature count times lookback. */
  readonly inputWidth: number;
  readonly meta: ModelMeta;
  /** What calibration.json holds (absent: uncalibrated); a return model's residual spread gives its P(up). */
  readonly calibration?: Calibration;
  /**
   * Probability in [0, 1] that the close `horizon` candles ahead is higher.
   * `row` holds raw feature values (the scaler saved with the model is applied
   * inside). Throws DataError naming the index of a non-finite value or the
   * wrong length.
   */
  predict(row: ArrayLike<number>): Promise<number>;
  /** `rows` is row-major, `n * inputWidth` values; returns n probabilities. */
  predictBatch(rows: Float32Array): Promise<Float32Array>;
  /** The same before calibration (direction) or in model space (regression), when the implementation can say. */
  predictBatchRaw?(rows: Float32Array): Promise<Float32Array>;
  /** Frees tensors or stops the worker process. Idempotent. */
  dispose(): Promise<void>;
  /** Counters of the cache of repeated single-row inputs, when the implementation has one. */
  cacheStats?(): PredictionCacheStats;
}

/** Cache of `predict(row)` answers keyed by modelVersion and the row's exact bytes. */
export interface PredictionCacheStats {
  readonly enabled: boolean;
  readonly hits: number;
  readonly misses: number;
  /** Entries held now. */
  readonly size: number;
  /** Most entries held (0 when disabled). */
  readonly capacity: number;
}
