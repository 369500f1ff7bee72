/**
 * Live market data from ccxt for the engine: closed candles exactly once each,
 * in time order, without gaps, and ticks in between.
 *
 * Candles always come from REST (`fetchOHLCV`), which is authoritative and
 * final for a closed candle; a candle counts as closed when open time +
 * timeframe <= the exchange's time (its `fetchTime`). Per symbol a cursor
 * holds the next open time wanted, so every fetch asks "since the last
 * delivered candle + 1 timeframe": after any interruption (errors, a dropped
 * websocket, a restart) the missed candles are backfilled by the same code,
 * and a candle already delivered is never delivered again.
 *
 * When the exchange has websockets (`exchange.has.watchOHLCV`), `watchOHLCV`
 * is the trigger: the moment a newer candle starts forming, the closed one is
 * fetched, without waiting for the next poll and without a fetchTime. If the
 * websocket fails, polling takes over at `pollIntervalMs` while it reconnects
 * with backoff. Without websockets the source polls: one fetchTime per poll,
 * and fetchOHLCV only when a candle can have closed.
 *
 * Start-up: the last `warmupCandles` closed candles per symbol are delivered
 * first as 'warmup' (strategy state only, no trading), so the first live
 * candle can already be predicted. When resuming a journal, the warm-up is
 * the `warmupCandles` candles up to the last processed one, and every candle
 * after it is 'backfill' except the newest closed one, which is 'live'. In
 * steady state each newly closed candle is 'live'; if several closed at once
 * (a stall, a reconnect), only the newest per symbol is 'live' and the older
 * ones are 'backfill'. After each such delivery a `synced` event follows: the
 * order gate then acts on what the strategy decided on the replayed candles
 * (see engine/order-gate.ts).
 *
 * Every candle passes the file loader's checks (data/ohlcv.ts); a bad one is
 * skipped with an `error` event (context 'feed') naming the exchange, symbol,
 * time and field, and never traded on. A finite but absurd one — prices that
 * jump from the previous close by more than `maxJumpRanges` times the recent
 * average range (a close of 1e300, a stray print) — is skipped and reported
 * the same way, unless the next candle confirms the new level. Ticks whose
 * price is that far off are dropped.
 *
 * Ticks: `watchTicker` where available, else `fetchTicker` every
 * `tickPollMs`; a pending tick not yet consumed is replaced by a newer one of
 * the same symbol (the queue cannot grow without bound).
 */
import ccxt, { type Exchange, type Ticker } from 'ccxt';
import { DataError, ExchangeError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Timeframe } from '../core/types.js';
import { candleFromOhlcv, type OhlcvRow, OhlcvRowError } from '../data/ohlcv.js';
import type { CandlePhase } from '../engine/order-gate.js';
import type { SessionEvent } from '../engine/session.js';
import { CandleSanity } from './candle-sanity.js';
import { exchangeClock } from './ccxt-exchange.js';
import type { Redactor } from './credentials.js';
import {
  abortableSleep,
  backoffDelay,
  classifyError,
  DEFAULT_RETRY,
  lastAnswerUnparsable,
  type RetryContext,
  type RetryPolicy,
  UnparsableAnswerError,
  withRetry,
} from './retry.js';

/** What the source delivers: the session loop's events. */
export type MarketEvent = SessionEvent;

/** A closed row the checks refused: it moves the cursor but is reported, never delivered. */
interface RefusedCandle {
  readonly symbol: string;
  readonly timestamp: number;
  readonly refused: OhlcvRowError;
}

type Fetched = Candle | RefusedCandle;

interface Pending {
  readonly item: Fetched;
  readonly phase: CandlePhase;
  readonly index: number;
}

