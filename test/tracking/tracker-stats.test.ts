import { describe, expect, it } from 'vitest';
import { ConfigError, DataError } from '../../src/core/errors.js';
import type { Prediction } from '../../src/core/types.js';
import { calibrationBin } from '../../src/models/outcome-stats.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import { at, candle } from './helpers.js';

/** prob of up, actual outcome; threshold 0.5 (0.5 itself calls "down"). */
const FIXTURE: ReadonlyArray<readonly [number, 0 | 1]> = [
  [0.9, 1], // TP
  [0.8, 0], // FP
  [0.3, 0], // TN
  [0.6, 1], // TP
  [0.2, 1], // FN
  [0.5, 0], // TN (0.5 is not > 0.5)
  [1.0, 1], // TP, log loss clipped
  [0.05, 0], // TN
  [0.7, 0], // FP
];

function fixtureTracker(): PredictionTracker {
  const t = new PredictionTracker();
  FIXTURE.forEach(([p, y], i) => {
    t.recordOutcome({ symbol: 'BTC/USDT', modelVersion: 'v1', timestamp: at(i), prediction: p }, y);
  });
  return t;
}

describe('PredictionTracker statistics', () => {
  it('match a hand computation on a small fixture', () => {
    const s = fixtureTracker().stats();
    // TP = 3, FP = 2, FN = 1, TN = 3, n = 9
    expect(s.count).toBe(9);
    expect(s.resolved).toBe(9);
    expect(s.pending).toBe(0);
    expect(s.flat).toBe(0);
    expect(s.window).toBeNull();
    expect(s.accuracy).toBeCloseTo(6 / 9, 12);
    expect(s.precision).toBeCloseTo(3 / 5, 12);
    expect(s.recall).toBeCloseTo(3 / 4, 12);
    expect(s.f1).toBeCloseTo((2 * 0.6 * 0.75) / (0.6 + 0.75), 12);
    const brier = (0.01 + 0.64 + 0.09 + 0.16 + 0.64 + 0.25 + 0 + 0.0025 + 0.49) / 9;
    expect(s.brierScore).toBeCloseTo(brier, 12);
    const logLoss =
      -(
        Math.log(0.9) +
        Math.log(0.2) +
        Math.log(0.7) +
        Math.log(0.6) +
        Math.log(0.2) +
        Math.log(0.5) +
        Math.log(1 - 1e-15) +
        Math.log(0.95) +
        Math.log(0.3)
      ) / 9;
    expect(s.logLoss).toBeCloseTo(logLoss, 12);
    expect(s.baseRate).toBeCloseTo(4 / 9, 12);
    expect(s.noSkillAccuracy).toBeCloseTo(5 / 9, 12);

    expect(s.calibration).toHaveLength(10);
    const expected: Record<number, [number, number, number]> = {
      0: [1, 0.05, 0],
      2: [1, 0.2, 1],
      3: [1, 0.3, 0],
      5: [1, 0.5, 0],
      6: [1, 0.6, 1],
      7: [1, 0.7, 0],
      8: [1, 0.8, 0],
      9: [2, 0.95, 1],
    };
    s.calibration.forEach((bin, k) => {
      expect(bin.binLow).toBe(k / 10);
      expect(bin.binHigh).toBe((k + 1) / 10);
      const e = expected[k];
      if (e === undefined) {
        expect(bin).toMatchObject({ count: 0, meanPredicted: null, observedRate: null });
      } else {
        expect(bin.count).toBe(e[0]);
        expect(bin.meanPredicted).toBeCloseTo(e[1], 12);
        expect(bin.observedRate).toBeCloseTo(e[2], 12);
      }
    });
  });

  it('log loss of a confidently wrong prediction is finite (clipped at 1e-15)', () => {
    const t = new PredictionTracker();
    t.recordOutcome({ symbol: 'X', modelVersion: 'v', timestamp: 0, prediction: 1 }, 0);
    // p = 1 is clipped to 1 - 1e-15, and ln(1 - p) is taken of that double
    expect(t.stats().logLoss).toBeCloseTo(-Math.log(1 - (1 - 1e-15)), 12);
    expect(t.stats().brierScore).toBe(1);
  });

  it('reports nulls, not NaN, when nothing is resolved', () => {
    const t = new PredictionTracker();
    t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.7, horizon: 2, price: 100 });
    const s = t.stats();
    expect(s).toMatchObject({ count: 1, resolved: 0, pending: 1, flat: 0 });
    for (const field of [
      'accuracy',
      'precision',
      'recall',
      'f1',
      'brierScore',
      'logLoss',
      'baseRate',
      'noSkillAccuracy',
    ] as const) {
      expect(s[field], field).toBeNull();
    }
    expect(s.calibration.every((b) => b.count === 0 && b.meanPredicted === null && b.observedRate === null)).toBe(true);
    expect(new PredictionTracker().stats({ symbol: 'nothing' })).toMatchObject({ count: 0, accuracy: null });
  });

  it('precision is null with no up call, recall null with no up outcome', () => {
    const t = new PredictionTracker();
    t.recordOutcome({ symbol: 'X', modelVersion: 'v', timestamp: 0, prediction: 0.2 }, 0);
    const s = t.stats();
    expect(s.precision).toBeNull();
    expect(s.recall).toBeNull();
    expect(s.f1).toBeNull();
    expect(s.accuracy).toBe(1);
  });

  it('scores only the last N resolved with a window', () => {
    const t = fixtureTracker();
    const s = t.stats({ window: 3 });
    // last three: (1.0, 1) TP, (0.05, 0) TN, (0.7, 0) FP
    expect(s).toMatchObject({ count: 9, resolved: 3, window: 3 });
    expect(s.accuracy).toBeCloseTo(2 / 3, 12);
    expect(s.precision).toBeCloseTo(1 / 2, 12);
    expect(s.recall).toBe(1);
    expect(s.brierScore).toBeCloseTo((0 + 0.0025 + 0.49) / 3, 12);
    expect(t.stats({ window: 100 })).toEqual({ ...t.stats(), window: 100 });
    expect(() => t.stats({ window: 0 })).toThrow(ConfigError);
  });

  it('splits by symbol and model version', () => {
    const t = new PredictionTracker();
    t.recordOutcome({ symbol: 'A', modelVersion: 'v1', timestamp: 0, prediction: 0.9 }, 1);
    t.recordOutcome({ symbol: 'A', modelVersion: 'v2', timestamp: 0, prediction: 0.9 }, 0);
    t.recordOutcome({ symbol: 'B', modelVersion: 'v1', timestamp: 0, prediction: 0.1 }, 0);
    t.record({ symbol: 'B', modelVersion: 'v2', timestamp: 0, prediction: 0.4, horizon: 1, price: 5 });
    const bySymbol = t.statsBy('symbol');
    expect([...bySymbol.keys()].sort()).toEqual(['A', 'B']);
    expect(bySymbol.get('A')).toMatchObject({ count: 2, resolved: 2, accuracy: 0.5 });
    expect(bySymbol.get('B')).toMatchObject({ count: 2, resolved: 1, pending: 1, accuracy: 1 });
    const byModel = t.statsBy('modelVersion');
    expect(byModel.get('v1')).toMatchObject({ count: 2, accuracy: 1 });
    expect(byModel.get('v2')).toMatchObject({ count: 2, resolved: 1, accuracy: 0 });
    expect(t.stats({ symbol: 'A', modelVersion: 'v2' })).toMatchObject({ count: 1, accuracy: 0 });
    expect(t.stats()).toMatchObject({ count: 4, resolved: 3, pending: 1 });
  });

  it('uses a per-prediction threshold for the up/down call', () => {
    const t = new PredictionTracker();
    t.recordOutcome({ symbol: 'X', modelVersion: 'v', timestamp: 0, prediction: 0.6, threshold: 0.65 }, 0);
    expect(t.stats().accuracy).toBe(1); // 0.6 <= 0.65 calls down
  });

  it('excludes flat outcomes from the scores but counts them', () => {
    const t = new PredictionTracker();
    t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.9, horizon: 1, price: 100 });
    t.record({ symbol: 'X', modelVersion: 'w', timestamp: at(0), prediction: 0.9, horizon: 2, price: 100 });
    t.onCandle(candle('X', 0, 100));
    const [flat] = t.onCandle(candle('X', 1, 100));
    expect(flat).toMatchObject({ modelVersion: 'v', outcome: 'flat', closePrice: 100 });
    t.onCandle(candle('X', 2, 101));
    expect(t.stats()).toMatchObject({ count: 2, resolved: 1, flat: 1, pending: 0, accuracy: 1 });
  });

  it('accepts a core Prediction in recordOutcome (the older recordPrediction(prediction, actual))', () => {
    const t = new PredictionTracker();
    const p: Prediction = { symbol: 'X', prediction: 0.8, confidence: 0.6, modelVersion: 'v', timestamp: at(3) };
    const tracked = t.recordOutcome(p, 1);
    expect(tracked).toMatchObject({ outcome: 1, source: 'explicit', horizon: 1, price: null });
    // the same again is idempotent, another outcome is refused
    expect(t.recordOutcome(p, 1)).toBe(tracked);
    expect(() => t.recordOutcome(p, 0)).toThrow(DataError);
    expect(t.stats().count).toBe(1);
  });

  it('resolves explicitly by id or by key', () => {
    const t = new PredictionTracker();
    const a = t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.7, horizon: 3, price: 10 });
    const b = t.record({ symbol: 'X', modelVersion: 'w', timestamp: at(0), prediction: 0.7, horizon: 3, price: 10 });
    expect(t.resolve(a.id, 1)).toMatchObject({ outcome: 1, source: 'explicit' });
    expect(t.resolve({ symbol: 'X', modelVersion: 'w', timestamp: at(0) }, 0).id).toBe(b.id);
    expect(() => t.resolve(a.id, 0)).toThrow(/already resolved/);
    expect(() => t.resolve(999, 1)).toThrow(DataError);
    // explicitly resolved predictions are not resolved again by candles
    for (let i = 1; i <= 4; i++) expect(t.onCandle(candle('X', i, 5))).toEqual([]);
    expect(t.get(a.id)?.outcome).toBe(1);
  });

  it('rejects bad input with a DataError naming the field', () => {
    const t = new PredictionTracker();
    const ok = { symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.5, horizon: 1, price: 10 };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ prediction: Number.NaN }, 'prediction'],
      [{ prediction: 1.01 }, 'prediction'],
      [{ prediction: -0.1 }, 'prediction'],
      [{ horizon: 0 }, 'horizon'],
      [{ horizon: 1.5 }, 'horizon'],
      [{ price: undefined }, 'price'],
      [{ price: -1 }, 'price'],
      [{ symbol: '' }, 'symbol'],
      [{ modelVersion: 3 }, 'modelVersion'],
      [{ timestamp: Number.POSITIVE_INFINITY }, 'timestamp'],
      [{ threshold: 2 }, 'threshold'],
    ];
    for (const [patch, field] of cases) {
      const err = captureError(() => t.record({ ...ok, ...patch } as never));
      expect(err, field).toBeInstanceOf(DataError);
      expect((err as DataError).where.field, JSON.stringify(patch)).toBe(field);
    }
    expect(() => t.recordOutcome({ ...ok }, 2 as never)).toThrow(/actual/);
    expect(() => t.onCandle({ ...candle('X', 1, 10), close: Number.NaN })).toThrow(/close/);
    expect(t.size).toBe(0);
  });

  it('puts probabilities on bin boundaries into the upper bin', () => {
    expect([0, 0.1, 0.3, 0.7, 0.9, 0.99, 1].map(calibrationBin)).toEqual([0, 1, 3, 7, 9, 9, 9]);
    expect(calibrationBin(0.3 - Number.EPSILON)).toBe(2);
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
