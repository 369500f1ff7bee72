/**
 * Batch computation of a configured feature set over a whole series: the
 * same definitions as config-stream.ts, computed a different way (whole
 * arrays, window sums recomputed per candle, technicalindicators' EMA for the
 * range, Date for the calendar, bucket tables for the higher timeframes,
 * binary search for the context), so the parity test between the two catches
 * a bug in either. Cost is O(n * window): fine for training and tests, not
 * for live use.
 */
import { EMA } from 'technicalindicators';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle } from '../core/types.js';
import { indicatorFeatures } from './config-schema.js';
import { MIN_SD_RATIO } from './config-stream.js';
import { ewmaVolatilitySeries } from './ewma-volatility.js';
import { type FeatureConfig, timeframeRatio } from './feature-config.js';
import { fixedFeatureValues } from './fixed-batch.js';
import { RELATIVE_SCHEMA } from './fixed-feature-sets.js';
import { VOLATILITY_FLOOR } from './targets.js';

const TWO_PI = 2 * Math.PI;
const identity = (v: number): number => v;

function nanArray(n: number): Float64Array {
  return new Float64Array(n).fill(Number.NaN);
}

function div(x: number, vol: number): number {
  return vol === 0 ? (Number.isNaN(x) ? x : 0) : x / vol;
}

/** Population sd of values[i - w + 1 .. i], two passes. */
function windowSd(values: Float64Array, i: number, w: number): number {
  if (i - w + 1 < 0) return Number.NaN;
  let sum = 0;
  for (let j = i - w + 1; j <= i; j++) sum += values[j]!;
  const mean = sum / w;
  let sq = 0;
  for (let j = i - w + 1; j <= i; j++) sq += (values[j]! - mean) ** 2;
  return Math.sqrt(sq / w);
}

function windowMean(values: Float64Array, i: number, w: number): number {
  let sum = 0;
  for (let j = i - w + 1; j <= i; j++) sum += values[j]!;
  return sum / w;
}

interface Bar {
  readonly close: number;
  readonly high: number;
  readonly low: number;
  /** First candle index at which the bar counts as closed. */
  readonly visibleFrom: number;
}

/** Closed complete bars of a higher timeframe: a partial first bucket is dropped. */
function higherBars(candles: readonly Candle[], baseMs: number, ms: number): Bar[] {
  const bars: Bar[] = [];
  let i = 0;
  while (i < candles.length) {
    const bucket = Math.floor(candles[i]!.timestamp / ms);
    let j = i;
    let high = candles[i]!.high;
    let low = candles[i]!.low;
    while (j + 1 < candles.length && Math.floor(candles[j + 1]!.timestamp / ms) === bucket) {
      j++;
      high = Math.max(high, candles[j]!.high);
      low = Math.min(low, candles[j]!.low);
    }
    const complete = i > 0 || candles[0]!.timestamp === bucket * ms;
    const endsBucket = candles[j]!.timestamp + baseMs === (bucket + 1) * ms;
    if (complete) bars.push({ close: candles[j]!.close, high, low, visibleFrom: endsBucket ? j : j + 1 });
    i = j + 1;
  }
  return bars;
}

