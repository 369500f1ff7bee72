import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import type { DriftEvent } from '../../src/tracking/types.js';

/** Feeds hits ('1') and misses ('0'); returns the step numbers (1-based) at which each event fired. */
function feed(t: PredictionTracker, pattern: string, symbol = 'X', modelVersion = 'v', start = 0) {
  const drift: Array<[number, DriftEvent]> = [];
  const recovered: Array<[number, DriftEvent]> = [];
  let step = 0;
  const onDrift = (e: DriftEvent) => drift.push([step, e]);
  const onRecovered = (e: DriftEvent) => recovered.push([step, e]);
  t.on('drift', onDrift);
  t.on('driftRecovered', onRecovered);
  for (const ch of pattern) {
    step++;
    // prediction 0.9 calls up: outcome 1 is a hit, 0 a miss
    t.recordOutcome({ symbol, modelVersion, timestamp: start + step, prediction: 0.9 }, ch === '1' ? 1 : 0);
  }
  t.off('drift', onDrift);
  t.off('driftRecovered', onRecovered);
  return { drift, recovered };
}

describe('PredictionTracker drift', () => {
  it('fires once on crossing below, again only after recovering', () => {
    const t = new PredictionTracker({ drift: { window: 4, minAccuracy: 0.5 } });
    const { drift, recovered } = feed(t, '1111' + '00000' + '111' + '0000');
    // steps 5-7 slide the window 1,1,1,0 / 1,1,0,0 (0.5, not below) / 1,0,0,0 = 0.25: drift at 7;
    // 8, 9 stay below: nothing; 11: 0,0,1,1 = 0.5 recovered; 14: 1,1,0,0 = 0.5; 15: 0.25 drift again
    expect(drift.map(([s]) => s)).toEqual([7, 15]);
    expect(recovered.map(([s]) => s)).toEqual([11]);
    expect(drift[0]![1]).toEqual({ modelVersion: 'v', accuracy: 0.25, window: 4 });
    expect(t.driftStatus()).toEqual([{ modelVersion: 'v', accuracy: 0, window: 4 }]);
  });

  it('does not fire before the window is full', () => {
    const t = new PredictionTracker({ drift: { window: 5, minAccuracy: 0.9 } });
    expect(feed(t, '0000').drift).toEqual([]);
    expect(feed(t, '0', 'X', 'v', 100).drift.map(([s]) => s)).toEqual([1]);
  });

  it('uses a higher recovery level when given (hysteresis band)', () => {
    const t = new PredictionTracker({ drift: { window: 4, minAccuracy: 0.5, recoverAccuracy: 0.75 } });
    const { drift, recovered } = feed(t, '0000' + '11' + '0' + '111' + '000');
    // 4: 0/4 drift; 6: 0,0,1,1 = 0.5 not yet recovered; 7: 0,1,1,0 = 0.5; 8: 1,1,0,1 = 0.75 recovered;
    // 12: 1,1,0,0 = 0.5 not below; 13: 1,0,0,0 = 0.25 drift again
    expect(drift.map(([s]) => s)).toEqual([4, 13]);
    expect(recovered.map(([s]) => s)).toEqual([8]);
  });

  it('tracks model versions apart, and symbols apart when configured', () => {
    const t = new PredictionTracker({ drift: { window: 2, minAccuracy: 0.5 } });
    feed(t, '11', 'A', 'good');
    expect(feed(t, '00', 'B', 'bad').drift.map(([, e]) => e)).toEqual([
      { modelVersion: 'bad', accuracy: 0, window: 2 },
    ]);
    // per model version, the symbols share one window: A's hits then B's misses
    const shared = new PredictionTracker({ drift: { window: 2, minAccuracy: 0.5 } });
    feed(shared, '11', 'A');
    expect(feed(shared, '0', 'B').drift).toEqual([]); // 1,0 = 0.5
    const perSymbol = new PredictionTracker({ drift: { window: 2, minAccuracy: 0.5, perSymbol: true } });
    feed(perSymbol, '11', 'A');
    const events = feed(perSymbol, '00', 'B').drift.map(([, e]) => e);
    expect(events).toEqual([{ symbol: 'B', modelVersion: 'v', accuracy: 0, window: 2 }]);
  });

  it('ignores flat outcomes', () => {
    const t = new PredictionTracker({ drift: { window: 1, minAccuracy: 1 } });
    const fired: DriftEvent[] = [];
    t.on('drift', (e) => fired.push(e));
    t.record({ symbol: 'X', modelVersion: 'v', timestamp: 0, prediction: 0.9, horizon: 1, price: 10 });
    t.onCandle({ symbol: 'X', timeframe: '1h', timestamp: 1, open: 10, high: 10, low: 10, close: 10, volume: 0 });
    expect(fired).toEqual([]);
  });

  it('rejects bad drift options', () => {
    expect(() => new PredictionTracker({ drift: { window: 0, minAccuracy: 0.5 } })).toThrow(ConfigError);
    expect(() => new PredictionTracker({ drift: { window: 3, minAccuracy: 1.5 } })).toThrow(/drift.minAccuracy/);
    expect(() => new PredictionTracker({ drift: { window: 3, minAccuracy: 0.5, recoverAccuracy: 0.4 } })).toThrow(
      /drift.recoverAccuracy/,
    );
  });
});
