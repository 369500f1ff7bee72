/**
 * The memory probe of issue 16: one predict key sending many requests of
 * fresh candles with `all: true` grew the server by about 1.3 KB per candle,
 * never freed (every prediction stayed in the in-memory tracker). Now the
 * tracker is a bounded window: after 40 such requests (160,000 predictions)
 * the heap kept after a full collection must not grow over the second half
 * of the probe, and the resident size stays under a bound. About 6 s: the
 * tracker's per-prediction cost is what the probe drives.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { TrackerWindow } from '../../src/server/index.js';
import {
  api,
  BOT_KEY,
  expectHealthy,
  type ModelFixture,
  makeModelFixture,
  ohlcv,
  registerDir,
  startServer,
} from './helpers.js';

const REQUESTS = 40;
const CANDLES = 4_000;
const WINDOW = 5_000;
const MiB = 2 ** 20;

// A full collection before each reading, so what is measured is what is kept, not garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function memory(): { heap: number; rss: number } {
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed / MiB, rss: m.rss / MiB };
}

let fx: ModelFixture;
beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
});
afterAll(() => fx?.cleanup());

describe('HTTP API: bounded memory', () => {
  it('40 requests of 4,000 fresh candles with all: true leave the heap and the resident size bounded', async () => {
    const s = await startServer(fx, { maxBatch: CANDLES, trackerWindow: WINDOW });
    try {
      expect((await registerDir(s.url, 'alpha', 'tf-a')).status).toBe(201);
      const market = generateSyntheticCandles({ mode: 'planted', count: REQUESTS * CANDLES, seed: 11 });
      let warm = { heap: 0, rss: 0 };
      let recorded = 0;
      for (let r = 0; r < REQUESTS; r++) {
        // Fresh candles each time: every one is later than what the tracker counted, so each is recorded.
        const candles = market.slice(r * CANDLES, (r + 1) * CANDLES).map(ohlcv);
        const res = await api(s.url, 'POST', '/api/ml/predict', {
          key: BOT_KEY,
          body: { model: 'alpha', candles, all: true },
        });
        expect(res.status, res.text.slice(0, 300)).toBe(200);
        expect(res.json.series.length).toBe(res.json.count);
        recorded += res.json.tracked;
        if (r === REQUESTS / 2 - 1) warm = memory(); // past the ramp-up: the window is full
      }
      const end = memory();
      expect(recorded).toBeGreaterThan(REQUESTS * (CANDLES - 100)); // the probe really recorded ~360,000 predictions
      const window = s.server.tracker as TrackerWindow;
      expect(window).toBeInstanceOf(TrackerWindow);
      expect(window.size).toBeLessThanOrEqual(2 * WINDOW + CANDLES); // what is held: two generations at most
      // What is kept after a full collection: the last 20 requests' 80,000 predictions take about 33 MiB
      // when the tracker keeps everything (measured); bounded, the heap does not grow.
      expect(end.heap - warm.heap).toBeLessThan(8);
      // The resident size of this process (server and test client share it) stays far below the probe's 742 MB.
      const health = await api(s.url, 'GET', '/health');
      expect(health.json.memory.rssBytes / MiB).toBeLessThan(600);
      expect(health.json.tracker.predictions).toBe(window.size);
      const stats = await api(s.url, 'GET', '/api/ml/stats', { key: BOT_KEY });
      expect(stats.json.overall.count).toBeGreaterThanOrEqual(WINDOW / 2);
      expect(stats.json.overall.resolved).toBeGreaterThan(0);
      await expectHealthy(s.url);
    } finally {
      await s.close();
    }
  });
});
