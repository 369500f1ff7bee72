/**
 * Downloads candles through ccxt into a local CSV cache, resumably.
 *
 * - Pagination: each request asks from `cursor`; the next cursor is the last
 *   returned open time + one timeframe, so no candle is asked for twice and
 *   no hole is made other than the exchange's own.
 * - Only CLOSED candles are kept, judged by the exchange's clock (its
 *   fetchTime when it has one), so the forming candle is never written.
 * - Rate limits: ccxt's own (`enableRateLimit`), plus retry.ts's retries
 *   (network errors, timeouts, 429s, 5xx and unparsable answers) with
 *   exponential backoff, honoring a Retry-After header up to `maxDelayMs`.
 * - Resume: an existing cache is continued from its last timestamp. Pages are
 *   appended as they arrive, so an interrupted run loses at most one page,
 *   and a torn last line (a kill mid-write) is cut off before appending.
 */
import { open } from 'node:fs/promises';
import ccxt, { type Exchange } from 'ccxt';
import { ConfigError, DataError, ExchangeError as QuantflowExchangeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Timeframe } from '../core/types.js';
import { appendCandlesCsv } from '../data/candle-csv-writer.js';
import { candleFromOhlcv, type OhlcvRow, OhlcvRowError } from '../data/ohlcv.js';
import { checkCandleTimeframe, exchangeClock } from './ccxt-exchange.js';
import {
  classifyError,
  DEFAULT_RETRY,
  lastAnswerUnparsable,
  RetryAborted,
  type RetryContext,
  type RetryPolicy,
  UnparsableAnswerError,
  withRetry,
} from './retry.js';

/**
 * Retries per request after the first attempt (default 5); the delay before the
 * first retry (default 500 ms, doubling each time, no jitter); the cap on any
 * single delay, Retry-After included (default 30 s).
 */
export type RetryOptions = Partial<Pick<RetryPolicy, 'maxRetries' | 'initialDelayMs' | 'maxDelayMs'>>;

export interface DownloadProgress {
  /** Candles appended so far in this run. */
  readonly written: number;
  /** Estimate of the candles this run will append (closed candles between the cursor and the end). */
  readonly expected: number;
  /** Open time of the last candle appended. */
  readonly lastTimestamp: number | undefined;
  readonly pages: number;
}

export interface DownloadCandlesOptions {
  /** A constructed ccxt exchange (`enableRateLimit: true` recommended). Markets are loaded here. */
  readonly exchange: Exchange;
  /** Unified symbol, 'BTC/USDT'. */
  readonly symbol: string;
  readonly timeframe: Timeframe;
  /** First candle open time wanted (ms). Ignored when the cache already has candles: it is continued. */
  readonly since: number;
  /** Candles opening at or after this (ms) are not fetched. Default: up to the last closed candle. */
  readonly until?: number;
  /** The CSV cache to create or continue. */
  readonly file: string;
  /** Candles per request. Default 1000 (the exchange may return fewer). */
  readonly pageSize?: number;
  readonly retry?: RetryOptions;
  /** Stop after this many OHLCV requests (the cache stays consistent; run again to resume). */
  readonly maxPages?: number;
  /** Abort between requests (the cache stays consistent). */
  readonly signal?: AbortSignal;
  /** The exchange clock (ms) deciding which candles are closed. Default: exchange.fetchTime(), else the local clock. */
  readonly now?: number;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly log?: Logger;
  /** For tests: how to wait between retries. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface DownloadResult {
  readonly file: string;
  readonly exchange: string;
  readonly symbol: string;
  readonly timeframe: Timeframe;
  /** Last cached open time found at start, when resuming. */
  readonly resumedAfter: number | undefined;
  readonly written: number;
  readonly firstWritten: number | undefined;
  readonly lastWritten: number | undefined;
  /** OHLCV requests that returned (retried attempts not counted). */
  readonly pages: number;
  readonly retries: number;
  /** The exchange clock used to tell closed candles (undefined if aborted before it was read). */
  readonly now: number | undefined;
  /** True when everything up to the end was fetched; false when stopped by maxPages or the signal. */
  readonly complete: boolean;
  readonly notes: readonly string[];
}

const DEFAULT_PAGE_SIZE = 1000;

/** `<exchange>_<BASE-QUOTE>_<tf>.csv`, the cache file name the data loader reads symbol and timeframe from. */
export function defaultCacheFileName(exchangeId: string, symbol: string, timeframe: Timeframe): string {
  const sym = symbol.replace(/[/:]/g, '-').replace(/[^A-Za-z0-9.-]/g, '');
  return `${exchangeId}_${sym}_${timeframe}.csv`;
}

