/**
 * Out-of-sample scoring of risk forecasts.
 * - VaR: a breach is a return below -VaR. Kupiec's proportion-of-failures test
 *   (are there as many breaches as 1 - level predicts?), Christoffersen's
 *   independence test (does a breach make the next one likelier?) and their
 *   sum, the conditional-coverage test; likelihood ratios with chi-square
 *   p-values (1, 1 and 2 degrees of freedom).
 * - Volatility: QLIKE loss ln h_t + r_t^2 / h_t (Patton 2011: robust to the
 *   noise in r^2 as a proxy for the true variance); lower is better, and only
 *   differences between forecasts on the same bars mean something.
 */
import { DataError } from '../core/errors.js';
import { chiSquareSurvival } from './distributions.js';
import { checkLevel } from './value-at-risk.js';

export interface LikelihoodRatioTest {
  readonly statistic: number;
  readonly pValue: number;
}

export interface VarBacktest {
  readonly level: number;
  readonly observations: number;
  readonly breaches: number;
  /** breaches / observations; 1 - level is expected. */
  readonly breachRate: number;
  readonly kupiec: LikelihoodRatioTest;
  readonly christoffersen: LikelihoodRatioTest;
  readonly conditionalCoverage: LikelihoodRatioTest;
  /** Transition counts of the breach indicator (from -> to). */
  readonly transitions: { readonly n00: number; readonly n01: number; readonly n10: number; readonly n11: number };
}

/** x ln p, with 0 ln 0 = 0. */
const xlog = (x: number, p: number) => (x === 0 ? 0 : x * Math.log(p));

/** Kupiec (1995) POF: LR = -2 ln[(1-p)^(n-x) p^x / ((1-x/n)^(n-x) (x/n)^x)]. */
export function kupiecTest(breaches: number, observations: number, level: number): LikelihoodRatioTest {
  checkLevel(level);
  if (
    !(
      Number.isInteger(observations) &&
      observations > 0 &&
      Number.isInteger(breaches) &&
      breaches >= 0 &&
      breaches <= observations
    )
  ) {
    throw new DataError(`need 0 <= breaches <= observations, got ${breaches} of ${observations}`);
  }
  const p = 1 - level;
  const x = breaches;
  const n = observations;
  const rate = x / n;
  const statistic = Math.max(0, -2 * (xlog(n - x, 1 - p) + xlog(x, p) - xlog(n - x, 1 - rate) - xlog(x, rate)));
  return { statistic, pValue: chiSquareSurvival(statistic, 1) };
}

/** Christoffersen (1998) independence test on a 0/1 breach sequence. */
export function christoffersenTest(hits: ArrayLike<number>): LikelihoodRatioTest & VarBacktest['transitions'] {
  let n00 = 0;
  let n01 = 0;
  let n10 = 0;
  let n11 = 0;
  for (let t = 1; t < hits.length; t++) {
    const prev = hits[t - 1] === 1;
    const cur = hits[t] === 1;
    if (prev) cur ? n11++ : n10++;
    else cur ? n01++ : n00++;
  }
  const pi0 = n00 + n01 > 0 ? n01 / (n00 + n01) : 0;
  const pi1 = n10 + n11 > 0 ? n11 / (n10 + n11) : 0;
  const total = n00 + n01 + n10 + n11;
  const pi = total > 0 ? (n01 + n11) / total : 0;
  const restricted = xlog(n00 + n10, 1 - pi) + xlog(n01 + n11, pi);
  const unrestricted = xlog(n00, 1 - pi0) + xlog(n01, pi0) + xlog(n10, 1 - pi1) + xlog(n11, pi1);
  const statistic = Math.max(0, -2 * (restricted - unrestricted));
  return { statistic, pValue: chiSquareSurvival(statistic, 1), n00, n01, n10, n11 };
}

/** Scores VaR forecasts: `valueAtRisk[t]` (a positive loss fraction) forecast for `returns[t]`. */
export function backtestVar(returns: ArrayLike<number>, valueAtRisk: ArrayLike<number>, level: number): VarBacktest {
  if (returns.length !== valueAtRisk.length) {
    throw new DataError(`${returns.length} returns but ${valueAtRisk.length} VaR forecasts`, { field: 'valueAtRisk' });
  }
  if (returns.length === 0) throw new DataError('no forecasts to score', { field: 'valueAtRisk' });
  const hits = new Uint8Array(returns.length);
  let breaches = 0;
  for (let t = 0; t < returns.length; t++) {
    if ((returns[t] as number) < -(valueAtRisk[t] as number)) {
      hits[t] = 1;
      breaches++;
    }
  }
  const kupiec = kupiecTest(breaches, returns.length, level);
  const { n00, n01, n10, n11, ...christoffersen } = christoffersenTest(hits);
  const ccStatistic = kupiec.statistic + christoffersen.statistic;
  return {
    level,
    observations: returns.length,
    breaches,
    breachRate: breaches / returns.length,
    kupiec,
    christoffersen,
    conditionalCoverage: { statistic: ccStatistic, pValue: chiSquareSurvival(ccStatistic, 2) },
    transitions: { n00, n01, n10, n11 },
  };
}

/**
 * QLIKE loss of one variance forecast h for a squared outcome r^2: ln h + r^2 / h
 * (the negative Gaussian log-likelihood up to constants; lower is better, and
 * robust to noise in r^2 as a proxy of the true variance, Patton 2011).
 */
export function qlikeLoss(squaredOutcome: number, variance: number): number {
  return Math.log(variance) + squaredOutcome / variance;
}

/** Mean QLIKE loss of variance forecasts `variance[t]` for `returns[t]`, over the bars where `use[t]` (all when absent). */
export function qlike(returns: ArrayLike<number>, variance: ArrayLike<number>, use?: ArrayLike<boolean>): number {
  if (returns.length !== variance.length) {
    throw new DataError(`${returns.length} returns but ${variance.length} variance forecasts`, { field: 'variance' });
  }
  let s = 0;
  let k = 0;
  for (let t = 0; t < returns.length; t++) {
    if (use !== undefined && use[t] !== true) continue;
    const h = variance[t] as number;
    if (!(h > 0)) throw new DataError(`variance forecast ${h} is not > 0`, { index: t, field: 'variance' });
    s += qlikeLoss((returns[t] as number) ** 2, h);
    k++;
  }
  if (k === 0) throw new DataError('no bars to score', { field: 'variance' });
  return s / k;
}
