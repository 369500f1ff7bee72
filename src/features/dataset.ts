/**
 * Supervised datasets from a candle series: one sample per candle t whose
 * features use only candles closed at or before t and whose label is the
 * target over the `horizon` candles after t (targets.ts): whether the close
 * is higher (direction), the log return, or the realised volatility.
 *
 * Features come from the streaming extractor, the same code that feeds the
 * model live, so training and serving cannot drift apart.
 *
 * Label threshold (direction only): samples whose move |close[t+h] / close[t]
 * - 1| is at most `labelThreshold` are dropped (too small to call either way).
 * With the default 0 only exactly unchanged closes are dropped. Because of
 * dropping, rows are not evenly spaced in time; `candleIndex` maps each row
 * back to its candle.
 */
import { ConfigError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { assertSingleSymbol } from './candle-checks.js';
import { type FeatureSchema, featureNames } from './feature-schema.js';
import type { FeatureSetSpec } from './feature-sets.js';
import { type ContextSeries, FeatureStream, streamSeries } from './streaming-extractor.js';
import {
  assertTargetKind,
  forwardLogReturn,
  forwardVolatility,
  naiveForecast,
  type TargetKind,
  toModelSpace,
} from './targets.js';

export interface DatasetOptions {
  /** Default 'relative'. */
  featureSet?: FeatureSetSpec;
  /** Candles of the set's context symbols, if it has any. */
  context?: ContextSeries;
  /** Candles ahead the label looks (>= 1). */
  horizon: number;
  /** Feature rows t-lookback+1 .. t concatenated per sample, oldest first (default 1). */
  lookback?: number;
  /** Direction: drop samples whose |return over the horizon| is <= this (default 0). */
  labelThreshold?: number;
  /** What the label is (default 'direction'). */
  target?: TargetKind;
}

export interface Dataset {
  readonly schema: FeatureSchema;
  /** One name per column; with lookback > 1, `name@t-k` (k candles back) and `name@t`. */
  readonly featureNames: readonly string[];
  /** Row-major, rows * cols. */
  readonly features: Float32Array;
  readonly target: TargetKind;
  /**
   * What the model is fitted on: direction 1 if close[t + horizon] > close[t],
   * else 0; return the forward log return; volatility the log of the forward
   * realised volatility (targets.ts, model space).
   */
  readonly labels: Float32Array;
  /** The outcome in its own units: the forward log return (direction, return) or the forward realised volatility. */
  readonly outcomes: Float64Array;
  /** The naive forecast of a regression target (zero return; EWMA volatility x sqrt(horizon)); 0 for direction. */
  readonly naive: Float64Array;
  /** close[t + horizon] / close[t] - 1, for evaluating what a prediction was worth. */
  readonly forwardReturns: Float64Array;
  /** ln(close[t] / close[t - 1]): the last move, for the reversal and momentum baselines (NaN for the first candle). */
  readonly lastMoves: Float64Array;
  /** EWMA volatility per candle at t (the feature stream's). */
  readonly volatility: Float64Array;
  /** Open time of candle t. */
  readonly timestamps: Float64Array;
  /** Index of candle t in the input series. */
  readonly candleIndex: Int32Array;
  readonly rows: number;
  readonly cols: number;
  readonly horizon: number;
  readonly lookback: number;
  readonly labelThreshold: number;
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`${field} must be an integer >= 1, got ${value}`, { field });
  return value;
}

export function lookbackColumnNames(names: readonly string[], lookback: number): string[] {
  if (lookback === 1) return [...names];
  const out: string[] = [];
  for (let k = lookback - 1; k >= 0; k--) for (const n of names) out.push(k === 0 ? `${n}@t` : `${n}@t-${k}`);
  return out;
}

