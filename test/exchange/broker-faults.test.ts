/**
 * CcxtBroker against the fake Binance through the REAL ccxt: every injected
 * order fault is survived, and the outcome (orders on the exchange, fills,
 * portfolio, events) is asserted. Time and requests are bounded per test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OrderRejectedError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { OrderRequest } from '../../src/core/types.js';
import { EventClock } from '../../src/engine/clock.js';
import { Portfolio } from '../../src/engine/portfolio.js';
import { CcxtBroker, type LiveOrder, Redactor } from '../../src/exchange/index.js';
import { type BinanceClient, type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { client, FAST_RETRY, MIN, type Recorder, recorder, SYMBOL, T0 } from './helpers.js';

let fake: FakeExchange;
let ex: BinanceClient;
let rec: Recorder;
let portfolio: Portfolio;
let broker: CcxtBroker;
let persisted: number;
const retries: { what: string; delayMs: number }[] = [];

const buy = (quantity: number, extra: Partial<OrderRequest> = {}): OrderRequest => ({
  symbol: SYMBOL,
  side: 'buy',
  type: 'market',
  size: { kind: 'quantity', quantity },
  clientOrderId: `test-${Math.random().toString(36).slice(2, 10)}`,
  ...extra,
});

beforeEach(async () => {
  fake = await startFakeExchange({ balances: { USDT: 10_000 } });
  fake.setNow(T0);
  fake.setPrice(SYMBOL, 100);
  ex = await client(fake, 400);
  await ex.loadMarkets();
  fake.clearRequests();
  rec = recorder();
  portfolio = new Portfolio(10_000);
  persisted = 0;
  retries.length = 0;
  broker = new CcxtBroker({
    exchange: ex,
    portfolio,
    events: rec.events,
    clock: new EventClock(T0),
    log: silentLogger,
    redactor: new Redactor(['fake-api-key', 'fake-api-secret']),
    retry: FAST_RETRY,
    acceptanceWindowMs: 300, // the fake executes at once: a short window keeps the re-send tests quick
    persist: async () => {
      persisted++;
    },
    onRetry: (r) => retries.push({ what: r.what, delayMs: r.delayMs }),
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
});

afterEach(async () => {
  await ex.close();
  await fake.close();
});

const posts = () => fake.requests({ endpoint: '/api/v3/order', method: 'POST' });

/** The bot's position equals the coins the exchange holds (fees in BTC included). */
function expectPositionMatchesExchange(): void {
  expect(portfolio.quantity(SYMBOL)).toBeCloseTo(fake.balance('BTC').free + fake.balance('BTC').locked, 9);
  expect(portfolio.cash).toBeCloseTo(fake.balance('USDT').free + fake.balance('USDT').locked, 6);
}

