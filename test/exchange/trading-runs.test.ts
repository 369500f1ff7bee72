/**
 * Whole paper/live runs in this process against the fake exchange: restart
 * from the journal (paper continuity, live reconciliation with an order that
 * filled while stopped), balance mismatch policy, kill switch, cancel on exit,
 * credentials kept out of logs and errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBacktest } from '../../backtest/run-backtest.js';
import { createJsonLogger } from '../../src/core/logger.js';
import type { Strategy, StrategyContext } from '../../src/core/strategy.js';
import type { Candle } from '../../src/core/types.js';
import {
  credentialsFromEnv,
  type JournalState,
  KillSwitch,
  marketRules,
  ReconciliationHaltError,
  type ReconciliationReport,
  Redactor,
} from '../../src/exchange/index.js';
import { SmaCrossover } from '../../strategies/sma-crossover.js';
import { createCcxtClient, type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { client, closeCandle, drive, FAST_RETRY, MIN, SYMBOL, T0, wavyCandles } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qf-trading-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const journalOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as JournalState;
const feed = { pollIntervalMs: 20, websocket: false, ticks: false } as const;

describe('paper restart', () => {
  let fake: FakeExchange;
  afterEach(async () => fake.close());

  it('stopping with an order open and resuming continues exactly like one uninterrupted backtest', {
    timeout: 15_000,
  }, async () => {
    fake = await startFakeExchange();
    fake.setCandles(SYMBOL, wavyCandles(45));
    const journalFile = path.join(dir, 'paper-restart.json');
    const options = {
      mode: 'paper' as const,
      symbols: [SYMBOL],
      timeframe: '1m',
      journalFile,
      warmupCandles: 8,
      feed,
      retry: FAST_RETRY,
    };
    fake.setNow(T0 + 8 * MIN);
    const exA = await client(fake);
    const a = drive({ ...options, exchange: exA, strategy: new SmaCrossover({ fast: 3, slow: 8 }) });
    await a.session.ready;
    for (let i = 8; i <= 18; i++) await closeCandle(fake, a, T0 + i * MIN); // candle 18 signals BUY
    await a.session.stop();
    await exA.close();
    const saved = journalOf(journalFile);
    expect(saved.status).toBe('stopped');
    expect(saved.lastCandle[SYMBOL]).toBe(T0 + 18 * MIN);
    expect(saved.broker.kind === 'simulated' && saved.broker.state.openOrders).toHaveLength(1); // the BUY, unfilled

    // the exchange moved on by two candles while the process was stopped
    fake.setNow(T0 + 21 * MIN);
    const exB = await client(fake);
    const b = drive({ ...options, warmupCandles: 10, exchange: exB, strategy: new SmaCrossover({ fast: 3, slow: 8 }) });
    await b.session.ready;
    expect(b.rec.statuses.map((s) => [(s.time - T0) / MIN, s.phase])).toEqual([
      [19, 'backfill'],
      [20, 'live'],
    ]);
    for (let i = 21; i <= 40; i++) await closeCandle(fake, b, T0 + i * MIN);
    const summary = await b.session.stop();
    await exB.close();

    const processed: Candle[] = [...a.rec.candles, ...b.rec.candles.filter((c) => c.timestamp > T0 + 18 * MIN)];
    const backtest = await runBacktest({
      strategy: new SmaCrossover({ fast: 3, slow: 8 }),
      candles: [processed],
      config: {
        initialCash: 10_000,
        feeRate: 0.001,
        slippageBps: 5,
        closeAtEnd: false,
        markets: { [SYMBOL]: marketRules(exB, SYMBOL) },
      },
      benchmarks: false,
    });
    const signals = [...a.rec.signals, ...b.rec.signals.filter((s) => s.timestamp > T0 + 18 * MIN)];
    expect(signals).toEqual(backtest.signals);
    expect([...a.rec.fills, ...b.rec.fills]).toEqual(
      backtest.orders
        .filter((o) => o.status === 'filled')
        .map((o) => expect.objectContaining({ side: o.side, quantity: o.filledQuantity, price: o.averageFillPrice })),
    );
    expect(b.rec.fills[0]!.timestamp).toBe(T0 + 19 * MIN); // the restored order filled once, on the first missed candle
    expect(summary.equity).toBeCloseTo(backtest.metrics.finalEquity, 8);
  });
});

/** Keeps one limit order resting: a buy 2 % under the close when flat, a sell 2 % over it when long. */
class RestingLimit implements Strategy {
  readonly name = 'resting-limit';
  onCandle(candle: Candle, ctx: StrategyContext): void {
    if (ctx.broker.openOrders(candle.symbol).length > 0) return;
    const long = (ctx.portfolio.position(candle.symbol)?.quantity ?? 0) > 0;
    void ctx.broker.submit({
      symbol: candle.symbol,
      side: long ? 'sell' : 'buy',
      type: 'limit',
      limitPrice: Math.round(candle.close * (long ? 1.02 : 0.98) * 100) / 100,
      size: long ? { kind: 'all' } : { kind: 'quantity', quantity: 1 },
    });
  }
}