export function buildDataset(candles: readonly Candle[], options: DatasetOptions): Dataset {
  const horizon = positiveInteger(options.horizon, 'horizon');
  const lookback = positiveInteger(options.lookback ?? 1, 'lookback');
  const target = options.target ?? 'direction';
  assertTargetKind(target);
  const threshold = options.labelThreshold ?? 0;
  if (!(threshold >= 0) || !Number.isFinite(threshold)) {
    throw new ConfigError(`labelThreshold must be a finite number >= 0, got ${threshold}`, { field: 'labelThreshold' });
  }
  if (target !== 'direction' && threshold > 0) {
    throw new ConfigError(`labelThreshold applies to the direction target only, not '${target}'`, {
      field: 'labelThreshold',
    });
  }

  const stream = new FeatureStream(options.featureSet);
  const nf = stream.width;
  const n = candles.length;
  const all = new Float64Array(n * nf);
  const closes = new Float64Array(n);
  const vols = new Float64Array(n);
  const valid = new Uint8Array(n);
  assertSingleSymbol(candles);
  streamSeries(stream, candles, all, options.context, (i, ok) => {
    valid[i] = ok ? 1 : 0;
    closes[i] = candles[i]!.close;
    vols[i] = stream.volatility;
  });

  const last = n - 1 - horizon;
  const keep: number[] = [];
  let run = 0;
  for (let t = 0; t <= last; t++) {
    // A sample needs `lookback` consecutive feature rows ending at t and a defined volatility.
    run = valid[t] === 1 ? run + 1 : 0;
    if (run < lookback || Number.isNaN(vols[t]!)) continue;
    if (target === 'direction' && !(Math.abs(closes[t + horizon]! / closes[t]! - 1) > threshold)) continue;
    keep.push(t);
  }

  const rows = keep.length;
  const cols = nf * lookback;
  const features = new Float32Array(rows * cols);
  const labels = new Float32Array(rows);
  const outcomes = new Float64Array(rows);
  const naive = new Float64Array(rows);
  const forwardReturns = new Float64Array(rows);
  const lastMoves = new Float64Array(rows);
  const volatility = new Float64Array(rows);
  const timestamps = new Float64Array(rows);
  const candleIndex = new Int32Array(rows);
  keep.forEach((t, row) => {
    // Rows t-lookback+1 .. t are contiguous in `all`, oldest first.
    features.set(all.subarray((t - lookback + 1) * nf, (t + 1) * nf), row * cols);
    const logReturn = forwardLogReturn(closes, t, horizon);
    const outcome = target === 'volatility' ? forwardVolatility(closes, t, horizon) : logReturn;
    labels[row] =
      target === 'direction' ? (logReturn > 0 ? 1 : 0) : toModelSpace(target, outcome, vols[t]! * Math.sqrt(horizon));
    outcomes[row] = outcome;
    naive[row] = target === 'direction' ? 0 : naiveForecast(target, vols[t]!, horizon);
    forwardReturns[row] = closes[t + horizon]! / closes[t]! - 1;
    lastMoves[row] = t > 0 ? Math.log(closes[t]! / closes[t - 1]!) : Number.NaN;
    volatility[row] = vols[t]!;
    timestamps[row] = candles[t]!.timestamp;
    candleIndex[row] = t;
  });

  return {
    schema: stream.schema,
    featureNames: lookbackColumnNames(featureNames(stream.schema), lookback),
    target,
    features,
    labels,
    outcomes,
    naive,
    forwardReturns,
    lastMoves,
    volatility,
    timestamps,
    candleIndex,
    rows,
    cols,
    horizon,
    lookback,
    labelThreshold: threshold,
  };
}

/** Rows [start, end) as views on the same buffers (no copy). */
export function sliceDataset(ds: Dataset, start: number, end: number): Dataset {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= ds.rows)) {
    throw new ConfigError(`invalid row range [${start}, ${end}) of a dataset with ${ds.rows} rows`, { field: 'range' });
  }
  return {
    ...ds,
    features: ds.features.subarray(start * ds.cols, end * ds.cols),
    labels: ds.labels.subarray(start, end),
    outcomes: ds.outcomes.subarray(start, end),
    naive: ds.naive.subarray(start, end),
    forwardReturns: ds.forwardReturns.subarray(start, end),
    lastMoves: ds.lastMoves.subarray(start, end),
    volatility: ds.volatility.subarray(start, end),
    timestamps: ds.timestamps.subarray(start, end),
    candleIndex: ds.candleIndex.subarray(start, end),
    rows: end - start,
  };
}

/**
 * The rows of several datasets (same schema, lookback, horizon and target;
 * e.g. one per symbol) as one, in time order; rows of equal time keep the
 * order of `parts`. For pooled training: one model over several symbols.
 */
export function mergeDatasets(parts: readonly Dataset[]): Dataset {
  const first = parts[0];
  if (first === undefined) throw new ConfigError('no datasets to merge', { field: 'datasets' });
  if (parts.length === 1) return first;
  for (const p of parts) {
    if (
      p.cols !== first.cols ||
      p.horizon !== first.horizon ||
      p.lookback !== first.lookback ||
      p.target !== first.target
    ) {
      throw new ConfigError('datasets to merge must share columns, horizon, lookback and target', {
        field: 'datasets',
      });
    }
  }
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  const order: [number, number][] = [];
  parts.forEach((p, k) => {
    for (let r = 0; r < p.rows; r++) order.push([k, r]);
  });
  order.sort((a, b) => parts[a[0]]!.timestamps[a[1]]! - parts[b[0]]!.timestamps[b[1]]! || a[0] - b[0]);
  const cols = first.cols;
  const features = new Float32Array(rows * cols);
  const labels = new Float32Array(rows);
  const outcomes = new Float64Array(rows);
  const naive = new Float64Array(rows);
  const forwardReturns = new Float64Array(rows);
  const lastMoves = new Float64Array(rows);
  const volatility = new Float64Array(rows);
  const timestamps = new Float64Array(rows);
  const candleIndex = new Int32Array(rows);
  order.forEach(([k, r], i) => {
    const d = parts[k]!;
    features.set(d.features.subarray(r * cols, (r + 1) * cols), i * cols);
    labels[i] = d.labels[r]!;
    outcomes[i] = d.outcomes[r]!;
    naive[i] = d.naive[r]!;
    forwardReturns[i] = d.forwardReturns[r]!;
    lastMoves[i] = d.lastMoves[r]!;
    volatility[i] = d.volatility[r]!;
    timestamps[i] = d.timestamps[r]!;
    candleIndex[i] = d.candleIndex[r]!;
  });
  return {
    ...first,
    features,
    labels,
    outcomes,
    naive,
    forwardReturns,
    lastMoves,
    volatility,
    timestamps,
    candleIndex,
    rows,
  };
}

/** Rows whose timestamps lie in [from, to] (inclusive), as views (rows are in time order). */
export function rowsBetween(ds: Dataset, from: number, to: number): Dataset {
  let lo = 0;
  let hi = ds.rows;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ds.timestamps[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  const start = lo;
  hi = ds.rows;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ds.timestamps[mid]! <= to) lo = mid + 1;
    else hi = mid;
  }
  return sliceDataset(ds, start, lo);
}
