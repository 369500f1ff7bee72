/** A tiny seeded random walk of candles for tests: same seed, same candles. */
import { createRng } from '../../src/core/random.js';
import type { Candle } from '../../src/core/types.js';

/** Uniform [0, 1) numbers from a seed (the library's generator). */
export const seededRandom = createRng;

export interface RandomWalkOptions {
  count: number;
  seed?: number;
  symbol?: string;
  startPrice?: number;
  /** Open time of the first candle, ms UTC. */
  start?: number;
  stepMs?: number;
  /** Per-candle log-return scale. */
  volatility?: number;
  /** Candles [from, to) get zero volume, to exercise empty-volume windows. */
  zeroVolume?: readonly [number, number];
}

export function randomWalkCandles(opts: RandomWalkOptions): Candle[] {
  const rnd = seededRandom(opts.seed ?? 1);
  const step = opts.stepMs ?? 3_600_000;
  const vol = opts.volatility ?? 0.01;
  let price = opts.startPrice ?? 100;
  let t = opts.start ?? Date.UTC(2024, 0, 1);
  const out: Candle[] = [];
  for (let i = 0; i < opts.count; i++) {
    const open = price;
    price = open * Math.exp((rnd() - 0.5) * 2 * vol);
    const high = Math.max(open, price) * (1 + rnd() * vol);
    const low = Math.min(open, price) * (1 - rnd() * vol);
    const zero = opts.zeroVolume !== undefined && i >= opts.zeroVolume[0] && i < opts.zeroVolume[1];
    const volume = zero ? 0 : 10 + rnd() * 90;
    out.push({
      timestamp: t,
      open,
      high,
      low,
      close: price,
      volume,
      symbol: opts.symbol ?? 'TEST/USDT',
      timeframe: '1h',
    });
    t += step;
  }
  return out;
}
