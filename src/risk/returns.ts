/**
 * Return series for the risk models. Every model in src/risk works on simple
 * (arithmetic) close-to-close returns r_t = close_t / close_{t-1} - 1, because
 * those add up across a portfolio: r_p = sum_i w_i r_i.
 *
 * Several symbols are aligned on the timestamps they all share: a bar missing
 * for one symbol drops that timestamp for all, so every return spans the same
 * interval for every symbol.
 */
import { DataError } from '../core/errors.js';
import type { Candle } from '../core/types.js';

/** Returns of several symbols over the same bars: `returns[i][t]` is symbol i's return into bar t. */
export interface ReturnsWindow {
  readonly symbols: readonly string[];
  /** Per symbol, one return per bar, all the same length. */
  readonly returns: readonly Float64Array[];
}

export interface AlignedReturns extends ReturnsWindow {
  /** Open time of the bar each return ends on (`timestamps[t]` for `returns[i][t]`). */
  readonly timestamps: Float64Array;
  /** Close of each symbol at the last common bar (to value positions). */
  readonly lastCloses: Float64Array;
  /** Common timestamps found before differencing (one more than the returns). */
  readonly commonBars: number;
}

/** Simple returns of a price series: one fewer than the prices. */
export function simpleReturns(prices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(Math.max(0, prices.length - 1));
  for (let t = 1; t < prices.length; t++) out[t - 1] = (prices[t] as number) / (prices[t - 1] as number) - 1;
  return out;
}

/** Value of 1 invested at the start and compounded by the returns: one more point than returns. */
export function compoundedValue(returns: ArrayLike<number>): Float64Array {
  const value = new Float64Array(returns.length + 1);
  value[0] = 1;
  for (let t = 0; t < returns.length; t++) value[t + 1] = (value[t] as number) * (1 + (returns[t] as number));
  return value;
}

/**
 * Aligns candle series (one per symbol, each in timestamp order) on their
 * common timestamps and turns the closes into simple returns.
 */
export function alignReturns(series: readonly (readonly Candle[])[]): AlignedReturns {
  if (series.length === 0) throw new DataError('no candle series to align');
  const symbols = series.map((s, i) => {
    const first = s[0];
    if (first === undefined) throw new DataError('a candle series is empty', { index: i });
    return first.symbol;
  });
  const seen = new Set<string>();
  for (const [i, symbol] of symbols.entries()) {
    if (seen.has(symbol)) throw new DataError(`symbol ${symbol} is given twice`, { index: i, symbol });
    seen.add(symbol);
  }
  // Count how many series have each timestamp; the common ones are in all of them.
  const counts = new Map<number, number>();
  for (const s of series) for (const c of s) counts.set(c.timestamp, (counts.get(c.timestamp) ?? 0) + 1);
  const common = [...counts].filter(([, n]) => n === series.length).map(([ts]) => ts);
  common.sort((a, b) => a - b);
  if (common.length < 2) {
    throw new DataError(`the series share ${common.length} timestamp(s); at least 2 are needed for a return`, {
      symbol: symbols.join(', '),
    });
  }
  const index = new Map(common.map((ts, t) => [ts, t]));
  const returns = series.map((s) => {
    const closes = new Float64Array(common.length);
    for (const c of s) {
      const t = index.get(c.timestamp);
      if (t !== undefined) closes[t] = c.close;
    }
    return simpleReturns(closes);
  });
  const lastCloses = Float64Array.from(series, (s) => {
    const last = common[common.length - 1] as number;
    return s.findLast((c) => c.timestamp === last)!.close;
  });
  return {
    symbols,
    returns,
    timestamps: Float64Array.from(common.slice(1)),
    lastCloses,
    commonBars: common.length,
  };
}

/** The bars [from, to) of every symbol (views, no copy). */
export function sliceWindow(window: ReturnsWindow, from: number, to: number): ReturnsWindow {
  return { symbols: window.symbols, returns: window.returns.map((r) => r.subarray(from, to)) };
}

/** Throws a DataError naming the first value of `values` that is not a finite number. */
export function checkFinite(values: ArrayLike<number>, field: string): void {
  for (let t = 0; t < values.length; t++) {
    if (!Number.isFinite(values[t] as number)) {
      throw new DataError(`${values[t]} is not a finite number`, { index: t, field });
    }
  }
}

/** Checks that a window has equal-length, finite return columns; returns the length. */
export function windowLength(window: ReturnsWindow, where = 'returns'): number {
  if (window.returns.length !== window.symbols.length) {
    throw new DataError(`${window.returns.length} return series for ${window.symbols.length} symbols`, {
      field: where,
    });
  }
  const n = window.returns[0]?.length ?? 0;
  for (const [i, r] of window.returns.entries()) {
    const symbol = window.symbols[i] as string;
    if (r.length !== n) {
      throw new DataError(`has ${r.length} returns where the first symbol has ${n}`, { symbol, field: where });
    }
    for (let t = 0; t < r.length; t++) {
      if (!Number.isFinite(r[t] as number)) {
        throw new DataError(`return ${r[t]} is not a finite number`, { symbol, index: t, field: where });
      }
    }
  }
  return n;
}
