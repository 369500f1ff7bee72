/**
 * CcxtMarketSource against the fake exchange (REAL ccxt): closed candles are
 * delivered exactly once, in order, without gaps, through injected REST faults
 * and dropped websockets; warm-up and backfill are labelled; ticks arrive.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ErrorEvent } from '../../src/core/events.js';
import { EventBus } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/logger.js';
import { CcxtMarketSource, type MarketEvent, Redactor } from '../../src/exchange/index.js';
import { type BinanceClient, type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { client, FAST_RETRY, MIN, SYMBOL, T0, wavyCandles } from './helpers.js';

let fake: FakeExchange;
let ex: BinanceClient;
let source: CcxtMarketSource | undefined;

beforeEach(async () => {
  fake = await startFakeExchange();
  fake.setCandles(SYMBOL, wavyCandles(60));
  fake.setNow(T0 + 10 * MIN);
  ex = await client(fake, 400);
  await ex.loadMarkets();
  fake.clearRequests();
});

afterEach(async () => {
  await source?.close();
  source = undefined;
  await ex.close();
  await fake.close();
});

/** Consumes the source in the background; `until` waits for a candle time. */
function consume(s: CcxtMarketSource) {
  const events: MarketEvent[] = [];
  const waiters: { time: number; resolve: () => void }[] = [];
  void (async () => {
    for await (const e of s) {
      events.push(e);
      if (e.kind === 'candle') {
        for (const w of waiters.filter((x) => x.time <= e.candle.timestamp)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  })();
  const candles = () => events.flatMap((e) => (e.kind === 'candle' ? [e] : []));
  return {
    events,
    candles,
    until(time: number, timeoutMs = 4_000): Promise<void> {
      if (candles().some((e) => e.candle.timestamp >= time)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no candle ${(time - T0) / MIN} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          time,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      });
    },
  };
}

function newSource(options: Partial<ConstructorParameters<typeof CcxtMarketSource>[0]> = {}): CcxtMarketSource {
  source = new CcxtMarketSource({
    exchange: ex,
    symbols: [SYMBOL],
    timeframe: '1m',
    warmupCandles: 5,
    pollIntervalMs: 20,
    ticks: false,
    websocket: false,
    retry: FAST_RETRY,
    log: silentLogger,
    redactor: new Redactor(),
    ...options,
  });
  return source;
}

const minutes = (xs: { candle: { timestamp: number } }[]) => xs.map((e) => (e.candle.timestamp - T0) / MIN);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('candles exactly once, in order, no gaps', () => {
  it('warm-up first (closed candles only), then each new candle live', { timeout: 5_000 }, async () => {
    const s = newSource();
    expect(await s.start()).toBe(5);
    const feed = consume(s);
    fake.setNow(T0 + 11 * MIN + 30_000); // candle 10 closed, 11 forming
    await feed.until(T0 + 10 * MIN);
    expect(minutes(feed.candles())).toEqual([5, 6, 7, 8, 9, 10]);
    expect(feed.candles().map((e) => e.phase)).toEqual(['warmup', 'warmup', 'warmup', 'warmup', 'warmup', 'live']);
    // values are the final ones the backtest data has
    expect(feed.candles()[5]!.candle).toMatchObject({ ...wavyCandles(60)[10], symbol: SYMBOL, timeframe: '1m' });
  });

  it('REST faults (drop, 5xx, garbled JSON, 429, timeouts) between candles: nothing lost or repeated', {
    timeout: 12_000,
  }, async () => {
    const s = newSource();
    await s.start();
    const feed = consume(s);
    const faults = [
      { kind: 'drop-connection', endpoint: 'klines', count: 2 },
      { kind: 'server-error', endpoint: 'klines' },
      { kind: 'malformed-json', endpoint: 'klines' },
      { kind: 'rate-limit', endpoint: 'klines', retryAfterSeconds: 0 },
      { kind: 'hang', endpoint: '/api/v3/time' },
      { kind: 'malformed-json', endpoint: '/api/v3/time' },
      { kind: 'server-error', endpoint: '/api/v3/time', status: 502 },
    ] as const;
    for (let i = 10; i < 24; i++) {
      const f = faults[i % faults.length]!;
      fake.inject(f);
      fake.setNow(T0 + (i + 1) * MIN);
      await feed.until(T0 + i * MIN);
    }
    expect(minutes(feed.candles())).toEqual(range(5, 23));
    expect(feed.candles().filter((e) => e.phase === 'live')).toHaveLength(14);
    expect(s.stats.duplicatesDropped).toBe(0);
    const faulted = fake.requests().filter((r) => r.fault !== undefined);
    expect(faulted.length).toBeGreaterThanOrEqual(14);
    expect(fake.requests().length).toBeLessThan(400); // bounded, not a retry storm
  });

  it('429 on klines: backoff spaces the requests (and a Retry-After is honoured)', { timeout: 6_000 }, async () => {
    const s = newSource();
    await s.start();
    const feed = consume(s);
    fake.clearRequests();
    fake.inject({ kind: 'rate-limit', endpoint: 'klines', retryAfterSeconds: 1 });
    fake.setNow(T0 + 11 * MIN);
    await feed.until(T0 + 10 * MIN);
    const k = fake.requests({ endpoint: 'klines' });
    expect(k.map((r) => r.status)).toEqual([429, 200]);
    expect(k[1]!.time - k[0]!.time).toBeGreaterThanOrEqual(990);
  });

  it('a stall: several candles closed at once are all delivered, only the newest is live', {
    timeout: 5_000,
  }, async () => {
    const s = newSource();
    await s.start();
    const feed = consume(s);
    fake.setNow(T0 + 14 * MIN);
    await feed.until(T0 + 13 * MIN);
    expect(minutes(feed.candles())).toEqual(range(5, 13));
    expect(
      feed
        .candles()
        .slice(5)
        .map((e) => e.phase),
    ).toEqual(['backfill', 'backfill', 'backfill', 'live']);
  });

  it('websocket dropped between candles: the missed ones are backfilled, nothing twice; it reconnects', {
    timeout: 10_000,
  }, async () => {
    const s = newSource({ websocket: true, safetyPollMs: 5_000 });
    await s.start();
    const feed = consume(s);
    await fake.waitForWsSubscription('btcusdt@kline_1m');
    await new Promise((r) => setTimeout(r, 100)); // the first kline arrives: the websocket is up
    fake.clearRequests();
    fake.setNow(T0 + 11 * MIN);
    await feed.until(T0 + 10 * MIN);
    expect(fake.requests({ endpoint: '/api/v3/time' })).toHaveLength(0); // the websocket said when candle 10 closed
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(1);
    fake.dropWebsockets();
    for (let i = 11; i < 15; i++) {
      fake.setNow(T0 + (i + 1) * MIN);
      await feed.until(T0 + i * MIN);
    }
    // back on the websocket: the next candle comes without polling
    await fake.waitForWsSubscription('btcusdt@kline_1m', 4_000);
    fake.setNow(T0 + 16 * MIN);
    await feed.until(T0 + 15 * MIN);
    fake.dropWebsockets();
    fake.setNow(T0 + 19 * MIN); // three candles close while it is down
    await feed.until(T0 + 18 * MIN);
    expect(minutes(feed.candles())).toEqual(range(5, 18));
    expect(s.stats.duplicatesDropped).toBe(0);
    expect(s.stats.wsFailures).toBeGreaterThanOrEqual(1);
  });

  it('resuming: candles up to the last processed are warm-up, the missed ones backfill, the newest live', {
    timeout: 5_000,
  }, async () => {
    fake.setNow(T0 + 20 * MIN);
    const s = newSource({ lastProcessed: { [SYMBOL]: T0 + 15 * MIN } });
    // the 5 warm-up candles end at the last processed one, then every missed one
    expect(await s.start()).toBe(9);
    const feed = consume(s);
    await feed.until(T0 + 19 * MIN);
    expect(minutes(feed.candles())).toEqual(range(11, 19));
    expect(feed.candles().map((e) => e.phase)).toEqual([
      'warmup',
      'warmup',
      'warmup',
      'warmup',
      'warmup',
      'backfill',
      'backfill',
      'backfill',
      'live',
    ]);
    await new Promise((r) => setTimeout(r, 0));
    expect(feed.events.map((e) => e.kind).slice(-2)).toEqual(['candle', 'synced']); // after the start-up batch
    // down longer than the warm-up: still a full warm-up, and every missed candle replayed (paper orders fill on them)
    await s.close();
    const long = newSource({ lastProcessed: { [SYMBOL]: T0 + 8 * MIN } });
    expect(await long.start()).toBe(16);
  });
});

describe('bad and absurd candles', () => {
  it('are skipped with an error event naming exchange, symbol, time and field; a confirmed new level is taken', {
    timeout: 6_000,
  }, async () => {
    const series = wavyCandles(40).map((c, i) => {
      if (i === 12) return { ...c, open: 100, high: 101, low: 99, close: -5 }; // a negative close
      if (i === 14) return { ...c, open: 97, high: 95, low: 99, close: 97 }; // high below low
      if (i === 16) return { ...c, high: 1e300, close: 1e300 }; // finite, consistent, absurd
      if (i >= 20) return { ...c, open: c.open * 3, high: c.high * 3, low: c.low * 3, close: c.close * 3 }; // a real move
      return c;
    });
    fake.setCandles(SYMBOL, series);
    const events = new EventBus();
    const errors: ErrorEvent[] = [];
    events.on('error', (e) => errors.push(e));
    const s = newSource({ events });
    await s.start();
    const feed = consume(s);
    for (let i = 10; i < 24; i++) {
      fake.setNow(T0 + (i + 1) * MIN);
      if (![12, 14, 16, 20].includes(i)) await feed.until(T0 + i * MIN);
    }
    expect(minutes(feed.candles())).toEqual([5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 18, 19, 21, 22, 23]);
    expect(
      errors.map((e) => [
        e.context,
        e.symbol,
        (e.timestamp! - T0) / MIN,
        (e.error as { where?: { field?: string } }).where?.field,
      ]),
    ).toEqual([
      ['feed', SYMBOL, 12, 'close'],
      ['feed', SYMBOL, 14, 'high'],
      ['feed', SYMBOL, 16, 'close'],
      ['feed', SYMBOL, 20, 'high'],
    ]);
    expect(errors[0]!.error.message).toMatch(
      /^symbol BTC\/USDT, field 'close': binance candle 2024-01-01T00:12:00\.000Z: close must be > 0, got -5$/,
    );
    expect(errors[1]!.error.message).toMatch(/binance candle 2024-01-01T00:14:00\.000Z: high 95 is below low 99/);
    expect(errors[2]!.error.message).toMatch(
      /binance candle 2024-01-01T00:16:00\.000Z: close 1e\+300 lies .* from the previous close/,
    );
    expect(s.stats).toMatchObject({ badCandles: 2, absurdPrices: 2 });
  });
});

describe('ticks', () => {
  it('ticker websocket (bid/ask) and REST fallback', { timeout: 6_000 }, async () => {
    fake.setPrice(SYMBOL, 123.45);
    const s = newSource({ websocket: true, ticks: true, warmupCandles: 0 });
    await s.start();
    const feed = consume(s);
    await fake.waitForWsSubscription('btcusdt@ticker');
    await new Promise((r) => setTimeout(r, 50));
    fake.setPrice(SYMBOL, 124);
    await new Promise((r) => setTimeout(r, 100));
    const ticks = feed.events.flatMap((e) => (e.kind === 'tick' ? [e.tick] : []));
    expect(ticks.at(-1)).toMatchObject({ symbol: SYMBOL, last: 124, bid: 124, ask: 124 });
    await s.close();
    source = undefined;

    const rest = newSource({ websocket: false, ticks: true, tickPollMs: 50, warmupCandles: 0 });
    await rest.start();
    const restFeed = consume(rest);
    await new Promise((r) => setTimeout(r, 180));
    expect(restFeed.events.some((e) => e.kind === 'tick' && e.tick.last === 124)).toBe(true);
    expect(fake.requests({ endpoint: 'ticker/24hr' }).length).toBeLessThanOrEqual(6);
  });
});
