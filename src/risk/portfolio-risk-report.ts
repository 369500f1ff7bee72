/**
 * The risk of a given portfolio (weights, or positions valued at the last
 * close) over a window of returns: one-bar VaR and ES at `level` by the
 * historical, the normal (Ledoit-Wolf covariance), the EWMA and the filtered
 * GARCH method; each symbol's marginal and component contribution to the
 * volatility and to the normal VaR; and the drawdown the portfolio would have
 * had over the window (weights held constant).
 */
import { ConfigError } from '../core/errors.js';
import { ledoitWolf } from './covariance.js';
import { type DrawdownStats, drawdownStats } from './drawdown.js';
import { EwmaVariance, RISKMETRICS_LAMBDA } from './ewma-volatility.js';
import { fitGarch, GarchVariance, standardisedResiduals } from './garch.js';
import { type AlignedReturns, compoundedValue, type ReturnsWindow, windowLength } from './returns.js';
import { componentVar, type RiskContributions, riskContributions } from './risk-contributions.js';
import {
  checkLevel,
  filteredHistoricalVar,
  historicalVar,
  parametricVar,
  portfolioReturns,
  standardisedTail,
  type VarEstimate,
} from './value-at-risk.js';

export interface PortfolioRiskOptions {
  readonly level?: number;
  readonly lambda?: number;
  /** Equity in quote currency, to state VaR and ES in money (default 1: fractions). */
  readonly equity?: number;
}

export interface PortfolioRiskReport {
  readonly symbols: readonly string[];
  readonly weights: number[];
  readonly equity: number;
  readonly bars: number;
  readonly level: number;
  /** One-bar VaR and ES as fractions of equity, per method. */
  readonly valueAtRisk: { readonly method: string; readonly estimate: VarEstimate }[];
  readonly contributions: RiskContributions & { readonly componentVar: number[] };
  readonly drawdown: DrawdownStats;
  readonly shrinkage: number;
}

/** Weights from quantities held: value_i / equity, equity = sum of values plus `cash`. */
export function weightsFromPositions(
  data: Pick<AlignedReturns, 'symbols' | 'lastCloses'>,
  quantities: Readonly<Record<string, number>>,
  cash = 0,
): { weights: number[]; equity: number } {
  for (const symbol of Object.keys(quantities)) {
    if (!data.symbols.includes(symbol)) {
      throw new ConfigError(`position in ${symbol}, which is not in the data (${data.symbols.join(', ')})`, { symbol });
    }
  }
  const values = data.symbols.map((s, i) => (quantities[s] ?? 0) * (data.lastCloses[i] as number));
  const equity = values.reduce((a, v) => a + v, cash);
  if (!(equity > 0))
    throw new ConfigError(`positions are worth ${equity} in total: equity must be > 0`, { field: 'positions' });
  return { weights: values.map((v) => v / equity), equity };
}

export function portfolioRiskReport(
  window: ReturnsWindow,
  weights: readonly number[],
  options: PortfolioRiskOptions = {},
): PortfolioRiskReport {
  const bars = windowLength(window);
  const level = checkLevel(options.level ?? 0.99);
  const equity = options.equity ?? 1;
  const rp = portfolioReturns(window, weights);
  const { covariance, shrinkage } = ledoitWolf(window);
  const contributions = riskContributions(weights, covariance);
  const mean = rp.reduce((a, v) => a + v, 0) / bars;
  const estimates: PortfolioRiskReport['valueAtRisk'] = [
    { method: 'historical', estimate: historicalVar(rp, level) },
    { method: 'normal (Ledoit-Wolf covariance)', estimate: parametricVar(mean, contributions.volatility, level) },
    {
      method: 'normal (EWMA volatility)',
      estimate: parametricVar(
        0,
        Math.sqrt(EwmaVariance.fromHistory(rp, options.lambda ?? RISKMETRICS_LAMBDA).variance),
        level,
      ),
    },
  ];
  if (contributions.volatility > 0) {
    const fit = fitGarch(rp);
    const tail = standardisedTail(standardisedResiduals(fit, rp), level);
    const next = GarchVariance.afterFit(fit).variance;
    estimates.push({
      method: 'filtered historical (GARCH volatility)',
      estimate: filteredHistoricalVar(tail, fit.mean, Math.sqrt(next)),
    });
  }
  return {
    symbols: window.symbols,
    weights: [...weights],
    equity,
    bars,
    level,
    valueAtRisk: estimates,
    contributions: { ...contributions, componentVar: componentVar(contributions, level) },
    drawdown: drawdownStats(compoundedValue(rp)),
    shrinkage,
  };
}
