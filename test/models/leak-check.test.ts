/**
 * The look-ahead leak check, end to end with real TensorFlow.js training:
 * - pure random walk: out-of-sample accuracy within 50% +/- 3 points (no leak);
 * - planted signal (strength 0.25, best possible 59.87%): clearly above chance;
 * - a fixture that appends the NEXT candle's return as a feature: caught.
 */
import { describe, expect, it } from 'vitest';
import { plantedBestAccuracy } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { splitChronological } from '../../src/features/dataset-splits.js';
import { assessLeak } from '../../src/models/leak-check.js';
import { fitOnDataset, trainModel } from '../../src/models/train.js';
import { syntheticCandles, withNextReturnColumn } from './helpers.js';

const COUNT = 25_000; // 20% validation -> ~5,000 rows: a coin's standard error is ~0.7 points
const NETWORK = { epochs: 12, earlyStopping: { patience: 3 } } as const;

describe('leak check', () => {
  it('finds no signal on a pure random walk (accuracy within 50% +/- 3 points)', async () => {
    const candles = syntheticCandles('random-walk', COUNT);
    const result = await trainModel({ candles, kind: 'tfjs', network: NETWORK, seed: 1 });
    await result.predictor.dispose();
    const v = result.validation!;
    expect(v.rows).toBeGreaterThanOrEqual(4000);
    const check = assessLeak(v);
    console.log(`random walk: ${check.message}`);
    expect(check.verdict).toBe('no-leak');
    expect(Math.abs(v.accuracy - 0.5)).toBeLessThan(0.03);
    expect(v.rocAuc).not.toBeNull();
    expect(Math.abs(v.rocAuc! - 0.5)).toBeLessThan(0.04);
  });

  it('finds the planted signal (clearly above chance and the baselines)', async () => {
    const candles = syntheticCandles('planted', COUNT);
    const result = await trainModel({ candles, kind: 'tfjs', network: NETWORK, seed: 1 });
    await result.predictor.dispose();
    const v = result.validation!;
    const best = plantedBestAccuracy(0.25);
    console.log(`planted (best possible ${(best * 100).toFixed(2)}%): accuracy ${(v.accuracy * 100).toFixed(2)}%`);
    expect(v.accuracy).toBeGreaterThan(0.55);
    expect(v.accuracy).toBeLessThan(best + 0.02);
    expect(v.accuracy).toBeGreaterThan(Math.max(v.majorityBaseline, v.alwaysUpBaseline) + 0.03);
    expect(v.rocAuc!).toBeGreaterThan(0.57);
    expect(assessLeak(v).verdict).toBe('leak-suspected');
  });

  it('catches a feature that looks one candle ahead', async () => {
    const candles = syntheticCandles('random-walk', COUNT);
    const leaky = withNextReturnColumn(buildDataset(candles, { horizon: 1 }), candles);
    const split = splitChronological(leaky, 0.2, 1);
    const result = await fitOnDataset(
      { fit: split.train, test: split.validation },
      { kind: 'tfjs', network: NETWORK, seed: 1 },
    );
    await result.predictor.dispose();
    const v = result.validation!;
    const check = assessLeak(v);
    console.log(`leak fixture: ${check.message}`);
    expect(v.accuracy).toBeGreaterThan(0.9);
    expect(check.verdict).toBe('leak-suspected');
    expect(check.passed).toBe(false);
  });

  it('judges the band and small samples', () => {
    expect(assessLeak({ accuracy: 0.52, rows: 5000 }).verdict).toBe('no-leak');
    expect(assessLeak({ accuracy: 0.535, rows: 5000 }).verdict).toBe('leak-suspected');
    expect(assessLeak({ accuracy: 0.46, rows: 5000 }).verdict).toBe('leak-suspected');
    expect(assessLeak({ accuracy: 0.6, rows: 500 }).verdict).toBe('inconclusive');
    expect(assessLeak({ accuracy: 0.5, rows: 10_000 }).standardError).toBeCloseTo(0.005, 6);
  });
});
