/**
 * Walk-forward, out-of-sample evaluation of the risk models and optimisers on
 * aligned returns of several symbols. The series is cut into test windows of
 * `testBars`; for each, everything is estimated on the `trainBars` before it
 * only, then judged on the window:
 * - portfolios: each optimiser's weights (Ledoit-Wolf covariance and mean
 *   returns of the training bars) are bought at the window's first bar, with
 *   `feeRate` on the weight traded, and drift with prices until the next
 *   rebalance; their realised volatility is compared with equal weight's;
 * - per symbol, one-bar variance forecasts made before each test bar: EWMA
 *   (streaming over the whole series), GARCH(1,1) (fitted on each training
 *   window, filtered through the test window) and the naive forecast (sample
 *   variance of the last `naiveWindow` returns), scored by QLIKE;
 * - per symbol, VaR forecasts at `level` scored by breach counts with
 *   Kupiec's and Christoffersen's tests: historical (last `trainBars`
 *   returns), normal with the EWMA or the GARCH volatility, and filtered
 *   historical (GARCH volatility times the quantile of the training window's
 *   standardised residuals).
 */
import { ConfigError, DataError, QuantflowError } from '../core/errors.js';
import { RollingCovariance } from './covariance.js';
import { drawdownStats } from './drawdown.js';
import { EwmaVariance, RISKMETRICS_LAMBDA } from './ewma-volatility.js';
import { backtestVar, qlike, type VarBacktest } from './forecast-tests.js';
import { fitGarch, type GarchFit, GarchVariance, standardisedResiduals } from './garch.js';
import {
  estimatePortfolioInputs,
  type OptimizerMethod,
  type OptimizerOptions,
  type PortfolioInputs,
  PortfolioOptimizer,
} from './portfolio-optimizer.js';
import { NoSolutionError } from './qp-solver.js';
import { type AlignedReturns, compoundedValue, sliceWindow, windowLength } from './returns.js';
import {
  checkLevel,
  filteredHistoricalVar,
  parametricVar,
  portfolioVolatility,
  RollingHistoricalVar,
  standardisedTail,
} from './value-at-risk.js';

export const VAR_METHODS = ['historical', 'normal-ewma', 'normal-garch', 'filtered-garch'] as const;
export type VarMethod = (typeof VAR_METHODS)[number];

export interface WalkForwardRiskOptions {
  readonly trainBars: number;
  readonly testBars: number;
  /** VaR confidence level (default 0.99). */
  readonly level?: number;
  /** EWMA decay (default 0.94). */
  readonly lambda?: number;
  /** Returns in the naive variance forecast (default 20). */
  readonly naiveWindow?: number;
  /** Fee per unit of weight traded at each rebalance (default 0.001). */
  readonly feeRate?: number;
  /** Default equal, inverse-vol, min-variance, risk-parity. */
  readonly optimizers?: readonly OptimizerMethod[];
  readonly optimizerOptions?: OptimizerOptions;
}

export interface PortfolioEvaluation {
  readonly method: OptimizerMethod;
  /** Annualised standard deviation of the net per-bar returns over all test bars. */
  readonly realisedVolatility: number;
  /** realisedVolatility / equal weight's (when equal is evaluated). */
  readonly volatilityVsEqual?: number;
  /** Mean annualised volatility forecast by the training covariance for the weights bought. */
  readonly forecastVolatility: number;
  readonly totalReturn: number;
  readonly maxDrawdown: number;
  /** Mean sum |w - w_drifted| per rebalance. */
  readonly turnoverPerRebalance: number;
  /** Fees paid, as a fraction of starting equity (sum over rebalances of fee x turnover x equity). */
  readonly costs: number;
  /** Windows the optimiser had no solution for (NoSolutionError: held in cash), e.g. max-sharpe with no positive mean. */
  readonly skippedWindows: number;
}

