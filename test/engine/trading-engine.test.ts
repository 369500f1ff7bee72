import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import type { Strategy } from '../../src/core/strategy.js';
import type { Candle, Tick } from '../../src/core/types.js';
import { EquityCurve } from '../../src/engine/equity-curve.js';
import { drive, mergeCandles, replay } from '../../src/engine/replay.js';
import { createSimulation } from '../../src/engine/simulation.js';
import { StrategyError } from '../../src/engine/trading-engine.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';
import { bar, bars, buy, HOUR, NO_COSTS, scripted, sim, T0 } from './helpers.js';

const THREE = bars([
  [100, 101, 99, 100],
  [102, 105, 101, 104],
  [105, 106, 102, 103],
]);

describe('TradingEngine', () => {
  it("ctx.clock.now() is the current candle's close time, never the wall clock", async () => {
    const times: number[] = [];
    const s = sim(scripted({}, (_c, ctx) => times.push(ctx.clock.now())));
    await replay(s.engine, THREE);
    expect(times).toEqual([T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]);
    const daily: number[] = [];
    const d = sim(scripted({}, (_c, ctx) => daily.push(ctx.clock.now())));
    await replay(d.engine, [{ ...bar(0, 1, 1, 1, 1), timeframe: '1d' }]);
    expect(daily).toEqual([T0 + 86_400_000]);
  });

  it('runs in order per candle: fills, mark to close, candle event, strategy', async () => {
    const log: string[] = [];
    const strategy: Strategy = {
      name: 'order-check',
      onCandle(c, ctx) {
        const pos = ctx.portfolio.position(c.symbol);
        log.push(`strategy ${c.close} pos=${pos?.quantity ?? 0} mark=${pos?.markPrice ?? '-'}`);
        if (c.close === 100) void ctx.broker.submit(buy(1));
      },
    };
    const s = sim(strategy);
    s.events.on('fill', (f) => log.push(`fill ${f.price}`));
    s.events.on('candle', (c) => log.push(`candle ${c.close} equity=${s.portfolio.equity}`));
    await replay(s.engine, THREE.slice(0, 2));
    expect(log).toEqual([
      'candle 100 equity=10000',
      'strategy 100 pos=0 mark=-',
      'fill 102',
      'candle 104 equity=10002',
      'strategy 104 pos=1 mark=104',
    ]);
  });

  it('takes the sync fast path: no promise when the strategy returns void', async () => {
    const s = sim(scripted({}));
    await s.engine.start();
    expect(s.engine.processCandle(THREE[0] as Candle)).toBeUndefined();
  });

  it('awaits a strategy that returns a promise, and refuses the next candle until it settles', async () => {
    const seen: number[] = [];
    const strategy: Strategy = {
      name: 'async',
      async onCandle(c) {
        await new Promise((r) => setTimeout(r, 1));
        seen.push(c.close);
      },
    };
    const s = sim(strategy);
    await s.engine.start();
    const pending = s.engine.processCandle(THREE[0] as Candle);
    expect(pending).toBeInstanceOf(Promise);
    expect(() => s.engine.processCandle(THREE[1] as Candle)).toThrow(/still running/);
    await pending;
    await replay(s.engine, THREE.slice(1));
    expect(seen).toEqual([100, 104, 103]);
  });

  it('turns a strategy exception into an error event and stops the run with a clear error', async () => {
    const events: string[] = [];
    const failing = () =>
      scripted({}, (c, _ctx, i) => {
        if (i === 1) throw new Error(`boom at ${c.close}`);
      });
    const s = sim(failing());
    s.events.on('error', (e) => events.push(`${e.context} ${e.symbol} ${e.timestamp} ${e.error.message}`));
    const run = replay(s.engine, THREE);
    await expect(run).rejects.toThrow(StrategyError);
    await expect(replay(sim(failing()).engine, THREE)).rejects.toThrow(
      "symbol TEST/USDT: strategy 'scripted' failed in onCandle at 2024-01-01T01:00:00.000Z: Error: boom at 104",
    );
    expect(events).toEqual([`strategy.onCandle TEST/USDT ${T0 + HOUR} boom at 104`]);
    expect(s.engine.state).toBe('stopped');
    expect(s.engine.equityCurve.length).toBe(2);
  });

  it('also stops on a rejected strategy promise', async () => {
    const strategy: Strategy = {
      name: 'async-fail',
      onCandle: async () => {
        throw new Error('nope');
      },
    };
    await expect(replay(sim(strategy).engine, THREE)).rejects.toThrow(/failed in onCandle at .*: Error: nope/);
  });

  it("with onStrategyError 'continue' reports errors and keeps going", async () => {
    const strategy = scripted({}, (_c, _ctx, i) => {
      if (i !== 1) throw new Error(`fail ${i}`);
    });
    const s = createSimulation(NO_COSTS, strategy, { onStrategyError: 'continue' });
    const errors: string[] = [];
    s.events.on('error', (e) => errors.push(e.error.message));
    await replay(s.engine, THREE);
    expect(errors).toEqual(['fail 0', 'fail 2']);
    expect(s.engine.candles).toBe(3);
  });

  it('records one equity point per timestamp after all symbols at it were processed', async () => {
    // B has no candle at hour 1. B's candle at hour 0 follows A's; the point must include B's fill... and marks.
    const a = bars(
      [
        [10, 10, 10, 10],
        [11, 11, 11, 11],
        [12, 12, 12, 12],
      ],
      'A',
    );
    const b = [bar(0, 50, 50, 50, 50, 'B'), bar(2, 70, 70, 70, 70, 'B')];
    const strategy = scripted({}, (c, ctx, i) => {
      if (i === 0) void ctx.broker.submit({ ...buy(1), symbol: c.symbol });
    });
    const s = sim(strategy);
    await replay(s.engine, [a, b]);
    const points = s.engine.equityCurve.toPoints(10_000);
    expect(points.map((p) => p.timestamp)).toEqual([T0, T0 + HOUR, T0 + 2 * HOUR]);
    // Hour 1: A bought at 11 (open), marked at 11; B's order still waits for B's next candle.
    // Hour 2: B bought at 70 and marked 70; A marked 12.
    expect(points.map((p) => p.equity)).toEqual([10_000, 10_000, 10_001]);
    expect(points.map((p) => p.cash)).toEqual([10_000, 9_989, 9_919]);
  });

  it('rejects candles that go back in time', async () => {
    const s = sim(scripted({}));
    await s.engine.start();
    s.engine.processCandle(THREE[1] as Candle);
    expect(() => s.engine.processCandle(THREE[0] as Candle)).toThrow(DataError);
  });

  it('refuses candles before start()', () => {
    const s = sim(scripted({}));
    expect(() => s.engine.processCandle(THREE[0] as Candle)).toThrow(/call start\(\) first/);
  });

  it('closes positions at the end at the last close with fees and slippage', async () => {
    const s = sim(scripted({ 0: [buy(10)] }), { feeRate: 0.001, slippageBps: 10 });
    await replay(s.engine, THREE, { closeAtEnd: true, closeReason: 'end of backtest' });
    const exit = s.fills[1];
    expect(exit?.price).toBe(103 * (1 - 10 / 10_000));
    expect(exit?.fee).toBeCloseTo(10 * 103 * 0.999 * 0.001, 12);
    expect(exit?.timestamp).toBe(T0 + 3 * HOUR);
    expect(s.portfolio.trades[0]?.exitReason).toBe('end of backtest');
    expect(s.portfolio.positions()).toEqual([]);
    const curve = s.engine.equityCurve;
    expect(curve.length).toBe(3);
    expect(curve.equity[2]).toBe(s.portfolio.cash);
  });

  it('handles ticks: marks at last, strategy.onTick with the tick time on the clock', async () => {
    const times: number[] = [];
    const strategy: Strategy = {
      name: 'ticks',
      onCandle(c, ctx) {
        if (c.close === 100) void ctx.broker.submit(buy(1));
      },
      onTick(t, ctx) {
        times.push(ctx.clock.now(), t.last);
      },
    };
    const s = sim(strategy);
    await s.engine.start();
    s.engine.processCandle(THREE[0] as Candle);
    s.engine.processCandle(THREE[1] as Candle);
    const tick: Tick = { timestamp: T0 + 2 * HOUR + 60_000, symbol: 'TEST/USDT', bid: 109, ask: 111, last: 110 };
    expect(s.engine.processTick(tick)).toBeUndefined();
    expect(times).toEqual([tick.timestamp, 110]);
    expect(s.portfolio.equity).toBe(10_000 - 102 + 110);
    await s.engine.stop();
    expect(s.engine.equityCurve.length).toBe(2);
  });

  it('drive() over an async feed gives the same result as replay()', async () => {
    const candles = randomWalkCandles({ count: 300, seed: 3 });
    const make = () =>
      scripted({}, (c, ctx, i) => {
        if (i % 20 === 0) void ctx.broker.submit({ ...buy(1), symbol: c.symbol });
        if (i % 20 === 10) void ctx.broker.submit({ ...buy(1), side: 'sell', symbol: c.symbol });
      });
    const a = sim(make());
    await replay(a.engine, candles);
    const b = sim(make());
    async function* feed() {
      for (const c of candles) yield c;
    }
    await drive(b.engine, feed());
    await b.engine.stop();
    expect(b.portfolio.toJSON()).toEqual(a.portfolio.toJSON());
    expect(Array.from(b.engine.equityCurve.equity)).toEqual(Array.from(a.engine.equityCurve.equity));
  });
});

