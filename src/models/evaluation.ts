/**
 * Out-of-sample scores of probability predictions against 0/1 outcomes, next to
 * the no-skill baselines a model has to beat: always predicting the training
 * set's majority class, and always predicting "up".
 *
 * Accuracy, Brier score and log loss come from the tracker's OutcomeStats (one
 * implementation of those formulas); ROC AUC is rank-based here.
 */
import { DataError } from '../core/errors.js';
import type { ValidationMetrics } from './model-meta.js';
import { OutcomeStats } from './outcome-stats.js';

export interface EvaluationOptions {
  /** Labels of the training rows: their majority class is the majority baseline (default: the evaluated labels). */
  trainLabels?: ArrayLike<number>;
  /** Probability above which a prediction calls "up" (default 0.5; exactly 0.5 is "down"). */
  threshold?: number;
}

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
  const stats = new OutcomeStats();
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new DataError(`label ${y} is not 0 or 1`, { field: 'labels', index: i });
    const p = probabilities[i]!;
    if (!(p >= 0 && p <= 1))
      throw new DataError(`prediction ${p} is not a probability`, { field: 'probabilities', index: i });
    stats.add(p, threshold, y);
  }
  const s = stats.summary();
  const alwaysUp = upRate(labels);
  const trainUp = upRate(options.trainLabels ?? labels);
  // Ties go to "up", the class a threshold of 0.5 also favours for the always-up baseline.
  const majorityIsUp = trainUp >= 0.5;
  return {
    rows: n,
    accuracy: s.accuracy ?? 0,
    rocAuc: rocAuc(probabilities, labels),
    brier: s.brierScore ?? 0,
    logLoss: s.logLoss ?? 0,
    majorityBaseline: majorityIsUp ? alwaysUp : 1 - alwaysUp,
    alwaysUpBaseline: alwaysUp,
  };
}
