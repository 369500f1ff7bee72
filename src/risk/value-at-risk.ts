/**
 * Value-at-Risk and Expected Shortfall of one-bar returns, as positive loss
 * fractions of the position's value (multiply by the value for money):
 *   VaR_a = -q_{1-a}(r),   ES_a = -E[r | r <= q_{1-a}(r)]
 * for a confidence level a such as 0.99.
 * - historical: the empirical quantile (linear interpolation between order
 *   statistics, NumPy's default) and the mean of the returns at or below it;
 * - parametric: normal with a given mean and volatility (the volatility may be
 *   a sample estimate or a forecast, e.g. EWMA or GARCH);
 * - filtered historical: the empirical quantile of standardised residuals
 *   r_t / sigma_t scaled by the forecast volatility, which keeps fat tails.
 * Portfolio figures come from the portfolio's return series (historical) or
 * from w' mu and sqrt(w' S w) (parametric).
 */
import { ConfigError, DataError } from '../core/errors.js';
import type { CovarianceMatrix } from './covariance.js';
import { normalDensity, normalQuantile } from './distributions.js';
import { checkFinite, type ReturnsWindow, windowLength } from './returns.js';

export interface VarEstimate {
  /** Loss not exceeded with probability `level`, as a fraction of value. */
  readonly valueAtRisk: number;
  /** Mean loss beyond the VaR, as a fraction of value. */
  readonly expectedShortfall: number;
  readonly level: number;
}

export function checkLevel(level: number): number {
  if (!(level > 0.5 && level < 1))
    throw new ConfigError(`VaR level must be in (0.5, 1), got ${level}`, { field: 'level' });
  return level;
}

/** Linear-interpolation quantile of sorted values (NumPy's default "linear" method). */
export function sortedQuantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new DataError('no values to take a quantile of');
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const frac = pos - lo;
  return (sorted[lo] as number) + frac * ((sorted[hi] as number) - (sorted[lo] as number));
}

function tailOf(sorted: ArrayLike<number>, cut: number): number {
  let s = 0;
  let k = 0;
  for (let i = 0; i < sorted.length && (sorted[i] as number) <= cut; i++) {
    s += sorted[i] as number;
    k++;
  }
  // The quantile lies at or above the smallest value, so the tail has at least one return.
  return s / Math.max(1, k);
}

export function historicalVar(returns: ArrayLike<number>, level: number): VarEstimate {
  checkLevel(level);
  if (returns.length === 0) throw new DataError('no returns for a historical VaR', { field: 'returns' });
  checkFinite(returns, 'returns');
  const sorted = Float64Array.from(returns as ArrayLike<number>).sort();
  const q = sortedQuantile(sorted, 1 - level);
  return { valueAtRisk: -q, expectedShortfall: -tailOf(sorted, q), level };
}

export function parametricVar(mean: number, volatility: number, level: number): VarEstimate {
  checkLevel(level);
  if (!(volatility >= 0 && Number.isFinite(volatility))) {
    throw new ConfigError(`volatility must be a finite number >= 0, got ${volatility}`, { field: 'volatility' });
  }
  const z = normalQuantile(1 - level);
  return {
    valueAtRisk: -(mean + volatility * z),
    expectedShortfall: -(mean - (volatility * normalDensity(z)) / (1 - level)),
    level,
  };
}

/**
 * The tail of standardised residuals (r_t - mean) / sigma_t of a training
 * window, to scale by a volatility forecast (filtered historical simulation).
 */
export interface StandardisedTail {
  /** q_{1-level} of the standardised residuals (negative). */
  readonly quantile: number;
  /** Mean of the standardised residuals at or below it. */
  readonly tailMean: number;
  readonly level: number;
}

export function standardisedTail(residuals: ArrayLike<number>, level: number): StandardisedTail {
  const h = historicalVar(residuals, level);
  return { quantile: -h.valueAtRisk, tailMean: -h.expectedShortfall, level };
}

export function filteredHistoricalVar(tail: StandardisedTail, mean: number, volatility: number): VarEstimate {
  return {
    valueAtRisk: -(mean + volatility * tail.quantile),
    expectedShortfall: -(mean + volatility * tail.tailMean),
    level: tail.level,
  };
}

function checkWeights(weights: ArrayLike<number>, n: number): void {
  if (weights.length !== n) throw new ConfigError(`expected ${n} weights, got ${weights.length}`, { field: 'weights' });
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(weights[i] as number)) {
      throw new ConfigError(`weight ${weights[i]} is not a finite number`, { field: 'weights', index: i });
    }
  }
}

/** r_p,t = sum_i w_i r_i,t (weights held constant, i.e. rebalanced every bar). */
export function portfolioReturns(window: ReturnsWindow, weights: ArrayLike<number>): Float64Array {
  const bars = windowLength(window);
  checkWeights(weights, window.returns.length);
  const out = new Float64Array(bars);
  for (const [i, r] of window.returns.entries()) {
    const w = weights[i] as number;
    if (w === 0) continue;
    for (let t = 0; t < bars; t++) out[t] = (out[t] as number) + w * (r[t] as number);
  }
  return out;
}

/** sqrt(w' S w). */
export function portfolioVolatility(weights: ArrayLike<number>, covariance: CovarianceMatrix): number {
  checkWeights(weights, covariance.length);
  let v = 0;
  for (let i = 0; i < covariance.length; i++) {
    const row = covariance[i] as number[];
    for (let j = 0; j < covariance.length; j++)
      v += (weights[i] as number) * (row[j] as number) * (weights[j] as number);
  }
  return Math.sqrt(Math.max(0, v));
}

/**
 * Historical VaR of the last `window` returns, updated per bar: the window is
 * kept sorted (binary search, then one block move), O(log W + W) per bar
 * with a small constant, instead of sorting W values per bar.
 */
export class RollingHistoricalVar {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  private count = 0;
  private head = 0;

  constructor(
    readonly window: number,
    readonly level: number,
  ) {
    if (!Number.isInteger(window) || window < 1)
      throw new ConfigError(`window must be an integer >= 1, got ${window}`, { field: 'window' });
    checkLevel(level);
    this.ring = new Float64Array(window);
    this.sorted = new Float64Array(window);
  }

  get bars(): number {
    return this.count;
  }

  update(r: number): void {
    if (!Number.isFinite(r)) throw new DataError(`return ${r} is not a finite number`, { field: 'return' });
    if (this.count === this.window) {
      const old = this.ring[this.head] as number;
      const at = this.lowerBound(old);
      this.sorted.copyWithin(at, at + 1, this.count);
      this.count--;
    }
    this.ring[this.head] = r;
    this.head = this.head + 1 === this.window ? 0 : this.head + 1;
    const at = this.lowerBound(r);
    this.sorted.copyWithin(at + 1, at, this.count);
    this.sorted[at] = r;
    this.count++;
  }

  /** VaR and ES of the returns in the window (NaN when empty). */
  estimate(): VarEstimate {
    if (this.count === 0) return { valueAtRisk: Number.NaN, expectedShortfall: Number.NaN, level: this.level };
    const view = this.sorted.subarray(0, this.count);
    const q = sortedQuantile(view, 1 - this.level);
    return { valueAtRisk: -q, expectedShortfall: -tailOf(view, q), level: this.level };
  }

  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sorted[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