export interface AssetRiskEvaluation {
  readonly symbol: string;
  /** Buy-and-hold of the symbol over the test bars. */
  readonly buyAndHold: { readonly totalReturn: number; readonly volatility: number; readonly maxDrawdown: number };
  readonly valueAtRisk: Record<VarMethod, VarBacktest>;
  /** Mean QLIKE of each forecast over the bars where all three are > 0 (lower is better). */
  readonly qlike: { readonly bars: number; readonly naive: number; readonly ewma: number; readonly garch: number };
  readonly garch: { readonly fits: number; readonly meanPersistence: number; readonly unconverged: number };
}

export interface WalkForwardRiskReport {
  readonly symbols: readonly string[];
  readonly trainBars: number;
  readonly testBars: number;
  readonly windows: number;
  /** Test bars scored (all windows). */
  readonly bars: number;
  /** Timestamps of the first and last test bar. */
  readonly from: number;
  readonly to: number;
  /** Observed bars per year of the data, used to annualise. */
  readonly barsPerYear: number;
  readonly level: number;
  readonly feeRate: number;
  readonly portfolios: PortfolioEvaluation[];
  readonly assets: AssetRiskEvaluation[];
}

export const DEFAULT_OPTIMIZERS: readonly OptimizerMethod[] = ['equal', 'inverse-vol', 'min-variance', 'risk-parity'];

const YEAR_MS = 365 * 86_400_000;

/** Bars per year observed in the data (about 252 for daily stocks, 105,000 for 5-minute crypto). */
export function observedBarsPerYear(timestamps: ArrayLike<number>): number {
  const n = timestamps.length;
  if (n < 2) return Number.NaN;
  return ((n - 1) * YEAR_MS) / ((timestamps[n - 1] as number) - (timestamps[0] as number));
}

function standardDeviation(x: ArrayLike<number>): number {
  let mean = 0;
  for (let t = 0; t < x.length; t++) mean += x[t] as number;
  mean /= x.length;
  let s = 0;
  for (let t = 0; t < x.length; t++) s += ((x[t] as number) - mean) ** 2;
  return Math.sqrt(s / Math.max(1, x.length - 1));
}

function positiveInteger(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min)
    throw new ConfigError(`${name} must be an integer >= ${min}, got ${v}`, { field: name });
  return v;
}

/** Per-symbol forecasts of every test bar, before seeing it. */
interface SymbolForecasts {
  readonly ewma: Float64Array;
  readonly garch: Float64Array;
  readonly naive: Float64Array;
  readonly var: Record<VarMethod, Float64Array>;
  readonly fits: number;
  readonly meanPersistence: number;
  readonly unconverged: number;
}

interface Settings {
  readonly trainBars: number;
  readonly level: number;
  readonly lambda: number;
  readonly naiveWindow: number;
  readonly feeRate: number;
  /** The test windows [start, end) in bar indices of the returns. */
  readonly windows: readonly (readonly [number, number])[];
  /** sqrt(bars per year). */
  readonly annualise: number;
}

