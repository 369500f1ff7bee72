/**
 * Euler risk decomposition of portfolio volatility sigma = sqrt(w' S w):
 * marginal contribution d sigma / d w_i = (S w)_i / sigma, component
 * contribution w_i (S w)_i / sigma; the components sum to sigma. For normal
 * VaR with zero mean the same split scales by -z_{1-level}.
 */
import type { CovarianceMatrix } from './covariance.js';
import { normalQuantile } from './distributions.js';
import { checkLevel, portfolioVolatility } from './value-at-risk.js';

export interface RiskContributions {
  readonly volatility: number;
  /** d sigma / d w_i. */
  readonly marginal: number[];
  /** w_i * marginal_i; sums to `volatility`. */
  readonly component: number[];
  /** component_i / volatility; sums to 1. */
  readonly share: number[];
}

export function riskContributions(weights: ArrayLike<number>, covariance: CovarianceMatrix): RiskContributions {
  const volatility = portfolioVolatility(weights, covariance);
  const n = covariance.length;
  const marginal = new Array<number>(n).fill(0);
  const component = new Array<number>(n).fill(0);
  const share = new Array<number>(n).fill(0);
  if (volatility === 0) return { volatility, marginal, component, share };
  for (let i = 0; i < n; i++) {
    const row = covariance[i] as number[];
    let sw = 0;
    for (let j = 0; j < n; j++) sw += (row[j] as number) * (weights[j] as number);
    marginal[i] = sw / volatility;
    component[i] = (weights[i] as number) * (marginal[i] as number);
    share[i] = (component[i] as number) / volatility;
  }
  return { volatility, marginal, component, share };
}

/** Component VaR (zero-mean normal): each symbol's share of the portfolio's VaR at `level`; sums to that VaR. */
export function componentVar(contributions: RiskContributions, level: number): number[] {
  const z = -normalQuantile(1 - checkLevel(level));
  return contributions.component.map((c) => c * z);
}