/** Close time (exclusive) of a candle: calendar months and years for 'M' / 'y', else open + timeframe. */
function closeTimeOf(openTime: number, timeframe: Timeframe, tfMs: number): number {
  const m = /^(\d+)([My])$/.exec(timeframe);
  if (m === null) return openTime + tfMs;
  const months = Number(m[1]) * (m[2] === 'y' ? 12 : 1);
  const d = new Date(openTime);
  return Date.UTC(
    d.getUTCFullYear(),
    d.getUTCMonth() + months,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  );
}

const iso = (ts: number): string => new Date(ts).toISOString();

/**
 * The cache's last complete row's open time, after cutting off a torn last line
 * (left by a process killed mid-write). Undefined when the file is missing or has no rows.
 */
async function lastCachedTimestamp(file: string, log: Logger): Promise<number | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataError(`cannot open the cache: ${(err as Error).message}`, { file }, { cause: err });
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return undefined;
    const length = Math.min(size, 64 * 1024);
    const tail = Buffer.alloc(length);
    await handle.read(tail, 0, length, size - length);
    const text = tail.toString('utf8');
    let end = text.length;
    if (!text.endsWith('\n')) {
      const cut = text.lastIndexOf('\n') + 1;
      if (cut === 0 && length < size) throw new DataError('cannot find the end of the last row', { file });
      const keep = size - Buffer.byteLength(text.slice(cut), 'utf8');
      log.warn('cutting off a torn last line of the cache (an earlier run was interrupted mid-write)', {
        file,
        line: text.slice(cut),
      });
      await handle.truncate(keep);
      end = cut;
    }
    const lines = text.slice(0, end).split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = (lines[i] as string).trim();
      if (line === '') continue;
      if (i === 0 && length < size) break; // possibly a partial line at the window's start
      const ts = Number(line.slice(0, line.indexOf(',')));
      if (Number.isFinite(ts) && line.indexOf(',') > 0) return ts;
      if (/^[a-z]/i.test(line)) return undefined; // only the header
      throw new DataError(`the last row does not start with a ms timestamp: '${line}'`, { file });
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/** One OHLCV row through the shared intake; an unusable row is a ccxt BadResponse (retried), a bad candle a DataError. */
function toCandle(row: OhlcvRow, symbol: string, timeframe: Timeframe, exchangeId: string): Candle {
  try {
    return candleFromOhlcv(row, symbol, timeframe, exchangeId);
  } catch (err) {
    if (err instanceof OhlcvRowError && err.malformed) throw new ccxt.BadResponse(err.message);
    throw err;
  }
}

/** Runs exchange calls through retry.ts's `withRetry`, counts the retries, and names the call in the error it gives up with. */
class Retrier {
  retries = 0;

  constructor(
    private readonly ctx: RetryContext,
    private readonly symbol: string,
  ) {}

  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let attempts = 0;
    const onRetry = () => {
      attempts++;
      this.retries++;
    };
    try {
      return await withRetry(what, fn, { ...this.ctx, onRetry });
    } catch (err) {
      throw this.final(what, err, attempts);
    }
  }

  /** The error to give up with: exchange failures become one QuantflowExchangeError naming the call. */
  private final(what: string, err: unknown, attempts: number): unknown {
    const { exchange } = this.ctx;
    if (!(err instanceof ccxt.BaseError) && classifyError(err, exchange) !== 'transient') return err;
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const after = attempts > 0 ? ` (after ${attempts} ${attempts === 1 ? 'retry' : 'retries'})` : '';
    return new QuantflowExchangeError(
      `${exchange.id} ${what} failed${after}: ${detail}`,
      { symbol: this.symbol },
      {
        cause: err,
      },
    );
  }
}

/** Loads markets and checks the exchange can serve this symbol and timeframe. */
async function checkMarket(exchange: Exchange, symbol: string, timeframe: Timeframe, retrier: Retrier): Promise<void> {
  await retrier.run('loadMarkets', () => exchange.loadMarkets());
  if (exchange.markets?.[symbol] === undefined) {
    throw new ConfigError(`${exchange.id} has no market '${symbol}'`, { field: 'symbol' });
  }
  checkCandleTimeframe(exchange, timeframe);
}

/** One page of candles opening at or after `from`, checked and in order. */
async function fetchPage(
  exchange: Exchange,
  symbol: string,
  timeframe: Timeframe,
  from: number,
  pageSize: number,
  params: Record<string, unknown>,
): Promise<Candle[]> {
  const rows = (await exchange.fetchOHLCV(symbol, timeframe, from, pageSize, { ...params })) as unknown;
  if (lastAnswerUnparsable(exchange)) throw new UnparsableAnswerError(`${exchange.id} fetchOHLCV`);
  if (!Array.isArray(rows)) throw new ccxt.BadResponse(`${exchange.id} fetchOHLCV returned ${typeof rows}, not a list`);
  const candles: Candle[] = [];
  for (const row of rows as OhlcvRow[]) {
    const candle = toCandle(row, symbol, timeframe, exchange.id);
    if (candle.timestamp < from) continue; // some exchanges include earlier candles
    const prev = candles[candles.length - 1];
    if (prev !== undefined && candle.timestamp <= prev.timestamp) {
      throw new DataError(
        `${exchange.id} candles out of order: ${iso(candle.timestamp)} after ${iso(prev.timestamp)}`,
        {
          symbol,
          field: 'timestamp',
        },
      );
    }
    candles.push(candle);
  }
  return candles;
}