export interface MarketSourceOptions {
  readonly exchange: Exchange;
  readonly symbols: readonly string[];
  readonly timeframe: Timeframe;
  /** Closed candles per symbol delivered as warm-up before trading (default 300). */
  readonly warmupCandles?: number;
  /** Open time of the last candle per symbol a previous run processed (from the journal). */
  readonly lastProcessed?: Readonly<Record<string, number>>;
  /** At most this many missed candles are fetched after a long downtime (default 1000). */
  readonly maxBackfillCandles?: number;
  /** REST poll interval (ms): the whole feed without websockets, the fallback when they fail. Default min(5 s, tf / 12). */
  readonly pollIntervalMs?: number;
  /** With websockets: a REST check at least this often anyway (ms). Default max(pollIntervalMs, tf / 4). */
  readonly safetyPollMs?: number;
  /** Use ccxt pro websockets when the exchange has them (default true). */
  readonly websocket?: boolean;
  /** Deliver ticks (default true). */
  readonly ticks?: boolean;
  /** REST ticker poll interval when there is no ticker websocket (ms, default 5000; 0 = no REST ticks). */
  readonly tickPollMs?: number;
  /** Params for watchTicker (default { name: 'ticker' } on binance, whose default stream has no bid/ask). */
  readonly tickerParams?: Record<string, unknown>;
  /** Candles per fetchOHLCV request (default 1000). */
  readonly pageLimit?: number;
  /** A candle moving this many recent average ranges away from the previous close is absurd (default 50). */
  readonly maxJumpRanges?: number;
  readonly retry?: RetryPolicy;
  readonly log: Logger;
  readonly redactor: Redactor;
  /** `error` events for feed failures (context 'feed'). */
  readonly events?: EventBus;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly onRetry?: RetryContext['onRetry'];
}

export interface MarketSourceStats {
  /** fetchOHLCV requests that returned. */
  ohlcvRequests: number;
  timeRequests: number;
  /** REST cycles that delivered at least one candle. */
  cycles: number;
  candles: number;
  /** Candles fetched again but dropped because they had been delivered (should stay 0 with the cursor). */
  duplicatesDropped: number;
  /** Holes in the exchange's own data (a candle missing on the exchange). */
  exchangeGaps: number;
  wsFailures: number;
  /** Failed cycles (each is retried from the same cursor). */
  failedCycles: number;
  /** Candles of a symbol that came more than a timeframe after other symbols had moved on (skipped, reported). */
  lateDropped: number;
  /** Candles that failed the checks (skipped, reported). */
  badCandles: number;
  /** Candles and ticks whose prices jumped absurdly (skipped, reported). */
  absurdPrices: number;
}

/** An async queue of market events; ticks of a symbol not yet consumed are replaced by newer ones. */
class EventQueue implements AsyncIterator<MarketEvent> {
  private readonly items: MarketEvent[] = [];
  private waiter: ((r: IteratorResult<MarketEvent>) => void) | undefined;
  private ended = false;

  push(event: MarketEvent): void {
    if (this.ended) return;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: event, done: false });
      return;
    }
    if (event.kind === 'tick') {
      const symbol = event.tick.symbol;
      const i = this.items.findIndex((e) => e.kind === 'tick' && e.tick.symbol === symbol);
      if (i >= 0) {
        this.items[i] = event;
        return;
      }
    }
    this.items.push(event);
  }

  end(): void {
    this.ended = true;
    this.items.length = 0;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<MarketEvent>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  get size(): number {
    return this.items.length;
  }
}

/** A wait that can be cut short from outside (the websocket wakes the REST loop); a wake while nobody waits is kept. */
class Wakeup {
  private finish: (() => void) | undefined;
  private pending = false;

  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.finish = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      signal.addEventListener('abort', finish, { once: true });
      this.finish = finish;
    });
  }

  wake(): void {
    if (this.finish !== undefined) this.finish();
    else this.pending = true;
  }
}

