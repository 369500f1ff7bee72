/** Small candle files written into a fresh temporary directory per test file. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Candle } from '../../src/core/types.js';
import { CandleRowError } from '../../src/data/index.js';

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2020, 0, 1);

export function tempDir(prefix = 'qf-data-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Writes `lines` (joined with '\n', plus a final newline) to `dir/name` and returns the path. */
export function writeFixture(dir: string, name: string, lines: readonly string[] | string): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof lines === 'string' ? lines : `${lines.join('\n')}\n`);
  return file;
}

/** A valid CSV row for hour i: open 100+i, close 100.5+i, high close+1, low open-1. */
export function row(i: number, ts = T0 + i * HOUR): string {
  return `${ts},${100 + i},${101.5 + i},${99 + i},${100.5 + i},${10 + i}`;
}

export const HEADER = 'timestamp,open,high,low,close,volume';

/** Runs `load` and returns the CandleRowError it rejects with (fails the test if it resolves). */
export async function rowError(load: Promise<unknown>): Promise<CandleRowError> {
  try {
    await load;
  } catch (err) {
    if (err instanceof CandleRowError) return err;
    throw err;
  }
  throw new Error('expected a CandleRowError, but the load succeeded');
}

export function closes(candles: readonly Candle[]): number[] {
  return candles.map((c) => c.close);
}
