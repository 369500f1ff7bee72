import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import { at, candle } from './helpers.js';

describe('PredictionTracker resolution from candles', () => {
  it('resolves exactly `horizon` candles later, never from the same or an earlier candle', () => {
    const t = new PredictionTracker();
    t.onCandle(candle('X', 0, 100));
    t.onCandle(candle('X', 1, 100));
    const p = t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(2), prediction: 0.8, horizon: 3, price: 100 });

    expect(t.onCandle(candle('X', 2, 200))).toEqual([]); // its own candle: not later
    expect(t.onCandle(candle('X', 1, 200))).toEqual([]); // earlier: ignored
    expect(t.ignoredCandles).toBe(1);
    expect(t.onCandle(candle('X', 3, 90))).toEqual([]); // step 1
    expect(t.onCandle(candle('X', 4, 90))).toEqual([]); // step 2
    expect(t.onCandle(candle('X', 4, 500))).toEqual([]); // duplicate of step 2: not counted
    expect(t.get(p.id)?.outcome).toBeNull();
    const resolved = t.onCandle(candle('X', 5, 101)); // step 3
    expect(resolved.map((r) => r.id)).toEqual([p.id]);
    expect(t.get(p.id)).toMatchObject({ outcome: 1, source: 'candle', resolvedAt: at(5), closePrice: 101 });
    expect(t.onCandle(candle('X', 6, 1))).toEqual([]); // resolved once only
  });

  it('resolves down when the later close is lower', () => {
    const t = new PredictionTracker();
    t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.8, horizon: 1, price: 100 });
    expect(t.onCandle(candle('X', 1, 99.99))[0]?.outcome).toBe(0);
    expect(t.stats().accuracy).toBe(0);
  });

  it('counts candles received, not wall time: a gap still counts as one step', () => {
    const t = new PredictionTracker();
    t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.2, horizon: 2, price: 50 });
    expect(t.onCandle(candle('X', 10, 60))).toEqual([]);
    const [r] = t.onCandle(candle('X', 500, 40));
    expect(r).toMatchObject({ outcome: 0, resolvedAt: at(500) });
  });

  it('prediction recorded before its own candle arrives is not resolved by that candle', () => {
    const t = new PredictionTracker();
    t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(5), prediction: 0.9, horizon: 1, price: 100 });
    expect(t.onCandle(candle('X', 4, 1000))).toEqual([]);
    expect(t.onCandle(candle('X', 5, 1000))).toEqual([]);
    expect(t.onCandle(candle('X', 6, 101))[0]).toMatchObject({ outcome: 1, resolvedAt: at(6) });
  });

  it('keeps symbols apart', () => {
    const t = new PredictionTracker();
    t.record({ symbol: 'A', modelVersion: 'v', timestamp: at(0), prediction: 0.9, horizon: 1, price: 10 });
    expect(t.onCandle(candle('B', 1, 11))).toEqual([]);
    expect(t.onCandle(candle('A', 1, 11))).toHaveLength(1);
  });

  it('resolves many predictions of different horizons in one pass', () => {
    const t = new PredictionTracker();
    const closes = [100, 101, 99, 102, 98, 103, 97, 104];
    const horizons = [1, 2, 3];
    for (let i = 0; i < closes.length; i++) {
      t.onCandle(candle('X', i, closes[i]!));
      for (const h of horizons) {
        t.record({
          symbol: 'X',
          modelVersion: `h${h}`,
          timestamp: at(i),
          prediction: 0.6,
          horizon: h,
          price: closes[i]!,
        });
      }
    }
    for (const h of horizons) {
      for (let i = 0; i < closes.length; i++) {
        const p = t.get({ symbol: 'X', modelVersion: `h${h}`, timestamp: at(i) })!;
        const later = closes[i + h];
        if (later === undefined) expect(p.outcome).toBeNull();
        else {
          expect(p.resolvedAt).toBe(at(i + h));
          expect(p.outcome).toBe(later > closes[i]! ? 1 : 0);
        }
      }
    }
    expect(t.stats()).toMatchObject({ count: 24, pending: 6, resolved: 18 });
  });

  it('refuses a prediction older than a candle already counted for its symbol', () => {
    const t = new PredictionTracker();
    t.onCandle(candle('X', 3, 10));
    expect(() =>
      t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(2), prediction: 0.5, horizon: 1, price: 10 }),
    ).toThrow(DataError);
    // the same timestamp as the last candle is the normal case
    expect(() =>
      t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(3), prediction: 0.5, horizon: 1, price: 10 }),
    ).not.toThrow();
  });

  it('treats a repeated identical record as the same prediction, a different one as an error', () => {
    const t = new PredictionTracker();
    const input = { symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.5, horizon: 1, price: 10 };
    const a = t.record(input);
    expect(t.record(input)).toBe(a);
    expect(() => t.record({ ...input, prediction: 0.6 })).toThrow(/other values/);
    expect(t.size).toBe(1);
  });

  it('emits resolved for each outcome', () => {
    const t = new PredictionTracker();
    const seen: number[] = [];
    t.on('resolved', (p) => seen.push(p.id));
    const a = t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.5, horizon: 1, price: 10 });
    const b = t.record({ symbol: 'X', modelVersion: 'w', timestamp: at(0), prediction: 0.5, horizon: 1, price: 10 });
    t.onCandle(candle('X', 1, 10)); // flat outcomes are reported too
    expect(seen).toEqual([a.id, b.id]);
  });
});
