/**
 * Streaming state of a configured feature set (feature-config.ts): every
 * block updated in O(1) per candle and written into a row of the schema's
 * columns, NaN where a value is not defined yet (or, for context columns, when
 * the context is too stale). The batch extractor (config-batch.ts) computes
 * the same values a different way; the parity test compares the two.
 *
 * Input candles are assumed checked (checkCandle) by the caller; context
 * candles are checked here, per context symbol.
 */
import { DataError } from '../core/errors.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle } from '../core/types.js';
import { checkCandle } from './candle-checks.js';
import { indicatorFeatures } from './config-schema.js';
import { EwmaVolatility } from './ewma-volatility.js';
import { type FeatureConfig, timeframeRatio } from './feature-config.js';
import { type FeatureBuffer, RELATIVE_SCHEMA, writeRelativeFeatures } from './fixed-feature-sets.js';
import { LagBuffer, RollingWindow, SeededEma } from './incremental-indicators.js';
import { IndicatorState } from './indicator-state.js';
import { VOLATILITY_FLOOR } from './targets.js';
import { utcDayOfWeek, utcHour } from './utc-calendar.js';

const TWO_PI = 2 * Math.PI;
/** Smallest rolling sd relative to the EWMA volatility that the volatility ratios report. */
export const MIN_SD_RATIO = 1e-3;
/** A rolling sd this small relative to the mean is a constant window's rounding residue. */
const ZERO_SD = 1e-12;

/** Divides by a volatility, giving 0 for a market that has not moved at all (0 / 0). */
function scaled(x: number, vol: number): number {
  return vol === 0 ? (Number.isNaN(x) ? x : 0) : x / vol;
}

/** Wilder's smoothing, seeded with the mean of its first `period` values. */
export class WilderAverage {
  private count = 0;
  private sum = 0;
  private current = Number.NaN;
  constructor(readonly period: number) {}

  push(x: number): void {
    if (this.count < this.period) {
      this.sum += x;
      if (++this.count === this.period) this.current = this.sum / this.period;
    } else {
      this.current = (this.current * (this.period - 1) + x) / this.period;
    }
  }

  value(): number {
    return this.current;
  }

  clone(): WilderAverage {
    const c = new WilderAverage(this.period);
    c.count = this.count;
    c.sum = this.sum;
    c.current = this.current;
    return c;
  }
}

/** One higher timeframe built from the base candles: the forming bucket and the last closed complete bars. */
class HigherTimeframe {
  readonly ms: number;
  readonly ratio: number;
  private bucket = Number.NaN;
  private complete = false;
  /** A bucket was seen before this one: every later bucket is a complete bar. */
  private seen = false;
  /** The current bucket's last candle ended it and closed the bar. */
  private closedAtEnd = false;
  private high = Number.NaN;
  private low = Number.NaN;
  private close = Number.NaN;
  /** Closes of closed complete bars, newest first by ago(0). */
  private closes: LagBuffer;
  private lastHigh = Number.NaN;
  private lastLow = Number.NaN;

  constructor(
    timeframe: string,
    readonly baseMs: number,
    baseTimeframe: string,
    private readonly lags: number,
  ) {
    this.ms = timeframeToMs(timeframe);
    this.ratio = timeframeRatio(baseTimeframe, timeframe);
    this.closes = new LagBuffer(lags + 1);
  }

  update(c: Candle): void {
    const bucket = Math.floor(c.timestamp / this.ms);
    if (bucket !== this.bucket) {
      // A new bucket: the previous one closed (when its last candle was missing, now).
      if (!Number.isNaN(this.bucket) && !this.closedAtEnd) this.closeBar();
      this.bucket = bucket;
      // Only a bucket seen from its first candle (or after the stream began) is a complete bar.
      this.complete = this.seen || c.timestamp === bucket * this.ms;
      this.seen = true;
      this.high = c.high;
      this.low = c.low;
      this.closedAtEnd = false;
    } else {
      if (c.high > this.high) this.high = c.high;
      if (c.low < this.low) this.low = c.low;
    }
    this.close = c.close;
    if (c.timestamp + this.baseMs === (bucket + 1) * this.ms) {
      this.closeBar();
      this.closedAtEnd = true;
    }
  }

  private closeBar(): void {
    if (!this.complete) return;
    this.closes.push(this.close);
    this.lastHigh = this.high;
    this.lastLow = this.low;
  }

  /** Writes ret_1..ret_lags, since, range_pos. */
  write(close: number, vol: number, out: FeatureBuffer, o: number): number {
    const v = vol * Math.sqrt(this.ratio);
    for (let k = 1; k <= this.lags; k++) {
      out[o++] = scaled(Math.log(this.closes.ago(k - 1) / this.closes.ago(k)), v);
    }
    out[o++] = scaled(Math.log(close / this.closes.ago(0)), v);
    const range = this.lastHigh - this.lastLow;
    out[o++] = range > 0 ? (close - this.lastLow) / range : Number.isNaN(range) ? Number.NaN : 0.5;
    return o;
  }