describe('replay', () => {
  it('merges symbols in time order, ties in symbol order', () => {
    const a = [bar(0, 1, 1, 1, 1, 'A'), bar(2, 1, 1, 1, 1, 'A')];
    const b = [bar(0, 1, 1, 1, 1, 'B'), bar(1, 1, 1, 1, 1, 'B'), bar(2, 1, 1, 1, 1, 'B')];
    const c = [bar(1, 1, 1, 1, 1, 'C')];
    const merged = mergeCandles([a, b, c]).map((x) => `${(x.timestamp - T0) / HOUR}${x.symbol}`);
    expect(merged).toEqual(['0A', '0B', '1B', '1C', '2A', '2B']);
  });

  it('refuses a series that is not in ascending time order', () => {
    const a = [bar(1, 1, 1, 1, 1, 'A'), bar(0, 1, 1, 1, 1, 'A')];
    expect(() => mergeCandles([a, [bar(0, 1, 1, 1, 1, 'B')]])).toThrow(/not in strictly ascending time order/);
  });

  it('reports progress every N candles and at the end', async () => {
    const calls: string[] = [];
    const s = sim(scripted({}));
    const candles = randomWalkCandles({ count: 25, seed: 1 });
    await replay(s.engine, candles, { progressEvery: 10, progress: (d, t) => calls.push(`${d}/${t}`) });
    expect(calls).toEqual(['10/25', '20/25', '25/25']);
  });
});

describe('EquityCurve', () => {
  it('downsamples to a bounded number of points, keeping the first, the last and the deepest drawdowns', () => {
    const curve = new EquityCurve(16);
    const equity = [100, 101, 102, 90, 103, 104, 105, 80, 106, 107, 108, 109];
    for (const [i, e] of equity.entries()) curve.push(i, e, e, 0);
    expect(curve.length).toBe(12);
    const all = curve.toPoints(100);
    expect(all).toHaveLength(12);
    const few = curve.toPoints(100, 4);
    expect(few.map((p) => p.equity)).toEqual([100, 90, 80, 109]);
    expect(few[2]?.drawdown).toBeCloseTo(80 / 105 - 1, 14);
    // A point with the same timestamp replaces the last one.
    curve.push(11, 110, 110, 0);
    expect(curve.length).toBe(12);
    expect(curve.equity[11]).toBe(110);
  });
});
