import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeLoadReport, loadCandles } from '../../src/data/index.js';
import { hasSharedData, loadSharedCandles, SHARED_DATA_DIR } from '../helpers/shared-data.js';
import { HEADER, HOUR, row, T0, tempDir, writeFixture } from './fixtures.js';

const dir = tempDir('qf-gaps-');
const DAY = 86_400_000;

describe('gap report', () => {
  it('counts gaps and missing bars and lists the largest first', async () => {
    const hours = [0, 1, 2, 5, 6, 7, 17, 18, 20, 21];
    const file = writeFixture(dir, 'gappy_A-B_1h.csv', [HEADER, ...hours.map((h) => row(h))]);
    const { report } = await loadCandles(file, { largestGaps: 2 });
    expect(report.gaps).toEqual({
      timeframeMs: HOUR,
      count: 3,
      missingBars: 2 + 9 + 1,
      largest: [
        { from: T0 + 7 * HOUR, to: T0 + 17 * HOUR, missingBars: 9 },
        { from: T0 + 2 * HOUR, to: T0 + 5 * HOUR, missingBars: 2 },
      ],
    });
    expect(describeLoadReport(report).join('\n')).toContain(
      'gaps: 3 (12 missing bars); largest: 2020-01-01 07:00 -> 2020-01-01 17:00 (9 missing)',
    );
  });

  it('calendar months are one bar apart, whatever their length; a skipped month is a gap', async () => {
    const monthEnds = [Date.UTC(2020, 0, 31), Date.UTC(2020, 1, 29), Date.UTC(2020, 2, 31), Date.UTC(2020, 4, 31)];
    const file = writeFixture(dir, 'monthly.csv', [HEADER, ...monthEnds.map((ts, i) => row(i, ts))]);
    const { report } = await loadCandles(file);
    expect(report.timeframe).toBe('1M');
    expect(report.gaps).toMatchObject({ count: 1, missingBars: 1 });
  });

  it('irregular data stays bounded: many gaps, a handful remembered', async () => {
    let ts = T0;
    const lines = [HEADER];
    for (let i = 0; i < 2000; i++) {
      lines.push(row(0, ts));
      ts += 60_000 * (1 + ((i * 7) % 11));
    }
    const { report } = await loadCandles(writeFixture(dir, 'ticks_A-B_1m.csv', lines));
    expect(report.gaps.count).toBeGreaterThan(1000);
    expect(report.gaps.largest).toHaveLength(5);
    expect(report.gaps.largest[0]?.missingBars).toBe(10);
  });
});

describe.skipIf(!hasSharedData('binance_BTC-USDT_1h.csv'))('gaps in real data: binance BTC/USDT 1h', () => {
  it('finds the known exchange outages (27 gaps, 127 missing bars, largest 2018-02-08 00:00 -> 02-09 10:00)', async () => {
    const { candles, report } = await loadSharedCandles('binance_BTC-USDT_1h.csv');
    expect(candles).toHaveLength(45_024);
    expect(report).toMatchObject({ symbol: 'BTC/USDT', timeframe: '1h', timeframeSource: 'file-name' });
    expect(report.gaps.count).toBe(27);
    expect(report.gaps.missingBars).toBe(127);
    expect(report.gaps.largest.slice(0, 3)).toEqual([
      { from: Date.UTC(2018, 1, 8, 0), to: Date.UTC(2018, 1, 9, 10), missingBars: 33 },
      { from: Date.UTC(2018, 5, 26, 1), to: Date.UTC(2018, 5, 26, 12), missingBars: 10 },
      { from: Date.UTC(2019, 4, 15, 2), to: Date.UTC(2019, 4, 15, 13), missingBars: 10 },
    ]);
  });
});

describe.skipIf(!hasSharedData('yahoo_GOOG_1d.csv'))('gaps in real data: yahoo GOOG daily', () => {
  it('has a gap every weekend', async () => {
    const { candles, report } = await loadSharedCandles('yahoo_GOOG_1d.csv');
    const weekends = candles.filter((c, i) => i > 0 && new Date(c.timestamp).getUTCDay() === 1).length;
    expect(report.timeframe).toBe('1d');
    expect(report.gaps.count).toBeGreaterThanOrEqual(weekends);
    const missingWeekend = candles.some(
      (c, i) => i > 0 && new Date(c.timestamp).getUTCDay() === 1 && c.timestamp - candles[i - 1]!.timestamp === 3 * DAY,
    );
    expect(missingWeekend).toBe(true);
    expect(report.gaps.largest[0]).toEqual({ from: Date.UTC(2006, 11, 29), to: Date.UTC(2007, 0, 3), missingBars: 4 });
  });
});

describe.skipIf(!hasSharedData('index_BTC-USD_1M.csv'))('gaps in real data: monthly index', () => {
  it('month-end bars have no gaps', async () => {
    const { candles, report } = await loadSharedCandles('index_BTC-USD_1M.csv');
    expect(candles).toHaveLength(156);
    expect(report.gaps.count).toBe(0);
  });
});

const sharedCsvs = hasSharedData('README.md')
  ? readdirSync(SHARED_DATA_DIR)
      .filter((f) => f.endsWith('.csv'))
      .sort()
  : [];

describe.skipIf(sharedCsvs.length === 0)('every shared CSV loads without error', () => {
  it.each(sharedCsvs)('%s', async (name) => {
    const { candles, report } = await loadSharedCandles(name);
    expect(candles.length).toBeGreaterThan(100);
    expect(report.rowsRead).toBe(candles.length);
    expect(report.timeframeSource).toBe('file-name');
    expect(report.firstTimestamp).toBe(candles[0]?.timestamp);
  });
});

describe.skipIf(!hasSharedData('binance_SOL-USDT_15m.csv'))('load speed', () => {
  it('loads binance SOL/USDT 15m (75k rows) well under a second', async () => {
    await loadSharedCandles('binance_SOL-USDT_15m.csv');
    const t0 = performance.now();
    const { candles } = await loadSharedCandles('binance_SOL-USDT_15m.csv');
    const ms = performance.now() - t0;
    console.log(`binance_SOL-USDT_15m.csv: ${candles.length} candles in ${ms.toFixed(0)} ms`);
    expect(candles).toHaveLength(75_856);
    // Typically well under 150 ms; the bound is loose for busy machines.
    expect(ms).toBeLessThan(1500);
  });
});
