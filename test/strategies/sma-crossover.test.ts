import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBacktest } from '../../backtest/run-backtest.js';
import { ConfigError } from '../../src/core/errors.js';
import { EventBus } from '../../src/core/events.js';
import type { Candle } from '../../src/core/types.js';
import { loadCandles } from '../../src/data/index.js';
import { DEFAULT_BACKTEST_CONFIG } from '../../src/engine/result.js';
import { runSimulation } from '../../src/engine/simulation.js';
import { BuyAndHold } from '../../strategies/buy-and-hold.js';
import { SmaCrossover } from '../../strategies/sma-crossover.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';

const NO_COSTS = { ...DEFAULT_BACKTEST_CONFIG, feeRate: 0, slippageBps: 0, closeAtEnd: false };

/** The decisions of an SMA crossover recomputed from scratch over each window (no state, no engine). */
function naiveDecisions(candles: readonly Candle[], fast: number, slow: number, longShort: boolean) {
  const out: { index: number; action: 'BUY' | 'SELL' }[] = [];
  let side = 0;
  for (let i = slow - 1; i < candles.length; i++) {
    let f = 0;
    let s = 0;
    for (let j = i - slow + 1; j <= i; j++) {
      s += (candles[j] as Candle).close;
      if (j > i - fast) f += (candles[j] as Candle).close;
    }
    const fm = f / fast;
    const sm = s / slow;
    let want = side;
    if (fm > sm) want = 1;
    else if (fm < sm) want = longShort ? -1 : 0;
    if (want !== side) {
      out.push({ index: i, action: want > side ? 'BUY' : 'SELL' });
      side = want;
    }
  }
  return out;
}

describe('SmaCrossover options', () => {
  it.each([
    [{ fast: 30, slow: 10 }, 'fast', /must be smaller than the slow period/],
    [{ fast: 10, slow: 10 }, 'fast', /must be smaller/],
    [{ fast: 2.5 }, 'fast', /integer >= 1, got 2.5/],
    [{ fast: 0 }, 'fast', /integer >= 1, got 0/],
    [{ slow: 1, fast: 1 }, 'slow', /integer >= 2, got 1/],
    [{ mode: 'both' as never }, 'mode', /'long-only' or 'long-short', got 'both'/],
    [{ fraction: 0 }, 'fraction', /\(0, 1\], got 0/],
    [{ fraction: 1.5 }, 'fraction', /\(0, 1\], got 1.5/],
  ])('rejects %o with a ConfigError on %s', (options, field, message) => {
    let error: unknown;
    try {
      new SmaCrossover(options);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).where.field).toBe(field);
    expect((error as ConfigError).message).toMatch(message);
  });

  it('defaults to 10/30 long-only, all in', () => {
    const s = new SmaCrossover();
    expect([s.fast, s.slow, s.mode, s.fraction, s.name]).toEqual([
      10,
      30,
      'long-only',
      1,
      'sma-crossover(10,30,long-only)',
    ]);
  });
});

describe('SmaCrossover decisions', () => {
  const candles = randomWalkCandles({ count: 3_000, seed: 7 });

  it.each(['long-only', 'long-short'] as const)(
    '%s: the incremental SMA decides exactly where a from-scratch SMA does',
    async (mode) => {
      const signals: { index: number; action: string; reason?: string }[] = [];
      const events = new EventBus();
      events.on('signal', (sig) => {
        const index = candles.findIndex((c) => c.timestamp === sig.timestamp);
        signals.push({ index, action: sig.action, ...(sig.reason !== undefined ? { reason: sig.reason } : {}) });
      });
      const strategy = new SmaCrossover({ fast: 7, slow: 25, mode });
      const config = { ...NO_COSTS, allowShort: mode === 'long-short' };
      const run = await runSimulation([candles], strategy, config, { events });
      const expected = naiveDecisions(candles, 7, 25, mode === 'long-short');
      expect(expected.length).toBeGreaterThan(20);
      expect(signals.map(({ index, action }) => ({ index, action }))).toEqual(expected);
      expect(signals[0]?.reason).toMatch(/^SMA\(7\) [\d.]+ (above|below) SMA\(25\) [\d.]+: flat -> (long|short)$/);
      const directions = new Set(run.portfolio.trades.map((t) => t.direction));
      if (mode === 'long-only') expect([...directions]).toEqual(['long']);
      else expect([...directions].sort()).toEqual(['long', 'short']);
    },
  );

  it('long-short is always in the market after its first fill', async () => {
    const run = await runSimulation([candles], new SmaCrossover({ fast: 7, slow: 25, mode: 'long-short' }), {
      ...NO_COSTS,
      allowShort: true,
    });
    const exposure = run.engine.equityCurve.grossExposure;
    const first = exposure.findIndex((x) => x > 0);
    expect(first).toBe(25); // decided on candle 24 (the 25th), filled at candle 25's open
    for (let i = first; i < exposure.length; i++) expect(exposure[i]).toBeGreaterThan(0);
  });
});