export class CcxtMarketSource implements AsyncIterable<MarketEvent> {
  readonly stats: MarketSourceStats = {
    ohlcvRequests: 0,
    timeRequests: 0,
    cycles: 0,
    candles: 0,
    duplicatesDropped: 0,
    exchangeGaps: 0,
    wsFailures: 0,
    failedCycles: 0,
    lateDropped: 0,
    badCandles: 0,
    absurdPrices: 0,
  };
  private readonly ex: Exchange;
  private readonly opts: MarketSourceOptions;
  private readonly tfMs: number;
  private readonly queue = new EventQueue();
  private readonly abort = new AbortController();
  private readonly retryCtx: RetryContext;
  /** Next open time wanted, per symbol. */
  private readonly cursor = new Map<string, number>();
  /** Open time of the last delivered candle, per symbol. */
  private readonly delivered = new Map<string, number>();
  private readonly wake = new Wakeup();
  private readonly loops: Promise<void>[] = [];
  /** The newest forming-candle open time a websocket has shown (a lower bound of the exchange time). */
  private wsHint = Number.NEGATIVE_INFINITY;
  private wsHealthy = false;
  private lastCandleClose = Number.NEGATIVE_INFINITY;
  /** Open time of the newest candle delivered (any symbol): the engine's clock cannot go back. */
  private newestDelivered = Number.NEGATIVE_INFINITY;
  private started = false;
  private fatal: Error | undefined;
  private readonly sanity: CandleSanity;

  constructor(options: MarketSourceOptions) {
    this.ex = options.exchange;
    this.opts = options;
    this.tfMs = timeframeToMs(options.timeframe);
    this.sanity = new CandleSanity(options.maxJumpRanges);
    this.retryCtx = {
      exchange: options.exchange,
      policy: options.retry ?? DEFAULT_RETRY,
      log: options.log,
      signal: this.abort.signal,
      ...(options.sleep !== undefined ? { sleep: options.sleep } : {}),
      ...(options.onRetry !== undefined ? { onRetry: options.onRetry } : {}),
    };
  }

  get pollIntervalMs(): number {
    return this.opts.pollIntervalMs ?? Math.max(200, Math.min(5_000, Math.floor(this.tfMs / 12)));
  }

  private get useWebsocket(): boolean {
    return this.opts.websocket !== false && this.ex.has.watchOHLCV === true;
  }

  /** The error that ended the feed (a permanent exchange error), if any. */
  get failure(): Error | undefined {
    return this.fatal;
  }

  /**
   * Fetch and queue the warm-up (and, when resuming, the backfill) candles,
   * then start the live loops. Markets must be loaded. Resolves with the
   * number of candles queued.
   */
  async start(): Promise<number> {
    if (this.started) throw new ExchangeError('market source already started');
    this.started = true;
    const warmup = Math.max(0, Math.floor(this.opts.warmupCandles ?? 300));
    const maxBackfill = Math.max(1, Math.floor(this.opts.maxBackfillCandles ?? 1000));
    const now = await this.exchangeTime();
    const tf = this.tfMs;
    for (const symbol of this.opts.symbols) {
      let from = now - (warmup + 2) * tf;
      const seen = this.opts.lastProcessed?.[symbol];
      if (seen !== undefined) {
        // the warm-up ends at the last processed candle, however long the process was down
        from = Math.min(from, seen + tf - warmup * tf);
        from = Math.max(from, now - (maxBackfill + warmup + 2) * tf);
        this.delivered.set(symbol, seen);
      }
      this.cursor.set(symbol, Math.floor(from));
    }
    const batches = await this.fetchAll(now);
    const resumed = this.opts.lastProcessed !== undefined && Object.keys(this.opts.lastProcessed).length > 0;
    const events: Pending[] = [];
    this.opts.symbols.forEach((symbol, index) => {
      const closed = batches[index] as Fetched[];
      const seen = this.opts.lastProcessed?.[symbol];
      // history before the previous run's last candle: only the last `warmup` of it matters
      const old = closed.filter((c) => seen === undefined || c.timestamp <= seen);
      const fresh = seen === undefined ? [] : closed.filter((c) => c.timestamp > seen);
      const keepOld = old.slice(Math.max(0, old.length - warmup));
      for (const c of keepOld) events.push({ item: c, phase: 'warmup', index });
      fresh.forEach((c, i) => {
        events.push({ item: c, phase: resumed && i === fresh.length - 1 ? 'live' : 'backfill', index });
      });
      if (seen !== undefined && fresh.length > 0 && (fresh[0] as Fetched).timestamp > seen + tf) {
        this.opts.log.warn('down longer than the backfill window: some missed candles are not replayed', {
          symbol,
          lastProcessed: iso(seen),
          firstBackfilled: iso((fresh[0] as Fetched).timestamp),
        });
      }
      const last = closed[closed.length - 1];
      if (last !== undefined) this.cursor.set(symbol, last.timestamp + tf);
    });
    const delivered = this.deliver(events);
    this.queue.push({ kind: 'synced' });
    this.opts.log.info('market data warm-up fetched', {
      symbols: this.opts.symbols,
      timeframe: this.opts.timeframe,
      warmup: events.filter((e) => e.phase === 'warmup').length,
      backfill: events.filter((e) => e.phase !== 'warmup').length,
      exchangeTime: iso(now),
    });

    this.loops.push(this.restLoop());
    if (this.useWebsocket) for (const s of this.opts.symbols) this.loops.push(this.wsCandleLoop(s));
    if (this.opts.ticks !== false) for (const s of this.opts.symbols) this.loops.push(this.tickLoop(s));
    return delivered;
  }

