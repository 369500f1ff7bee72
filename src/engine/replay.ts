/**
 * Backtest replay: candle arrays (one per symbol) merged into time order and
 * fed through the session loop (session.ts) that paper and live trading use;
 * `drive` feeds any stream of candles and ticks through the same loop.
 */
import { DataError } from '../core/errors.js';
import type { Candle, Tick } from '../core/types.js';
import { CandleArraySource, runSession, type SessionEvent } from './session.js';
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
 * start it if idle, run the session loop over every candle, optionally close
 * all positions, stop it. A failure stops the engine (recording the last
 * equity point) and rethrows.
 */
export async function replay(
  engine: TradingEngine,
  series: readonly (readonly Candle[])[] | readonly Candle[],
  options: ReplayOptions = {},
): Promise<ReplaySummary> {
  const lists = isSeriesList(series) ? series : [series];
  const candles = lists.length === 1 ? (lists[0] as readonly Candle[]) : mergeCandles(lists);
  const total = candles.length;
  const progress = options.progress;
  try {
    await runSession(
      engine,
      new CandleArraySource(candles),
      {},
      {
        ...(progress !== undefined ? { progress: (done: number) => progress(done, total) } : {}),
        ...(options.progressEvery !== undefined ? { progressEvery: options.progressEvery } : {}),
      },
    );
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
 * Feed a stream of closed candles and ticks (an array, a generator, a
 * websocket adapter) through the session loop, every candle tradable, until
 * it ends or `signal` aborts. The caller decides when to `closeAll` and `stop`.
 */
export async function drive(
  engine: TradingEngine,
  source: AsyncIterable<Candle | Tick> | Iterable<Candle | Tick>,
  signal?: AbortSignal,
): Promise<void> {
  async function* events(): AsyncGenerator<SessionEvent> {
    for await (const e of source)
      yield 'open' in e ? { kind: 'candle', candle: e, phase: 'live' } : { kind: 'tick', tick: e };
  }
  await runSession(engine, events(), {}, signal !== undefined ? { signal } : {});
}

function isSeriesList(
  value: readonly (readonly Candle[])[] | readonly Candle[],
): value is readonly (readonly Candle[])[] {
  return value.length > 0 && Array.isArray(value[0]);
}
