import { RSI } from 'technicalindicators';
import { describe, expect, it } from 'vitest';
import type { Candle } from '../../src/core/types.js';
import type { FeatureSetName } from '../../src/features/feature-schema.js';
import { extractFeaturesBatch, FeatureStream, schemaWarmup } from '../../src/features/index.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';

const BTC_1H = 'binance_BTC-USDT_1h.csv';
const hasBtc = hasSharedData(BTC_1H);
const full = hasBtc ? (await loadSharedCandles(BTC_1H)).candles : [];
const SETS: FeatureSetName[] = ['seed', 'relative'];

/** Largest absolute difference between the two extractors (prices included, so this is strict). */
function compareStreamingToBatch(candles: Candle[], set: FeatureSetName): { maxDiff: number; rowsCompared: number } {
  const batch = extractFeaturesBatch(candles, set);
  const stream = new FeatureStream(set);
  let maxDiff = 0;
  let rowsCompared = 0;
  candles.forEach((c, i) => {
    const row = stream.update(c);
    if (i < batch.firstCompleteRow) {
      expect(row, `row ${i} should be warm-up`).toBeUndefined();
      return;
    }
    expect(row, `row ${i} should be defined`).toBeDefined();
    rowsCompared++;
    for (let j = 0; j < batch.cols; j++) {
      const b = batch.values[i * batch.cols + j]!;
      const s = row![j]!;
      const diff = Math.abs(s - b);
      if (!(diff <= 1e-9)) {
        throw new Error(`row ${i} feature ${batch.featureNames[j]}: streaming ${s} vs batch ${b}`);
      }
      if (diff > maxDiff) maxDiff = diff;
    }
  });
  return { maxDiff, rowsCompared };
}

describe('streaming and batch extraction agree to 1e-9', () => {
  const synthetic = randomWalkCandles({ count: 3000, seed: 7, zeroVolume: [500, 540] });

  for (const set of SETS) {
    it(`synthetic random walk (with a zero-volume stretch), ${set}`, () => {
      const { maxDiff, rowsCompared } = compareStreamingToBatch(synthetic, set);
      expect(rowsCompared).toBe(synthetic.length - schemaWarmup(new FeatureStream(set).schema));
      expect(maxDiff).toBeLessThanOrEqual(1e-9);
    });
  }

  describe.skipIf(!hasBtc)('real BTC/USDT 1h series', () => {
    const candles = full.slice(0, 5000);
    for (const set of SETS) {
      it(`first 5000 rows, ${set}`, () => {
        const { maxDiff, rowsCompared } = compareStreamingToBatch(candles, set);
        expect(rowsCompared).toBeGreaterThan(4900);
        expect(maxDiff).toBeLessThanOrEqual(1e-9);
      });
      // Running sums left uncorrected drift past 1e-9 over this many candles; this catches it.
      it(`whole file (${full.length} rows), ${set}`, () => {
        const { maxDiff } = compareStreamingToBatch(full, set);
        expect(maxDiff).toBeLessThanOrEqual(1e-9);
      });
    }

    it("our unrounded RSI matches technicalindicators' RSI (which rounds to 2 decimals)", () => {
      const batch = extractFeaturesBatch(candles, 'seed');
      const col = batch.featureNames.indexOf('rsi_14');
      const reference = RSI.calculate({ period: 14, values: candles.map((c) => c.close) });
      const offset = candles.length - reference.length;
      expect(offset).toBe(14);
      reference.forEach((r, k) => {
        expect(Math.abs(batch.values[(offset + k) * batch.cols + col]! - r)).toBeLessThanOrEqual(0.005 + 1e-9);
      });
    });
  });
});

describe('warm-ups in the schemas are exact', () => {
  const candles = randomWalkCandles({ count: 200, seed: 3 });
  for (const set of SETS) {
    it(`each ${set} feature is NaN before its warm-up and finite from it on`, () => {
      const batch = extractFeaturesBatch(candles, set);
      expect(batch.firstCompleteRow).toBe(schemaWarmup(batch.schema));
      batch.schema.features.forEach((spec, j) => {
        for (let i = 0; i < batch.rows; i++) {
          const v = batch.values[i * batch.cols + j]!;
          if (i < spec.warmup) expect(v, `${spec.name} row ${i}`).toBeNaN();
          else expect(Number.isFinite(v), `${spec.name} row ${i}`).toBe(true);
        }
      });
    });
  }
});