function forecastSymbol(r: Float64Array, symbol: string, s: Settings): SymbolForecasts {
  const testTotal = r.length - s.trainBars;
  const forecasts = () => new Float64Array(testTotal);
  const f = {
    ewma: forecasts(),
    garch: forecasts(),
    naive: forecasts(),
    var: {
      historical: forecasts(),
      'normal-ewma': forecasts(),
      'normal-garch': forecasts(),
      'filtered-garch': forecasts(),
    },
  };
  const ewma = EwmaVariance.fromHistory(r.subarray(0, s.trainBars), s.lambda);
  const naive = new RollingCovariance(1, s.naiveWindow);
  const historical = new RollingHistoricalVar(s.trainBars, s.level);
  for (let t = 0; t < s.trainBars; t++) {
    naive.update([r[t] as number]);
    historical.update(r[t] as number);
  }
  let persistence = 0;
  let unconverged = 0;
  for (const [start, end] of s.windows) {
    const train = r.subarray(start - s.trainBars, start);
    let fit: GarchFit;
    try {
      fit = fitGarch(train);
    } catch (err) {
      if (!(err instanceof QuantflowError)) throw err;
      throw new DataError(
        `GARCH fit on the training bars before test bar ${start}: ${err.message}`,
        { symbol },
        { cause: err },
      );
    }
    persistence += fit.persistence;
    if (!fit.converged) unconverged++;
    const tail = standardisedTail(standardisedResiduals(fit, train), s.level);
    const garch = GarchVariance.afterFit(fit);
    for (let t = start; t < end; t++) {
      const k = t - s.trainBars;
      f.ewma[k] = ewma.variance;
      f.garch[k] = garch.variance;
      f.naive[k] = naive.covariance(0, 0);
      f.var.historical[k] = historical.estimate().valueAtRisk;
      f.var['normal-ewma'][k] = parametricVar(0, Math.sqrt(ewma.variance), s.level).valueAtRisk;
      f.var['normal-garch'][k] = parametricVar(fit.mean, Math.sqrt(garch.variance), s.level).valueAtRisk;
      f.var['filtered-garch'][k] = filteredHistoricalVar(tail, fit.mean, Math.sqrt(garch.variance)).valueAtRisk;
      const x = r[t] as number;
      ewma.update(x);
      garch.update(x);
      naive.update([x]);
      historical.update(x);
    }
  }
  return { ...f, fits: s.windows.length, meanPersistence: persistence / s.windows.length, unconverged };
}

function scoreSymbol(symbol: string, r: Float64Array, f: SymbolForecasts, s: Settings): AssetRiskEvaluation {
  const realised = r.subarray(s.trainBars);
  // QLIKE needs h > 0: a run of zero returns (an illiquid bar series) gives a zero naive variance.
  const usable = Array.from(
    realised,
    (_, k) => (f.naive[k] as number) > 0 && (f.ewma[k] as number) > 0 && (f.garch[k] as number) > 0,
  );
  const scored = usable.filter(Boolean).length;
  const score = (h: Float64Array) => (scored > 0 ? qlike(realised, h, usable) : Number.NaN);
  const curve = compoundedValue(realised);
  return {
    symbol,
    buyAndHold: {
      totalReturn: (curve[curve.length - 1] as number) - 1,
      volatility: standardDeviation(realised) * s.annualise,
      maxDrawdown: drawdownStats(curve).max,
    },
    valueAtRisk: Object.fromEntries(VAR_METHODS.map((m) => [m, backtestVar(realised, f.var[m], s.level)])) as Record<
      VarMethod,
      VarBacktest
    >,
    qlike: { bars: scored, naive: score(f.naive), ewma: score(f.ewma), garch: score(f.garch) },
    garch: { fits: f.fits, meanPersistence: f.meanPersistence, unconverged: f.unconverged },
  };
}

/**
 * One optimiser through every test window: rebalance to its weights at the
 * window's first bar (paying the fee on the weight traded), then let the
 * weights drift with prices; cash (1 - sum w) earns nothing.
 */
