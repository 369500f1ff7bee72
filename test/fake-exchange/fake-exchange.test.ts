/**
 * The fake exchange, exercised through the REAL ccxt binance / pro.binance classes:
 * every assertion here is about what ccxt 4.5 makes of Binance's answers.
 */
import ccxt from 'ccxt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BinanceClient,
  createCcxtClient,
  type FakeCandle,
  type FakeExchange,
  startFakeExchange,
} from './index.js';

const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;

/** Minute candles with 2-decimal prices, so Binance's 8-decimal strings read back exactly. */
function minuteCandles(count: number, start = T0, startPrice = 100): FakeCandle[] {
  const out: FakeCandle[] = [];
  let price = startPrice;
  for (let i = 0; i < count; i++) {
    const open = price;
    const close = Math.round((open + ((i * 7919) % 13) * 0.1 - 0.6) * 100) / 100;
    out.push({
      timestamp: start + i * MIN,
      open,
      high: Math.max(open, close) + 0.5,
      low: Math.min(open, close) - 0.5,
      close,
      volume: 1 + (i % 5),
    });
    price = close;
  }
  return out;
}

const row = (c: FakeCandle) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume];

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

let fake: FakeExchange;
let ex: BinanceClient;

beforeEach(async () => {
  fake = await startFakeExchange({ balances: { USDT: 10_000 } });
  ex = await createCcxtClient(fake, { timeout: 800 });
});

afterEach(async () => {
  await ex.close();
  await fake.close();
});