/** Row-major values (NaN where undefined) of `candles` for a configured set. */
export function configFeaturesBatch(
  candles: readonly Candle[],
  config: FeatureConfig,
  cols: number,
  context: ReadonlyMap<string, readonly Candle[]> = new Map(),
): Float64Array {
  const n = candles.length;
  const span = config.volatilitySpan!;
  const closes = Float64Array.from(candles, (c) => c.close);
  const r = nanArray(n);
  for (let i = 1; i < n; i++) r[i] = Math.log(closes[i]! / closes[i - 1]!);
  const vol = ewmaVolatilitySeries(closes, span);
  const columns: Float64Array[] = [];
  const column = (fill: (i: number) => number) => {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = fill(i);
    columns.push(a);
  };

  if (config.returns !== undefined) {
    for (let k = 1; k <= config.returns.lags; k++)
      column((i) => (i - k + 1 >= 1 ? div(r[i - k + 1]!, vol[i]!) : Number.NaN));
  }
  for (const w of config.momentum?.windows ?? []) {
    column((i) => (i >= w ? div(Math.log(closes[i]! / closes[i - w]!), vol[i]! * Math.sqrt(w)) : Number.NaN));
  }
  if (config.volatility !== undefined) {
    column((i) => Math.log(Math.max(vol[i]!, VOLATILITY_FLOOR)));
    for (const w of config.volatility.windows) {
      column((i) => {
        if (i < w) return Number.NaN;
        const v = vol[i]!;
        return v === 0 ? 0 : Math.log(Math.max(windowSd(r, i, w), MIN_SD_RATIO * v) / v);
      });
    }
  }
  for (const p of config.atr?.periods ?? []) {
    const atr = nanArray(n);
    let acc = 0;
    for (let i = 1; i < n; i++) {
      const c = candles[i]!;
      const tr = Math.max(c.high - c.low, Math.abs(c.high - closes[i - 1]!), Math.abs(c.low - closes[i - 1]!));
      if (i < p) acc += tr;
      else if (i === p) atr[i] = (acc + tr) / p;
      else atr[i] = (atr[i - 1]! * (p - 1) + tr) / p;
    }
    column((i) => atr[i]! / closes[i]!);
  }
  if (config.candle !== undefined) {
    const s = config.candle.rangeSpan;
    const ranges = candles.map((c) => c.high - c.low);
    const ema = nanArray(n);
    const e = EMA.calculate({ period: s, values: ranges, format: identity });
    ema.set(e, n - e.length);
    const range = (i: number) => ranges[i]!;
    column((i) => {
      const avg = ema[i]!;
      return avg > 0 ? range(i) / avg : Number.isNaN(avg) ? Number.NaN : 1;
    });
    column((i) => (range(i) > 0 ? (candles[i]!.close - candles[i]!.open) / range(i) : 0));
    column((i) => (range(i) > 0 ? (candles[i]!.high - Math.max(candles[i]!.open, candles[i]!.close)) / range(i) : 0));
    column((i) => (range(i) > 0 ? (Math.min(candles[i]!.open, candles[i]!.close) - candles[i]!.low) / range(i) : 0));
    column((i) => (i >= 1 ? div(Math.log(candles[i]!.open / closes[i - 1]!), vol[i]!) : Number.NaN));
  }
  if (config.volume !== undefined) {
    const w = config.volume.window;
    const lv = Float64Array.from(candles, (c) => Math.log1p(c.volume));
    column((i) => {
      if (i < w - 1) return Number.NaN;
      const mean = windowMean(lv, i, w);
      const sd = windowSd(lv, i, w);
      return sd > 1e-12 * Math.max(1, Math.abs(mean)) ? (lv[i]! - mean) / sd : 0;
    });
  }
  if (config.indicators === true) {
    const rel = fixedFeatureValues(candles, RELATIVE_SCHEMA);
    const names = RELATIVE_SCHEMA.features.map((f) => f.name);
    const width = names.length;
    for (const spec of indicatorFeatures()) {
      const j = names.indexOf(spec.name);
      column((i) => rel[i * width + j]!);
    }
  }
  if (config.calendar === true) {
    const hour = (i: number) => (TWO_PI * new Date(candles[i]!.timestamp).getUTCHours()) / 24;
    const day = (i: number) => (TWO_PI * new Date(candles[i]!.timestamp).getUTCDay()) / 7;
    column((i) => Math.sin(hour(i)));
    column((i) => Math.cos(hour(i)));
    column((i) => Math.sin(day(i)));
    column((i) => Math.cos(day(i)));
  }
  if (config.higherTimeframes !== undefined) {
    const base = config.timeframe!;
    const baseMs = timeframeToMs(base);
    const { lags } = config.higherTimeframes;
    for (const tf of config.higherTimeframes.timeframes) {
      const m = timeframeRatio(base, tf);
      const bars = higherBars(candles, baseMs, timeframeToMs(tf));
      // For each candle, the number of bars visible (closed) by then.
      const visible = new Int32Array(n);
      let b = 0;
      for (let i = 0; i < n; i++) {
        while (b < bars.length && bars[b]!.visibleFrom <= i) b++;
        visible[i] = b;
      }
      const closeAgo = (i: number, k: number) => {
        const idx = visible[i]! - 1 - k;
        return idx >= 0 ? bars[idx]!.close : Number.NaN;
      };
      const v = (i: number) => vol[i]! * Math.sqrt(m);
      for (let k = 1; k <= lags; k++) column((i) => div(Math.log(closeAgo(i, k - 1) / closeAgo(i, k)), v(i)));
      column((i) => div(Math.log(closes[i]! / closeAgo(i, 0)), v(i)));
      column((i) => {
        const last = visible[i]! > 0 ? bars[visible[i]! - 1]! : undefined;
        if (last === undefined) return Number.NaN;
        const range = last.high - last.low;
        return range > 0 ? (closes[i]! - last.low) / range : 0.5;
      });
    }
  }
  if (config.context !== undefined) {
    const { lags } = config.context;
    const maxStaleness = config.context.maxStaleness ?? 2;
    for (const symbol of config.context.symbols) {
      const ctx = context.get(symbol) ?? [];
      const tfMs = ctx.length > 0 ? timeframeToMs(ctx[0]!.timeframe) : 0;
      const ctxCloses = Float64Array.from(ctx, (c) => c.close);
      const ctxVol = ewmaVolatilitySeries(ctxCloses, span);
      // Newest context candle closed by each base candle's open (binary search).
      const usable = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const open = candles[i]!.timestamp;
        let lo = 0;
        let hi = ctx.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (ctx[mid]!.timestamp + tfMs <= open) lo = mid + 1;
          else hi = mid;
        }
        usable[i] = lo - 1;
      }
      const age = (i: number) =>
        usable[i]! < 0 ? Number.NaN : (candles[i]!.timestamp - tfMs - ctx[usable[i]!]!.timestamp) / tfMs;
      const fresh = (i: number) => age(i) <= maxStaleness;
      for (let k = 1; k <= lags; k++) {
        column((i) => {
          const j = usable[i]!;
          if (!fresh(i) || j - k < 0) return Number.NaN;
          return div(Math.log(ctxCloses[j - k + 1]! / ctxCloses[j - k]!), ctxVol[j]!);
        });
      }
      column((i) => (fresh(i) ? age(i) : Number.NaN));
    }
  }
  if (columns.length !== cols) throw new Error(`internal: ${columns.length} columns computed for ${cols}`);
  const values = new Float64Array(n * cols);
  for (let j = 0; j < cols; j++) {
    const a = columns[j]!;
    for (let i = 0; i < n; i++) values[i * cols + j] = a[i]!;
  }
  return values;
}