  [Symbol.asyncIterator](): AsyncIterator<MarketEvent> {
    return this.queue;
  }

  /**
   * Stop every loop, end the event stream and close the exchange's
   * websockets (pending watches end with them); resolves once the loops have
   * ended (at most a second later).
   */
  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    this.wake.wake();
    this.queue.end();
    if (this.useWebsocket || this.opts.ticks !== false) await closeWebsockets(this.ex);
    await Promise.race([Promise.allSettled(this.loops), abortableSleep(1_000)]);
  }

  // ---- candles ----

  private exchangeTime(): Promise<number> {
    return exchangeClock(this.ex, (what, fn) => {
      this.stats.timeRequests++;
      return withRetry(what, fn, this.retryCtx);
    });
  }

  private async checked<T>(what: string, p: Promise<T>): Promise<T> {
    const v = await p;
    if (lastAnswerUnparsable(this.ex)) throw new UnparsableAnswerError(what);
    return v;
  }

  /** Closed candles of every symbol from its cursor up to `now`; all or nothing (a failure throws). */
  private async fetchAll(now: number): Promise<Fetched[][]> {
    const out: Fetched[][] = [];
    for (const symbol of this.opts.symbols)
      out.push(await this.fetchClosed(symbol, this.cursor.get(symbol) as number, now));
    return out;
  }

  private async fetchClosed(symbol: string, from: number, now: number): Promise<Fetched[]> {
    const tf = this.tfMs;
    const limit = Math.max(1, Math.floor(this.opts.pageLimit ?? 1000));
    const out: Fetched[] = [];
    let cursor = from;
    for (let page = 0; page < 10_000; page++) {
      if (cursor + tf > now) break; // nothing from the cursor on can have closed
      const want = Math.min(limit, Math.ceil((now - cursor) / tf) + 1);
      const since = cursor;
      const rows = await withRetry(
        `fetchOHLCV ${symbol} ${this.opts.timeframe} since ${iso(since)}`,
        () => this.checked('fetchOHLCV', this.ex.fetchOHLCV(symbol, this.opts.timeframe, since, want)),
        this.retryCtx,
      );
      this.stats.ohlcvRequests++;
      let reachedEnd = rows.length === 0;
      let lastTs: number | undefined;
      for (const row of rows as OhlcvRow[]) {
        const c = this.intake(row, symbol);
        const ts = c instanceof OhlcvRowError ? (row[0] as number) : c.timestamp;
        if (ts < since) continue;
        if (lastTs !== undefined && ts <= lastTs) {
          throw new DataError(`candles out of order from ${this.ex.id}: ${iso(ts)} after ${iso(lastTs)}`, {
            symbol,
            field: 'timestamp',
          });
        }
        lastTs = ts;
        if (ts + tf > now) {
          reachedEnd = true; // the forming candle
          break;
        }
        out.push(c instanceof OhlcvRowError ? { symbol, timestamp: ts, refused: c } : c);
      }
      if (reachedEnd || lastTs === undefined) break;
      const next = lastTs + tf;
      if (next <= cursor) break;
      cursor = next;
    }
    return out;
  }

  /**
   * Queue candles in time order (symbol order on ties). Drops anything at or
   * before a symbol's last delivered candle, so nothing is delivered twice.
   */
  private deliver(events: Pending[]): number {
    let n = 0;
    events.sort((a, b) => a.item.timestamp - b.item.timestamp || a.index - b.index);
    for (const e of events) {
      const { symbol, timestamp } = e.item;
      const last = this.delivered.get(symbol);
      if (timestamp < this.newestDelivered) {
        // a symbol more than a timeframe late, after other symbols moved on: the engine takes
        // events in time order only, so it cannot be delivered any more
        this.stats.lateDropped++;
        this.delivered.set(symbol, Math.max(last ?? timestamp, timestamp));
        this.opts.log.error('candle arrived after later candles of other symbols: skipped', {
          symbol,
          candle: iso(timestamp),
          newest: iso(this.newestDelivered),
        });
        this.opts.events?.emit('error', {
          error: new DataError(
            `candle ${iso(timestamp)} arrived too late (after ${iso(this.newestDelivered)}): skipped`,
            {
              symbol,
            },
          ),
          context: 'feed',
          symbol,
          timestamp,
        });
        continue;
      }
      this.newestDelivered = timestamp;
      if (e.phase !== 'warmup' && last !== undefined && timestamp <= last) {
        this.stats.duplicatesDropped++;
        continue;
      }
      const refused = 'refused' in e.item ? e.item.refused : this.absurd(e.item);
      if (refused !== undefined) {
        // never traded on; the cursor has moved past it
        if (last === undefined || timestamp > last) this.delivered.set(symbol, timestamp);
        this.report(refused, symbol, timestamp);
        continue;
      }
      const candle = e.item as Candle;
      if (e.phase !== 'warmup') {
        if (last !== undefined && timestamp > last + this.tfMs) {
          this.stats.exchangeGaps++;
          this.opts.log.warn('the exchange has no candles in a range (its own gap)', {
            symbol,
            after: iso(last),
            next: iso(timestamp),
          });
        }
        this.delivered.set(symbol, timestamp);
      } else if (last === undefined || timestamp > last) {
        this.delivered.set(symbol, timestamp);
      }
      this.stats.candles++;
      this.lastCandleClose = Math.max(this.lastCandleClose, timestamp + this.tfMs);
      this.queue.push({ kind: 'candle', candle, phase: e.phase });
      n++;
    }
    return n;
  }

  /** One REST cycle up to exchange time `now`: newest closed candle per symbol 'live', older ones 'backfill'. */
  private async cycle(now: number): Promise<void> {
    const due = this.opts.symbols.some((s) => (this.cursor.get(s) as number) + this.tfMs <= now);
    if (!due) return;
    const batches = await this.fetchAll(now);
    const events: Pending[] = [];
    batches.forEach((closed, index) => {
      closed.forEach((c, i) => {
        events.push({ item: c, phase: i === closed.length - 1 ? 'live' : 'backfill', index });
      });
      const last = closed[closed.length - 1];
      if (last !== undefined) this.cursor.set(this.opts.symbols[index] as string, last.timestamp + this.tfMs);
    });
    if (events.length > 0) this.stats.cycles++;
    if (this.deliver(events) > 0) this.queue.push({ kind: 'synced' });
  }

  /** The checked candle of a row, or the error naming what is wrong (a garbled row is a retried answer). */
  private intake(row: OhlcvRow, symbol: string): Candle | OhlcvRowError {
    try {
      return candleFromOhlcv(row, symbol, this.opts.timeframe, this.ex.id);
    } catch (err) {
      if (err instanceof OhlcvRowError && !err.malformed) return err;
      throw new UnparsableAnswerError(`fetchOHLCV row ${JSON.stringify(row)}`);
    }
  }

  /** Why a valid candle is absurd (counted), or undefined. */
  private absurd(candle: Candle): DataError | undefined {
    const jump = this.sanity.checkCandle(candle);
    if (jump === undefined) return undefined;
    this.stats.absurdPrices++;
    return new DataError(`${this.ex.id} candle ${iso(candle.timestamp)}: ${jump.message}`, {
      symbol: candle.symbol,
      field: jump.field,
    });
  }

  /** A candle skipped because it is bad or absurd: logged and published as an `error` event, never traded on. */
  private report(error: DataError, symbol: string, timestamp: number): void {
    if (error instanceof OhlcvRowError) this.stats.badCandles++;
    this.opts.log.error('candle refused: skipped', { symbol, candle: iso(timestamp), error: error.message });
    this.opts.events?.emit('error', { error, context: 'feed', symbol, timestamp });
  }

  private async restLoop(): Promise<void> {
    const signal = this.abort.signal;
    const safety = this.opts.safetyPollMs ?? Math.max(this.pollIntervalMs, Math.floor(this.tfMs / 4));
    let failures = 0;
    while (!signal.aborted) {
      const wait =
        failures > 0 ? backoffDelay(failures - 1, this.retryCtx.policy) : this.wsHealthy ? safety : this.pollIntervalMs;
      await this.wake.wait(wait, signal);
      if (signal.aborted) break;
      try {
        let now: number;
        if (this.wsHint > Number.NEGATIVE_INFINITY) {
          // a websocket showed a newer candle forming: the exchange time is at least its open
          now = this.wsHint;
          this.wsHint = Number.NEGATIVE_INFINITY;
        } else now = await this.exchangeTime();
        await this.cycle(now);
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        this.stats.failedCycles++;
        const error = this.opts.redactor.error(err);
        const permanent = err instanceof ccxt.ExchangeError;
        this.opts.log.error('market data fetch failed; will catch up from the last delivered candle', {
          error: error.message.slice(0, 240),
          consecutiveFailures: failures,
        });
        this.opts.events?.emit('error', {
          error: new ExchangeError(`market data: ${error.message}`),
          context: 'feed',
        });
        if (permanent) {
          // refused, not failed (bad symbol, authentication, ...): retrying cannot help
          this.opts.log.error('market data refused by the exchange: the feed stops', { error: error.message });
          this.fatal = error;
          this.queue.end();
          return;
        }
      }
    }
  }

  private async wsCandleLoop(symbol: string): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const rows = (await this.ex.watchOHLCV(symbol, this.opts.timeframe)) as OhlcvRow[];
        if (signal.aborted) break;
        if (!this.wsHealthy) this.opts.log.info('candle websocket connected', { symbol });
        this.wsHealthy = true;
        failures = 0;
        let newest = Number.NEGATIVE_INFINITY;
        for (const r of rows) if (typeof r[0] === 'number' && r[0] > newest) newest = r[0];
        // a candle newer than the next one wanted is forming: the wanted one has closed
        if (newest >= (this.cursor.get(symbol) as number) + this.tfMs) {
          if (newest > this.wsHint) this.wsHint = newest;
          this.wake.wake();
        }
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        this.stats.wsFailures++;
        this.wsHealthy = false;
        const error = this.opts.redactor.error(err);
        this.opts.log.warn('candle websocket failed; polling REST until it reconnects', {
          symbol,
          error: error.message.slice(0, 200),
          failures,
        });
        this.wake.wake();
        if (classifyError(err, this.ex) === 'permanent' && !(err instanceof ccxt.ExchangeClosedByUser)) {
          this.opts.log.warn('candle websocket unavailable: REST polling only', { symbol });
          return;
        }
        await abortableSleep(backoffDelay(Math.min(failures - 1, 6), this.retryCtx.policy), signal);
      }
    }
  }

  // ---- ticks ----

  private pushTick(symbol: string, t: Ticker): void {
    const last = t.last ?? t.close;
    if (typeof last !== 'number' || !(last > 0)) return;
    const timestamp = typeof t.timestamp === 'number' ? t.timestamp : this.ex.milliseconds();
    if (timestamp < this.lastCandleClose) return; // older than candles already delivered
    const absurd = this.sanity.checkPrice(symbol, last);
    if (absurd !== undefined) {
      this.stats.absurdPrices++;
      this.opts.log.warn('tick dropped: absurd price', { symbol, last, reason: absurd });
      return;
    }
    const bid = typeof t.bid === 'number' && t.bid > 0 ? t.bid : last;
    const ask = typeof t.ask === 'number' && t.ask > 0 ? t.ask : last;
    this.queue.push({ kind: 'tick', tick: { timestamp, symbol, bid, ask, last } });
  }

  private async tickLoop(symbol: string): Promise<void> {
    const signal = this.abort.signal;
    const params = this.opts.tickerParams ?? (this.ex.id.startsWith('binance') ? { name: 'ticker' } : {});
    let wsFailures = 0;
    const wsOk = () => this.opts.websocket !== false && this.ex.has.watchTicker === true && wsFailures < 1_000_000;
    const pollMs = this.opts.tickPollMs ?? 5_000;
    let wsDisabled = false;
    while (!signal.aborted) {
      if (wsOk() && !wsDisabled) {
        try {
          const t = await this.ex.watchTicker(symbol, params);
          if (signal.aborted) break;
          wsFailures = 0;
          this.pushTick(symbol, t);
          continue;
        } catch (err) {
          if (signal.aborted) break;
          wsFailures++;
          if (classifyError(err, this.ex) === 'permanent' && !(err instanceof ccxt.ExchangeClosedByUser)) {
            wsDisabled = true;
          }
          this.opts.log.warn('ticker websocket failed; REST ticker until it reconnects', {
            symbol,
            error: this.opts.redactor.text(err instanceof Error ? err.message : String(err)).slice(0, 200),
          });
          // REST ticks for the backoff period, then try the websocket again
          const until = Date.now() + backoffDelay(Math.min(wsFailures - 1, 6), this.retryCtx.policy);
          while (!signal.aborted && Date.now() < until) {
            if (pollMs > 0) await this.restTick(symbol);
            await abortableSleep(Math.min(pollMs > 0 ? pollMs : 1000, Math.max(0, until - Date.now())), signal);
          }
          continue;
        }
      }
      if (pollMs <= 0) return;
      await this.restTick(symbol);
      await abortableSleep(pollMs, signal);
    }
  }

  private async restTick(symbol: string): Promise<void> {
    try {
      const t = await this.checked('fetchTicker', this.ex.fetchTicker(symbol));
      this.pushTick(symbol, t);
    } catch (err) {
      this.opts.log.debug('ticker fetch failed', {
        symbol,
        error: this.opts.redactor.text(err instanceof Error ? err.message : String(err)).slice(0, 200),
      });
    }
  }
}

/** The parts of a ccxt pro websocket client this module touches. */
interface WsClient {
  startedConnecting?: boolean;
  connection?: { close(): void; terminate?: () => void };
}

/**
 * `exchange.close()`, and then the sockets it misses: a client waiting out
 * ccxt's reconnect backoff (after a dropped websocket) has no socket yet,
 * and opens it once the backoff ends even though the exchange was closed
 * meanwhile — an open socket and a ping timer that keep the process alive.
 * Those are waited for (up to 3 s, a first backoff is about 1 s) and closed.
 */
async function closeWebsockets(exchange: Exchange): Promise<void> {
  const clients = Object.values((exchange as unknown as { clients?: Record<string, WsClient> }).clients ?? {});
  const dialing = clients.filter((c) => c.startedConnecting === true && c.connection === undefined);
  await (exchange as { close?: () => Promise<unknown> }).close?.().catch(() => undefined);
  const until = Date.now() + 3_000;
  while (dialing.some((c) => c.connection === undefined) && Date.now() < until) await abortableSleep(50);
  for (const c of dialing) {
    if (c.connection === undefined) continue;
    if (c.connection.terminate !== undefined) c.connection.terminate();
    else c.connection.close();
  }
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}
