import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import { evaluatePredictions, rocAuc } from '../../src/models/evaluation.js';

/** O(n^2) definition: P(score of a random up row > score of a random down row), ties count 1/2. */
function bruteAuc(scores: number[], labels: number[]): number {
  let sum = 0;
  let pairs = 0;
  labels.forEach((yi, i) => {
    if (yi !== 1) return;
    labels.forEach((yj, j) => {
      if (yj !== 0) return;
      pairs++;
      sum += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    });
  });
  return sum / pairs;
}

describe('evaluation', () => {
  it('computes ROC AUC from ranks, ties counting one half', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(rocAuc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1])).toBeCloseTo(0.875, 12);
    expect(rocAuc([0.9, 0.8], [0, 1])).toBe(0);
    expect(rocAuc([0.3, 0.6], [1, 1])).toBeNull();
    let s = 7;
    const rnd = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 4294967296;
    };
    const scores = Array.from({ length: 400 }, () => Math.round(rnd() * 20) / 20); // many ties
    const labels = scores.map((x) => (rnd() < 0.3 + 0.4 * x ? 1 : 0));
    expect(rocAuc(scores, labels)).toBeCloseTo(bruteAuc(scores, labels), 12);
  });

  it('scores accuracy, Brier and log loss, with both baselines', () => {
    const p = [0.9, 0.2, 0.6, 0.4, 0.7];
    const y = [1, 0, 0, 1, 1];
    const m = evaluatePredictions(p, y, { trainLabels: [0, 0, 0, 1] });
    expect(m.rows).toBe(5);
    expect(m.accuracy).toBeCloseTo(3 / 5, 12);
    const brier = p.reduce((s, pi, i) => s + (pi - y[i]!) ** 2, 0) / 5;
    expect(m.brier).toBeCloseTo(brier, 12);
    const logLoss = -p.reduce((s, pi, i) => s + (y[i] === 1 ? Math.log(pi) : Math.log(1 - pi)), 0) / 5;
    expect(m.logLoss).toBeCloseTo(logLoss, 12);
    expect(m.alwaysUpBaseline).toBeCloseTo(3 / 5, 12);
    // The training set's majority is "down": always down scores 2/5 on these rows.
    expect(m.majorityBaseline).toBeCloseTo(2 / 5, 12);
    expect(m.rocAuc).toBeCloseTo(bruteAuc(p, y), 12);
    expect(evaluatePredictions(p, y).majorityBaseline).toBeCloseTo(3 / 5, 12);
  });

  it('refuses mismatched lengths, empty input and non-binary labels', () => {
    expect(() => evaluatePredictions([0.5], [1, 0])).toThrow(DataError);
    expect(() => evaluatePredictions([], [])).toThrow(/zero rows/);
    expect(() => evaluatePredictions([0.5], [2])).toThrow(/label 2 is not 0 or 1/);
    expect(() => evaluatePredictions([1.5], [1])).toThrow(/not a probability/);
  });
});