describe('live restart and reconciliation', () => {
  let fake: FakeExchange;
  beforeAll(async () => {
    fake = await startFakeExchange({ balances: { USDT: 1_000, BTC: 0.5 } });
    fake.setCandles(SYMBOL, wavyCandles(60));
  });
  afterAll(async () => fake.close());
  const journalFile = () => path.join(dir, 'live-restart.json');
  const base = () => ({
    mode: 'live' as const,
    symbols: [SYMBOL],
    timeframe: '1m',
    journalFile: journalFile(),
    warmupCandles: 3,
    feed,
    retry: FAST_RETRY,
    strategy: new RestingLimit(),
  });

  it('an order that filled while stopped is applied on restart; cancel-on-exit cancels what rests', {
    timeout: 15_000,
  }, async () => {
    fake.setNow(T0 + 5 * MIN);
    const exA = await client(fake);
    const a = drive({ ...base(), exchange: exA });
    await a.session.ready;
    await closeCandle(fake, a, T0 + 5 * MIN);
    await closeCandle(fake, a, T0 + 6 * MIN);
    const summaryA = await a.session.stop();
    await exA.close();
    expect(summaryA.orders.open).toBe(1);
    const resting = fake.orders()[0]!;
    expect(resting.status).toBe('NEW');
    const saved = journalOf(journalFile());
    expect(saved.broker.kind === 'ccxt' && saved.broker.state.orders.map((o) => [o.clientOrderId, o.status])).toEqual([
      [resting.clientOrderId, 'open'],
    ]);
    // cash is the bot's budget; the 0.5 BTC it did not buy stay out of its position
    expect(saved.portfolio.cash).toBe(1_000);
    expect(saved.portfolio.positions).toEqual([]);

    fake.fillOrder(resting.clientOrderId); // fills while the bot is down
    fake.setNow(T0 + 9 * MIN);
    const exB = await client(fake);
    const reports: ReconciliationReport[] = [];
    const b = drive({ ...base(), exchange: exB, cancelOnExit: true, onReconciliation: (r) => reports.push(r) });
    await b.session.ready;
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ clean: true, action: 'none', balanceDifferences: [] });
    expect(reports[0]!.filledWhileDown).toEqual([
      expect.objectContaining({
        clientOrderId: resting.clientOrderId,
        side: 'buy',
        quantity: 1,
        averagePrice: resting.price,
      }),
    ]);
    expect(b.rec.fills).toHaveLength(1);
    const summaryB = await b.session.stop();
    await exB.close();
    expect(summaryB.positions[0]).toMatchObject({ symbol: SYMBOL, quantity: 0.999 }); // 1 minus the fee in BTC
    const sell = fake.orders()[1]!;
    expect(sell).toMatchObject({ side: 'SELL', status: 'CANCELED' }); // placed on the live candle, cancelled on exit
    expect(fake.orders()).toHaveLength(2);
    expect(journalOf(journalFile()).status).toBe('stopped');
  });

  it('a balance the journal cannot explain halts the restart; the operator confirms and it adopts', {
    timeout: 15_000,
  }, async () => {
    fake.setBalance('USDT', fake.balance('USDT').free + 250); // a deposit while stopped
    const before = fake.requests({ endpoint: '/api/v3/order', method: 'POST' }).length;
    const exC = await client(fake);
    const c = drive({ ...base(), exchange: exC });
    const err = await c.session.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReconciliationHaltError);
    expect((err as Error).message).toMatch(
      /USDT balance [\d.]+ on the exchange vs [\d.]+ expected.*--confirm-reconciliation/,
    );
    const halted = journalOf(journalFile());
    expect(halted.status).toBe('halted');
    expect(halted.lastReconciliation?.balanceDifferences).toEqual([
      expect.objectContaining({ currency: 'USDT', difference: expect.closeTo(250, 6) }),
    ]);
    expect(fake.requests({ endpoint: '/api/v3/order', method: 'POST' })).toHaveLength(before); // nothing traded

    const d = drive({ ...base(), exchange: exC, confirmReconciliation: true });
    await d.session.ready;
    const summary = await d.session.stop();
    await exC.close();
    expect(summary.reconciliation?.action).toBe('adopted');
    expect(summary.cash).toBeCloseTo(halted.portfolio.cash + 250, 6);
    expect(journalOf(journalFile()).broker).toMatchObject({
      state: { balances: { USDT: expect.closeTo(fake.balance('USDT').free + fake.balance('USDT').locked, 6) } },
    });
  });
});