describe('markets and market data', () => {
  it('loads markets with one exchangeInfo request, filters as precision and limits', { timeout: 5_000 }, async () => {
    const markets = await ex.loadMarkets();
    expect(Object.keys(markets).sort()).toEqual(['BTC/USDT', 'ETH/USDT']);
    const btc = markets['BTC/USDT']!;
    expect(btc.precision).toMatchObject({ amount: 0.00001, price: 0.01 });
    expect(btc.limits.amount).toEqual({ min: 0.00001, max: 9000 });
    expect(btc.limits.cost?.min).toBe(5);
    expect(fake.requests().map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v3/exchangeInfo']);
  });

  it('serves klines like Binance: startTime, endTime, limit, forming candle last', { timeout: 10_000 }, async () => {
    const candles = minuteCandles(2600);
    fake.setCandles('BTC/USDT', candles);
    fake.setNow(T0 + 2400 * MIN + 30_000); // candle 2400 is half formed
    await ex.loadMarkets();
    fake.clearRequests();

    const got: number[][] = [];
    let since = T0;
    for (let page = 0; page < 10; page++) {
      const batch = await ex.fetchOHLCV('BTC/USDT', '1m', since, 1000);
      if (batch.length === 0) break;
      got.push(...(batch as number[][]));
      since = (batch[batch.length - 1]![0] as number) + MIN;
    }
    const klines = fake.requests({ endpoint: 'klines' });
    expect(klines).toHaveLength(4); // 1000 + 1000 + 401 + an empty answer
    expect(klines[0]!.query).toMatchObject({ symbol: 'BTCUSDT', interval: '1m', startTime: String(T0), limit: '1000' });
    expect(got).toHaveLength(2401);
    expect(got.slice(0, 2400)).toEqual(candles.slice(0, 2400).map(row));
    // the forming candle: open time now's minute, half its volume, price half way from open to close
    const forming = got[2400]!;
    const c = candles[2400]!;
    expect(forming[0]).toBe(c.timestamp);
    expect(forming[5]).toBeCloseTo(c.volume / 2, 8);
    expect(forming[4]).toBeCloseTo((c.open + c.close) / 2, 8);

    // no since: the most recent `limit`; until only: the `limit` before it
    expect((await ex.fetchOHLCV('BTC/USDT', '1m', undefined, 3)).map((k) => k[0])).toEqual([
      T0 + 2398 * MIN,
      T0 + 2399 * MIN,
      T0 + 2400 * MIN,
    ]);
    const until = await ex.fetchOHLCV('BTC/USDT', '1m', undefined, 2, { until: T0 + 10 * MIN });
    expect(until.map((k) => k[0])).toEqual([T0 + 9 * MIN, T0 + 10 * MIN]);
    // Binance refuses limit > 1000 (ccxt caps it, so call the raw endpoint)
    const err = await failure(ex.publicGetKlines({ symbol: 'BTCUSDT', interval: '1m', limit: 1001 }));
    expect(err).toBeInstanceOf(ccxt.BadRequest);
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(7);
  });

  it('fetchTicker from 24 h statistics, fetchBalance from the account', { timeout: 5_000 }, async () => {
    fake.setCandles('BTC/USDT', minuteCandles(100));
    fake.setNow(T0 + 99 * MIN + 59_999);
    fake.setPrice('BTC/USDT', 101.25);
    const ticker = await ex.fetchTicker('BTC/USDT');
    expect(ticker).toMatchObject({ symbol: 'BTC/USDT', last: 101.25, bid: 101.25, ask: 101.25, open: 100 });
    expect(ticker.timestamp).toBe(fake.now());
    expect(fake.requests({ endpoint: 'ticker/24hr' })).toHaveLength(1);

    fake.setBalance('BTC', 0.5);
    const balance = await ex.fetchBalance();
    expect(balance.USDT).toEqual({ free: 10_000, used: 0, total: 10_000 });
    expect(balance.BTC).toEqual({ free: 0.5, used: 0, total: 0.5 });
    const account = fake.requests({ endpoint: 'account' })[0]!;
    expect(account.query.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(account.query.timestamp)).toBeGreaterThan(0);
  });

  it('refuses signed endpoints without an api key (-2014) and unknown symbols (-1121)', {
    timeout: 5_000,
  }, async () => {
    const unsigned = await fetch(`${fake.url}/api/v3/account?timestamp=1&signature=x`);
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toEqual({ code: -2014, msg: 'API-key format invalid.' });
    const err = await failure(ex.publicGetKlines({ symbol: 'NOPEUSDT', interval: '1m' }));
    expect(err).toBeInstanceOf(ccxt.BadSymbol);
  });
});

describe('orders', () => {
  beforeEach(async () => {
    fake.setPrice('BTC/USDT', 40_000);
    await ex.loadMarkets();
  });

  it('market order fills at the price, fee in the asset received, balances follow', { timeout: 5_000 }, async () => {
    const order = await ex.createOrder('BTC/USDT', 'market', 'buy', 0.01, undefined, { clientOrderId: 'mkt-1' });
    expect(order).toMatchObject({
      id: '1001',
      clientOrderId: 'mkt-1',
      status: 'closed',
      filled: 0.01,
      average: 40_000,
    });
    expect(order.fee).toEqual({ currency: 'BTC', cost: 0.00001 });
    const balance = await ex.fetchBalance();
    expect(balance.USDT?.free).toBe(9_600);
    expect(balance.BTC?.free).toBe(0.00999);

    const sell = await ex.createOrder('BTC/USDT', 'market', 'sell', 0.005);
    expect(sell.status).toBe('closed');
    expect(sell.clientOrderId).toMatch(/^x-TKT5PX2F/); // ccxt's broker prefix when none is given
    expect(fake.balance('USDT').free).toBeCloseTo(9_600 + 200 - 0.2, 8);
    expect(fake.requests({ endpoint: 'order', method: 'POST' })).toHaveLength(2);
  });

  it('limit order rests (funds locked), fills when the price moves through it', { timeout: 5_000 }, async () => {
    const order = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.01, 39_000, { clientOrderId: 'lim-1' });
    expect(order.status).toBe('open');
    expect((await ex.fetchBalance()).USDT).toEqual({ free: 9_610, used: 390, total: 10_000 });
    expect((await ex.fetchOpenOrders('BTC/USDT')).map((o) => o.id)).toEqual([order.id]);
    expect((await ex.fetchOrder(order.id!, 'BTC/USDT')).status).toBe('open');
    expect((await ex.fetchOrder('', 'BTC/USDT', { clientOrderId: 'lim-1' })).id).toBe(order.id);

    fake.setPrice('BTC/USDT', 38_990);
    const filled = await ex.fetchOrder(order.id!, 'BTC/USDT');
    expect(filled).toMatchObject({ status: 'closed', filled: 0.01, average: 39_000 });
    expect(await ex.fetchOpenOrders('BTC/USDT')).toEqual([]);
    const trades = await ex.fetchMyTrades('BTC/USDT');
    expect(trades.map((t) => [t.order, t.side, t.price, t.amount, t.takerOrMaker])).toEqual([
      [order.id, 'buy', 39_000, 0.01, 'maker'],
    ]);
    expect((await ex.fetchBalance()).USDT).toEqual({ free: 9_610, used: 0, total: 9_610 });
  });

  it('limit orders fill as the clock moves candles through them', { timeout: 5_000 }, async () => {
    const candles = minuteCandles(30, T0, 40_000);
    fake.setCandles('BTC/USDT', candles);
    fake.setNow(T0);
    const lowest = Math.min(...candles.slice(0, 20).map((c) => c.low));
    const order = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, lowest + 0.01);
    expect(order.status).toBe('open');
    fake.advance(20 * MIN);
    expect((await ex.fetchOrder(order.id!, 'BTC/USDT')).status).toBe('closed');
  });

  it('cancelOrder, cancelAllOrders, and -2011 / -2013 for unknown orders', { timeout: 5_000 }, async () => {
    const order = await ex.createOrder('BTC/USDT', 'limit', 'sell', 0.001, 45_000).catch((e: Error) => e);
    expect(order).toBeInstanceOf(ccxt.InsufficientFunds); // no BTC yet
    fake.setBalance('BTC', 1);
    const sell = await ex.createOrder('BTC/USDT', 'limit', 'sell', 0.001, 45_000, { clientOrderId: 'sell-1' });
    expect(fake.balance('BTC')).toEqual({ free: 0.999, locked: 0.001 });
    const cancelled = await ex.cancelOrder(sell.id!, 'BTC/USDT');
    expect(cancelled).toMatchObject({ id: sell.id, status: 'canceled' });
    // like Binance, a cancel's clientOrderId is the cancel request's own id; the order's is in info.origClientOrderId
    expect(cancelled.info.origClientOrderId).toBe('sell-1');
    expect(fake.balance('BTC')).toEqual({ free: 1, locked: 0 });
    expect(await failure(ex.cancelOrder(sell.id!, 'BTC/USDT'))).toBeInstanceOf(ccxt.OrderNotFound);
    expect(await failure(ex.fetchOrder('424242', 'BTC/USDT'))).toBeInstanceOf(ccxt.OrderNotFound);

    await ex.createOrder('BTC/USDT', 'limit', 'sell', 0.001, 45_000);
    await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 35_000);
    const all = await ex.cancelAllOrders('BTC/USDT');
    expect(all.map((o) => o.status)).toEqual(['canceled', 'canceled']);
    expect(fake.balance('BTC')).toEqual({ free: 1, locked: 0 });
    expect(fake.balance('USDT')).toEqual({ free: 10_000, locked: 0 });
  });

  it('filters and funds refused as Binance does', { timeout: 5_000 }, async () => {
    const insufficient = await failure(ex.createOrder('BTC/USDT', 'market', 'buy', 1));
    expect(insufficient).toBeInstanceOf(ccxt.InsufficientFunds);
    // ccxt rounds amounts to the step itself, so send a bad quantity through the raw endpoint
    const lot = await failure(
      ex.privatePostOrder({
        symbol: 'BTCUSDT',
        side: 'BUY',
        type: 'LIMIT',
        timeInForce: 'GTC',
        quantity: '0.000015',
        price: '39000',
      }),
    );
    expect(lot).toBeInstanceOf(ccxt.InvalidOrder);
    expect(lot.message).toContain('LOT_SIZE');
    const tick = await failure(
      ex.privatePostOrder({
        symbol: 'BTCUSDT',
        side: 'BUY',
        type: 'LIMIT',
        timeInForce: 'GTC',
        quantity: '0.001',
        price: '39000.005',
      }),
    );
    expect(tick).toBeInstanceOf(ccxt.InvalidOrder);
    // below min notional: -1013 "Filter failure: NOTIONAL", which ccxt maps to BadRequest (not InvalidOrder)
    const notional = await failure(ex.createOrder('BTC/USDT', 'limit', 'buy', 0.0001, 39_000));
    expect(notional).toBeInstanceOf(ccxt.BadRequest);
    expect(notional.message).toContain('NOTIONAL');
    expect(fake.orders()).toEqual([]);
  });

  it('duplicate clientOrderId: refused while the first order is open (Binance), or always with duplicateClientOrderIds: any', {
    timeout: 5_000,
  }, async () => {
    await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 39_000, { clientOrderId: 'dup-1' });
    const dup = await failure(ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 39_000, { clientOrderId: 'dup-1' }));
    expect(dup).toBeInstanceOf(ccxt.InvalidOrder);
    expect(dup.message).toContain('Duplicate order sent.');
    // a FILLED order's id may be reused on Binance spot: a blind retry of a market order is NOT caught
    await ex.createOrder('BTC/USDT', 'market', 'buy', 0.001, undefined, { clientOrderId: 'mkt-dup' });
    await expect(
      ex.createOrder('BTC/USDT', 'market', 'buy', 0.001, undefined, { clientOrderId: 'mkt-dup' }),
    ).resolves.toBeDefined();

    const strict = await startFakeExchange({ balances: { USDT: 1_000 }, duplicateClientOrderIds: 'any' });
    const client = await createCcxtClient(strict);
    try {
      strict.setPrice('BTC/USDT', 40_000);
      await client.createOrder('BTC/USDT', 'market', 'buy', 0.001, undefined, { clientOrderId: 'once' });
      const again = await failure(
        client.createOrder('BTC/USDT', 'market', 'buy', 0.001, undefined, { clientOrderId: 'once' }),
      );
      expect(again).toBeInstanceOf(ccxt.InvalidOrder);
      expect(strict.orders()).toHaveLength(1);
    } finally {
      await client.close();
      await strict.close();
    }
  });
});

