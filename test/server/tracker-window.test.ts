import { describe, expect, it } from 'vitest';
import type { Candle } from '../../src/core/types.js';
import { TrackerWindow } from '../../src/server/index.js';

const candle = (t: number, close: number, symbol = 'BTC/USDT'): Candle => ({
  timestamp: t,
  open: close,
  high: close,
  low: close,
  close,
  volume: 1,
  symbol,
  timeframe: '1h',
});

/** Records a prediction at candle t (up, p = 0.7) and feeds the candle, as the predict route does. */
function predictAt(w: TrackerWindow, t: number, close: number, horizon = 1): void {
  w.onCandle(candle(t, close));
  w.record({ symbol: 'BTC/USDT', modelVersion: 'm@v1', timestamp: t, prediction: 0.7, horizon, price: close });
}

describe('TrackerWindow (the server tracker in memory)', () => {
  it('holds at most two generations and carries the recent resolved half into the new one', () => {
    const w = new TrackerWindow(10);
    for (let t = 1; t <= 100; t++) predictAt(w, t, 100 + t); // rising: every resolved call is right
    expect(w.size).toBeLessThanOrEqual(2 * 10 + 1);
    const stats = w.stats();
    expect(stats.count).toBeGreaterThanOrEqual(5);
    expect(stats.count).toBeLessThanOrEqual(11);
    expect(stats.accuracy).toBe(1);
    // the last prediction is found, an old one is gone
    expect(w.get({ symbol: 'BTC/USDT', modelVersion: 'm@v1', timestamp: 100 })).toBeDefined();
    expect(w.get({ symbol: 'BTC/USDT', modelVersion: 'm@v1', timestamp: 3 })).toBeUndefined();
  });

  it('resolves predictions left pending in the previous generation and adds them to the statistics', () => {
    const w = new TrackerWindow(4);
    for (let t = 1; t <= 4; t++) predictAt(w, t, 100 + t, 3); // horizon 3: the last ones are pending at rotation
    predictAt(w, 5, 105, 3); // rotates: the new generation records t = 5
    const before = w.stats();
    for (let t = 6; t <= 9; t++) w.onCandle(candle(t, 200));
    const after = w.stats();
    expect(after.resolved).toBeGreaterThan(before.resolved);
    expect(after.accuracy).toBe(1);
    // a candle the previous generation already counted past is ignored, not counted again
    const ignored = w.ignoredCandles;
    w.onCandle(candle(2, 50));
    expect(w.ignoredCandles).toBe(ignored + 1);
  });

  it('forwards drift events of the generation in use', () => {
    const w = new TrackerWindow(1000, { drift: { window: 5, minAccuracy: 0.6 } });
    const events: string[] = [];
    w.on('drift', (e) => events.push(e.modelVersion));
    for (let t = 1; t <= 12; t++) predictAt(w, t, 1000 - t); // falling: every "up" call is wrong
    expect(events).toEqual(['m@v1']);
    expect(w.driftStatus()).toHaveLength(1);
  });
});