describe('BuyAndHold', () => {
  it('buys everything at the second open and holds it', async () => {
    const candles = randomWalkCandles({ count: 50, seed: 2 });
    const run = await runSimulation([candles], new BuyAndHold(), { ...NO_COSTS, closeAtEnd: true });
    const first = run.portfolio.trades[0];
    expect(run.portfolio.trades).toHaveLength(1);
    expect(first?.entryPrice).toBe(candles[1]?.open);
    expect(first?.exitPrice).toBe(candles[49]?.close);
    expect(run.metrics.finalEquity).toBeCloseTo((10_000 / candles[1]!.open) * candles[49]!.close, 8);
  });

  it('splits equity equally over symbols that start together', async () => {
    const a = randomWalkCandles({ count: 20, seed: 4, symbol: 'A' });
    const b = randomWalkCandles({ count: 20, seed: 5, symbol: 'B' });
    const run = await runSimulation([a, b], new BuyAndHold({ symbols: 2 }), { ...NO_COSTS, closeAtEnd: false });
    const [pa, pb] = run.portfolio.positions();
    expect(pa!.quantity * pa!.entryPrice).toBeCloseTo(5_000, 8);
    expect(pb!.quantity * pb!.entryPrice).toBeCloseTo(5_000, 8);
    expect(run.portfolio.cash).toBeCloseTo(0, 8);
  });
});

const BTC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/binance_BTC-USDT_1h.csv');
if (!existsSync(BTC)) console.warn(`skipping the BTC 1h SMA tests: ${BTC} not found (shared market data absent)`);

describe.skipIf(!existsSync(BTC))('SMA baseline on binance BTC/USDT 1h', () => {
  it('produces identical trades when run twice, and matches a plain reference loop', async () => {
    const { candles } = await loadCandles(BTC);
    const run = () => runBacktest({ strategy: new SmaCrossover(), candles: [candles] });
    const first = await run();
    const second = await run();
    expect(first.trades.length).toBeGreaterThan(100);
    expect(second.trades).toEqual(first.trades);
    expect(second.metrics).toEqual(first.metrics);

    // The same rules in a straight loop: decide at the close, fill at the next open
    // (buy all cash at open * 1.0005 incl. 0.1% fee, sell all at open * 0.9995), close at the end.
    const fee = 0.001;
    const slip = 5 / 10_000;
    let cash = 10_000;
    let qty = 0;
    let side = 0;
    let pending: 'buy' | 'sell' | undefined;
    let trades = 0;
    for (let t = 0; t < candles.length; t++) {
      const c = candles[t] as Candle;
      if (pending === 'buy') {
        const p = c.open * (1 + slip);
        qty = cash / (p * (1 + fee));
        cash -= qty * p + qty * p * fee;
      } else if (pending === 'sell') {
        const p = c.open * (1 - slip);
        cash += qty * p - qty * p * fee;
        qty = 0;
        trades++;
      }
      pending = undefined;
      if (t >= 29) {
        let f = 0;
        let s = 0;
        for (let j = t - 29; j <= t; j++) {
          s += (candles[j] as Candle).close;
          if (j > t - 10) f += (candles[j] as Candle).close;
        }
        const want = f / 10 > s / 30 ? 1 : f / 10 < s / 30 ? 0 : side;
        if (want !== side) pending = want === 1 ? 'buy' : 'sell';
        side = want;
      }
    }
    if (qty > 0) {
      const p = (candles[candles.length - 1] as Candle).close * (1 - slip);
      cash += qty * p - qty * p * fee;
      trades++;
    }
    expect(first.trades.length).toBe(trades);
    expect(first.metrics.finalEquity / cash).toBeCloseTo(1, 9);
    expect(first.benchmarks[0]?.name).toBe('buy-and-hold');
  });
});
