/**
 * Paper and live runs over candles served by the fake exchange decide exactly
 * what a backtest over the same candles decides: same strategy class, same
 * engine; paper also fills like the backtest (the same SimulatedBroker), live
 * sends the same orders to the exchange at the same candle times.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBacktest } from '../../backtest/run-backtest.js';
import type { Candle, Order, Signal } from '../../src/core/types.js';
import { marketRules } from '../../src/exchange/index.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { MlStrategy } from '../../strategies/ml-strategy.js';
import { SmaCrossover } from '../../strategies/sma-crossover.js';
import { type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { trainTinyModel } from '../helpers/ml-models.js';
import { client, closeCandle, drive, FAST_RETRY, MIN, SYMBOL, T0, toCandles, wavyCandles } from './helpers.js';

const ETH = 'ETH/USDT';
const COUNT = 40;

const orderView = (o: Order) => ({
  symbol: o.symbol,
  side: o.side,
  type: o.type,
  size: o.size,
  status: o.status,
  filledQuantity: o.filledQuantity,
  averageFillPrice: o.averageFillPrice,
  createdAt: o.createdAt,
  tag: o.tag,
});

function bySymbolThenTime(candles: readonly Candle[], symbols: readonly string[]): Candle[][] {
  return symbols.map((s) => candles.filter((c) => c.symbol === s));
}

async function runAndStep(
  fake: FakeExchange,
  mode: 'paper' | 'live',
  strategy: SmaCrossover | MlStrategy,
  symbols: readonly string[],
  warmup: number,
  firstLive: number,
  last: number,
  websocket: boolean,
) {
  fake.setNow(T0 + firstLive * MIN);
  const ex = await client(fake);
  const run = drive({
    mode,
    exchange: ex,
    symbols,
    timeframe: '1m',
    strategy,
    warmupCandles: warmup,
    cash: 10_000,
    feed: { pollIntervalMs: 20, websocket, ticks: false },
    retry: FAST_RETRY,
  });
  await run.session.ready;
  for (let i = firstLive; i <= last; i++) await closeCandle(fake, run, T0 + i * MIN);
  const summary = await run.session.stop();
  await ex.close();
  return { run, summary, ex };
}

describe('paper and live decide like the backtest', () => {
  let fake: FakeExchange;
  const btc = wavyCandles(COUNT);
  const eth = wavyCandles(COUNT, T0, 50);

  beforeAll(async () => {
    fake = await startFakeExchange({ balances: { USDT: 10_000 } });
    fake.setCandles(SYMBOL, btc);
    fake.setCandles(ETH, eth);
  });
  afterAll(async () => {
    await fake.close();
  });

  it('paper (REST polling, two symbols): same signals, orders, fills and equity as the backtest', {
    timeout: 15_000,
  }, async () => {
    const symbols = [SYMBOL, ETH];
    const { run, summary, ex } = await runAndStep(
      fake,
      'paper',
      new SmaCrossover({ fast: 3, slow: 8, fraction: 0.5 }),
      symbols,
      8,
      8,
      COUNT - 2,
      false,
    );
    const candles = run.rec.candles;
    expect(candles).toHaveLength(2 * (8 + COUNT - 2 - 8 + 1));
    const backtest = await runBacktest({
      strategy: new SmaCrossover({ fast: 3, slow: 8, fraction: 0.5 }),
      candles: bySymbolThenTime(candles, symbols),
      config: {
        initialCash: 10_000,
        feeRate: 0.001,
        slippageBps: 5,
        closeAtEnd: false,
        markets: { [SYMBOL]: marketRules(ex, SYMBOL), [ETH]: marketRules(ex, ETH) },
      },
      benchmarks: false,
    });
    expect(backtest.signals.length).toBeGreaterThanOrEqual(4);
    expect(run.rec.signals).toEqual(backtest.signals);
    expect(run.rec.fills.length).toBeGreaterThanOrEqual(3);
    const paperOrders = [...new Map(run.rec.orders.map((o) => [o.id, o])).values()];
    expect(paperOrders.map(orderView)).toEqual(backtest.orders.map(orderView));
    expect(summary.equity).toBeCloseTo(backtest.metrics.finalEquity, 8);
    expect(summary.candles).toEqual({ warmup: 16, backfill: 0, live: candles.length - 16 });
  });

  it('live (websocket trigger): same signals as the backtest, the same orders sent at the same candle closes', {
    timeout: 15_000,
  }, async () => {
    const before = fake.orders().length;
    const { run, summary } = await runAndStep(
      fake,
      'live',
      new SmaCrossover({ fast: 3, slow: 8 }),
      [SYMBOL],
      8,
      8,
      COUNT - 2,
      true,
    );
    const backtest = await runBacktest({
      strategy: new SmaCrossover({ fast: 3, slow: 8 }),
      candles: [run.rec.candles],
      config: { initialCash: 10_000, feeRate: 0.001, slippageBps: 5, closeAtEnd: false },
      benchmarks: false,
    });
    expect(run.rec.signals).toEqual(backtest.signals);
    const sent = fake.orders().slice(before);
    expect(sent.map((o) => [o.side.toLowerCase(), o.time])).toEqual(backtest.orders.map((o) => [o.side, o.createdAt]));
    expect(sent.every((o) => o.status === 'FILLED' && /^qf[0-9a-f]{8}/.test(o.clientOrderId))).toBe(true);
    expect(summary.feed?.timeRequests).toBeLessThanOrEqual(3); // the websocket, not polling, told when candles closed
    expect(summary.errors).toBe(0);
  });
});

describe('the ML strategy with a tiny trained model', () => {
  let fake: FakeExchange;
  let model: ModelPredictor;
  const served = wavyCandles(90, T0, 200);

  beforeAll(async () => {
    // trained until it has learnt the waves' rhythm (whatever the seed), so on the served waves its
    // p(up) swings from near 0 to near 1 and the strategy both buys and sells
    model = await trainTinyModel(toCandles(wavyCandles(600, T0 - 700 * MIN, 200)), { epochs: 30 });
    fake = await startFakeExchange({ balances: { USDT: 10_000 } });
    fake.setCandles(SYMBOL, served);
  });
  afterAll(async () => {
    await fake.close();
    await model.dispose();
  });

  const strategy = () => new MlStrategy({ predictor: new RealtimePredictor(model), threshold: 0.1, fraction: 0.2 });

  it('paper and live: the same predictions and signals as the backtest, paper fills identical', {
    timeout: 30_000,
  }, async () => {
    // the predictor's first prediction comes on its `warmupCandles`-th candle, the last of the warm-up: a
    // decision there is acted on at that candle's close, as the backtest does
    const warmup = new RealtimePredictor(model).warmupCandles;
    const first = warmup;
    const last = first + 30;
    const paper = await runAndStep(fake, 'paper', strategy(), [SYMBOL], warmup, first, last, false);
    const backtest = await runBacktest({
      strategy: strategy(),
      candles: [paper.run.rec.candles],
      config: {
        initialCash: 10_000,
        feeRate: 0.001,
        slippageBps: 5,
        closeAtEnd: false,
        markets: { [SYMBOL]: marketRules(paper.ex, SYMBOL) },
      },
      benchmarks: false,
    });
    const predicted = backtest.signals.filter((s: Signal) => s.prediction !== undefined);
    expect(predicted.length).toBe(last - first + 2); // the last warm-up candle and every live one
    expect(backtest.orders.filter((o) => o.side === 'buy').length).toBeGreaterThanOrEqual(1);
    expect(backtest.orders.filter((o) => o.side === 'sell').length).toBeGreaterThanOrEqual(1);
    expect(paper.run.rec.signals).toEqual(backtest.signals);
    expect(paper.summary.equity).toBeCloseTo(backtest.metrics.finalEquity, 8);

    const before = fake.orders().length;
    const live = await runAndStep(fake, 'live', strategy(), [SYMBOL], warmup, first, last, true);
    expect(live.run.rec.candles.map((c) => c.timestamp)).toEqual(paper.run.rec.candles.map((c) => c.timestamp));
    const view = (s: Signal) => [s.timestamp, s.action, s.prediction?.prediction];
    expect(live.run.rec.signals.map(view)).toEqual(backtest.signals.map(view));
    const sent = fake.orders().slice(before);
    expect(sent.map((o) => [o.side.toLowerCase(), o.time])).toEqual(backtest.orders.map((o) => [o.side, o.createdAt]));
  });
});