  clone(): HigherTimeframe {
    const c = Object.create(HigherTimeframe.prototype) as HigherTimeframe;
    Object.assign(c, this);
    c.closes = this.closes.clone();
    return c;
  }
}

/** One context symbol: its candles queued until they have closed by the base candle's open, then applied. */
class ContextSeries {
  private readonly queue: Candle[] = [];
  private closes: LagBuffer;
  private vol: EwmaVolatility;
  private lastQueued = Number.NEGATIVE_INFINITY;
  private applied = Number.NaN;
  private timeframeMs = 0;
  private count = 0;

  constructor(
    readonly symbol: string,
    private readonly lags: number,
    private readonly maxStaleness: number,
    span: number,
  ) {
    this.closes = new LagBuffer(lags + 1);
    this.vol = new EwmaVolatility(span);
  }

  push(c: Candle): void {
    checkCandle(c, this.lastQueued, this.count);
    this.count++;
    this.lastQueued = c.timestamp;
    if (this.timeframeMs === 0) this.timeframeMs = timeframeToMs(c.timeframe);
    this.queue.push(c);
  }

  /** Applies every queued candle that closed by `open`. */
  advance(open: number): void {
    let k = 0;
    while (k < this.queue.length && this.queue[k]!.timestamp + this.timeframeMs <= open) {
      const c = this.queue[k++]!;
      this.closes.push(c.close);
      this.vol.update(c.close);
      this.applied = c.timestamp;
    }
    if (k > 0) this.queue.splice(0, k);
  }

  write(open: number, out: FeatureBuffer, o: number): number {
    const age = Number.isNaN(this.applied) ? Number.NaN : (open - this.timeframeMs - this.applied) / this.timeframeMs;
    const fresh = age <= this.maxStaleness;
    const vol = this.vol.value();
    for (let k = 1; k <= this.lags; k++) {
      out[o++] = fresh ? scaled(Math.log(this.closes.ago(k - 1) / this.closes.ago(k)), vol) : Number.NaN;
    }
    out[o++] = fresh ? age : Number.NaN;
    return o;
  }

  clone(): ContextSeries {
    const c = new ContextSeries(this.symbol, this.lags, this.maxStaleness, this.vol.span);
    c.queue.push(...this.queue);
    c.closes = this.closes.clone();
    c.vol = this.vol.clone();
    c.lastQueued = this.lastQueued;
    c.applied = this.applied;
    c.timeframeMs = this.timeframeMs;
    c.count = this.count;
    return c;
  }
}

export class ConfigFeatureState {
  readonly volatilityEstimate: EwmaVolatility;
  private closes: LagBuffer;
  private returns: LagBuffer;
  private readonly maxLag: number;
  private volWindows: RollingWindow[];
  private atrs: WilderAverage[];
  private rangeEma: SeededEma | undefined;
  private volumeWindow: RollingWindow | undefined;
  private indicators: IndicatorState | undefined;
  private readonly indicatorRow: Float64Array;
  private readonly indicatorColumns: number[];
  private htfs: HigherTimeframe[] | undefined;
  private contexts: Map<string, ContextSeries>;
  private last: Candle | undefined;
  private prevClose = Number.NaN;

  constructor(readonly config: FeatureConfig) {
    const c = config;
    this.volatilityEstimate = new EwmaVolatility(c.volatilitySpan);
    this.maxLag = Math.max(1, ...(c.momentum?.windows ?? []));
    this.closes = new LagBuffer(this.maxLag + 1);
    this.returns = new LagBuffer(Math.max(1, c.returns?.lags ?? 1));
    this.volWindows = (c.volatility?.windows ?? []).map((w) => new RollingWindow(w, true));
    this.atrs = (c.atr?.periods ?? []).map((p) => new WilderAverage(p));
    this.rangeEma = c.candle !== undefined ? new SeededEma(c.candle.rangeSpan) : undefined;
    this.volumeWindow = c.volume !== undefined ? new RollingWindow(c.volume.window, true) : undefined;
    this.indicators = c.indicators === true ? new IndicatorState() : undefined;
    this.indicatorRow = new Float64Array(RELATIVE_SCHEMA.features.length);
    const names = RELATIVE_SCHEMA.features.map((s) => s.name);
    this.indicatorColumns = indicatorFeatures().map((s) => names.indexOf(s.name));
    this.contexts = new Map(
      (c.context?.symbols ?? []).map((s) => [
        s,
        new ContextSeries(s, c.context!.lags, c.context!.maxStaleness ?? 2, c.volatilitySpan!),
      ]),
    );
  }

  /** True when `symbol` feeds this state as context. */
  isContext(symbol: string): boolean {
    return this.contexts.has(symbol);
  }

  contextSymbols(): string[] {
    return [...this.contexts.keys()];
  }

  /** A context candle (in time order per context symbol); DataError naming it when invalid or out of order. */
  updateContext(candle: Candle): void {
    const series = this.contexts.get(candle.symbol);
    if (series === undefined) {
      throw new DataError(`${candle.symbol} is not a context symbol of this feature set`, {
        symbol: candle.symbol,
        field: 'symbol',
      });
    }
    series.push(candle);
  }

