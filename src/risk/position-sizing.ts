/**
 * Position sizing as pure functions of equity, forecasts and limits. Sizes
 * are signed weights: position value / equity (> 0 long, < 0 short).
 * - fixed fraction: the same weight every time;
 * - volatility target: weight = target / forecast volatility, so the
 *   position's forecast volatility is `target` of equity (same period for both);
 * - fractional Kelly: for a trade that gains `winReturn` with probability p and
 *   loses `lossReturn` otherwise, Kelly's growth-optimal fraction
 *   f* = p / lossReturn - (1 - p) / winReturn, times `fraction` (half Kelly is
 *   common: full Kelly is far too aggressive when p is estimated);
 * then `capWeights` applies max position, max gross exposure (in quote
 * currency) and max leverage (gross / equity), and `rebalanceBand` trades only
 * the symbols whose weight drifted beyond a band.
 */
import { ConfigError } from '../core/errors.js';

function positive(name: string, v: number): number {
  if (!(v > 0 && Number.isFinite(v)))
    throw new ConfigError(`${name} must be a finite number > 0, got ${v}`, { field: name });
  return v;
}

export function fixedFractionWeight(fraction: number, direction: 1 | -1 = 1): number {
  if (!(fraction >= 0 && Number.isFinite(fraction))) {
    throw new ConfigError(`fraction must be a finite number >= 0, got ${fraction}`, { field: 'fraction' });
  }
  return direction * fraction;
}

export function volatilityTargetWeight(
  targetVolatility: number,
  forecastVolatility: number,
  direction: 1 | -1 = 1,
): number {
  return (
    (direction * positive('targetVolatility', targetVolatility)) / positive('forecastVolatility', forecastVolatility)
  );
}

export interface KellyInput {
  /** Probability that the trade wins (e.g. a calibrated model probability). */
  readonly probability: number;
  /** Return on the position when it wins (e.g. the take-profit distance, 0.04). */
  readonly winReturn: number;
  /** Loss on the position when it loses, as a positive fraction (e.g. the stop distance, 0.02). */
  readonly lossReturn: number;
  /** Share of the Kelly fraction to take (default 0.5). */
  readonly fraction?: number;
}

/** Fractional Kelly weight (>= 0: a negative edge means no position). */
export function kellyWeight(input: KellyInput): number {
  const p = input.probability;
  if (!(p >= 0 && p <= 1)) throw new ConfigError(`probability must be in [0, 1], got ${p}`, { field: 'probability' });
  const win = positive('winReturn', input.winReturn);
  const loss = positive('lossReturn', input.lossReturn);
  const fraction = input.fraction ?? 0.5;
  if (!(fraction > 0 && fraction <= 1))
    throw new ConfigError(`fraction must be in (0, 1], got ${fraction}`, { field: 'fraction' });
  return Math.max(0, fraction * (p / loss - (1 - p) / win));
}

export interface SizingLimits {
  /** Largest |weight| of one symbol. */
  readonly maxPosition?: number;
  /** Largest sum of |position values|, in quote currency. */
  readonly maxGrossExposure?: number;
  /** Largest sum |weight| (gross exposure / equity). */
  readonly maxLeverage?: number;
}

export interface CappedWeights {
  readonly weights: number[];
  /** The limits that changed the weights. */
  readonly limitedBy: ('maxPosition' | 'maxGrossExposure' | 'maxLeverage')[];
}

/** Clips each weight to maxPosition, then scales all down together until the gross limits hold. */
export function capWeights(weights: readonly number[], equity: number, limits: SizingLimits): CappedWeights {
  positive('equity', equity);
  const limitedBy: CappedWeights['limitedBy'] = [];
  let out = weights.map((w, i) => {
    if (!Number.isFinite(w))
      throw new ConfigError(`weight ${w} is not a finite number`, { field: 'weights', index: i });
    return w;
  });
  if (limits.maxPosition !== undefined) {
    const m = positive('maxPosition', limits.maxPosition);
    if (out.some((w) => Math.abs(w) > m)) {
      limitedBy.push('maxPosition');
      out = out.map((w) => Math.max(-m, Math.min(m, w)));
    }
  }
  const gross = out.reduce((a, w) => a + Math.abs(w), 0);
  let scale = 1;
  if (limits.maxGrossExposure !== undefined) {
    const cap = positive('maxGrossExposure', limits.maxGrossExposure) / equity;
    if (gross > cap) {
      limitedBy.push('maxGrossExposure');
      scale = Math.min(scale, cap / gross);
    }
  }
  if (limits.maxLeverage !== undefined) {
    const cap = positive('maxLeverage', limits.maxLeverage);
    if (gross > cap) {
      limitedBy.push('maxLeverage');
      scale = Math.min(scale, cap / gross);
    }
  }
  return { weights: scale === 1 ? out : out.map((w) => w * scale), limitedBy };
}

/**
 * Weight changes to make: for each symbol whose current weight is more than
 * `band` away from its target, the change back to the target; 0 elsewhere.
 */
export function rebalanceBand(current: readonly number[], target: readonly number[], band: number): number[] {
  if (current.length !== target.length) {
    throw new ConfigError(`${current.length} current weights for ${target.length} targets`, { field: 'current' });
  }
  if (!(band >= 0)) throw new ConfigError(`band must be >= 0, got ${band}`, { field: 'band' });
  return target.map((t, i) => (Math.abs((current[i] as number) - t) > band ? t - (current[i] as number) : 0));
}
