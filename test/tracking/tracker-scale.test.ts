import { describe, expect, it } from 'vitest';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import { seededRandom } from '../helpers/random-walk-candles.js';
import { at, candle, tempFile } from './helpers.js';

const N = 100_000;
/** Generous: the measured figures (printed) are far below it on an ordinary machine. */
const BOUND_MS = 5_000;

/** One candle then one prediction per step, horizon 5, as a live strategy would; returns elapsed ms. */
function run(t: PredictionTracker): number {
  const rnd = seededRandom(7);
  let price = 100;
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    price *= 1 + (rnd() - 0.5) * 0.01;
    t.onCandle(candle('BTC/USDT', i, price));
    t.record({ symbol: 'BTC/USDT', modelVersion: 'v1', timestamp: at(i), prediction: rnd(), horizon: 5, price });
  }
  for (let i = N; i < N + 5; i++) t.onCandle(candle('BTC/USDT', i, price));
  return performance.now() - start;
}

describe('PredictionTracker at 100k predictions', () => {
  it('records and resolves fast in memory and on file, and stats stay cheap', () => {
    const memory = new PredictionTracker({ drift: { window: 500, minAccuracy: 0.4 } });
    const memoryMs = run(memory);
    expect(memory.stats()).toMatchObject({ count: N, pending: 0 });
    expect(memory.stats().resolved + memory.stats().flat).toBe(N);

    const file = tempFile();
    const onFile = PredictionTracker.open(file, { drift: { window: 500, minAccuracy: 0.4 } });
    const fileMs = run(onFile);
    onFile.close();

    const reopenStart = performance.now();
    const reopened = PredictionTracker.open(file);
    const reopenMs = performance.now() - reopenStart;
    reopened.close();

    let t0 = performance.now();
    const all = memory.stats();
    const statsMs = performance.now() - t0;
    t0 = performance.now();
    memory.stats({ window: 1000 });
    const windowMs = performance.now() - t0;
    expect(reopened.stats()).toEqual(all);

    console.log(
      `tracker ${N} predictions: in memory ${memoryMs.toFixed(0)} ms (${((memoryMs * 1000) / N).toFixed(2)} µs each), ` +
        `on file ${fileMs.toFixed(0)} ms (${(fileMs / memoryMs).toFixed(1)}x), reopen ${reopenMs.toFixed(0)} ms, ` +
        `stats ${statsMs.toFixed(3)} ms, stats window 1000 ${windowMs.toFixed(3)} ms`,
    );
    expect(memoryMs).toBeLessThan(BOUND_MS);
    expect(fileMs).toBeLessThan(BOUND_MS);
    expect(reopenMs).toBeLessThan(BOUND_MS);
    expect(statsMs).toBeLessThan(50);
  });
});