  /** A checked base candle. */
  update(c: Candle): void {
    const cfg = this.config;
    if (this.htfs === undefined && cfg.higherTimeframes !== undefined) {
      const base = cfg.timeframe!;
      if (c.timeframe !== base) {
        throw new DataError(`candles are ${c.timeframe} but the feature set was configured for ${base}`, {
          symbol: c.symbol,
          field: 'timeframe',
        });
      }
      const baseMs = timeframeToMs(base);
      this.htfs = cfg.higherTimeframes.timeframes.map(
        (tf) => new HigherTimeframe(tf, baseMs, base, cfg.higherTimeframes!.lags),
      );
    }
    const prev = this.prevClose;
    const r = Number.isNaN(prev) ? Number.NaN : Math.log(c.close / prev);
    this.volatilityEstimate.update(c.close);
    this.closes.push(c.close);
    if (!Number.isNaN(r)) {
      this.returns.push(r);
      for (const w of this.volWindows) w.push(r);
      const tr = Math.max(c.high - c.low, Math.abs(c.high - prev), Math.abs(c.low - prev));
      for (const a of this.atrs) a.push(tr);
    }
    this.rangeEma?.push(c.high - c.low);
    this.volumeWindow?.push(Math.log1p(c.volume));
    this.indicators?.update(c.timestamp, c.close, c.volume);
    if (this.htfs !== undefined) for (const h of this.htfs) h.update(c);
    for (const s of this.contexts.values()) s.advance(c.timestamp);
    this.last = c;
    this.prevClose = c.close;
  }

  /** Writes the row of the last base candle at `offset`; NaN where undefined. */
  write(out: FeatureBuffer, offset: number): void {
    const c = this.last!;
    const cfg = this.config;
    const vol = this.volatilityEstimate.value();
    let o = offset;
    if (cfg.returns !== undefined) {
      for (let k = 1; k <= cfg.returns.lags; k++) out[o++] = scaled(this.returns.ago(k - 1), vol);
    }
    for (const w of cfg.momentum?.windows ?? []) {
      out[o++] = scaled(Math.log(c.close / this.closes.ago(w)), vol * Math.sqrt(w));
    }
    if (cfg.volatility !== undefined) {
      out[o++] = Math.log(Math.max(vol, VOLATILITY_FLOOR));
      // A run of unchanged closes has sd 0: floored like the volatility, so the ratio stays finite.
      for (const w of this.volWindows) out[o++] = vol === 0 ? 0 : Math.log(Math.max(w.std(), MIN_SD_RATIO * vol) / vol);
    }
    for (const a of this.atrs) out[o++] = a.value() / c.close;
    if (this.rangeEma !== undefined) {
      const range = c.high - c.low;
      const avg = this.rangeEma.value();
      out[o++] = avg > 0 ? range / avg : Number.isNaN(avg) ? Number.NaN : 1;
      out[o++] = range > 0 ? (c.close - c.open) / range : 0;
      out[o++] = range > 0 ? (c.high - Math.max(c.open, c.close)) / range : 0;
      out[o++] = range > 0 ? (Math.min(c.open, c.close) - c.low) / range : 0;
      out[o++] = scaled(Math.log(c.open / this.closes.ago(1)), vol);
    }
    if (this.volumeWindow !== undefined) {
      const mean = this.volumeWindow.mean();
      const sd = this.volumeWindow.std();
      const x = Math.log1p(c.volume);
      out[o++] = sd > ZERO_SD * Math.max(1, Math.abs(mean)) ? (x - mean) / sd : Number.isNaN(sd) ? Number.NaN : 0;
    }
    if (this.indicators !== undefined) {
      writeRelativeFeatures(this.indicators.snapshot, this.indicatorRow, 0);
      for (const j of this.indicatorColumns) out[o++] = this.indicatorRow[j]!;
    }
    if (cfg.calendar === true) {
      const h = (TWO_PI * utcHour(c.timestamp)) / 24;
      const d = (TWO_PI * utcDayOfWeek(c.timestamp)) / 7;
      out[o++] = Math.sin(h);
      out[o++] = Math.cos(h);
      out[o++] = Math.sin(d);
      out[o++] = Math.cos(d);
    }
    for (const h of this.htfs ?? []) o = h.write(c.close, vol, out, o);
    for (const s of this.contexts.values()) o = s.write(c.timestamp, out, o);
  }

  clone(): ConfigFeatureState {
    const c = new ConfigFeatureState(this.config);
    (c as { volatilityEstimate: EwmaVolatility }).volatilityEstimate = this.volatilityEstimate.clone();
    c.closes = this.closes.clone();
    c.returns = this.returns.clone();
    c.volWindows = this.volWindows.map((w) => w.clone());
    c.atrs = this.atrs.map((a) => a.clone());
    c.rangeEma = this.rangeEma?.clone();
    c.volumeWindow = this.volumeWindow?.clone();
    c.indicators = this.indicators?.clone();
    c.htfs = this.htfs?.map((h) => h.clone());
    c.contexts = new Map([...this.contexts].map(([k, v]) => [k, v.clone()]));
    c.last = this.last;
    c.prevClose = this.prevClose;
    return c;
  }
}
