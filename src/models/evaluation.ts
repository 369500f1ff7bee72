/**
 * Out-of-sample scores of predictions next to the naive baselines a model has
 * to beat, scored on exactly the same rows.
 *
 * Direction: accuracy, ROC AUC, Brier score and log loss against always
 * predicting the training set's majority class, always "up", "the next candle
 * reverses the last", "the next candle continues the last", and the Brier
 * score of always predicting the base rate. The edge is the accuracy minus the
 * best of the four. Accuracy, Brier, log loss and the rule baselines come from
 * the tracker's OutcomeStats (one implementation of those formulas); ROC AUC
 * is rank-based here.
 *
 * Return and volatility: MAE, R^2 and correlation against the naive forecast
 * (zero return; EWMA volatility), QLIKE and the hit rate of an 80% forecast
 * interval for volatility.
 */
import { DataError } from '../core/errors.js';
import { type TargetKind, VOLATILITY_FLOOR } from '../features/targets.js';
import type { RegressionMetrics, ValidationMetrics } from './model-meta.js';
import { OutcomeStats, volatilityQlike } from './outcome-stats.js';

export interface EvaluationOptions {
  /** Labels of the training rows: their majority class is the majority baseline (default: the evaluated labels). */
  trainLabels?: ArrayLike<number>;
  /** Instead of trainLabels: the share of "up" among the training rows. */
  trainUpRate?: number;
  /** Probability above which a prediction calls "up" (default 0.5; exactly 0.5 is "down"). */
  threshold?: number;
  /** Signed move of each row's own candle (its log return), for the reversal and momentum baselines. */
  lastMoves?: ArrayLike<number>;
}

/** Upper quantile of the standard normal for a central 80% interval. */
export const Z_80 = 1.2815515655446004;

function upRate(labels: ArrayLike<number>): number {
  let up = 0;
  for (let i = 0; i < labels.length; i++) up += labels[i]!;
  return labels.length > 0 ? up / labels.length : 0;
}

/**
 * Area under the ROC curve from ranks (Mann-Whitney U): the probability that a
 * random "up" row gets a higher score than a random "down" row, tied scores
 * counting one half. null when the labels hold only one class.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const n = scores.length;
  if (labels.length !== n) throw new DataError(`${n} scores but ${labels.length} labels`, { field: 'labels' });
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSumPositives = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    // Rows i..j share one score: each gets the mean of ranks i+1..j+1.
    const meanRank = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        positives++;
        rankSumPositives += meanRank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Scores of `probabilities` (P(up) per row) against `labels` (1 = up, 0 = down). */
export function evaluatePredictions(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: EvaluationOptions = {},
): ValidationMetrics {
  const n = labels.length;
  if (probabilities.length !== n) {
    throw new DataError(`${probabilities.length} predictions but ${n} labels`, { field: 'probabilities' });
  }
  if (n === 0) throw new DataError('nothing to evaluate: zero rows', { field: 'labels' });
  const threshold = options.threshold ?? 0.5;
  const moves = options.lastMoves;
  if (moves !== undefined && moves.length !== n) {
    throw new DataError(`${moves.length} last moves but ${n} labels`, { field: 'lastMoves' });
  }
  const stats = new OutcomeStats();
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new DataError(`label ${y} is not 0 or 1`, { field: 'labels', index: i });
    const p = probabilities[i]!;
    if (!(p >= 0 && p <= 1))
      throw new DataError(`prediction ${p} is not a probability`, { field: 'probabilities', index: i });
    stats.add(p, threshold, y, moves === undefined ? Number.NaN : moves[i]!);
  }
  const s = stats.summary();
  const alwaysUp = upRate(labels);
  const trainUp = options.trainUpRate ?? upRate(options.trainLabels ?? labels);
  // Ties go to "up", the class a threshold of 0.5 also favours for the always-up baseline.
  const majorityIsUp = trainUp >= 0.5;
  const majorityBaseline = majorityIsUp ? alwaysUp : 1 - alwaysUp;
  const accuracy = s.accuracy ?? 0;
  const rules = moves === undefined ? [] : [s.reversalAccuracy ?? 0, s.momentumAccuracy ?? 0];
  return {
    rows: n,
    accuracy,
    rocAuc: rocAuc(probabilities, labels),
    brier: s.brierScore ?? 0,
    logLoss: s.logLoss ?? 0,
    majorityBaseline,
    alwaysUpBaseline: alwaysUp,
    ...(moves !== undefined
      ? { reversalBaseline: s.reversalAccuracy ?? 0, momentumBaseline: s.momentumAccuracy ?? 0 }
      : {}),
    baseRateBrier: alwaysUp * (1 - alwaysUp),
    edge: accuracy - Math.max(majorityBaseline, alwaysUp, ...rules),
  };
}

