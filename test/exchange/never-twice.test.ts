/**
 * Never two orders for one intent, against the fake Binance through the REAL
 * ccxt. Binance treats a client order id as unique only among OPEN orders, so
 * a re-send with the same id after a lost answer is not protection: the
 * order must not be sent again until the exchange can no longer accept the
 * first send (its recvWindow, which the fake enforces like Binance).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { OrderRequest } from '../../src/core/types.js';
import { EventClock } from '../../src/engine/clock.js';
import { Portfolio } from '../../src/engine/portfolio.js';
import { CcxtBroker, type JournalState, type LiveOrder, Redactor } from '../../src/exchange/index.js';
import { SmaCrossover } from '../../strategies/sma-crossover.js';
import { createCcxtClient, type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { closeCandle, drive, FAST_RETRY, MIN, recorder, SYMBOL, T0, wavyCandles } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qf-never-twice-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const posts = (fake: FakeExchange) => fake.requests({ endpoint: '/api/v3/order', method: 'POST' });
const lookups = (fake: FakeExchange) => fake.requests({ endpoint: '/api/v3/order', method: 'GET' });

describe('the probe: the exchange executes 4 s late, the client times out after 0.6 s', () => {
  let fake: FakeExchange;
  afterEach(async () => fake.close());

  // The exact numbers (timeout 600 ms, execution 4 s late, fraction 0.3), so this test takes ~5 s.
  it('a live run places one order: it looks the order up until the exchange could no longer accept it', {
    timeout: 20_000,
  }, async () => {
    fake = await startFakeExchange({ balances: { USDT: 10_000 } });
    fake.setCandles(SYMBOL, wavyCandles(40));
    fake.setNow(T0 + 9 * MIN);
    // Binance's default recvWindow: an order request is executed up to 5 s after its timestamp, never later
    const ex = await createCcxtClient(fake, { timeout: 600, options: { recvWindow: 5_000 } });
    const journalFile = path.join(dir, 'late.json');
    const run = drive({
      mode: 'live',
      exchange: ex,
      symbols: [SYMBOL],
      timeframe: '1m',
      strategy: new SmaCrossover({ fast: 3, slow: 8, fraction: 0.3 }),
      journalFile,
      warmupCandles: 8,
      feed: { pollIntervalMs: 20, websocket: false, ticks: false },
      retry: FAST_RETRY,
    });
    await run.session.ready;
    for (let i = 9; i <= 17; i++) await closeCandle(fake, run, T0 + i * MIN);
    expect(fake.orders()).toHaveLength(0);
    // candle 18 signals BUY: the exchange takes the order but executes it only 4 s later
    fake.inject({ kind: 'delay', ms: 4_000, endpoint: '/api/v3/order', method: 'POST' });
    fake.setNow(T0 + 19 * MIN);
    await run.processed(T0 + 18 * MIN, 15_000);
    const summary = await run.session.stop();
    await ex.close();

    expect(fake.orders().map((o) => [o.side, o.status])).toEqual([['BUY', 'FILLED']]);
    expect(posts(fake)).toHaveLength(1);
    const seen = lookups(fake);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen[0]!.status).toBe(400); // asked before the exchange executed: not there yet
    expect(seen.at(-1)!.status).toBe(200); // then found: not sent again
    expect(seen.every((r) => r.query.origClientOrderId === fake.orders()[0]!.clientOrderId)).toBe(true);
    // the bot holds exactly what the exchange holds
    expect(summary.positions[0]!.quantity).toBeCloseTo(fake.balance('BTC').free, 9);
    const saved = JSON.parse(readFileSync(journalFile, 'utf8')) as JournalState;
    expect(saved.broker.kind === 'ccxt' && saved.broker.state.orders.map((o) => o.status)).toEqual(['filled']);
  });
});

describe('CcxtBroker: a send without an answer', () => {
  let fake: FakeExchange;
  afterEach(async () => fake.close());

  async function setup(recvWindow: number, timeout: number, acceptanceWindowMs?: number) {
    fake = await startFakeExchange({ balances: { USDT: 10_000 } });
    fake.setNow(T0);
    fake.setPrice(SYMBOL, 100);
    const ex = await createCcxtClient(fake, { timeout, options: { recvWindow } });
    await ex.loadMarkets();
    fake.clearRequests();
    const rec = recorder();
    const portfolio = new Portfolio(10_000);
    const broker = new CcxtBroker({
      exchange: ex,
      portfolio,
      events: rec.events,
      clock: new EventClock(T0),
      log: silentLogger,
      redactor: new Redactor(),
      retry: FAST_RETRY,
      ...(acceptanceWindowMs !== undefined ? { acceptanceWindowMs } : {}),
    });
    broker.onCandle({
      timestamp: T0 - MIN,
      open: 100,
      high: 100,
      low: 100,
      close: 100,
      volume: 1,
      symbol: SYMBOL,
      timeframe: '1m',
    });
    return { ex, rec, portfolio, broker };
  }
  const buy = (clientOrderId: string): OrderRequest => ({
    symbol: SYMBOL,
    side: 'buy',
    type: 'market',
    size: { kind: 'quantity', quantity: 0.1 },
    clientOrderId,
  });

  it('control: without the window (one lookup, then a re-send) the same case fills twice', {
    timeout: 8_000,
  }, async () => {
    const { ex, broker } = await setup(5_000, 250, 1);
    fake.inject({ kind: 'delay', ms: 1_000, endpoint: '/api/v3/order', method: 'POST' });
    await broker.submit(buy('old-rule'));
    await new Promise((r) => setTimeout(r, 1_000)); // the first send executes late
    await ex.close();
    expect(fake.orders().map((o) => [o.clientOrderId, o.status])).toEqual([
      ['old-rule', 'FILLED'],
      ['old-rule', 'FILLED'],
    ]);
  });

  it('a send the exchange never got is sent again once its window has passed, not before', {
    timeout: 8_000,
  }, async () => {
    const { ex, broker } = await setup(500, 250);
    fake.inject({ kind: 'hang', endpoint: '/api/v3/order', method: 'POST' }); // never reaches the matching engine
    const order = await broker.submit(buy('never-got-it'));
    await ex.close();
    expect(order).toMatchObject({ status: 'filled', filledQuantity: 0.1 });
    expect(fake.orders()).toHaveLength(1);
    const [first, second] = posts(fake);
    expect(posts(fake)).toHaveLength(2);
    // recvWindow 500 ms + 1 s for the clocks: no re-send before the exchange stops accepting the first
    expect(second!.time - first!.time).toBeGreaterThanOrEqual(1_500);
    expect(lookups(fake).filter((r) => r.time > first!.time && r.time < second!.time).length).toBeGreaterThanOrEqual(2);
    expect(broker.stats.resent).toBe(1);
  });

  it('a send executed too late is refused by the exchange (recvWindow) and sent again: one order', {
    timeout: 8_000,
  }, async () => {
    const { ex, broker } = await setup(400, 200);
    // reaches the exchange 1.2 s late: past its recvWindow, so Binance refuses it instead of executing it
    fake.inject({ kind: 'delay', ms: 1_200, endpoint: '/api/v3/order', method: 'POST' });
    const order = await broker.submit(buy('too-late'));
    await ex.close();
    expect(order.status).toBe('filled');
    expect(posts(fake)).toHaveLength(2); // the first reached the exchange too late and was refused, not executed
    expect(fake.orders()).toHaveLength(1);
  });

  it('a trade no known order explains: the order is left uncertain, never sent again', { timeout: 8_000 }, async () => {
    const { ex, rec, broker } = await setup(5_000, 250, 600);
    fake.inject({ kind: 'hang', endpoint: '/api/v3/order', method: 'POST' });
    // someone else trades the symbol on the same account while our answer is missing
    const other = await createCcxtClient(fake, { timeout: 1_000 });
    await other.loadMarkets();
    const pending = broker.submit(buy('uncertain'));
    await new Promise((r) => setTimeout(r, 300));
    await other.createOrder(SYMBOL, 'market', 'buy', 0.05);
    const order = (await pending) as LiveOrder;
    await other.close();
    await ex.close();
    expect(order.unknownOutcome).toBe(true);
    expect(posts(fake).filter((r) => r.query.newClientOrderId === 'uncertain')).toHaveLength(1);
    expect(rec.errors.some((e) => /belong to no known order; .*will NOT be re-sent/.test(e.error.message))).toBe(true);
  });
});
