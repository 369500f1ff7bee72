/**
 * A model's answer for one candle as the `Prediction` a strategy sees, the
 * same on every path (precomputed batch, streaming, API):
 *
 * - direction models: P(up) as given; with a magnitude estimate (meta.json's
 *   `magnitude`), the predicted move scale x EWMA volatility x sqrt(horizon)
 *   and the expected return (2p - 1) x that move;
 * - return models: the expected log return as given, and P(up) = Phi(mu / s)
 *   with s the spread of the residuals on the calibration rows (else the
 *   volatility scaled to the horizon).
 *
 * Volatility models forecast risk, not direction: they have no Prediction.
 */
import { ModelError } from '../core/errors.js';
import type { Prediction } from '../core/types.js';
import type { Calibration } from './calibration.js';
import type { ModelMeta } from './model-meta.js';

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 via erf; |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

/** Throws unless the model's target can give a strategy a Prediction. */
export function assertPredictsDirection(meta: ModelMeta): void {
  if (meta.label.kind === 'volatility') {
    throw new ModelError(
      `model '${meta.name}' forecasts volatility, not direction: use it for risk and sizing, or train a direction or return model to trade`,
      { field: 'label.kind' },
    );
  }
}

/** The Prediction of a model's (calibrated, target-unit) output `value` at a candle with EWMA volatility `volatility`. */
export function predictionOf(
  meta: ModelMeta,
  calibration: Calibration | undefined,
  symbol: string,
  value: number,
  modelVersion: string,
  timestamp: number,
  volatility: number,
): Prediction {
  const root = Math.sqrt(meta.label.horizon);
  if (meta.label.kind === 'return') {
    const spread = calibration?.method === 'residual' && calibration.sigma > 0 ? calibration.sigma : volatility * root;
    const p = spread > 0 && Number.isFinite(spread) ? normalCdf(value / spread) : 0.5;
    return {
      symbol,
      prediction: p,
      confidence: Math.abs(p - 0.5) * 2,
      modelVersion,
      timestamp,
      expectedReturn: value,
      forecast: { target: 'return', value, naive: 0 },
    };
  }
  const p = value;
  const base = { symbol, prediction: p, confidence: Math.abs(p - 0.5) * 2, modelVersion, timestamp };
  if (meta.magnitude === undefined || !Number.isFinite(volatility)) return base;
  const move = meta.magnitude.scale * volatility * root;
  return { ...base, expectedMove: move, expectedReturn: (2 * p - 1) * move };
}
