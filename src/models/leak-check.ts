/**
 * Look-ahead leak check. On a series with no predictable direction (a pure
 * random walk) no honest model can call the next move better than a coin, so
 * its out-of-sample accuracy must sit near 50%. A model that scores far above
 * (or below) that has seen the future somewhere: in a feature, in the scaler,
 * or through a split that lets training labels overlap the test period.
 *
 * The band is 50% +/- 3 points by default. With n validation rows the standard
 * error of a coin's accuracy is 0.5 / sqrt(n): about 0.79 points at 4,000 rows,
 * so the band is almost 4 standard errors wide there and an honest model fails
 * it about once in 10,000 runs. With fewer rows the verdict is 'inconclusive'.
 */
import { ConfigError } from '../core/errors.js';

export interface LeakCheckOptions {
  /** Half-width of the accepted band around `expected`, as a fraction (default 0.03 = 3 points). */
  tolerance?: number;
  /** Validation rows needed for a verdict (default 4000). */
  minRows?: number;
  /** Accuracy a no-skill model is expected to get (default 0.5). */
  expected?: number;
}

export type LeakVerdict = 'no-leak' | 'leak-suspected' | 'inconclusive';

export interface LeakAssessment {
  readonly verdict: LeakVerdict;
  /** True only for 'no-leak'. */
  readonly passed: boolean;
  readonly accuracy: number;
  readonly rows: number;
  readonly lower: number;
  readonly upper: number;
  /** Standard error of a coin's accuracy on this many rows. */
  readonly standardError: number;
  /** (accuracy - expected) / standardError. */
  readonly zScore: number;
  /** One line for a human. */
  readonly message: string;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/**
 * Judges out-of-sample metrics of a model trained and validated on data with
 * no predictable direction (e.g. the synthetic random walk).
 */
export function assessLeak(
  metrics: { readonly accuracy: number; readonly rows: number },
  options: LeakCheckOptions = {},
): LeakAssessment {
  const tolerance = options.tolerance ?? 0.03;
  const minRows = options.minRows ?? 4000;
  const expected = options.expected ?? 0.5;
  if (!(tolerance > 0 && tolerance < 0.5)) {
    throw new ConfigError(`tolerance must be in (0, 0.5), got ${tolerance}`, { field: 'tolerance' });
  }
  const { accuracy, rows } = metrics;
  const lower = expected - tolerance;
  const upper = expected + tolerance;
  const standardError = rows > 0 ? 0.5 / Math.sqrt(rows) : Number.POSITIVE_INFINITY;
  const zScore = rows > 0 ? (accuracy - expected) / standardError : 0;
  const band = `${pct(lower)}..${pct(upper)}`;
  let verdict: LeakVerdict;
  let message: string;
  if (rows < minRows) {
    verdict = 'inconclusive';
    message = `only ${rows} validation rows (need ${minRows}) for a tight band; accuracy ${pct(accuracy)}`;
  } else if (accuracy < lower || accuracy > upper) {
    verdict = 'leak-suspected';
    message =
      `accuracy ${pct(accuracy)} on ${rows} rows of a series with no signal is outside ${band} ` +
      `(z = ${zScore.toFixed(1)}): features, scaling or the split look ahead`;
  } else {
    verdict = 'no-leak';
    message = `accuracy ${pct(accuracy)} on ${rows} rows is within ${band} (z = ${zScore.toFixed(1)}): no sign of look-ahead`;
  }
  return { verdict, passed: verdict === 'no-leak', accuracy, rows, lower, upper, standardError, zScore, message };
}
