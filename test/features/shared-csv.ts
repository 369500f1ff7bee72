/** Reads a few rows of the shared market data CSVs (../shared/data) without depending on src/data. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Candle } from '../../src/core/types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDataDir = path.resolve(repoRoot, '../shared/data');

export function sharedCsvPath(name: string): string {
  return path.join(sharedDataDir, name);
}

export function sharedCsvExists(name: string): boolean {
  const exists = existsSync(sharedCsvPath(name));
  if (!exists) console.warn(`skipping: ${sharedCsvPath(name)} not found (shared market data absent)`);
  return exists;
}

/** First `limit` candles of a `timestamp,open,high,low,close,volume` file. */
export function readSharedCandles(name: string, symbol: string, timeframe: string, limit: number): Candle[] {
  const lines = readFileSync(sharedCsvPath(name), 'utf8').split('\n');
  const out: Candle[] = [];
  for (let i = 1; i < lines.length && out.length < limit; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number) as number[];
    out.push({
      timestamp: timestamp!,
      open: open!,
      high: high!,
      low: low!,
      close: close!,
      volume: volume!,
      symbol,
      timeframe,
    });
  }
  return out;
}
