/**
 * MlStrategy: identical decisions from precomputed (batch) predictions in a
 * backtest and from the streaming predictor fed candle by candle (real models,
 * synthetic and real data); option errors; risk exits; shorts; independent
 * symbols; the prediction tracker wiring (outcomes only from later candles,
 * history reloaded after a restart).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { EventBus } from '../../src/core/events.js';
import type { Candle, Order, Signal, Trade } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { drive } from '../../src/engine/replay.js';
import { type BacktestConfig, DEFAULT_BACKTEST_CONFIG } from '../../src/engine/result.js';
import { createSimulation } from '../../src/engine/simulation.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { PrecomputedPredictor } from '../../src/models/precomputed-predictor.js';
import { type CandlePredictor, RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import { MlStrategy, type MlStrategyOptions } from '../../strategies/ml-strategy.js';
import { bar, HOUR, NO_COSTS, T0 } from '../engine/helpers.js';
import { scriptedPredictor, trainTinyModel } from '../helpers/ml-models.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';
import { tempFile } from '../tracking/helpers.js';

type StrategyOptions = Omit<MlStrategyOptions, 'predictor'>;

interface Run {
  signals: Signal[];
  orders: Order[];
  trades: Trade[];
  /** processCandle calls that returned a promise (the async path). */
  asyncCandles: number;
}

/** One engine run of an MlStrategy over `series` (candles merged in time order), collecting what it did. */
async function runStrategy(
  series: readonly Candle[],
  predictor: CandlePredictor,
  options: StrategyOptions,
  config: Partial<BacktestConfig> = {},
): Promise<Run> {
  const events = new EventBus();
  const signals: Signal[] = [];
  events.on('signal', (s) => signals.push(s));
  const strategy = new MlStrategy({ ...options, predictor });
  const sim = createSimulation({ ...NO_COSTS, ...config }, strategy, { events });
  await sim.engine.start();
  let asyncCandles = 0;
  for (const c of series) {
    const pending = sim.engine.processCandle(c);
    if (pending !== undefined) {
      asyncCandles++;
      await pending;
    }
  }
  await sim.engine.stop();
  return { signals, orders: [...sim.broker.orders()], trades: [...sim.portfolio.trades], asyncCandles };
}

const PARITY_OPTIONS: StrategyOptions = {
  threshold: 0.2,
  fraction: 0.5,
  allowShort: true,
  stopLoss: 0.03,
  takeProfit: 0.04,
  maxHoldCandles: 12,
};

/** Backtest with batch predictions vs candles pushed one by one through the streaming predictor. */
async function expectSameDecisions(model: ModelPredictor, candles: readonly Candle[]): Promise<void> {
  const config = { ...DEFAULT_BACKTEST_CONFIG, allowShort: true };
  const batch = await runStrategy(
    candles,
    await PrecomputedPredictor.fromSeries(model, [candles]),
    PARITY_OPTIONS,
    config,
  );
  const live = await runStrategy(candles, new RealtimePredictor(model), PARITY_OPTIONS, config);
  // Precomputed predictions answer synchronously: the engine never waits; the streaming model is awaited.
  expect(batch.asyncCandles).toBe(0);
  expect(live.asyncCandles).toBeGreaterThan(0);
  expect(live.signals.length).toBe(batch.signals.length);
  live.signals.forEach((s, i) => {
    const b = batch.signals[i]!;
    expect([s.symbol, s.action, s.timestamp, s.price]).toEqual([b.symbol, b.action, b.timestamp, b.price]);
    expect(s.prediction!.prediction).toBeCloseTo(b.prediction!.prediction, 5);
  });
  const key = (o: Order) => [o.side, o.type, JSON.stringify(o.size), o.tag, o.createdAt, o.status, o.averageFillPrice];
  expect(live.orders.map(key)).toEqual(batch.orders.map(key));
  expect(live.trades).toEqual(batch.trades);
  // The comparison is only worth something if the strategy traded and exited in every way.
  const reasons = new Set(batch.trades.map((t) => t.exitReason));
  expect(batch.trades.length).toBeGreaterThan(10);
  expect(batch.trades.some((t) => t.direction === 'short')).toBe(true);
  expect(reasons.size).toBeGreaterThanOrEqual(3);
}

