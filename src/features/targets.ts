/**
 * What a model predicts about the `horizon` candles after candle t:
 *
 * - `direction`: whether close[t + h] is above close[t] (a probability);
 * - `return`: the forward log return ln(close[t + h] / close[t]), its sign and size;
 * - `volatility`: the forward realised volatility, the square root of the sum
 *   of the h squared one-candle log returns after t (the risk input for sizing
 *   and portfolio construction).
 *
 * Regression models are fitted in "model space": the return as is, the
 * volatility as its logarithm (volatility is positive and right-skewed; errors
 * in log space are errors in ratio). `fromModelSpace` undoes it, once, in the
 * predictor. Training labels are made robust relative to the naive scale
 * (EWMA volatility x sqrt(horizon)) known at t: returns are clipped at
 * RETURN_LABEL_CLIP scales, so a crash candle cannot set the weights, and
 * volatilities are floored at VOLATILITY_LABEL_FLOOR scales, so near-flat
 * candles (log -> -infinity) cannot drag every forecast down. Outcomes are
 * always scored unclipped.
 *
 * The naive forecasts a regression model has to beat: zero for the return,
 * the current EWMA volatility scaled to the horizon for the volatility.
 */
import { ConfigError } from '../core/errors.js';

export type TargetKind = 'direction' | 'return' | 'volatility';

export const TARGET_KINDS: readonly TargetKind[] = ['direction', 'return', 'volatility'];

/** Smallest volatility taken into log space: a run of unchanged closes has volatility 0. */
export const VOLATILITY_FLOOR = 1e-6;

export function assertTargetKind(value: unknown, field = 'target'): asserts value is TargetKind {
  if (!TARGET_KINDS.includes(value as TargetKind)) {
    throw new ConfigError(`unknown target '${String(value)}' (expected ${TARGET_KINDS.join(', ')})`, { field });
  }
}

/** ln(close[t + h] / close[t]). */
export function forwardLogReturn(closes: ArrayLike<number>, t: number, horizon: number): number {
  return Math.log(closes[t + horizon]! / closes[t]!);
}

/** sqrt(sum over i = 1..h of ln(close[t + i] / close[t + i - 1])^2). */
export function forwardVolatility(closes: ArrayLike<number>, t: number, horizon: number): number {
  let sum = 0;
  for (let i = 1; i <= horizon; i++) {
    const r = Math.log(closes[t + i]! / closes[t + i - 1]!);
    sum += r * r;
  }
  return Math.sqrt(sum);
}

/** Naive scales (EWMA volatility x sqrt(horizon)) a return training label is clipped at. */
export const RETURN_LABEL_CLIP = 4;

/** Share of the naive scale a volatility training label is floored at. */
export const VOLATILITY_LABEL_FLOOR = 0.3;

/**
 * The training label of a regression model of `kind` for an outcome `value`
 * at a candle whose naive scale (EWMA volatility x sqrt(horizon)) is `scale`.
 */
export function toModelSpace(kind: TargetKind, value: number, scale: number): number {
  if (kind === 'volatility') return Math.log(Math.max(value, VOLATILITY_LABEL_FLOOR * scale, VOLATILITY_FLOOR));
  const clip = RETURN_LABEL_CLIP * scale;
  return Math.min(Math.max(value, -clip), clip);
}

/** A regression model's output in the target's own units. */
export function fromModelSpace(kind: TargetKind, value: number): number {
  return kind === 'volatility' ? Math.exp(value) : value;
}

/** The naive forecast of a regression target at a candle whose EWMA volatility (per candle) is `volatility`. */
export function naiveForecast(kind: TargetKind, volatility: number, horizon: number): number {
  return kind === 'volatility' ? volatility * Math.sqrt(horizon) : 0;
}
