/**
 * Walk-forward windows trained on worker threads: the task a pool thread runs
 * (train one window of a layout it builds once per data and settings) and
 * the pool the backtest hands its windows to. Candles travel once, as shared
 * columns (no copy per task); a window's result is what training it in the
 * main thread would give, byte for byte.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import type { Candle } from '../core/types.js';
import type { ContextSeries } from '../features/streaming-extractor.js';
import { createThreadPool } from './thread-pool.js';
import {
  type TrainedWindow,
  trainWalkForwardWindow,
  type WalkForwardLayout,
  type WalkForwardSettings,
  type WindowTrainingOptions,
  walkForwardLayout,
} from './walk-forward-windows.js';
import { WindowCache } from './window-cache.js';

/** Candles of several series as shared columns (timestamp, open, high, low, close, volume). */
export interface PackedSeries {
  readonly columns: SharedArrayBuffer;
  readonly symbols: readonly string[];
  readonly timeframes: readonly string[];
  readonly lengths: readonly number[];
  /** sha256 of the columns and names: what a thread's layout is memoised by. */
  readonly key: string;
}

export function packSeries(series: readonly (readonly Candle[])[]): PackedSeries {
  const total = series.reduce((n, s) => n + s.length, 0);
  const columns = new SharedArrayBuffer(total * 6 * 8);
  const values = new Float64Array(columns);
  let o = 0;
  for (const s of series) {
    for (const c of s) {
      values[o++] = c.timestamp;
      values[o++] = c.open;
      values[o++] = c.high;
      values[o++] = c.low;
      values[o++] = c.close;
      values[o++] = c.volume;
    }
  }
  const symbols = series.map((s) => s[0]?.symbol ?? '');
  const timeframes = series.map((s) => s[0]?.timeframe ?? '');
  const key = createHash('sha256')
    .update(new Uint8Array(values.buffer))
    .update(JSON.stringify([symbols, timeframes]))
    .digest('hex');
  return { columns, symbols, timeframes, lengths: series.map((s) => s.length), key };
}

export function unpackSeries(p: PackedSeries): Candle[][] {
  const values = new Float64Array(p.columns);
  let o = 0;
  return p.lengths.map((n, k) => {
    const out: Candle[] = new Array(n);
    const symbol = p.symbols[k]!;
    const timeframe = p.timeframes[k]!;
    for (let i = 0; i < n; i++, o += 6) {
      out[i] = {
        timestamp: values[o]!,
        open: values[o + 1]!,
        high: values[o + 2]!,
        low: values[o + 3]!,
        close: values[o + 4]!,
        volume: values[o + 5]!,
        symbol,
        timeframe,
      };
    }
    return out;
  });
}

/** What a thread is asked to do: train window `index`. */
export interface WindowTask {
  readonly series: PackedSeries;
  readonly context: PackedSeries | undefined;
  readonly settings: WalkForwardSettings;
  readonly index: number;
  readonly options: Omit<WindowTrainingOptions, 'cache' | 'logger'>;
  readonly cacheDir: string | undefined;
}

const layouts = new Map<string, WalkForwardLayout>();

function layoutOf(task: WindowTask): WalkForwardLayout {
  const key = JSON.stringify([task.series.key, task.context?.key, task.settings]);
  let layout = layouts.get(key);
  if (layout === undefined) {
    const context: ContextSeries | undefined =
      task.context === undefined
        ? undefined
        : new Map(unpackSeries(task.context).map((s, k) => [task.context!.symbols[k]!, s] as const));
    layout = walkForwardLayout(unpackSeries(task.series), task.settings, context);
    // One layout per thread at a time: a backtest's windows share it.
    layouts.clear();
    layouts.set(key, layout);
  }
  return layout;
}

/** The task of a pool thread. */
export default function trainWindowTask(task: WindowTask): Promise<TrainedWindow> {
  return trainWalkForwardWindow(layoutOf(task), task.index, {
    ...task.options,
    ...(task.cacheDir !== undefined ? { cache: new WindowCache(task.cacheDir) } : {}),
  });
}

/** A pool of threads training walk-forward windows. */
export function windowPool(threads: number): Piscina<WindowTask, TrainedWindow> {
  const here = fileURLToPath(import.meta.url);
  return createThreadPool<WindowTask, TrainedWindow>(here, threads);
}
