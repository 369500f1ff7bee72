/**
 * Exponentially weighted (RiskMetrics) variance forecast:
 *   h_{t+1} = lambda h_t + (1 - lambda) r_t^2
 * with zero mean, as RiskMetrics does for short horizons. `variance` is always
 * the forecast for the NEXT return, given the returns seen so far. O(1) per bar.
 */
import { ConfigError, DataError } from '../core/errors.js';

/** RiskMetrics' daily decay. */
export const RISKMETRICS_LAMBDA = 0.94;

export function checkLambda(lambda: number): number {
  if (!(lambda > 0 && lambda < 1))
    throw new ConfigError(`lambda must be in (0, 1), got ${lambda}`, { field: 'lambda' });
  return lambda;
}

export class EwmaVariance {
  readonly lambda: number;
  private h: number;

  /** `initialVariance` is the forecast before any return is seen. */
  constructor(initialVariance: number, lambda = RISKMETRICS_LAMBDA) {
    if (!(initialVariance >= 0 && Number.isFinite(initialVariance))) {
      throw new ConfigError(`initial variance must be a finite number >= 0, got ${initialVariance}`, {
        field: 'initialVariance',
      });
    }
    this.lambda = checkLambda(lambda);
    this.h = initialVariance;
  }

  /**
   * Seeded with the mean squared return of `history`, then updated through it,
   * so the first forecast after it already reflects the recent bars.
   */
  static fromHistory(history: ArrayLike<number>, lambda = RISKMETRICS_LAMBDA): EwmaVariance {
    let s = 0;
    for (let t = 0; t < history.length; t++) s += (history[t] as number) ** 2;
    const e = new EwmaVariance(history.length > 0 ? s / history.length : 0, lambda);
    for (let t = 0; t < history.length; t++) e.update(history[t] as number);
    return e;
  }

  /** Forecast variance of the next return. */
  get variance(): number {
    return this.h;
  }

  /** Folds in the return just observed; returns the new forecast. */
  update(r: number): number {
    if (!Number.isFinite(r)) throw new DataError(`return ${r} is not a finite number`, { field: 'return' });
    this.h = this.lambda * this.h + (1 - this.lambda) * r * r;
    return this.h;
  }
}

/**
 * One-step forecasts for a series: `out[t]` is the variance forecast for
 * `returns[t]` made before seeing it (the streaming state after returns[0..t-1]).
 */
export function ewmaVarianceForecasts(
  returns: ArrayLike<number>,
  initialVariance: number,
  lambda = RISKMETRICS_LAMBDA,
): Float64Array {
  const e = new EwmaVariance(initialVariance, lambda);
  const out = new Float64Array(returns.length);
  for (let t = 0; t < returns.length; t++) {
    out[t] = e.variance;
    e.update(returns[t] as number);
  }
  return out;
}