function simulatePortfolio(
  method: OptimizerMethod,
  data: AlignedReturns,
  inputs: readonly PortfolioInputs[],
  s: Settings,
  solver: PortfolioOptimizer,
  options: OptimizerOptions | undefined,
): PortfolioEvaluation {
  const n = data.symbols.length;
  const net = new Float64Array(data.returns[0]!.length - s.trainBars);
  const weights = new Float64Array(n);
  let equity = 1;
  let costs = 0;
  let turnoverSum = 0;
  let forecastSum = 0;
  let skipped = 0;
  for (const [w, [start, end]] of s.windows.entries()) {
    const windowInputs = inputs[w] as PortfolioInputs;
    let target: number[];
    try {
      target = solver.targetWeights(method, { ...windowInputs, currentWeights: [...weights] }, options).weights;
    } catch (err) {
      if (!(err instanceof NoSolutionError)) throw err;
      skipped++;
      target = new Array<number>(n).fill(0);
    }
    let turnover = 0;
    for (let i = 0; i < n; i++) turnover += Math.abs((target[i] as number) - (weights[i] as number));
    const fee = s.feeRate * turnover;
    costs += fee * equity;
    turnoverSum += turnover;
    forecastSum += portfolioVolatility(target, windowInputs.covariance) * s.annualise;
    weights.set(target);
    for (let t = start; t < end; t++) {
      let rp = 0;
      for (let i = 0; i < n; i++) rp += (weights[i] as number) * ((data.returns[i] as Float64Array)[t] as number);
      for (let i = 0; i < n; i++) {
        weights[i] = ((weights[i] as number) * (1 + ((data.returns[i] as Float64Array)[t] as number))) / (1 + rp);
      }
      const barNet = t === start ? (1 - fee) * (1 + rp) - 1 : rp;
      net[t - s.trainBars] = barNet;
      equity *= 1 + barNet;
    }
  }
  const rebalances = s.windows.length;
  return {
    method,
    realisedVolatility: standardDeviation(net) * s.annualise,
    forecastVolatility: forecastSum / rebalances,
    totalReturn: equity - 1,
    maxDrawdown: drawdownStats(compoundedValue(net)).max,
    turnoverPerRebalance: turnoverSum / rebalances,
    costs,
    skippedWindows: skipped,
  };
}

export async function evaluateRiskWalkForward(
  data: AlignedReturns,
  options: WalkForwardRiskOptions,
  optimizer?: PortfolioOptimizer,
): Promise<WalkForwardRiskReport> {
  const total = windowLength(data);
  const trainBars = positiveInteger('trainBars', options.trainBars, 100);
  const testBars = positiveInteger('testBars', options.testBars, 1);
  const feeRate = options.feeRate ?? 0.001;
  if (!(feeRate >= 0)) throw new ConfigError(`feeRate must be >= 0, got ${feeRate}`, { field: 'feeRate' });
  const methods = options.optimizers ?? DEFAULT_OPTIMIZERS;
  if (methods.length === 0) throw new ConfigError('no optimizers to evaluate', { field: 'optimizers' });
  if (total < trainBars + 1) {
    throw new DataError(`${total} common returns are too few for a training window of ${trainBars} and a test bar`, {
      field: 'trainBars',
    });
  }
  const windows: [number, number][] = [];
  for (let start = trainBars; start < total; start += testBars)
    windows.push([start, Math.min(total, start + testBars)]);
  const barsPerYear = observedBarsPerYear(data.timestamps.subarray(trainBars));
  const s: Settings = {
    trainBars,
    level: checkLevel(options.level ?? 0.99),
    lambda: options.lambda ?? RISKMETRICS_LAMBDA,
    naiveWindow: positiveInteger('naiveWindow', options.naiveWindow ?? 20, 2),
    feeRate,
    windows,
    annualise: Math.sqrt(barsPerYear),
  };
  const solver = optimizer ?? (await PortfolioOptimizer.create());

  const assets = data.returns.map((r, i) => {
    const symbol = data.symbols[i] as string;
    return scoreSymbol(symbol, r, forecastSymbol(r, symbol, s), s);
  });
  // Every optimiser sees the same estimates: Ledoit-Wolf covariance and mean returns of the training bars.
  const inputs = windows.map(([start]) => estimatePortfolioInputs(sliceWindow(data, start - trainBars, start)));
  const portfolios = methods.map((m) => simulatePortfolio(m, data, inputs, s, solver, options.optimizerOptions));
  const equal = portfolios.find((p) => p.method === 'equal');
  return {
    symbols: data.symbols,
    trainBars,
    testBars,
    windows: windows.length,
    bars: total - trainBars,
    from: data.timestamps[trainBars] as number,
    to: data.timestamps[total - 1] as number,
    barsPerYear,
    level: s.level,
    feeRate,
    portfolios: portfolios.map((p) =>
      equal === undefined || equal.realisedVolatility === 0
        ? p
        : { ...p, volatilityVsEqual: p.realisedVolatility / equal.realisedVolatility },
    ),
    assets,
  };
}