describe('MlStrategy: backtest (batch predictions) = streaming predictor, real models', () => {
  it('on a synthetic series', async () => {
    const candles = generateSyntheticCandles({ mode: 'regime', count: 2500, seed: 21 });
    const model = await trainTinyModel(candles.slice(0, 1200), { horizon: 2, lookback: 2 });
    try {
      await expectSameDecisions(model, candles.slice(1000));
    } finally {
      await model.dispose();
    }
  });

  it.skipIf(!hasSharedData('binance_ETH-USDT_1h.csv'))('on real ETH/USDT 1h candles (../shared/data)', async () => {
    const { candles } = await loadSharedCandles('binance_ETH-USDT_1h.csv');
    const slice = candles.slice(30_000, 32_500);
    const model = await trainTinyModel(slice.slice(0, 1200), { horizon: 1 });
    try {
      await expectSameDecisions(model, slice.slice(1000));
    } finally {
      await model.dispose();
    }
  });
});

describe('MlStrategy options', () => {
  const predictor = scriptedPredictor({});
  it.each([
    [{ threshold: 1.5 }, 'threshold', /confidence threshold must be in \[0, 1\], got 1.5/],
    [{ threshold: Number.NaN }, 'threshold', /got NaN/],
    [{ fraction: 0 }, 'fraction', /fraction of equity in \(0, 1\], got 0/],
    [{ fraction: 2 }, 'fraction', /got 2/],
    [{ allowShort: 'yes' as never }, 'allowShort', /true or false/],
    [{ stopLoss: 0 }, 'stopLoss', /stop-loss must be a fraction in \(0, 1\)/],
    [{ stopLoss: 1.2 }, 'stopLoss', /got 1.2/],
    [{ takeProfit: -0.1 }, 'takeProfit', /take-profit must be a fraction > 0/],
    [{ maxHoldCandles: 2.5 }, 'maxHoldCandles', /integer >= 1 candles, got 2.5/],
    [{ maxHoldCandles: 0 }, 'maxHoldCandles', /got 0/],
    [{ predictor: undefined as never }, 'predictor', /needs a predictor/],
    [{ tracker: {} as never }, 'tracker', /record\(\) and onCandle\(\)/],
  ])('rejects %o with a ConfigError naming %s', (options, field, message) => {
    let error: unknown;
    try {
      new MlStrategy({ predictor, ...options } as MlStrategyOptions);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).where.field).toBe(field);
    expect((error as ConfigError).message).toMatch(message);
  });

  it('defaults to confidence 0.6, 10% of equity, long-only, no risk exits', () => {
    const s = new MlStrategy({ predictor });
    expect([s.threshold, s.fraction, s.allowShort, s.stopLoss, s.takeProfit, s.maxHoldCandles]).toEqual([
      0.6,
      0.1,
      false,
      undefined,
      undefined,
      undefined,
    ]);
    expect(s.name).toBe('ml(0.6,0.1,long-only)');
  });
});

/** A 1h series from closes; each candle opens at the previous close. */
function fromCloses(closes: readonly number[], symbol = 'TEST/USDT'): Candle[] {
  return closes.map((c, i) => {
    const o = i === 0 ? c : closes[i - 1]!;
    return bar(i, o, Math.max(o, c), Math.min(o, c), c, symbol);
  });
}

