/**
 * Shared set-up of the paper/live trading tests: a fake Binance with a
 * deterministic minute series, a REAL ccxt client pointed at it, and a driver
 * that moves the exchange clock one candle at a time and waits until the
 * trading run has processed that candle.
 */

import type { ErrorEvent } from '../../src/core/events.js';
import { EventBus } from '../../src/core/events.js';
import type { Candle, Fill, Order, Signal } from '../../src/core/types.js';
import type { CandleStatus, RunTradingOptions, TradingSession } from '../../src/exchange/index.js';
import { startTrading } from '../../src/exchange/index.js';
import { type BinanceClient, createCcxtClient, type FakeCandle, type FakeExchange } from '../fake-exchange/index.js';

export const T0 = Date.UTC(2024, 0, 1);
export const MIN = 60_000;
export const SYMBOL = 'BTC/USDT';

/**
 * A wavy minute series (two-decimal prices) whose SMA(3) and SMA(8) cross every
 * few candles; `trend` adds that much per candle (an up-drifting market).
 */
export function wavyCandles(count: number, start = T0, base = 100, trend = 0): FakeCandle[] {
  const out: FakeCandle[] = [];
  const r2 = (x: number) => Math.round(x * 100) / 100;
  let prev = base;
  for (let i = 0; i < count; i++) {
    const open = prev;
    const close = r2(base + trend * i + 6 * Math.sin(i / 3) + ((i * 37) % 7) * 0.1);
    out.push({
      timestamp: start + i * MIN,
      open,
      high: r2(Math.max(open, close) + 0.4),
      low: r2(Math.min(open, close) - 0.4),
      close,
      volume: 1 + (i % 4),
    });
    prev = close;
  }
  return out;
}

export function toCandles(fake: readonly FakeCandle[], symbol = SYMBOL, timeframe = '1m'): Candle[] {
  return fake.map((c) => ({ ...c, symbol, timeframe }));
}

export async function client(fake: FakeExchange, timeout = 1_500): Promise<BinanceClient> {
  return createCcxtClient(fake, { timeout });
}

/** What a run published, collected from its bus. */
export interface Recorder {
  readonly events: EventBus;
  readonly signals: Signal[];
  readonly orders: Order[];
  readonly fills: Fill[];
  readonly errors: ErrorEvent[];
  readonly candles: Candle[];
  readonly statuses: CandleStatus[];
}

export function recorder(): Recorder {
  const events = new EventBus();
  const r: Recorder = { events, signals: [], orders: [], fills: [], errors: [], candles: [], statuses: [] };
  events.on('signal', (s) => r.signals.push(s));
  events.on('order', (o) => r.orders.push({ ...o }));
  events.on('fill', (f) => r.fills.push(f));
  events.on('error', (e) => r.errors.push(e));
  events.on('candle', (c) => r.candles.push(c));
  return r;
}

/** A started session plus a way to wait for the status of a given candle time. */
export interface Driven {
  readonly session: TradingSession;
  readonly rec: Recorder;
  /** Resolves when the run reported the candle opening at `time` (any symbol). */
  processed(time: number, timeoutMs?: number): Promise<CandleStatus>;
}

export function drive(options: Omit<RunTradingOptions, 'events' | 'onStatus'>, rec = recorder()): Driven {
  const waiters: { time: number; resolve: (s: CandleStatus) => void }[] = [];
  const session = startTrading({
    ...options,
    events: rec.events,
    onStatus: (s) => {
      rec.statuses.push(s);
      for (const w of waiters.filter((x) => x.time === s.time)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(s);
      }
    },
  });
  return {
    session,
    rec,
    processed(time, timeoutMs = 5_000) {
      const seen = rec.statuses.find((s) => s.time === time);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`candle ${new Date(time).toISOString()} not processed within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          time,
          resolve: (s) => {
            clearTimeout(timer);
            resolve(s);
          },
        });
        session.done.catch((err: unknown) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    },
  };
}

/** Move the fake's clock to the close of the candle opening at `openTime` and wait until the run processed it. */
export async function closeCandle(fake: FakeExchange, run: Driven, openTime: number): Promise<CandleStatus> {
  fake.setNow(openTime + MIN);
  return run.processed(openTime);
}

export const FAST_RETRY = { maxRetries: 4, initialDelayMs: 40, maxDelayMs: 400 } as const;
