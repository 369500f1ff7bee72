/** The one reading of --data / --synthetic shared by backtest, train and check-leaks: clear errors for bad input. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCandleInput } from '../../src/cli/candle-input.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'qf-candle-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadCandleInput', () => {
  it('refuses --data together with --synthetic, and neither when the command needs data', async () => {
    await expect(loadCandleInput({ data: 'x.csv', synthetic: true }, { neither: 'synthetic' })).rejects.toThrow(
      "field 'data': give either --data FILE or --synthetic, not both",
    );
    await expect(loadCandleInput({}, { neither: { missing: 'training data' } })).rejects.toThrow(
      'no training data: give --data FILE or --synthetic',
    );
  });

  it('names a missing file and a file with a header but no candles', async () => {
    const missing = path.join(dir, 'missing_BTC-USDT_1h.csv');
    await expect(loadCandleInput({ data: missing }, { neither: 'synthetic' })).rejects.toThrow(
      /missing_BTC-USDT_1h\.csv.*not found/,
    );
    const empty = path.join(dir, 'empty_BTC-USDT_1h.csv');
    await writeFile(empty, 'timestamp,open,high,low,close,volume\n');
    await expect(loadCandleInput({ data: empty }, { neither: 'synthetic' })).rejects.toThrow(
      /empty_BTC-USDT_1h\.csv.*no candles/,
    );
  });

  it('falls back to the synthetic market when the command allows it', async () => {
    const input = await loadCandleInput({}, { neither: 'synthetic', synthetic: { count: 500 } });
    expect(input.synthetic).toBe(true);
    expect(input.series[0]).toHaveLength(500);
    expect(input.source).toBe('synthetic regime market (seed 42)');
  });
});
