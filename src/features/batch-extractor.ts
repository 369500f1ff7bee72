/**
 * Batch feature extraction: the features of a whole candle series at once.
 *
 * Deliberately a different computation from the streaming extractor, so the
 * parity test between them catches bugs in either: the fixed sets in
 * fixed-batch.ts, the configured ones in config-batch.ts. This file checks
 * the candles and says which rows the streaming extractor returns. Cost is
 * O(n * window), fine for training, not for live use.
 */
import type { Candle } from '../core/types.js';
import { assertSingleSymbol, checkCandle } from './candle-checks.js';
import { configFeaturesBatch } from './config-batch.js';
import { type FeatureSchema, featureNames, schemaWarmup } from './feature-schema.js';
import { type FeatureSetSpec, isFixedFeatureSet, resolveFeatureSchema } from './feature-sets.js';
import { fixedFeatureValues } from './fixed-batch.js';

export interface FeatureMatrix {
  readonly schema: FeatureSchema;
  readonly featureNames: readonly string[];
  /** Row-major, one row per candle; rows before `firstCompleteRow` hold NaN. */
  readonly values: Float64Array;
  readonly rows: number;
  readonly cols: number;
  /** Index of the first row the streaming extractor returns: the set's warm-up (= rows if the series is too short). */
  readonly firstCompleteRow: number;
  /** 1 where the streaming extractor returns the row: after the warm-up and every value defined. */
  readonly valid: Uint8Array;
  readonly timestamps: Float64Array;
}

export interface BatchOptions {
  /** Candles of each context symbol of a configured set, in time order. */
  readonly context?: ReadonlyMap<string, readonly Candle[]>;
}

/**
 * Features of every candle of one symbol's series (ascending timestamps).
 * Throws DataError for an invalid candle, a series mixing symbols, or a
 * feature still undefined after its warm-up.
 */
export function extractFeaturesBatch(
  candles: readonly Candle[],
  featureSet?: FeatureSetSpec,
  options: BatchOptions = {},
): FeatureMatrix {
  const schema = resolveFeatureSchema(featureSet);
  const n = candles.length;
  const cols = schema.features.length;
  const timestamps = new Float64Array(n);
  let prev = Number.NEGATIVE_INFINITY;
  assertSingleSymbol(candles);
  candles.forEach((c, i) => {
    checkCandle(c, prev, i);
    prev = c.timestamp;
    timestamps[i] = c.timestamp;
  });

  const firstCompleteRow = Math.min(n, schemaWarmup(schema));
  if (!isFixedFeatureSet(schema.name)) {
    const values = configFeaturesBatch(candles, schema.config!, cols, options.context);
    const valid = new Uint8Array(n);
    for (let i = firstCompleteRow; i < n; i++) {
      let ok = 1;
      for (let j = 0; j < cols; j++) if (!Number.isFinite(values[i * cols + j]!)) ok = 0;
      valid[i] = ok;
    }
    return { schema, featureNames: featureNames(schema), values, rows: n, cols, firstCompleteRow, valid, timestamps };
  }

  const values = fixedFeatureValues(candles, schema);

  const valid = new Uint8Array(n);
  valid.fill(1, firstCompleteRow);
  return { schema, featureNames: featureNames(schema), values, rows: n, cols, firstCompleteRow, valid, timestamps };
}