describe('faults, each mapped to the ccxt error class', () => {
  beforeEach(async () => {
    fake.setPrice('BTC/USDT', 40_000);
    await ex.loadMarkets();
    fake.clearRequests();
  });

  it('hang -> RequestTimeout after the client timeout; delay below it -> success', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'hang', endpoint: 'ticker/24hr' });
    let t = Date.now();
    expect(await failure(ex.fetchTicker('BTC/USDT'))).toBeInstanceOf(ccxt.RequestTimeout);
    expect(Date.now() - t).toBeGreaterThanOrEqual(750);
    fake.inject({ kind: 'delay', ms: 300, endpoint: 'ticker/24hr' });
    t = Date.now();
    expect((await ex.fetchTicker('BTC/USDT')).last).toBe(40_000);
    expect(Date.now() - t).toBeGreaterThanOrEqual(290);
    expect(fake.requests({ endpoint: 'ticker/24hr' }).map((r) => r.fault)).toEqual(['hang', 'delay']);
  });

  it('dropped connection -> NetworkError', { timeout: 5_000 }, async () => {
    fake.inject({ kind: 'drop-connection' });
    const err = await failure(ex.fetchTicker('BTC/USDT'));
    expect(err).toBeInstanceOf(ccxt.NetworkError);
    expect(err).not.toBeInstanceOf(ccxt.RequestTimeout);
  });

  it('429 / 418 -> DDoSProtection (a NetworkError), Retry-After readable from last_response_headers', {
    timeout: 5_000,
  }, async () => {
    fake.inject({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const err = await failure(ex.fetchTicker('BTC/USDT'));
    expect(err).toBeInstanceOf(ccxt.DDoSProtection);
    expect(err).toBeInstanceOf(ccxt.NetworkError);
    expect(ex.last_response_headers?.['Retry-After']).toBe('7');
    fake.inject({ kind: 'rate-limit', status: 418 });
    expect(await failure(ex.fetchTicker('BTC/USDT'))).toBeInstanceOf(ccxt.DDoSProtection);
  });

  it('5xx -> ExchangeNotAvailable (500, 502, 503), RequestTimeout (504)', { timeout: 5_000 }, async () => {
    for (const [status, cls] of [
      [500, ccxt.ExchangeNotAvailable],
      [502, ccxt.ExchangeNotAvailable],
      [503, ccxt.ExchangeNotAvailable],
      [504, ccxt.RequestTimeout],
    ] as const) {
      fake.inject({ kind: 'server-error', status });
      expect(await failure(ex.fetchTicker('BTC/USDT'))).toBeInstanceOf(cls);
    }
    expect(fake.requests().map((r) => r.status)).toEqual([500, 502, 503, 504]);
  });

  it('malformed JSON: ccxt 4.5 raises no BadResponse (fetchOHLCV resolves [], fetchTicker throws TypeError)', {
    timeout: 5_000,
  }, async () => {
    fake.setCandles('BTC/USDT', minuteCandles(10));
    fake.setNow(T0 + 10 * MIN);
    fake.inject({ kind: 'malformed-json', endpoint: 'klines' });
    expect(await ex.fetchOHLCV('BTC/USDT', '1m', T0, 5)).toEqual([]); // silently empty: callers must check
    expect(() => JSON.parse(ex.last_http_response as string)).toThrow(SyntaxError);
    fake.inject({ kind: 'malformed-json', endpoint: 'ticker/24hr' });
    const err = await failure(ex.fetchTicker('BTC/USDT'));
    expect(err).toBeInstanceOf(TypeError);
    expect(err).not.toBeInstanceOf(ccxt.BaseError);
    expect((await ex.fetchOHLCV('BTC/USDT', '1m', T0, 5)).length).toBe(5);
  });

  it('Binance error codes: -1001 -> OperationFailed, -1021 -> InvalidNonce, -1003 -> RateLimitExceeded', {
    timeout: 5_000,
  }, async () => {
    fake.inject({
      kind: 'binance-error',
      status: 500,
      code: -1001,
      msg: 'Internal error; unable to process your request. Please try again.',
    });
    expect(await failure(ex.fetchTicker('BTC/USDT'))).toBeInstanceOf(ccxt.OperationFailed);
    fake.inject({
      kind: 'binance-error',
      code: -1021,
      msg: 'Timestamp for this request is outside of the recvWindow.',
    });
    expect(await failure(ex.fetchBalance())).toBeInstanceOf(ccxt.InvalidNonce);
    fake.inject({ kind: 'binance-error', status: 400, code: -1003, msg: 'Way too much request weight used.' });
    expect(await failure(ex.fetchTicker('BTC/USDT'))).toBeInstanceOf(ccxt.RateLimitExceeded);
  });

  it('order rejections -> InsufficientFunds, InvalidOrder, BadRequest, MarketClosed', { timeout: 5_000 }, async () => {
    const cases = [
      ['insufficient-balance', ccxt.InsufficientFunds],
      ['lot-size', ccxt.InvalidOrder],
      ['price-filter', ccxt.InvalidOrder],
      ['duplicate-order', ccxt.InvalidOrder],
      ['min-notional', ccxt.BadRequest],
      ['market-closed', ccxt.MarketClosed],
    ] as const;
    for (const [reason, cls] of cases) {
      fake.inject({ kind: 'reject-order', reason, endpoint: 'order', method: 'POST' });
      expect(await failure(ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 39_000))).toBeInstanceOf(cls);
    }
    expect(fake.orders()).toEqual([]);
    expect(fake.requests({ endpoint: 'order' })).toHaveLength(cases.length);
  });

  it('partial fills: a market order expires half filled, a limit order rests with the rest', {
    timeout: 5_000,
  }, async () => {
    fake.inject({ kind: 'partial-fill', fraction: 0.5 });
    const market = await ex.createOrder('BTC/USDT', 'market', 'buy', 0.01);
    expect(market).toMatchObject({ status: 'expired', filled: 0.005, remaining: 0.005 });
    fake.inject({ kind: 'partial-fill', fraction: 0.3 });
    const limit = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.01, 40_100);
    expect(limit).toMatchObject({ status: 'open', filled: 0.003, remaining: 0.007 });
    expect(fake.orders()[1]!.status).toBe('PARTIALLY_FILLED');
    fake.fillOrder(limit.id!);
    expect(await ex.fetchOrder(limit.id!, 'BTC/USDT')).toMatchObject({ status: 'closed', filled: 0.01 });
  });

  it('lost response: the order exists although the client timed out; look it up by clientOrderId', {
    timeout: 5_000,
  }, async () => {
    fake.inject({ kind: 'lost-response', endpoint: 'order', method: 'POST' });
    const err = await failure(ex.createOrder('BTC/USDT', 'limit', 'buy', 0.01, 39_000, { clientOrderId: 'idem-1' }));
    expect(err).toBeInstanceOf(ccxt.RequestTimeout);
    expect(fake.orders().map((o) => [o.clientOrderId, o.status])).toEqual([['idem-1', 'NEW']]);
    // a blind retry with the same id is refused while the order is open...
    expect(
      await failure(ex.createOrder('BTC/USDT', 'limit', 'buy', 0.01, 39_000, { clientOrderId: 'idem-1' })),
    ).toBeInstanceOf(ccxt.InvalidOrder);
    // ...and the lookup finds the one order
    const found = await ex.fetchOrder('', 'BTC/USDT', { clientOrderId: 'idem-1' });
    expect(found).toMatchObject({ clientOrderId: 'idem-1', status: 'open', amount: 0.01 });

    fake.inject({ kind: 'lost-response', mode: 'drop', endpoint: 'order', method: 'POST' });
    const dropped = await failure(
      ex.createOrder('BTC/USDT', 'market', 'buy', 0.001, undefined, { clientOrderId: 'idem-2' }),
    );
    expect(dropped).toBeInstanceOf(ccxt.NetworkError);
    expect(fake.orders().find((o) => o.clientOrderId === 'idem-2')?.status).toBe('FILLED');
    expect(fake.requests({ endpoint: 'order', method: 'POST' }).map((r) => r.status)).toEqual([
      undefined,
      400,
      undefined,
    ]);
  });

  it('count and skip: which requests a fault hits', { timeout: 5_000 }, async () => {
    const handle = fake.inject({ kind: 'server-error', endpoint: '/api/v3/ticker/24hr', skip: 1, count: 2 });
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(
        await ex.fetchTicker('BTC/USDT').then(
          () => 'ok',
          (e: Error) => e.constructor.name,
        ),
      );
    }
    expect(outcomes).toEqual(['ok', 'ExchangeNotAvailable', 'ExchangeNotAvailable', 'ok', 'ok']);
    expect(handle.fired()).toBe(2);
    const log = fake.requests();
    expect(log).toHaveLength(5);
    expect(log[0]).toMatchObject({
      method: 'GET',
      path: '/api/v3/ticker/24hr',
      query: { symbol: 'BTCUSDT' },
      status: 200,
    });
    expect(log[0]!.time).toBeLessThanOrEqual(log[4]!.time);
    expect(log[0]!.exchangeTime).toBe(fake.now());
  });
});

