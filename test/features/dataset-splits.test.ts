import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { buildDataset, splitChronological, walkForwardSplits } from '../../src/features/index.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';

const candles = randomWalkCandles({ count: 600, seed: 21 });

describe('splitChronological', () => {
  it('keeps `horizon` rows between train and validation so no training label reaches the validation period', () => {
    for (const labelThreshold of [0, 0.004]) {
      const ds = buildDataset(candles, { horizon: 6, labelThreshold });
      const { train, validation, trainEnd, validationStart } = splitChronological(ds, 0.25);
      expect(validationStart - trainEnd).toBe(6);
      expect(train.rows + 6 + validation.rows).toBe(ds.rows);
      expect(validation.rows).toBe(Math.floor(ds.rows * 0.25));
      // In candles: the last training label ends before the first validation candle.
      const lastTrainCandle = train.candleIndex[train.rows - 1]!;
      expect(lastTrainCandle + ds.horizon).toBeLessThan(validation.candleIndex[0]!);
      expect(train.timestamps[train.rows - 1]!).toBeLessThan(validation.timestamps[0]!);
      // Views on the dataset, aligned.
      expect(validation.labels[0]).toBe(ds.labels[validationStart]);
      expect(Array.from(validation.features.subarray(0, ds.cols))).toEqual(
        Array.from(ds.features.subarray(validationStart * ds.cols, (validationStart + 1) * ds.cols)),
      );
    }
  });

  it('accepts an explicit embargo and refuses impossible splits', () => {
    const ds = buildDataset(candles, { horizon: 2 });
    expect(splitChronological(ds, 0.2, 10).validationStart - splitChronological(ds, 0.2, 10).trainEnd).toBe(10);
    expect(() => splitChronological(ds, 0)).toThrow(ConfigError);
    expect(() => splitChronological(ds, 1)).toThrow(ConfigError);
    expect(() => splitChronological(ds, 0.5, ds.rows)).toThrow(/too few/);
  });
});

describe('walkForwardSplits', () => {
  it('slides train and test windows with an embargo between them', () => {
    // The last 15 rows form a shorter, last test window: every row after the first training window is tested.
    expect(walkForwardSplits({ rows: 100, trainWindow: 40, testWindow: 20, embargo: 5 })).toEqual([
      { trainStart: 0, trainEnd: 40, testStart: 45, testEnd: 65 },
      { trainStart: 20, trainEnd: 60, testStart: 65, testEnd: 85 },
      { trainStart: 40, trainEnd: 80, testStart: 85, testEnd: 100 },
    ]);
    expect(walkForwardSplits({ rows: 100, trainWindow: 40, testWindow: 20, embargo: 5, expanding: true })).toEqual([
      { trainStart: 0, trainEnd: 40, testStart: 45, testEnd: 65 },
      { trainStart: 0, trainEnd: 60, testStart: 65, testEnd: 85 },
      { trainStart: 0, trainEnd: 80, testStart: 85, testEnd: 100 },
    ]);
    expect(walkForwardSplits({ rows: 100, trainWindow: 40, testWindow: 20, embargo: 5, partial: false })).toHaveLength(
      2,
    );
  });

  it('never overlaps test windows, never trains within `embargo` rows of its test, stays in range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 200 }),
        fc.boolean(),
        (rows, trainWindow, testWindow, embargo, extraStep, expanding) => {
          const step = testWindow + extraStep;
          const ws = walkForwardSplits({ rows, trainWindow, testWindow, embargo, step, expanding });
          ws.forEach((w, k) => {
            const last = k === ws.length - 1;
            expect(w.trainStart).toBeGreaterThanOrEqual(0);
            expect(w.trainEnd - w.trainStart).toBeGreaterThanOrEqual(trainWindow);
            expect(w.testStart - w.trainEnd).toBe(embargo);
            if (!last) expect(w.testEnd - w.testStart).toBe(testWindow);
            expect(w.testEnd - w.testStart).toBeGreaterThan(0);
            expect(w.testEnd).toBeLessThanOrEqual(rows);
            if (k > 0) expect(w.testStart).toBeGreaterThanOrEqual(ws[k - 1]!.testEnd);
          });
          // As many folds as start before the end; with steps equal to the test window, every row after the first is tested.
          const next = trainWindow + ws.length * step + embargo;
          expect(next).toBeGreaterThanOrEqual(rows);
          if (extraStep === 0 && ws.length > 0) expect(ws.at(-1)!.testEnd).toBe(rows);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses overlapping steps and bad sizes', () => {
    expect(() => walkForwardSplits({ rows: 100, trainWindow: 10, testWindow: 10, embargo: 1, step: 5 })).toThrow(
      /step \(5\) must be >= testWindow/,
    );
    expect(() => walkForwardSplits({ rows: 100, trainWindow: 0, testWindow: 10, embargo: 1 })).toThrow(ConfigError);
    expect(() => walkForwardSplits({ rows: 100, trainWindow: 10, testWindow: 10, embargo: -1 })).toThrow(ConfigError);
  });
});