describe('kill switch', () => {
  it('trips on drawdown, lets the exit through, refuses new entries, and stays tripped after a restart that day', {
    timeout: 15_000,
  }, async () => {
    const fake = await startFakeExchange();
    fake.setCandles(SYMBOL, wavyCandles(70));
    const journalFile = path.join(dir, 'kill.json');
    const options = {
      mode: 'paper' as const,
      symbols: [SYMBOL],
      timeframe: '1m',
      journalFile,
      warmupCandles: 8,
      killSwitch: { maxDrawdown: 0.01 },
      feed,
      retry: FAST_RETRY,
    };
    fake.setNow(T0 + 9 * MIN);
    const ex = await client(fake);
    const a = drive({ ...options, exchange: ex, strategy: new SmaCrossover({ fast: 3, slow: 8 }) });
    await a.session.ready;
    for (let i = 9; i <= 40; i++) await closeCandle(fake, a, T0 + i * MIN);
    const summary = await a.session.stop();
    expect(summary.killSwitch?.reason).toMatch(/drawdown .* reached the limit 1.00 %/);
    const kill = a.rec.errors.filter((e) => e.context === 'kill-switch');
    expect(kill).toHaveLength(1);
    const refused = a.rec.orders.filter((o) => o.status === 'rejected' && /kill switch/.test(o.rejectReason ?? ''));
    expect(refused.map((o) => o.side)).toEqual(['buy']); // the BUY at 37
    const sells = a.rec.fills.filter((f) => f.side === 'sell');
    expect(sells).toHaveLength(1); // the exit went through after the trip
    expect(sells[0]!.timestamp).toBeGreaterThan(kill[0]!.timestamp as number);
    expect(journalOf(journalFile).killSwitch.tripped?.day).toBe('2024-01-01');

    const b = drive({ ...options, warmupCandles: 10, exchange: ex, strategy: new SmaCrossover({ fast: 3, slow: 8 }) });
    await b.session.ready;
    for (let i = 41; i <= 60; i++) await closeCandle(fake, b, T0 + i * MIN);
    const after = await b.session.stop();
    expect(after.orders.blockedByKillSwitch).toBeGreaterThanOrEqual(1);
    expect(after.fills).toBe(0);
    await ex.close();
    await fake.close();
  });

  it('lifts at the next UTC day and re-checks against the peak; survives JSON', () => {
    const day1 = Date.UTC(2024, 0, 1, 12);
    const k = new KillSwitch({ maxDailyLoss: 0.05, maxDrawdown: 0.2 });
    k.update(10_000, day1);
    expect(k.update(9_600, day1 + 1)).toBe(false);
    expect(k.update(9_499, day1 + 2)).toBe(true);
    expect(k.tripped?.reason).toMatch(/daily loss 5.01 %/);
    const restored = new KillSwitch(k.limits, JSON.parse(JSON.stringify(k.toJSON())));
    expect(restored.tripped?.day).toBe('2024-01-01');
    restored.update(9_500, day1 + 3_600_000);
    expect(restored.tripped).toBeDefined(); // same day: still tripped
    restored.update(9_500, day1 + 86_400_000);
    expect(restored.tripped).toBeUndefined(); // next day: lifted, 5 % below the peak is within the 20 % limit
    restored.update(7_900, day1 + 86_400_000 + 1);
    expect(restored.tripped?.reason).toMatch(/daily loss 16.84 %/);
    const dd = new KillSwitch({ maxDrawdown: 0.2 });
    dd.update(10_000, day1);
    dd.update(8_100, day1 + 86_400_000);
    expect(dd.tripped).toBeUndefined();
    dd.update(7_900, day1 + 86_400_000 + 1);
    expect(dd.tripped?.reason).toMatch(/drawdown 21.00 % reached the limit 20.00 %/);
  });
});

