/**
 * The few distribution functions the risk models need, from jStat (a maintained
 * statistics library) rather than our own approximations: the normal quantile
 * for parametric VaR, the normal density for its Expected Shortfall, and the
 * chi-square upper tail for the p-values of the VaR backtests.
 */
import jstatModule from 'jstat';
import { ConfigError } from '../core/errors.js';

interface JStat {
  normal: {
    inv(p: number, mean: number, std: number): number;
    pdf(x: number, mean: number, std: number): number;
    cdf(x: number, mean: number, std: number): number;
  };
  chisquare: { cdf(x: number, dof: number): number };
}

const jStat = (jstatModule as unknown as { jStat: JStat }).jStat;

/** Standard normal quantile: the z with P(Z <= z) = p, for p in (0, 1). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new ConfigError(`a probability in (0, 1) is needed, got ${p}`, { field: 'p' });
  return jStat.normal.inv(p, 0, 1);
}

/** Standard normal density. */
export function normalDensity(x: number): number {
  return jStat.normal.pdf(x, 0, 1);
}

/** P(X > x) for X chi-square with `dof` degrees of freedom: the p-value of a likelihood-ratio statistic x. */
export function chiSquareSurvival(x: number, dof: number): number {
  if (!(x > 0)) return 1;
  return Math.min(1, Math.max(0, 1 - jStat.chisquare.cdf(x, dof)));
}
