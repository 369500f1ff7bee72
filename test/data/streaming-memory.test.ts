import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCandles } from '../../src/data/index.js';
import { HEADER, tempDir } from './fixtures.js';

const ROWS = 500_000;
const MINUTE = 60_000;

/** A 500k-row 1m CSV, written in blocks: 1,000 distinct valid OHLCV tails cycled under increasing timestamps. */
function writeBigCsv(file: string): void {
  const tails: string[] = [];
  for (let k = 0; k < 1000; k++) {
    const open = 20_000 + k * 1.234567;
    const close = open * (1 + ((k % 13) - 6) * 1e-4);
    const high = Math.max(open, close) * 1.000731;
    const low = Math.min(open, close) * 0.999377;
    tails.push(`,${open},${high},${low},${close},${(k % 97) + 0.12345678}`);
  }
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, `${HEADER}\n`);
    let ts = Date.UTC(2020, 0, 1);
    for (let block = 0; block < ROWS / 10_000; block++) {
      let text = '';
      for (let i = 0; i < 10_000; i++) {
        text += `${ts}${tails[i % 1000]}\n`;
        ts += MINUTE;
      }
      writeSync(fd, text);
    }
  } finally {
    closeSync(fd);
  }
}

describe('streaming', () => {
  const dir = tempDir('qf-stream-');
  const file = path.join(dir, 'big_BTC-USDT_1m.csv');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a 500k-line CSV with memory far below the file size', async () => {
    writeBigCsv(file);
    const size = statSync(file).size;

    const base = process.memoryUsage().heapUsed;
    let peak = base;
    let n = 0;
    let last = 0;
    for await (const c of readCandles(file)) {
      last = c.timestamp;
      if (++n % 10_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    const growth = peak - base;
    console.log(
      `streamed ${n} candles from ${(size / 1e6).toFixed(1)} MB; heap grew at most ${(growth / 1e6).toFixed(1)} MB`,
    );
    expect(n).toBe(ROWS);
    expect(last).toBe(Date.UTC(2020, 0, 1) + (ROWS - 1) * MINUTE);
    // Reading the file whole would take its size again in memory (plus the candles);
    // streaming holds a chunk at a time and short-lived garbage.
    expect(growth).toBeLessThan(size * 0.6);
  });

  it('stops reading when the consumer stops', async () => {
    const t0 = performance.now();
    let n = 0;
    for await (const c of readCandles(file)) {
      expect(c.symbol).toBe('BTC/USDT');
      if (++n === 10) break;
    }
    expect(n).toBe(10);
    expect(performance.now() - t0).toBeLessThan(300);
  });
});