describe('MlStrategy decisions (scripted predictions)', () => {
  it('signals every decision with its prediction and reason, HOLD included', async () => {
    const candles = fromCloses([100, 100, 100, 100, 100]);
    const run = await runStrategy(
      candles,
      scriptedPredictor({ 'TEST/USDT': { 0: 0.9, 1: 0.55, 2: 0.95, 3: 0.1 } }),
      {},
    );
    expect(run.signals.map((s) => s.action)).toEqual(['BUY', 'HOLD', 'BUY', 'SELL', 'HOLD']);
    expect(run.signals.every((s) => s.prediction?.modelVersion === 'scripted')).toBe(true);
    expect(run.signals[0]!.reason).toBe('p(up) 0.9000, confidence 0.8000 >= 0.6: flat -> long');
    expect(run.signals[1]!.reason).toBe('p(up) 0.5500, confidence 0.1000 < 0.6: hold long');
    expect(run.signals[2]!.reason).toMatch(/already long$/);
    expect(run.signals[3]!.reason).toMatch(/long -> flat$/);
    expect(run.orders.map((o) => [o.side, o.size.kind, o.reduceOnly === true, o.createdAt])).toEqual([
      ['buy', 'equity-fraction', false, T0 + HOUR],
      ['sell', 'all', true, T0 + 4 * HOUR],
    ]);
  });

  it('stop-loss: exits when the return falls to -stopLoss, no re-entry on that candle', async () => {
    const candles = fromCloses([100, 100, 99, 97, 97, 97, 97]);
    const script = { 'TEST/USDT': { 0: 0.9, 3: 0.9, 4: 0.9 } };
    const run = await runStrategy(candles, scriptedPredictor(script), { stopLoss: 0.02 });
    const exit = run.signals.find((s) => s.reason?.startsWith('stop-loss'))!;
    expect(exit.timestamp).toBe(T0 + 3 * HOUR);
    expect(exit.reason).toBe('stop-loss: return -3.00% <= -2.00%: long -> flat');
    const atExit = run.signals.filter((s) => s.timestamp === T0 + 3 * HOUR).map((s) => s.reason);
    expect(atExit).toEqual([
      exit.reason,
      'p(up) 0.9000, confidence 0.8000 >= 0.6: no new long on the candle of a risk exit',
    ]);
    expect(run.trades[0]).toMatchObject({ exitReason: 'stop-loss', entryTime: T0 + HOUR, exitTime: T0 + 4 * HOUR });
    // Candle 4 calls BUY again: a new entry.
    expect(run.orders.filter((o) => o.side === 'buy')).toHaveLength(2);
  });

  it('take-profit: exits when the return reaches +takeProfit', async () => {
    const candles = fromCloses([100, 100, 102, 104, 106, 107, 108]);
    const run = await runStrategy(candles, scriptedPredictor({ 'TEST/USDT': { 0: 0.9 } }), { takeProfit: 0.05 });
    expect(run.trades).toHaveLength(1);
    expect(run.trades[0]).toMatchObject({ exitReason: 'take-profit', entryTime: T0 + HOUR, exitTime: T0 + 5 * HOUR });
    expect(run.trades[0]!.exitPrice).toBe(106);
  });

  it('max-hold: exits after that many candles since the entry signal', async () => {
    const candles = fromCloses([100, 101, 102, 103, 104, 105, 106, 107]);
    const run = await runStrategy(candles, scriptedPredictor({ 'TEST/USDT': { 0: 0.9, 1: 0.9, 2: 0.9 } }), {
      maxHoldCandles: 3,
    });
    expect(run.trades).toHaveLength(1);
    // Signal on candle 0, filled at the open of 1, exit signal on candle 3, filled at the open of 4.
    expect(run.trades[0]).toMatchObject({ exitReason: 'max-hold', entryTime: T0 + HOUR, exitTime: T0 + 4 * HOUR });
    expect(run.signals.find((s) => s.reason?.startsWith('max-hold'))?.reason).toBe(
      'max-hold: 3 candles since entry >= 3: long -> flat',
    );
  });

  it('risk exits also fire on ticks', async () => {
    const candles = fromCloses([100, 100, 100, 100]);
    const events = new EventBus();
    const strategy = new MlStrategy({ predictor: scriptedPredictor({ 'TEST/USDT': { 0: 0.9 } }), stopLoss: 0.02 });
    const sim = createSimulation(NO_COSTS, strategy, { events });
    await drive(sim.engine, [
      candles[0]!,
      candles[1]!,
      { symbol: 'TEST/USDT', timestamp: T0 + 2 * HOUR + 60_000, bid: 97, ask: 97, last: 97.5 },
      candles[2]!,
      candles[3]!,
    ]);
    await sim.engine.stop();
    // The exit order is placed during candle 2, so it fills at the open of candle 3.
    expect(sim.portfolio.trades[0]).toMatchObject({ exitReason: 'stop-loss', exitTime: T0 + 3 * HOUR });
  });

  it('long-only by default: SELL from flat opens nothing; with allowShort it opens a short and flips', async () => {
    const candles = fromCloses([100, 100, 99, 98, 98, 99, 100]);
    const script = { 'TEST/USDT': { 0: 0.1, 3: 0.9 } };
    const longOnly = await runStrategy(candles, scriptedPredictor(script), {});
    expect(longOnly.signals[0]!.reason).toMatch(/stay flat \(shorts disabled\)$/);
    expect(longOnly.orders.filter((o) => o.side === 'sell')).toHaveLength(0);
    const shorts = await runStrategy(candles, scriptedPredictor(script), { allowShort: true }, { allowShort: true });
    expect(shorts.signals[0]!.reason).toMatch(/flat -> short$/);
    expect(shorts.signals[3]!.reason).toMatch(/short -> long$/);
    expect(shorts.trades[0]).toMatchObject({ direction: 'short', entryTime: T0 + HOUR, exitTime: T0 + 4 * HOUR });
    expect(shorts.trades[0]!.pnl).toBeGreaterThan(0);
    // Still long at the end: close the run to see it.
    expect(shorts.orders.at(-1)).toMatchObject({ side: 'buy', status: 'filled', tag: 'ml buy signal' });
  });

  it('with costs: enters only when the expected return beats the round trip plus the margin', async () => {
    const candles = fromCloses([100, 100, 100, 100, 100]);
    // Round trip 0.3%, margin 50%: an entry needs 0.45%. p 0.9 gives an expected return of 0.8 x the move.
    const moves = { 'TEST/USDT': { 0: 0.005, 1: 0.01 } };
    const run = await runStrategy(candles, scriptedPredictor({ 'TEST/USDT': { 0: 0.9, 1: 0.9 } }, 1, moves), {
      costs: { roundTripCost: 0.003 },
    });
    expect(run.signals.map((s) => s.action)).toEqual(['HOLD', 'BUY', 'HOLD', 'HOLD', 'HOLD']);
    expect(run.signals[0]!.reason).toBe(
      'p(up) 0.9000, confidence 0.8000 >= 0.6, expected return 0.40% < 0.45% needed (round trip 0.30% + 50% margin): hold flat',
    );
    expect(run.signals[1]!.reason).toMatch(/expected return 0\.80% >= 0\.45% needed .*: flat -> long$/);
    expect(run.orders.map((o) => o.side)).toEqual(['buy']);
  });

  it('with costs: an opposite call closes a position only when its expected loss beats half the round trip', async () => {
    const candles = fromCloses([100, 100, 100, 100, 100, 100]);
    const script = { 'TEST/USDT': { 0: 0.9, 1: 0.1, 2: 0.1 } };
    // Candle 1: expected return -0.08%, less than the 0.15% an exit costs: stay long. Candle 2: -0.32%: close.
    const moves = { 'TEST/USDT': { 0: 0.01, 1: 0.001, 2: 0.004 } };
    const options = { allowShort: true, costs: { roundTripCost: 0.003, margin: 0.5 } };
    const run = await runStrategy(candles, scriptedPredictor(script, 1, moves), options, { allowShort: true });
    expect(run.signals.slice(0, 3).map((s) => s.action)).toEqual(['BUY', 'HOLD', 'SELL']);
    expect(run.signals[1]!.reason).toMatch(/expected return -0\.08% < -0\.15% needed .*exit half\): hold long$/);
    // Worth closing, not worth a short's entry cost (0.45%): long -> flat, not short.
    expect(run.signals[2]!.reason).toMatch(/: long -> flat$/);
    expect(run.orders.map((o) => [o.side, o.reduceOnly === true])).toEqual([
      ['buy', false],
      ['sell', true],
    ]);
  });

  it('with costs: a prediction without an expected return never trades', async () => {
    const candles = fromCloses([100, 100, 100]);
    const run = await runStrategy(candles, scriptedPredictor({ 'TEST/USDT': { 0: 0.99 } }), {
      costs: { roundTripCost: 0.002 },
    });
    expect(run.signals[0]).toMatchObject({ action: 'HOLD' });
    expect(run.signals[0]!.reason).toMatch(/no expected return to weigh against costs: hold flat$/);
    expect(run.orders).toHaveLength(0);
    expect(() => new MlStrategy({ predictor: scriptedPredictor({}), costs: { roundTripCost: -1 } })).toThrow(
      /round-trip cost must be a fraction in \[0, 1\)/,
    );
  });

  it('treats symbols independently', async () => {
    const a = fromCloses([100, 100, 99, 97, 97, 98, 99], 'A/USDT');
    const b = fromCloses([50, 51, 52, 53, 54, 55, 56], 'B/USDT');
    const script = { 'A/USDT': { 0: 0.9, 4: 0.1 }, 'B/USDT': { 0: 0.1, 2: 0.9 } };
    const options: StrategyOptions = { stopLoss: 0.02, fraction: 0.4 };
    const merged: Candle[] = [];
    for (let i = 0; i < a.length; i++) merged.push(a[i]!, b[i]!);
    const both = await runStrategy(merged, scriptedPredictor(script), options);
    const aloneA = await runStrategy(a, scriptedPredictor(script), options);
    const aloneB = await runStrategy(b, scriptedPredictor(script), options);
    const actions = (signals: Signal[], symbol: string) =>
      signals.filter((s) => s.symbol === symbol).map((s) => [s.timestamp, s.action, s.reason]);
    expect(actions(both.signals, 'A/USDT')).toEqual(actions(aloneA.signals, 'A/USDT'));
    expect(actions(both.signals, 'B/USDT')).toEqual(actions(aloneB.signals, 'B/USDT'));
    expect(both.trades.find((t) => t.symbol === 'A/USDT')?.exitReason).toBe('stop-loss');
    expect(both.orders.filter((o) => o.symbol === 'B/USDT').map((o) => o.side)).toEqual(['buy']);
  });
});

