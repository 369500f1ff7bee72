/**
 * Sources that drive a `TradingEngine`: `replay` for candle arrays (backtest)
 * and `drive` for any (async) iterable of candles and ticks (a live ccxt feed,
 * a websocket adapter). Both use the engine's public API only, so paper and
 * live trading run the very same loop.
 */
import { DataError } from '../core/errors.js';
import type { Candle, Tick } from '../core/types.js';
import type { TradingEngine } from './trading-engine.js';

export interface ReplayOptions {
  /** Called every `progressEvery` candles and once at the end with (done, total). */
  readonly progress?: (done: number, total: number) => void;
  /** Default 10,000. */
  readonly progressEvery?: number;
  /** Close every position at the last candle's close (fees and slippage apply). Default false. */
  readonly closeAtEnd?: boolean;
  /** Exit reason of the closing trades (default 'end of data'). */
  readonly closeReason?: string;
}

export interface ReplaySummary {
  readonly candles: number;
  /** First and last candle open time (NaN when no candle). */
  readonly start: number;
  readonly end: number;
}

/**
 * Merge per-symbol candle arrays (each in time order) into one time-ordered
 * array: a k-way merge on a binary heap; candles with the same timestamp come
 * in the order of `series` (symbol order).
 */
export function mergeCandles(series: readonly (readonly Candle[])[]): Candle[] {
  const k = series.length;
  let total = 0;
  for (const s of series) total += s.length;
  if (k === 1) return (series[0] as readonly Candle[]).slice();
  const out: Candle[] = new Array(total);
  const next = new Int32Array(k);
  const heap: number[] = [];
  const head = (s: number) => ((series[s] as readonly Candle[])[next[s] as number] as Candle).timestamp;
  const before = (a: number, b: number) => {
    const ta = head(a);
    const tb = head(b);
    return ta < tb || (ta === tb && a < b);
  };
  const siftDown = (from: number) => {
    let i = from;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l] as number, heap[m] as number)) m = l;
      if (r < heap.length && before(heap[r] as number, heap[m] as number)) m = r;
      if (m === i) return;
      const t = heap[i] as number;
      heap[i] = heap[m] as number;
      heap[m] = t;
      i = m;
    }
  };
  for (let s = 0; s < k; s++) if ((series[s] as readonly Candle[]).length > 0) heap.push(s);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
  let n = 0;
  while (heap.length > 0) {
    const s = heap[0] as number;
    const arr = series[s] as readonly Candle[];
    const c = arr[next[s] as number] as Candle;
    const prev = next[s] as number;
    if (prev > 0 && (arr[prev - 1] as Candle).timestamp >= c.timestamp) {
      throw new DataError(
        `candles not in strictly ascending time order at index ${prev} (${new Date(c.timestamp).toISOString()})`,
        { symbol: c.symbol, index: prev },
      );
    }
    out[n++] = c;
    next[s] = prev + 1;
    if ((next[s] as number) >= arr.length) {
      heap[0] = heap[heap.length - 1] as number;
      heap.pop();
    }
    if (heap.length > 0) siftDown(0);
  }
  return out;
}

/**
 * Replay candle arrays (one per symbol) through the engine in time order:
 * start it if idle, feed every candle, optionally close all positions, stop
 * it. A failure stops the engine (recording the last equity point) and rethrows.
 */
export async function replay(
  engine: TradingEngine,
  series: readonly (readonly Candle[])[] | readonly Candle[],
  options: ReplayOptions = {},
): Promise<ReplaySummary> {
  const lists = isSeriesList(series) ? series : [series];
  const candles = lists.length === 1 ? (lists[0] as readonly Candle[]) : mergeCandles(lists);
  const total = candles.length;
  const every = Math.max(1, Math.floor(options.progressEvery ?? 10_000));
  const progress = options.progress;
  if (engine.state === 'idle') await engine.start();
  try {
    let nextReport = progress === undefined ? Number.POSITIVE_INFINITY : every;
    for (let i = 0; i < total; i++) {
      const pending = engine.processCandle(candles[i] as Candle);
      if (pending !== undefined) await pending;
      if (i + 1 === nextReport) {
        progress?.(i + 1, total);
        nextReport += every;
      }
    }
    if (options.closeAtEnd === true && total > 0) engine.closeAll(options.closeReason ?? 'end of data');
  } catch (err) {
    await engine.stop().catch(() => undefined);
    throw err;
  }
  await engine.stop();
  progress?.(total, total);
  return {
    candles: total,
    start: total > 0 ? (candles[0] as Candle).timestamp : Number.NaN,
    end: total > 0 ? (candles[total - 1] as Candle).timestamp : Number.NaN,
  };
}

/**
 * Feed a live or recorded stream of closed candles and ticks into a started
 * engine until the stream ends or `signal` aborts. The caller decides when to
 * `closeAll` and `stop`.
 */
export async function drive(
  engine: TradingEngine,
  source: AsyncIterable<Candle | Tick> | Iterable<Candle | Tick>,
  signal?: AbortSignal,
): Promise<void> {
  if (engine.state === 'idle') await engine.start();
  for await (const event of source) {
    if (signal?.aborted) break;
    const pending = 'open' in event ? engine.processCandle(event) : engine.processTick(event);
    if (pending !== undefined) await pending;
  }
  engine.flushEquity();
}

function isSeriesList(
  value: readonly (readonly Candle[])[] | readonly Candle[],
): value is readonly (readonly Candle[])[] {
  return value.length > 0 && Array.isArray(value[0]);
}
