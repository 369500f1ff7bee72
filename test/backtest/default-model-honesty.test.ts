/**
 * The default walk-forward ML backtest (logistic on the core features:
 * WALK_FORWARD_DEFAULTS) on markets whose best possible accuracy is known:
 * - a pure random walk: accuracy 50% +/- 2 points and a Brier score not below
 *   the base rate's by more than noise (no leak, no false confidence);
 * - a planted sign-momentum signal of strength 0.25 (theoretical best
 *   Phi(0.25) = 59.87%): the pipeline reaches within 1 point of it with the
 *   one feature that carries the signal and a light penalty. The defaults
 *   stay within 2.5 points: their penalty (chosen on real markets, where
 *   shrinkage pays) and 26 more features each move the decision boundary a
 *   little off zero.
 */
import { describe, expect, it } from 'vitest';
import { runWalkForward, type WalkForwardOptions } from '../../backtest/ml-backtest.js';
import type { Candle } from '../../src/core/types.js';
import { generateSyntheticCandles, plantedBestAccuracy } from '../../src/data/index.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';

const COUNT = 40_000; // ~35,000 out-of-sample predictions: a coin's standard error is ~0.27 points

/** The default walk-forward run's scored predictions: accuracy, Brier and the base rate's Brier with its noise. */
async function score(candles: Candle[], options: Partial<WalkForwardOptions> = {}) {
  const tracker = new PredictionTracker();
  const p: number[] = [];
  const y: number[] = [];
  tracker.on('resolved', (t) => {
    if ((t.outcome === 0 || t.outcome === 1) && t.prediction !== null) {
      p.push(t.prediction);
      y.push(t.outcome);
    }
  });
  await runWalkForward({ ...options, candles, tracker });
  const n = p.length;
  const up = y.reduce((a, b) => a + b, 0) / n;
  // Per-row difference of the model's Brier and the base rate's, and its standard error.
  const d = p.map((pi, i) => (pi - y[i]!) ** 2 - (up - y[i]!) ** 2);
  const mean = d.reduce((a, b) => a + b, 0) / n;
  const se = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n);
  const accuracy = p.reduce((a, pi, i) => a + ((pi >= 0.5 ? 1 : 0) === y[i] ? 1 : 0), 0) / n;
  return { n, accuracy, brierMinusBase: mean, se };
}

describe('the default ML backtest on markets of known predictability', () => {
  it('a random walk scores 50% +/- 2 and no better Brier than the base rate beyond noise', async () => {
    const s = await score(generateSyntheticCandles({ mode: 'random-walk', count: COUNT, seed: 7 }));
    console.log(
      `random walk: ${s.n} predictions, accuracy ${(s.accuracy * 100).toFixed(2)}%, ` +
        `Brier - base ${s.brierMinusBase.toExponential(2)} (se ${s.se.toExponential(2)})`,
    );
    expect(s.n).toBeGreaterThan(30_000);
    expect(Math.abs(s.accuracy - 0.5)).toBeLessThan(0.02);
    expect(s.brierMinusBase).toBeGreaterThan(-2 * s.se);
  });

  it('a planted signal scores within 1 point of its theoretical best (within 2.5 with the defaults)', async () => {
    const best = plantedBestAccuracy(0.25);
    const candles = generateSyntheticCandles({ mode: 'planted', count: COUNT, seed: 7, strength: 0.25 });
    const lean = await score(candles, {
      featureSet: { returns: { lags: 1 } },
      linear: { l2: 0.001 },
      calibration: 'none',
    });
    const defaults = await score(candles);
    console.log(
      `planted (best ${(best * 100).toFixed(2)}%): one feature ${(lean.accuracy * 100).toFixed(2)}%, ` +
        `defaults ${(defaults.accuracy * 100).toFixed(2)}%`,
    );
    expect(Math.abs(lean.accuracy - best)).toBeLessThan(0.01);
    expect(defaults.accuracy).toBeGreaterThan(best - 0.025);
    expect(defaults.accuracy).toBeLessThan(best + 0.01);
    expect(defaults.brierMinusBase).toBeLessThan(-5 * defaults.se);
  });
});
