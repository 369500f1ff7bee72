/** The shared real market data (../shared/data next to the repo), loaded with the real loader. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CandleFileOptions, type LoadedCandles, loadCandles } from '../../src/data/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DATA_DIR = path.resolve(repoRoot, '../shared/data');

/** Absolute path of a shared data file, e.g. sharedDataFile('binance_BTC-USDT_1h.csv'). */
export function sharedDataFile(name: string): string {
  return path.join(SHARED_DATA_DIR, name);
}

const reported = new Set<string>();

/** True when the file is there; otherwise prints one line saying the test is skipped. */
export function hasSharedData(name: string): boolean {
  if (existsSync(sharedDataFile(name))) return true;
  if (!reported.has(name)) {
    reported.add(name);
    console.warn(`skipping: ../shared/data/${name} not found (shared market data absent)`);
  }
  return false;
}

/** Candles and load report of a shared file (symbol and timeframe from its name). */
export function loadSharedCandles(name: string, options: CandleFileOptions = {}): Promise<LoadedCandles> {
  return loadCandles(sharedDataFile(name), options);
}
