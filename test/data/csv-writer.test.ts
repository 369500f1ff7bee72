import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import type { Candle } from '../../src/core/types.js';
import {
  appendCandlesCsv,
  CANDLE_CSV_HEADER,
  formatCsvNumber,
  generateSyntheticCandles,
  loadCandles,
  writeCandlesCsv,
} from '../../src/data/index.js';
import { tempDir } from './fixtures.js';

const dir = tempDir('qf-writer-');

describe('formatCsvNumber', () => {
  it('writes the shortest round-trip decimal, never in exponent notation', () => {
    const cases: [number, string][] = [
      [0.1, '0.1'],
      [0.04088000000000001, '0.04088000000000001'],
      [1e-8, '0.00000001'],
      [5.3e-7, '0.00000053'],
      [-1.25e-9, '-0.00000000125'],
      [1.5e21, '1500000000000000000000'],
      [1577836800000, '1577836800000'],
      [0, '0'],
    ];
    for (const [x, text] of cases) {
      expect(formatCsvNumber(x)).toBe(text);
      expect(Number(formatCsvNumber(x))).toBe(x);
    }
    for (let i = 0; i < 2000; i++) {
      const x = Math.exp((i - 1000) / 30) * (1 + i / 7919);
      expect(Number(formatCsvNumber(x))).toBe(x);
    }
  });
});

describe('writeCandlesCsv / appendCandlesCsv', () => {
  const candles = generateSyntheticCandles({ count: 500, seed: 3, symbol: 'SYN/USDT', startPrice: 1e-6 });

  it('writes a file that loads back identical', async () => {
    const file = path.join(dir, 'syn_SYN-USDT_1h.csv');
    await writeCandlesCsv(file, candles);
    expect(readFileSync(file, 'utf8').split('\n', 1)[0]).toBe(CANDLE_CSV_HEADER);
    expect(readFileSync(file, 'utf8')).not.toMatch(/e-/);
    const back = await loadCandles(file);
    expect(back.candles).toEqual(candles);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses non-finite values and unordered timestamps, leaving no file behind', async () => {
    const file = path.join(dir, 'refused.csv');
    const bad: Candle[] = [candles[0] as Candle, { ...(candles[1] as Candle), close: Number.NaN }];
    await expect(writeCandlesCsv(file, bad)).rejects.toThrow(/index 1, field 'close': cannot write a non-finite value/);
    await expect(writeCandlesCsv(file, [candles[1] as Candle, candles[0] as Candle])).rejects.toThrow(
      /timestamps must increase/,
    );
    expect(readdirSync(dir).filter((f) => f.startsWith('refused'))).toEqual([]);
  });

  it('appends in pieces to the same file a single write gives', async () => {
    const file = path.join(dir, 'cache_SYN-USDT_1h.csv');
    expect(await appendCandlesCsv(file, candles.slice(0, 100))).toEqual({ appended: 100, skipped: 0 });
    await appendCandlesCsv(file, candles.slice(100, 350));
    await appendCandlesCsv(file, []);
    await appendCandlesCsv(file, candles.slice(350));
    const whole = path.join(dir, 'whole.csv');
    await writeCandlesCsv(whole, candles);
    expect(readFileSync(file, 'utf8')).toBe(readFileSync(whole, 'utf8'));
  });

  it('refuses or skips candles that overlap the file, and checks the header', async () => {
    const file = path.join(dir, 'overlap_SYN-USDT_1h.csv');
    await writeCandlesCsv(file, candles.slice(0, 10));
    await expect(appendCandlesCsv(file, candles.slice(9, 12))).rejects.toThrow(DataError);
    expect(await appendCandlesCsv(file, candles.slice(5, 12), { onOverlap: 'skip' })).toEqual({
      appended: 2,
      skipped: 5,
    });
    expect((await loadCandles(file)).candles).toEqual(candles.slice(0, 12));

    const other = path.join(dir, 'other.csv');
    writeFileSync(other, 'date,open,high,low,close,volume\n');
    await expect(appendCandlesCsv(other, candles.slice(0, 1))).rejects.toThrow(/cannot append: header is/);

    const noNewline = path.join(dir, 'nonl_SYN-USDT_1h.csv');
    await writeCandlesCsv(noNewline, candles.slice(0, 3));
    writeFileSync(noNewline, readFileSync(noNewline, 'utf8').trimEnd());
    await appendCandlesCsv(noNewline, candles.slice(3, 5));
    expect((await loadCandles(noNewline)).candles).toEqual(candles.slice(0, 5));
  });
});