/** The best naive baseline of direction scores and its name. */
export function bestBaseline(v: ValidationMetrics): { readonly name: string; readonly accuracy: number } {
  const candidates: [string, number | undefined][] = [
    ['majority class', v.majorityBaseline],
    ['always up', v.alwaysUpBaseline],
    ['last-candle reversal', v.reversalBaseline],
    ['last-candle momentum', v.momentumBaseline],
  ];
  let best = { name: 'majority class', accuracy: v.majorityBaseline };
  for (const [name, acc] of candidates) if (acc !== undefined && acc > best.accuracy) best = { name, accuracy: acc };
  return best;
}

export interface RegressionEvaluationOptions {
  /** Spread of the residuals in model space (from calibration): gives the volatility's forecast interval. */
  readonly residualSigma?: number;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : null;
}

/**
 * Scores of return or volatility forecasts (the target's own units) against
 * the outcomes, next to the naive forecasts of the same rows.
 */
export function evaluateRegression(
  target: TargetKind,
  forecasts: ArrayLike<number>,
  actual: ArrayLike<number>,
  naive: ArrayLike<number>,
  options: RegressionEvaluationOptions = {},
): RegressionMetrics {
  const n = actual.length;
  if (forecasts.length !== n || naive.length !== n) {
    throw new DataError(`${forecasts.length} forecasts and ${naive.length} naive forecasts for ${n} outcomes`, {
      field: 'forecasts',
    });
  }
  if (n === 0) throw new DataError('nothing to evaluate: zero rows', { field: 'actual' });
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const f = forecasts[i]!;
    if (!Number.isFinite(f) || !Number.isFinite(actual[i]!) || !Number.isFinite(naive[i]!)) {
      throw new DataError(`row ${i} has a non-finite forecast or outcome`, { field: 'forecasts', index: i });
    }
    mean += actual[i]!;
  }
  mean /= n;
  let ae = 0;
  let naiveAe = 0;
  let sse = 0;
  let naiveSse = 0;
  let sst = 0;
  let q = 0;
  let naiveQ = 0;
  let hits = 0;
  const sigma = options.residualSigma;
  for (let i = 0; i < n; i++) {
    const y = actual[i]!;
    const f = forecasts[i]!;
    const g = naive[i]!;
    ae += Math.abs(y - f);
    naiveAe += Math.abs(y - g);
    sse += (y - f) ** 2;
    naiveSse += (y - g) ** 2;
    sst += (y - mean) ** 2;
    if (target === 'volatility') {
      q += volatilityQlike(y, f);
      naiveQ += volatilityQlike(y, g);
      if (sigma !== undefined) {
        const centre = Math.log(Math.max(f, VOLATILITY_FLOOR));
        const z = Math.log(Math.max(y, VOLATILITY_FLOOR));
        if (Math.abs(z - centre) <= Z_80 * sigma) hits++;
      }
    }
  }
  return {
    rows: n,
    mae: ae / n,
    naiveMae: naiveAe / n,
    r2VsNaive: naiveSse > 0 ? 1 - sse / naiveSse : 0,
    r2: sst > 0 ? 1 - sse / sst : 0,
    correlation: pearson(forecasts, actual),
    ...(target === 'volatility'
      ? {
          qlike: q / n,
          naiveQlike: naiveQ / n,
          ...(sigma !== undefined ? { intervalHitRate: hits / n } : {}),
        }
      : {}),
  };
}