describe('journal', () => {
  it('one run per journal: a second one is refused while the first trades', { timeout: 10_000 }, async () => {
    const fake = await startFakeExchange();
    fake.setCandles(SYMBOL, wavyCandles(20));
    fake.setNow(T0 + 10 * MIN);
    const ex = await client(fake);
    const journalFile = path.join(dir, 'locked.json');
    const options = {
      mode: 'paper' as const,
      exchange: ex,
      symbols: [SYMBOL],
      timeframe: '1m',
      journalFile,
      warmupCandles: 8,
      feed,
    };
    const first = drive({ ...options, strategy: new SmaCrossover({ fast: 3, slow: 8 }) });
    await first.session.ready;
    const second = drive({ ...options, strategy: new SmaCrossover({ fast: 3, slow: 8 }) });
    await expect(second.session.done).rejects.toThrow(/journal .* is locked by pid/);
    await first.session.stop();
    expect(journalOf(journalFile).status).toBe('stopped');
    const third = drive({ ...options, strategy: new SmaCrossover({ fast: 3, slow: 8 }) });
    await third.session.ready; // free again once the first stopped
    await third.session.stop();
    await ex.close();
    await fake.close();
  });

  it('refuses a journal written by another run (mode, symbols, timeframe)', { timeout: 10_000 }, async () => {
    const fake = await startFakeExchange();
    fake.setCandles(SYMBOL, wavyCandles(20));
    fake.setNow(T0 + 10 * MIN);
    const ex = await client(fake);
    const journalFile = path.join(dir, 'kill.json'); // the kill switch test's paper journal, 1m BTC/USDT
    const run = drive({
      mode: 'paper',
      exchange: ex,
      symbols: [SYMBOL, 'ETH/USDT'],
      timeframe: '1m',
      journalFile,
      strategy: new SmaCrossover(),
      feed,
    });
    await expect(run.session.done).rejects.toThrow(
      /the journal belongs to another run: symbols BTC\/USDT \(now BTC\/USDT,ETH\/USDT\)/,
    );
    await ex.close();
    await fake.close();
  });
});

describe('credentials', () => {
  it('come from the environment, per exchange first; a half-set pair names the variable, not the value', () => {
    expect(credentialsFromEnv('binance', {})).toBeUndefined();
    expect(
      credentialsFromEnv('binance', {
        QUANTFLOW_API_KEY: 'generic-key',
        QUANTFLOW_API_SECRET: 'generic-secret',
        QUANTFLOW_BINANCE_API_KEY: 'binance-key',
        QUANTFLOW_BINANCE_API_SECRET: 'binance-secret',
      }),
    ).toEqual({ apiKey: 'binance-key', secret: 'binance-secret' });
    expect(
      credentialsFromEnv('okx', {
        QUANTFLOW_API_KEY: 'k-1234',
        QUANTFLOW_API_SECRET: 's-1234',
        QUANTFLOW_OKX_API_PASSWORD: 'p-1234',
      }),
    ).toEqual({
      apiKey: 'k-1234',
      secret: 's-1234',
      password: 'p-1234',
    });
    let message = '';
    try {
      credentialsFromEnv('kraken', { QUANTFLOW_KRAKEN_API_KEY: 'only-the-key-123' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/QUANTFLOW_KRAKEN_API_KEY is set but no API secret: set QUANTFLOW_KRAKEN_API_SECRET/);
    expect(message).not.toContain('only-the-key-123');
    const r = new Redactor(['binance-key', 'binance-secret']);
    expect(r.text('GET /api?signature=0123456789abcdef&x=1 key binance-key')).toBe(
      'GET /api?signature=***&x=1 key ***',
    );
  });

  it('never appear in logs, error events or thrown errors, even when the exchange echoes them', {
    timeout: 10_000,
  }, async () => {
    const apiKey = 'QFTESTKEY-a1b2c3d4e5f6';
    const secret = 'QFTESTSECRET-z9y8x7w6v5u4';
    const fake = await startFakeExchange({ balances: { USDT: 1_000 } });
    fake.setCandles(SYMBOL, wavyCandles(20));
    fake.setNow(T0 + 6 * MIN);
    const ex = await createCcxtClient(fake, { apiKey, secret, timeout: 1_000 });
    const lines: string[] = [];
    const echo = `Invalid API-key ${apiKey} or signature for secret ${secret}`;
    fake.inject({
      kind: 'binance-error',
      status: 400,
      code: -1022,
      msg: echo,
      endpoint: '/api/v3/order',
      method: 'POST',
    });
    const run = drive({
      mode: 'live',
      exchange: ex,
      symbols: [SYMBOL],
      timeframe: '1m',
      strategy: new RestingLimit(),
      warmupCandles: 3,
      feed,
      retry: FAST_RETRY,
      log: createJsonLogger('debug', (l) => lines.push(l)),
    });
    await run.session.ready;
    await closeCandle(fake, run, T0 + 6 * MIN);
    await run.session.stop();
    await ex.close();
    await fake.close();
    const rejected = run.rec.orders.filter((o) => o.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.rejectReason).toMatch(
      /AuthenticationError: .*Invalid API-key \*\*\* or signature for secret \*\*\*/,
    );
    const everything = [
      ...lines,
      ...run.rec.errors.map((e) => `${e.error.name} ${e.error.message} ${String(e.error.stack)}`),
      ...run.rec.orders.map((o) => JSON.stringify(o)),
    ].join('\n');
    expect(everything).toContain('***');
    expect(everything).not.toContain(apiKey);
    expect(everything).not.toContain(secret);
  });
});