/** Download (or continue downloading) closed candles of one market into `file`. */
export async function downloadCandles(options: DownloadCandlesOptions): Promise<DownloadResult> {
  const { exchange, symbol, timeframe, file, signal } = options;
  const log = options.log ?? silentLogger;
  const tfMs = timeframeToMs(timeframe);
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new ConfigError(`page size must be a positive integer, got ${pageSize}`, { field: 'limit' });
  }
  if (!Number.isFinite(options.since)) throw new ConfigError('since must be a time in ms', { field: 'since' });
  if (options.until !== undefined && !(options.until > options.since)) {
    throw new ConfigError(`until (${iso(options.until)}) must be after since (${iso(options.since)})`, {
      field: 'until',
    });
  }
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  // the download keeps the spacing its options promise: exact doubling, Retry-After capped at maxDelayMs
  const policy: RetryPolicy = { ...retry, maxRetryAfterMs: retry.maxDelayMs, jitter: false };
  const retrier = new Retrier(
    {
      exchange,
      policy,
      log,
      ...(signal !== undefined ? { signal } : {}),
      ...(options.sleep !== undefined ? { sleep: options.sleep } : {}),
    },
    symbol,
  );
  const notes: string[] = [];
  let resumedAfter: number | undefined;
  let serverNow = options.now;
  let written = 0;
  let pages = 0;
  let firstWritten: number | undefined;
  let lastWritten: number | undefined;
  let complete = false;
  const result = (): DownloadResult => ({
    file,
    exchange: exchange.id,
    symbol,
    timeframe,
    resumedAfter,
    written,
    firstWritten,
    lastWritten,
    pages,
    retries: retrier.retries,
    now: serverNow,
    complete,
    notes,
  });

  try {
    await checkMarket(exchange, symbol, timeframe, retrier);
    const now = options.now ?? (await exchangeClock(exchange, (what, fn) => retrier.run(what, fn)));
    serverNow = now;
    resumedAfter = await lastCachedTimestamp(file, log);
    let cursor = options.since;
    if (resumedAfter !== undefined) {
      cursor = closeTimeOf(resumedAfter, timeframe, tfMs);
      if (options.since > cursor) {
        notes.push(
          `the cache ends at ${iso(resumedAfter)}, before --since: continued from its end to keep it gap-free`,
        );
      }
    }
    const until = options.until ?? Number.POSITIVE_INFINITY;
    const expected = Math.max(0, Math.ceil((Math.min(until, now) - cursor) / tfMs));
    const progress = () => options.onProgress?.({ written, expected, lastTimestamp: lastWritten, pages });
    progress();

    const params: Record<string, unknown> = options.until !== undefined ? { until: options.until - 1 } : {};
    for (;;) {
      // past --until, or no candle opening at or after the cursor can have closed yet
      if (cursor >= until || closeTimeOf(cursor, timeframe, tfMs) > now) {
        complete = true;
        break;
      }
      if (signal?.aborted || (options.maxPages !== undefined && pages >= options.maxPages)) break;
      const from = cursor;
      const page = await retrier.run(`fetchOHLCV ${symbol} ${timeframe} since ${iso(from)}`, () =>
        fetchPage(exchange, symbol, timeframe, from, pageSize, params),
      );
      pages++;
      const closed: Candle[] = [];
      let reachedEnd = page.length === 0;
      for (const c of page) {
        if (c.timestamp >= until || closeTimeOf(c.timestamp, timeframe, tfMs) > now) {
          reachedEnd = true; // the forming candle, or past --until
          break;
        }
        closed.push(c);
      }
      if (closed.length > 0) {
        await appendCandlesCsv(file, closed);
        written += closed.length;
        firstWritten ??= (closed[0] as Candle).timestamp;
        lastWritten = (closed[closed.length - 1] as Candle).timestamp;
        log.debug('page appended', { file, from: iso(from), candles: closed.length, last: iso(lastWritten) });
      }
      progress();
      if (reachedEnd) {
        complete = true;
        break;
      }
      const next = closeTimeOf((page[page.length - 1] as Candle).timestamp, timeframe, tfMs);
      if (next <= cursor) {
        throw new QuantflowExchangeError(`${exchange.id} fetchOHLCV made no progress at ${iso(cursor)}`, { symbol });
      }
      cursor = next;
    }
  } catch (err) {
    if (!(err instanceof RetryAborted)) throw err;
  }
  return result();
}
