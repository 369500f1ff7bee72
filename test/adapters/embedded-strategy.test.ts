/**
 * EmbeddedStrategy: a hand-written bot loop drives the ML strategy and gets
 * the same signals (and shadow trades) as a backtest of the same strategy;
 * orders mode hands sized orders to a host broker and learns positions from
 * the fills the host reports; queued calls, ticks, errors, the one-call
 * factory with a model directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  candleFromOhlcv,
  createEmbeddedMlStrategy,
  EmbeddedStrategy,
  type HostOrder,
} from '../../src/adapters/embedded-strategy.js';
import { openModel } from '../../src/adapters/model-source.js';
import { ConfigError } from '../../src/core/errors.js';
import type { ErrorEvent } from '../../src/core/events.js';
import type { Candle, Fill, Signal } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { createSimulation } from '../../src/engine/simulation.js';
import { writeModelDirectory } from '../../src/models/model-files.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { trainModel } from '../../src/models/train.js';
import { MlStrategy } from '../../strategies/ml-strategy.js';
import { NO_COSTS } from '../engine/helpers.js';
import { scriptedPredictor } from '../helpers/ml-models.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';

const candles = generateSyntheticCandles({ count: 700, seed: 11, mode: 'planted', strength: 0.5 });
let model: ModelPredictor;
let files: Awaited<ReturnType<typeof trainModel>>['files'];
let dir: string;

beforeAll(async () => {
  const trained = await trainModel({
    candles: candles.slice(0, 400),
    seed: 7,
    name: 'embedded-tiny',
    featureSet: 'relative',
    kind: 'tfjs',
    calibration: 'none',
    network: { layers: [8], epochs: 3, earlyStopping: false, learningRate: 0.01 },
  });
  model = trained.predictor;
  files = trained.files;
  dir = await mkdtemp(path.join(tmpdir(), 'qf-embedded-'));
});

afterAll(async () => {
  await model?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const signalKey = (s: Signal) => `${s.timestamp} ${s.action} ${s.confidence.toFixed(6)} ${s.reason ?? ''}`;

describe('EmbeddedStrategy in a hand-written bot loop (signals only)', () => {
  it('gives the same signals and shadow trades as a backtest of the same strategy', async () => {
    const options = { threshold: 0.1, fraction: 0.5, stopLoss: 0.02, maxHoldCandles: 10 } as const;
    const test = candles.slice(400);

    // The backtest: the engine with the simulated broker, as `quantflow backtest` wires it.
    const backtestSignals: Signal[] = [];
    const sim = createSimulation(
      { ...NO_COSTS, feeRate: 0.001, slippageBps: 5 },
      new MlStrategy({ ...options, predictor: new RealtimePredictor(model) }),
    );
    sim.events.on('signal', (s) => backtestSignals.push(s));
    await sim.engine.start();
    for (const c of test) {
      const p = sim.engine.processCandle(c);
      if (p !== undefined) await p;
    }
    await sim.engine.stop();

    // The hand-written bot: its own loop, its own reaction to signals.
    const bot = new EmbeddedStrategy({
      strategy: new MlStrategy({ ...options, predictor: new RealtimePredictor(model) }),
    });
    expect(bot.mode).toBe('signals');
    const acted: Signal[] = [];
    const seen: Signal[] = [];
    await bot.start();
    for (const c of test) {
      const signals = await bot.candle(c);
      seen.push(...signals);
      for (const s of signals) if (s.action !== 'HOLD') acted.push(s);
    }
    await bot.stop();

    expect(seen.length).toBeGreaterThan(test.length / 2);
    expect(acted.length).toBeGreaterThan(5);
    expect(seen.map(signalKey)).toEqual(backtestSignals.map(signalKey));
    // The shadow account filled exactly what the backtest filled.
    const shadow = bot.orders().map((o) => `${o.createdAt} ${o.side} ${o.status} ${o.averageFillPrice} ${o.tag}`);
    const backtest = sim.broker
      .orders()
      .map((o) => `${o.createdAt} ${o.side} ${o.status} ${o.averageFillPrice} ${o.tag}`);
    expect(shadow).toEqual(backtest);
    expect(bot.portfolio.equity).toBeCloseTo(sim.portfolio.equity, 9);
  });

  it('says what each signal means for the position: the README loop enters exactly when the strategy does', {
    timeout: 20_000,
  }, async () => {
    // the probe's case: 3,000 BTC 1h candles, a model calling BUY on many candles while already long
    const BTC_1H = 'binance_BTC-USDT_1h.csv';
    const series = hasSharedData(BTC_1H) ? (await loadSharedCandles(BTC_1H)).candles.slice(0, 4000) : candles;
    const split = Math.floor(series.length / 4);
    const trained = await trainModel({
      candles: series.slice(0, split),
      seed: 7,
      name: 'btc-tiny',
      network: { layers: [8], epochs: 3, earlyStopping: false, learningRate: 0.01 },
    });
    try {
      const bot = new EmbeddedStrategy({
        strategy: new MlStrategy({ predictor: new RealtimePredictor(trained.predictor), threshold: 0.05 }),
      });
      const seen: Signal[] = [];
      let held = 0;
      let entries = 0;
      await bot.start();
      for (const c of series.slice(split)) {
        for (const signal of await bot.candle(c)) {
          seen.push(signal);
          // the README's loop: act on the transition, never on the call alone
          if (signal.transition === 'open-long') {
            expect(held).toBe(0);
            held = 1;
            entries++;
          } else if (signal.transition === 'close-long') {
            expect(held).toBe(1);
            held = 0;
          }
        }
      }
      await bot.stop();
      const buys = seen.filter((s) => s.action === 'BUY');
      const shadowEntries = bot.orders().filter((o) => o.side === 'buy');
      expect(entries).toBe(shadowEntries.length);
      expect(entries).toBeGreaterThan(3);
      expect(buys.length).toBeGreaterThan(entries); // BUY calls while long: 'hold-long', not entries
      expect(new Set(buys.map((s) => s.transition))).toEqual(new Set(['open-long', 'hold-long']));
      const flatSells = seen.filter((s) => s.action === 'SELL' && s.transition === 'stay-flat');
      expect(flatSells.length).toBeGreaterThan(0); // SELL while flat, long-only: nothing to do
      expect(flatSells.every((s) => s.target === 0 && s.size === undefined)).toBe(true);
      for (const s of seen.filter((x) => x.transition === 'open-long')) {
        expect(s).toMatchObject({ target: 1, size: { kind: 'equity-fraction', fraction: 0.1 } });
      }
    } finally {
      await trained.predictor.dispose();
    }
  });

  it('queues calls made without awaiting, passes ticks through, and converts OHLCV rows', async () => {
    const predictor = scriptedPredictor({ 'TEST/USDT': { 2: 0.9, 5: 0.1 } });
    const bot = new EmbeddedStrategy({ strategy: new MlStrategy({ predictor, threshold: 0.5 }) });
    const walk = randomWalkCandles({ count: 8 });
    void bot.start();
    // A websocket callback style host: fire and forget, results still in order.
    const pending = walk.map((c) =>
      bot.candle(candleFromOhlcv([c.timestamp, c.open, c.high, c.low, c.close, c.volume], c.symbol, c.timeframe)),
    );
    const results = await Promise.all(pending);
    expect(results.map((r) => r.map((s) => s.action).join(','))).toEqual([
      'HOLD',
      'HOLD',
      'BUY',
      'HOLD',
      'HOLD',
      'SELL',
      'HOLD',
      'HOLD',
    ]);
    expect(() => candleFromOhlcv([walk[0]!.timestamp, 1, 0.5, 0.9, 1, 1], 'TEST/USDT', '1h', 'host')).toThrow(
      /host candle .*: high 0.5 is below low 0.9/,
    );
    expect(() => candleFromOhlcv([walk[0]!.timestamp, 1, 1, 1, -1, 1], 'TEST/USDT', '1h')).toThrow(
      /field 'close'.*close must be > 0/,
    );
    const last = walk[walk.length - 1] as Candle;
    const tick = {
      symbol: last.symbol,
      timestamp: last.timestamp + 3_600_000 + 60_000,
      bid: 1,
      ask: 1.01,
      last: 1.005,
    };
    expect(await bot.tick(tick)).toEqual([]);
    expect(predictor.ticks).toEqual([tick]);
    await bot.stop();
    await bot.stop();
    expect(bot.state).toBe('stopped');
  });

  it('refuses what does not apply to signals mode', async () => {
    const predictor = scriptedPredictor({});
    expect(() => new EmbeddedStrategy({ strategy: undefined as never })).toThrow(ConfigError);
    expect(
      () =>
        new EmbeddedStrategy({
          strategy: new MlStrategy({ predictor }),
          portfolio: { cash: 1, equity: 1, position: () => undefined, positions: () => [] },
        }),
    ).toThrow(/portfolio applies with a broker/);
    const bot = new EmbeddedStrategy({ strategy: new MlStrategy({ predictor }) });
    expect(() => bot.fill({ orderId: 'x', quantity: 1, price: 1 })).toThrow(/applies with a broker/);
  });
});

describe('EmbeddedStrategy with the host bot executing orders', () => {
  it('hands sized orders to the host and trades on the fills it reports', async () => {
    // BUY at candle 2, BUY again at 3 (already long), SELL at 6.
    const predictor = scriptedPredictor({ 'TEST/USDT': { 2: 0.95, 3: 0.9, 6: 0.05 } });
    const received: HostOrder[] = [];
    const fills: Fill[] = [];
    const bot = new EmbeddedStrategy({
      strategy: new MlStrategy({ predictor, threshold: 0.5, fraction: 0.5 }),
      broker: { submit: (o) => void received.push(o) },
      initialCash: 1000,
      onFill: (f) => fills.push(f),
    });
    expect(bot.mode).toBe('orders');
    const walk = randomWalkCandles({ count: 9, seed: 3 });
    await bot.start();
    for (const c of walk) {
      // The host fills what it received at this candle's open (its exchange would).
      for (const h of received.splice(0)) {
        bot.fill({ orderId: h.order.id, quantity: h.quantity, price: c.open, fee: 0.1, timestamp: c.timestamp });
      }
      await bot.candle(c);
    }
    await bot.stop();

    const orders = bot.orders();
    expect(orders.map((o) => `${o.side} ${o.status} ${o.tag}`)).toEqual([
      'buy filled ml buy signal',
      'sell filled ml sell signal',
    ]);
    const [entry, exit] = orders;
    // Sized from the ledger at the signal candle's close: 50% of 1000.
    expect(fills[0]?.quantity).toBeCloseTo((0.5 * 1000) / (walk[2] as Candle).close, 9);
    expect(entry?.averageFillPrice).toBe((walk[3] as Candle).open);
    // The exit sells exactly the position the host reported.
    expect(fills[1]?.quantity).toBeCloseTo(fills[0]?.quantity as number, 12);
    expect(exit?.averageFillPrice).toBe((walk[7] as Candle).open);
    expect(bot.portfolio.position('TEST/USDT')).toBeUndefined();
    expect(bot.portfolio.cash).toBeCloseTo(
      1000 - fills[0]!.quantity * fills[0]!.price - 0.1 + fills[1]!.quantity * fills[1]!.price - 0.1,
      9,
    );
  });

  it('marks orders rejected when the host throws or rejects, and reports them as errors', async () => {
    const predictor = scriptedPredictor({ 'TEST/USDT': { 1: 0.95, 4: 0.95 } });
    const errors: ErrorEvent[] = [];
    let calls = 0;
    const bot = new EmbeddedStrategy({
      strategy: new MlStrategy({ predictor, threshold: 0.5 }),
      broker: {
        submit() {
          calls++;
          if (calls === 1) throw new Error('exchange down');
          return Promise.reject(new Error('insufficient balance'));
        },
      },
      onError: (e) => errors.push(e),
    });
    await bot.start();
    for (const c of randomWalkCandles({ count: 6 })) await bot.candle(c);
    await new Promise((r) => setTimeout(r, 0));
    await bot.stop();
    expect(bot.orders().map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(bot.orders().map((o) => o.rejectReason)).toEqual([
      'host broker failed: exchange down',
      'host broker failed: insufficient balance',
    ]);
    expect(errors.map((e) => e.context)).toEqual(['order', 'order']);
    expect(() => bot.fill({ orderId: bot.orders()[0]!.id, quantity: 1, price: 1 })).toThrow(/rejected/);
  });

  it("reads positions from the host's own portfolio when given", async () => {
    const predictor = scriptedPredictor({ 'TEST/USDT': { 1: 0.05 } });
    const received: HostOrder[] = [];
    const position = { symbol: 'TEST/USDT', quantity: 3, entryPrice: 100, openedAt: 0, markPrice: 100 };
    const bot = new EmbeddedStrategy({
      strategy: new MlStrategy({ predictor, threshold: 0.5 }),
      broker: { submit: (o) => void received.push(o) },
      portfolio: { cash: 0, equity: 300, position: () => position, positions: () => [position] },
    });
    await bot.start();
    for (const c of randomWalkCandles({ count: 3 })) await bot.candle(c);
    // The strategy took over the host's long and its SELL closes exactly it.
    expect(received.map((h) => `${h.order.side} ${h.quantity} ${h.order.reduceOnly}`)).toEqual(['sell 3 true']);
    expect(bot.cancelled(received[0]!.order.id).status).toBe('cancelled');
    await bot.stop();
  });
});

describe('createEmbeddedMlStrategy', () => {
  it('loads a model directory, trades it and disposes it on stop', async () => {
    const modelDir = path.join(dir, 'model');
    await writeModelDirectory(modelDir, files);
    const signals: Signal[] = [];
    const bot = await createEmbeddedMlStrategy({
      model: { modelDir },
      threshold: 0.1,
      onSignal: (s) => signals.push(s),
    });
    await bot.start();
    for (const c of candles.slice(400, 480)) await bot.candle(c);
    await bot.stop();
    expect(signals.length).toBeGreaterThan(40);
    expect(signals[0]?.prediction?.modelVersion).toMatch(/^embedded-tiny@[0-9a-f]{12}$/);

    // Same model from the directory and in memory: same predictions.
    const again = await openModel({ modelDir });
    const inMemory = new RealtimePredictor(model);
    try {
      for (const c of candles.slice(400, 480)) {
        const [a, b] = await Promise.all([again.predictor.onCandle(c), inMemory.onCandle(c)]);
        expect(a === undefined).toBe(b === undefined);
        if (a !== undefined) expect(a.prediction).toBeCloseTo(b?.prediction ?? Number.NaN, 6);
      }
    } finally {
      await again.close();
    }
  });
});
