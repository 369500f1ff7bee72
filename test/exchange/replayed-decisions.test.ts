/**
 * Decisions that fall in a downtime are not lost, and a restart decides what
 * an uninterrupted run decides. Live runs against the fake Binance (REAL
 * ccxt), SMA(3, 8) on a wavy series that crosses at 18 (up), 27 (down), 37
 * (up) and 46 (down): killed while long, the exit at 27 falls in the downtime.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runBacktest } from '../../backtest/run-backtest.js';
import { ConfigError } from '../../src/core/errors.js';
import { createJsonLogger } from '../../src/core/logger.js';
import type { Signal } from '../../src/core/types.js';
import { ReplayedDecisionsError } from '../../src/engine/order-gate.js';
import type { JournalState, RunTradingOptions } from '../../src/exchange/index.js';
import { SmaCrossover } from '../../strategies/sma-crossover.js';
import { type BinanceClient, type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { client, closeCandle, drive, FAST_RETRY, MIN, SYMBOL, T0, wavyCandles } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qf-replayed-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fake: FakeExchange;
let ex: BinanceClient;
beforeEach(async () => {
  fake = await startFakeExchange({ balances: { USDT: 10_000 } });
  fake.setCandles(SYMBOL, wavyCandles(60));
  fake.setNow(T0 + 9 * MIN);
  ex = await client(fake);
});
afterEach(async () => {
  await ex.close();
  await fake.close();
});

const minute = (t: number) => (t - T0) / MIN;
const decisions = (signals: readonly Signal[]) => signals.map((s) => [minute(s.timestamp), s.action, s.transition]);
const journalOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as JournalState;

function options(journalFile: string, extra: Partial<RunTradingOptions> = {}) {
  return {
    mode: 'live' as const,
    exchange: ex,
    symbols: [SYMBOL],
    timeframe: '1m',
    strategy: new SmaCrossover({ fast: 3, slow: 8 }),
    journalFile,
    warmupCandles: 8,
    feed: { pollIntervalMs: 20, websocket: false, ticks: false },
    retry: FAST_RETRY,
    ...extra,
  };
}

/** Runs from the fake's current time through candle `last`, then stops (the journal keeps the state). */
async function runUntil(journalFile: string, first: number, last: number, extra: Partial<RunTradingOptions> = {}) {
  const run = drive(options(journalFile, extra));
  await run.session.ready;
  for (let i = first; i <= last; i++) await closeCandle(fake, run, T0 + i * MIN);
  const summary = await run.session.stop();
  return { run, summary };
}

describe('a decision made while the bot was down', () => {
  it('is acted on at the newest candle, and the restart decides candle by candle what one uninterrupted run decides', {
    timeout: 20_000,
  }, async () => {
    const journalFile = path.join(dir, 'straddle.json');
    const a = await runUntil(journalFile, 9, 23); // long since the cross at 18
    expect(fake.orders().map((o) => o.side)).toEqual(['BUY']);
    expect(a.summary.positions[0]!.quantity).toBeGreaterThan(0);

    fake.setNow(T0 + 31 * MIN); // down for 7 candles (24..30); the exit at 27 falls among them
    const lines: string[] = [];
    const b = drive(options(journalFile, { log: createJsonLogger('info', (l) => lines.push(l)) }));
    await b.session.ready;
    expect(b.rec.statuses.map((s) => [minute(s.time), s.phase])).toEqual([
      [24, 'backfill'],
      [25, 'backfill'],
      [26, 'backfill'],
      [27, 'backfill'],
      [28, 'backfill'],
      [29, 'backfill'],
      [30, 'live'],
    ]);
    // the exit, decided at 27's close, placed at the close of the newest candle (30): flat again
    expect(fake.orders().map((o) => [o.side, o.status, minute(o.time)])).toEqual([
      ['BUY', 'FILLED', 19],
      ['SELL', 'FILLED', 31],
    ]);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'info',
        message: 'decision on a missed candle (not traded on it)',
        candle: new Date(T0 + 27 * MIN).toISOString(),
        transition: 'close-long',
      }),
    );
    expect(logged).toContainEqual(
      expect.objectContaining({
        message: 'acting on decisions made on replayed candles, at the newest candle',
        wants: 'flat',
        holds: 'long',
      }),
    );
    for (let i = 31; i <= 40; i++) await closeCandle(fake, b, T0 + i * MIN);
    const summary = await b.session.stop();
    expect(summary.orders.caughtUp).toBe(1);
    // no second entry while long: the next BUY is the cross at 37
    expect(fake.orders().map((o) => [o.side, minute(o.time)])).toEqual([
      ['BUY', 19],
      ['SELL', 31],
      ['BUY', 38],
    ]);

    // one uninterrupted run over the same candles decides the same, candle by candle
    const candles = [...a.run.rec.candles, ...b.rec.candles.filter((c) => c.timestamp > T0 + 23 * MIN)];
    expect(candles.map((c) => minute(c.timestamp))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const uninterrupted = await runBacktest({
      strategy: new SmaCrossover({ fast: 3, slow: 8 }),
      candles: [candles],
      config: { initialCash: 10_000, feeRate: 0.001, slippageBps: 5, closeAtEnd: false },
      benchmarks: false,
    });
    const restarted = [...a.run.rec.signals, ...b.rec.signals.filter((s) => s.timestamp > T0 + 23 * MIN)];
    expect(decisions(restarted)).toEqual(decisions(uninterrupted.signals));
    expect(decisions(restarted)).toEqual([
      [18, 'BUY', 'open-long'],
      [27, 'SELL', 'close-long'],
      [37, 'BUY', 'open-long'],
    ]);
  });

  it('after a downtime longer than the warm-up: the exit is still computed; with halt, nothing is sent until the operator says', {
    timeout: 20_000,
  }, async () => {
    const journalFile = path.join(dir, 'long-downtime.json');
    await runUntil(journalFile, 9, 20);
    fake.setNow(T0 + 35 * MIN); // 14 candles missed, more than the warm-up of 8 (+2)
    const halted = drive(options(journalFile, { replayedDecisions: 'halt' }));
    const err = await halted.session.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplayedDecisionsError);
    expect((err as Error).message).toMatch(
      /BTC\/USDT: the strategy wants flat, the account holds long \(close-long decided on the candle of 2024-01-01T00:27:00\.000Z: SMA\(3\).*--replayed-decisions act/,
    );
    expect(halted.rec.candles.map((c) => minute(c.timestamp))).toEqual(Array.from({ length: 22 }, (_, i) => i + 13));
    expect(fake.orders().map((o) => o.side)).toEqual(['BUY']); // nothing sent
    const saved = journalOf(journalFile);
    expect(saved.status).toBe('halted');
    expect(saved.lastCandle[SYMBOL]).toBe(T0 + 20 * MIN); // the missed candles stay missed

    const acted = drive(options(journalFile));
    await acted.session.ready;
    const summary = await acted.session.stop();
    expect(fake.orders().map((o) => [o.side, o.status, minute(o.time)])).toEqual([
      ['BUY', 'FILLED', 19],
      ['SELL', 'FILLED', 35],
    ]);
    expect(summary.positions).toEqual([]);
  });

  it('a warm-up below what the strategy declares it needs is refused, naming both numbers', async () => {
    const run = drive(options(path.join(dir, 'short.json'), { warmupCandles: 5 }));
    const err = await run.session.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /field 'warmup': --warmup 5 is below the 8 candles sma-crossover\(3,8,long-only\) needs .*give --warmup 8 or more/,
    );
    expect(fake.requests()).toHaveLength(0); // refused before anything is asked of the exchange
  });
});
