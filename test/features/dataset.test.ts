import { describe, expect, it } from 'vitest';
import { ConfigError, DataError } from '../../src/core/errors.js';
import type { Candle } from '../../src/core/types.js';
import { buildDataset, extractFeaturesBatch, FeatureStream } from '../../src/features/index.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';

const candles = randomWalkCandles({ count: 400, seed: 5 });
const WARMUP = 33;

function row(ds: { features: Float32Array; cols: number }, r: number): number[] {
  return Array.from(ds.features.subarray(r * ds.cols, (r + 1) * ds.cols));
}

describe('buildDataset', () => {
  it('has one row per candle with full features and a known future', () => {
    const ds = buildDataset(candles, { horizon: 4, featureSet: 'relative' });
    expect(ds.rows).toBe(candles.length - WARMUP - 4);
    expect(ds.cols).toBe(21);
    expect(ds.featureNames).toEqual(new FeatureStream('relative').featureNames);
    expect(ds.candleIndex[0]).toBe(WARMUP);
    expect(ds.candleIndex[ds.rows - 1]).toBe(candles.length - 1 - 4);
    expect(Array.from(ds.timestamps)).toEqual(Array.from(ds.candleIndex).map((t) => candles[t]!.timestamp));
    expect(ds.features.every(Number.isFinite)).toBe(true);
  });

  it('labels compare the close `horizon` candles ahead with the close at t', () => {
    const ds = buildDataset(candles, { horizon: 3, featureSet: 'seed' });
    for (let r = 0; r < ds.rows; r++) {
      const t = ds.candleIndex[r]!;
      const up = candles[t + 3]!.close > candles[t]!.close;
      expect(ds.labels[r], `row ${r}`).toBe(up ? 1 : 0);
      expect(ds.forwardReturns[r]).toBe(candles[t + 3]!.close / candles[t]!.close - 1);
      // The seed set's first column is the close at t itself.
      expect(ds.features[r * ds.cols]).toBe(Math.fround(candles[t]!.close));
    }
    const ups = ds.labels.reduce((a, b) => a + b, 0);
    expect(ups).toBeGreaterThan(0);
    expect(ups).toBeLessThan(ds.rows);
  });

  it('uses no look-ahead: row t equals features from candles[0..t] alone, whatever comes later', () => {
    const ds = buildDataset(candles, { horizon: 5, featureSet: 'seed' });
    for (const t of [WARMUP, WARMUP + 1, 97, 200, candles.length - 6]) {
      const r = ds.candleIndex.indexOf(t);
      expect(r).toBeGreaterThanOrEqual(0);
      // Independent computation over the prefix only.
      const prefix = extractFeaturesBatch(candles.slice(0, t + 1), 'seed');
      const expected = Array.from(prefix.values.subarray(t * prefix.cols));
      row(ds, r).forEach((v, j) => {
        expect(Math.abs(v - expected[j]!), `t=${t} ${ds.featureNames[j]}`).toBeLessThanOrEqual(
          1e-6 * Math.max(1, Math.abs(expected[j]!)),
        );
      });
      // Rewriting the future changes the label, never the features.
      const future: Candle[] = candles.map((c, i) => (i > t ? { ...c, close: c.close * 3, volume: 1 } : c));
      const altered = buildDataset(future, { horizon: 5, featureSet: 'seed' });
      expect(row(altered, r)).toEqual(row(ds, r));
      expect(altered.labels[r]).toBe(1);
    }
  });

  it('concatenates `lookback` feature rows, oldest first', () => {
    const one = buildDataset(candles, { horizon: 2, featureSet: 'relative' });
    const three = buildDataset(candles, { horizon: 2, lookback: 3, featureSet: 'relative' });
    expect(three.cols).toBe(63);
    expect(three.rows).toBe(one.rows - 2);
    expect(three.candleIndex[0]).toBe(WARMUP + 2);
    expect(three.featureNames.slice(0, 2)).toEqual(['log_return_1@t-2', 'log_return_5@t-2']);
    expect(three.featureNames[42]).toBe('log_return_1@t');
    for (const r of [0, 50, three.rows - 1]) {
      const r1 = r + 2; // same candle in the lookback-1 dataset
      expect(three.candleIndex[r]).toBe(one.candleIndex[r1]);
      expect(row(three, r)).toEqual([...row(one, r1 - 2), ...row(one, r1 - 1), ...row(one, r1)]);
    }
  });

  it('drops samples whose move is within labelThreshold, and exactly flat moves by default', () => {
    const ds = buildDataset(candles, { horizon: 1, labelThreshold: 0.005, featureSet: 'relative' });
    const expected: number[] = [];
    for (let t = WARMUP; t < candles.length - 1; t++) {
      if (Math.abs(candles[t + 1]!.close / candles[t]!.close - 1) > 0.005) expected.push(t);
    }
    expect(Array.from(ds.candleIndex)).toEqual(expected);
    expect(ds.rows).toBeLessThan(candles.length - WARMUP - 1);

    const flat = candles.map((c, i) => (i === 101 ? { ...c, close: candles[100]!.close } : c));
    const noFlat = buildDataset(flat, { horizon: 1, featureSet: 'relative' });
    expect(Array.from(noFlat.candleIndex)).not.toContain(100);
    expect(noFlat.rows).toBe(candles.length - WARMUP - 1 - 1);
  });

  it('refuses bad options and mixed symbols', () => {
    expect(() => buildDataset(candles, { horizon: 0 })).toThrow(ConfigError);
    expect(() => buildDataset(candles, { horizon: 1, lookback: 1.5 })).toThrow(/lookback/);
    expect(() => buildDataset(candles, { horizon: 1, labelThreshold: -0.1 })).toThrow(/labelThreshold/);
    const mixed = [...candles.slice(0, 10), { ...candles[10]!, symbol: 'OTHER' }];
    expect(() => buildDataset(mixed, { horizon: 1 })).toThrow(DataError);
  });

  it('a series shorter than the warm-up gives an empty dataset, not garbage', () => {
    const ds = buildDataset(candles.slice(0, 30), { horizon: 1 });
    expect(ds.rows).toBe(0);
    expect(ds.features).toHaveLength(0);
  });

  it('refuses a series that mixes symbols, in the dataset builder and the batch extractor alike', () => {
    const candles = randomWalkCandles({ count: 60, seed: 3 });
    const mixed = candles.map((c, i) => (i === 42 ? { ...c, symbol: 'OTHER/USDT' } : c));
    for (const build of [() => buildDataset(mixed, { horizon: 1 }), () => extractFeaturesBatch(mixed, 'seed')]) {
      expect(build).toThrow(DataError);
      expect(build).toThrow(
        "symbol OTHER/USDT, index 42, field 'symbol': series mixes symbols TEST/USDT and OTHER/USDT",
      );
    }
  });
});
