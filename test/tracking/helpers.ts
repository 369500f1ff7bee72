/** Small builders shared by the tracker tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Candle } from '../../src/core/types.js';

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2024, 0, 1);

/** The open time of the i-th hourly candle. */
export function at(i: number): number {
  return T0 + i * HOUR;
}

export function candle(symbol: string, i: number, close: number): Candle {
  return { symbol, timeframe: '1h', timestamp: at(i), open: close, high: close, low: close, close, volume: 1 };
}

/** A fresh temporary directory per call; the OS cleans tmp. */
export function tempFile(name = 'predictions.jsonl'): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'qf-tracker-')), name);
}