describe('MlStrategy with a prediction tracker', () => {
  const candles = generateSyntheticCandles({ mode: 'random-walk', count: 120, seed: 4 });
  const script = { [candles[0]!.symbol]: Object.fromEntries(candles.map((_, i) => [i, ((i * 37) % 100) / 100])) };

  it('records every prediction and resolves it only from the horizon-th later candle', async () => {
    const tracker = new PredictionTracker();
    const strategy = new MlStrategy({ predictor: scriptedPredictor(script, 3), tracker });
    const sim = createSimulation(NO_COSTS, strategy);
    await sim.engine.start();
    const key = (i: number) => ({
      symbol: candles[0]!.symbol,
      modelVersion: 'scripted',
      timestamp: candles[i]!.timestamp,
    });
    for (let i = 0; i < candles.length; i++) {
      sim.engine.processCandle(candles[i]!);
      // Made at the close of candle i, unresolved until candle i + 3 has closed.
      expect(tracker.get(key(i))?.outcome).toBeNull();
      if (i >= 1) expect(tracker.get(key(i - 1))?.outcome).toBeNull();
      if (i >= 3) {
        const t = tracker.get(key(i - 3))!;
        expect(t.resolvedAt).toBe(candles[i]!.timestamp);
        expect(t.price).toBe(candles[i - 3]!.close);
        expect(t.outcome).toBe(candles[i]!.close > candles[i - 3]!.close ? 1 : 0);
        expect(t.horizon).toBe(3);
      }
    }
    await sim.engine.stop();
    expect(tracker.stats()).toMatchObject({ count: 120, resolved: 117, pending: 3 });
  });

  it('a file-backed tracker reloads its history when the strategy restarts', async () => {
    const file = tempFile();
    const session = async (tracker: PredictionTracker, from: number, to: number) => {
      const strategy = new MlStrategy({ predictor: scriptedPredictorFrom(from), tracker });
      const sim = createSimulation(NO_COSTS, strategy);
      await drive(sim.engine, candles.slice(from, to));
      await sim.engine.stop();
    };
    // The scripted predictor counts candles per symbol; start it where the session starts.
    const scriptedPredictorFrom = (offset: number) => {
      const shifted = Object.fromEntries(
        Object.entries(script[candles[0]!.symbol]!).map(([i, p]) => [Number(i) - offset, p]),
      );
      return scriptedPredictor({ [candles[0]!.symbol]: shifted }, 3);
    };
    const first = PredictionTracker.open(file);
    await session(first, 0, 60);
    expect(first.stats()).toMatchObject({ count: 60, pending: 3 });
    first.close();

    const second = PredictionTracker.open(file);
    expect(second.loadReport.predictions).toBe(60);
    expect(second.stats()).toMatchObject({ count: 60, pending: 3 });
    await session(second, 60, 120);
    const whole = new PredictionTracker();
    await session(whole, 0, 120);
    expect(second.stats()).toEqual(whole.stats());
    expect(second.stats()).toMatchObject({ count: 120, pending: 3 });
    second.close();
  });
});
