/** Shared fixtures of the model tests: small, seeded, fast to train. */
import type { Candle } from '../../src/core/types.js';
import { generateSyntheticCandles, type SyntheticMode } from '../../src/data/index.js';
import type { Dataset } from '../../src/features/dataset.js';

export function syntheticCandles(mode: SyntheticMode, count: number, seed = 11): Candle[] {
  return generateSyntheticCandles({ mode, count, seed });
}

/**
 * A deliberately leaking copy of `ds`: the return of the NEXT candle
 * (close[t+1] / close[t] - 1) appended as a column. Any check that lets this
 * through cannot catch look-ahead.
 */
export function withNextReturnColumn(ds: Dataset, candles: readonly Candle[]): Dataset {
  const cols = ds.cols + 1;
  const features = new Float32Array(ds.rows * cols);
  for (let r = 0; r < ds.rows; r++) {
    features.set(ds.features.subarray(r * ds.cols, (r + 1) * ds.cols), r * cols);
    const t = ds.candleIndex[r]!;
    features[r * cols + ds.cols] = candles[t + 1]!.close / candles[t]!.close - 1;
  }
  return { ...ds, cols, features, featureNames: [...ds.featureNames, 'LEAK_next_return'] };
}

/** Deterministic pseudo-random rows in [-2, 2). */
export function randomRows(n: number, cols: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n * cols);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 4 - 2;
  }
  return out;
}