describe('CcxtBroker faults', () => {
  it('a market order fills, confirmed from the exchange trades, fee in BTC booked as less received', {
    timeout: 5_000,
  }, async () => {
    const order = await broker.submit(buy(0.5));
    expect(order).toMatchObject({ status: 'filled', filledQuantity: 0.5, averageFillPrice: 100 });
    expect((order as LiveOrder).exchangeOrderId).toBe(String(fake.orders()[0]!.orderId));
    expect(rec.fills).toHaveLength(1);
    expect(rec.fills[0]).toMatchObject({ quantity: 0.4995, price: 100, fee: 0.05 });
    expectPositionMatchesExchange();
    expect(fake.requests({ endpoint: 'myTrades' })).toHaveLength(1); // fills read back, not assumed
    expect(persisted).toBeGreaterThanOrEqual(2); // write-ahead, then the result
  });

  it('lost response (hang): the order is looked up by client id, never placed twice', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'lost-response', endpoint: '/api/v3/order', method: 'POST' });
    const order = await broker.submit(buy(0.2));
    expect(fake.orders()).toHaveLength(1);
    expect(posts()).toHaveLength(1);
    expect(order).toMatchObject({ status: 'filled', filledQuantity: 0.2 });
    const lookups = fake.requests({ endpoint: '/api/v3/order', method: 'GET' });
    expect(lookups[0]!.query.origClientOrderId).toBe(order.clientOrderId);
    expect(rec.fills).toHaveLength(1);
    expectPositionMatchesExchange();
  });

  it('lost response (dropped connection) and a retry of the same decision: still one order', {
    timeout: 5_000,
  }, async () => {
    fake.inject({ kind: 'lost-response', mode: 'drop', endpoint: '/api/v3/order', method: 'POST' });
    const req = buy(0.2);
    const first = await broker.submit(req);
    const again = await broker.submit(req); // the same client order id (e.g. the candle re-processed)
    expect(again).toBe(first);
    expect(fake.orders()).toHaveLength(1);
    expect(posts()).toHaveLength(1);
    expectPositionMatchesExchange();
  });

  it('5xx on the order: looked up (not there), re-sent once', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'server-error', status: 503, endpoint: '/api/v3/order', method: 'POST' });
    const order = await broker.submit(buy(0.1));
    expect(order.status).toBe('filled');
    expect(posts().map((r) => r.status)).toEqual([503, 200]);
    expect(fake.orders()).toHaveLength(1);
    expect(broker.stats.resent).toBe(1);
    expectPositionMatchesExchange();
  });

  it('malformed JSON answer to an executed order: found by lookup, not re-sent', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'malformed-json', endpoint: '/api/v3/order', method: 'POST' });
    const order = await broker.submit(buy(0.1));
    expect(order.status).toBe('filled');
    expect(posts()).toHaveLength(1);
    expect(fake.orders()).toHaveLength(1);
    expectPositionMatchesExchange();
  });

  it('malformed JSON and 5xx on the trades read-back are retried', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'malformed-json', endpoint: 'myTrades' });
    fake.inject({ kind: 'server-error', endpoint: 'myTrades' });
    const order = await broker.submit(buy(0.1));
    expect(order.status).toBe('filled');
    expect(fake.requests({ endpoint: 'myTrades' }).map((r) => r.fault)).toEqual([
      'malformed-json',
      'server-error',
      undefined,
    ]);
    expect(rec.fills).toHaveLength(1);
    expectPositionMatchesExchange();
  });

  it('429 on the order: waits Retry-After, looks up, re-sends once', { timeout: 6_000 }, async () => {
    fake.inject({ kind: 'rate-limit', retryAfterSeconds: 1, endpoint: '/api/v3/order', method: 'POST' });
    const order = await broker.submit(buy(0.1));
    expect(order.status).toBe('filled');
    const [limited, lookup, sent] = fake.requests().filter((r) => r.path === '/api/v3/order');
    expect(limited!.status).toBe(429);
    expect(lookup!.method).toBe('GET');
    expect(lookup!.time - limited!.time).toBeGreaterThanOrEqual(990);
    expect(sent!.method).toBe('POST');
    expect(fake.orders()).toHaveLength(1);
  });

  it('429 without Retry-After: exponential backoff with jitter spaces the retries', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'rate-limit', retryAfterSeconds: 0, endpoint: 'myTrades', count: 3 });
    await broker.submit(buy(0.1));
    const times = fake.requests({ endpoint: 'myTrades' }).map((r) => r.time);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // FAST_RETRY: 40 ms doubling, equal jitter: each wait is at least half its step
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
    expect(retries.filter((r) => r.what.startsWith('fetchOrderTrades')).map((r) => r.delayMs)).toHaveLength(3);
  });

  it('InsufficientFunds: rejected at once, error event, nothing changes, no retry', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'reject-order', reason: 'insufficient-balance', endpoint: '/api/v3/order', method: 'POST' });
    const order = await broker.submit(buy(0.1));
    expect(order.status).toBe('rejected');
    expect(order.rejectReason).toMatch(/InsufficientFunds/);
    expect(posts()).toHaveLength(1);
    expect(rec.errors).toHaveLength(1);
    expect(rec.errors[0]!.error).toBeInstanceOf(OrderRejectedError);
    expect(rec.errors[0]!.context).toBe('order');
    expect(portfolio.cash).toBe(10_000);
    expect(portfolio.positions()).toHaveLength(0);
    expect(broker.openOrders()).toHaveLength(0);
    expect(broker.toJSON().orders.find((o) => o.clientOrderId === order.clientOrderId)?.status).toBe('rejected');
  });

  it('InvalidOrder (lot size): rejected, error event, no retry', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'reject-order', reason: 'lot-size', endpoint: '/api/v3/order', method: 'POST' });
    const order = await broker.submit(buy(0.1));
    expect(order.status).toBe('rejected');
    expect(order.rejectReason).toMatch(/InvalidOrder.*LOT_SIZE/);
    expect(posts()).toHaveLength(1);
    expect(rec.errors.map((e) => e.error.name)).toEqual(['OrderRejectedError']);
    expect(portfolio.cash).toBe(10_000);
  });

  it('an unknown size kind is refused, not sized from the cash (the order path validates once for every broker)', {
    timeout: 5_000,
  }, async () => {
    const order = await broker.submit(buy(1, { size: { kind: 'lots', lots: 3 } as never }));
    expect(order.status).toBe('rejected');
    expect(order.rejectReason).toBe("unknown order size kind 'lots' (expected quantity, equity-fraction or all)");
    expect(posts()).toHaveLength(0);
    expect(portfolio.cash).toBe(10_000);
  });

  it('below the minimum cost: not sent, rejected with the reason', { timeout: 5_000 }, async () => {
    const order = await broker.submit(buy(0.01)); // 1 USDT < minNotional 5
    expect(order.status).toBe('rejected');
    expect(order.rejectReason).toMatch(/below the market minimum cost 5: not sent/);
    expect(posts()).toHaveLength(0);
    expect(rec.errors).toHaveLength(1);
    const tiny = await broker.submit(buy(0.000001)); // below the amount step
    expect(tiny.rejectReason).toMatch(/rounds to 0/);
    expect(posts()).toHaveLength(0);
  });

  it('partial fill of a market order: the filled half is applied, the rest expired', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'partial-fill', fraction: 0.5 });
    const order = await broker.submit(buy(0.2));
    expect(order).toMatchObject({ status: 'cancelled', filledQuantity: 0.1 });
    expect(order.rejectReason).toMatch(/expired after filling 0.1 of 0.2/);
    expectPositionMatchesExchange();
  });

  it('partial fill of a limit order: rests, the rest is picked up by the next sync, then cancel', {
    timeout: 5_000,
  }, async () => {
    fake.inject({ kind: 'partial-fill', fraction: 0.3 });
    const order = await broker.submit(buy(0.5, { type: 'limit', limitPrice: 100.5 }));
    expect(order).toMatchObject({ status: 'partially_filled', filledQuantity: 0.15 });
    expect(broker.openOrders()).toHaveLength(1);
    fake.fillOrder(order.clientOrderId, 0.2);
    await broker.syncOpenOrders();
    expect(order).toMatchObject({ status: 'partially_filled', filledQuantity: 0.35 });
    expect(rec.fills.map((f) => f.quantity)).toEqual([0.15 - 0.00015, 0.2 - 0.0002]);
    expect(await broker.cancel(order.clientOrderId)).toBe(true);
    expect(order.status).toBe('cancelled');
    expect(broker.openOrders()).toHaveLength(0);
    expectPositionMatchesExchange();
  });

  it('a timeout whose lookup also fails leaves the order uncertain, never re-sent; the next sync resolves it', {
    timeout: 8_000,
  }, async () => {
    fake.inject({ kind: 'lost-response', endpoint: '/api/v3/order', method: 'POST' });
    fake.inject({ kind: 'server-error', endpoint: '/api/v3/order', method: 'GET', count: FAST_RETRY.maxRetries + 1 });
    const order = (await broker.submit(buy(0.1))) as LiveOrder;
    expect(order.unknownOutcome).toBe(true);
    expect(posts()).toHaveLength(1);
    expect(rec.errors.some((e) => /will NOT be re-sent/.test(e.error.message))).toBe(true);
    await broker.syncOpenOrders();
    expect(order).toMatchObject({ status: 'filled', unknownOutcome: false, filledQuantity: 0.1 });
    expect(posts()).toHaveLength(1);
    expect(fake.orders()).toHaveLength(1);
    expectPositionMatchesExchange();
  });
});
