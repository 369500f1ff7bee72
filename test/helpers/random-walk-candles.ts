/** A tiny seeded random walk of candles for tests: same seed, same candles. */
import type { Candle } from '../../src/core/types.js';

/** mulberry32: small, fast, good enough for test data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