describe('websocket streams (ccxt.pro)', () => {
  beforeEach(async () => {
    fake.setCandles('BTC/USDT', minuteCandles(60, T0, 40_000));
    fake.setNow(T0 + 10 * MIN + 30_000);
    await ex.loadMarkets();
  });

  it('watchOHLCV: forming kline on subscribe, closed kline and the next forming one when time advances', {
    timeout: 8_000,
  }, async () => {
    const first = await ex.watchOHLCV('BTC/USDT', '1m');
    expect(first.map((k) => k[0])).toEqual([T0 + 10 * MIN]);
    expect(fake.wsSubscriptions()).toEqual(['btcusdt@kline_1m']);
    const next = ex.watchOHLCV('BTC/USDT', '1m');
    fake.advance(MIN);
    const got = await next;
    const candles = minuteCandles(60, T0, 40_000);
    expect(got.map((k) => k[0])).toEqual([T0 + 10 * MIN, T0 + 11 * MIN]);
    expect(got[0]).toEqual(row(candles[10]!)); // closed: final values
    expect(got[1]![5]).toBeCloseTo(candles[11]!.volume / 2, 8); // forming: half way
    const ws = fake.requests({ method: 'WS' });
    expect(ws.map((r) => r.query.method)).toEqual(['SUBSCRIBE']);
    expect(ws[0]!.path).toBe('/stream/ws/0');
  });

  it('watchTicker (miniTicker by default, name: ticker for bid/ask) and watchBidsAsks (bookTicker)', {
    timeout: 8_000,
  }, async () => {
    const price = fake.price('BTC/USDT');
    const mini = await ex.watchTicker('BTC/USDT');
    expect(mini).toMatchObject({ symbol: 'BTC/USDT', last: price });
    expect(mini.bid).toBeUndefined(); // ccxt's default watchTicker channel is miniTicker: no bid/ask
    const full = await ex.watchTicker('BTC/USDT', { name: 'ticker' });
    expect(full).toMatchObject({ last: price, bid: price, ask: price });
    expect((await ex.watchBidsAsks(['BTC/USDT']))['BTC/USDT']).toMatchObject({ bid: price, ask: price });

    const next = ex.watchBidsAsks(['BTC/USDT']);
    fake.setPrice('BTC/USDT', 41_000);
    expect((await next)['BTC/USDT']).toMatchObject({ bid: 41_000, ask: 41_000 });
    expect(fake.wsSubscriptions().sort()).toEqual(['btcusdt@bookTicker', 'btcusdt@miniTicker', 'btcusdt@ticker']);
  });

  it('dropWebsockets: a pending watch fails with NetworkError, the next one reconnects', {
    timeout: 8_000,
  }, async () => {
    await ex.watchOHLCV('BTC/USDT', '1m');
    const pending = ex.watchOHLCV('BTC/USDT', '1m');
    fake.dropWebsockets();
    expect(await failure(pending)).toBeInstanceOf(ccxt.NetworkError);
    expect(fake.wsConnections()).toBe(0);
    const again = await ex.watchOHLCV('BTC/USDT', '1m');
    expect(again.length).toBeGreaterThan(0);
    expect(fake.wsConnections()).toBe(1);
    expect(fake.requests({ method: 'WS' })).toHaveLength(2);
  });
});
