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
import { fitGarch, GarchVariance, standardisedResiduals } from './garch.js';
import {
  estimatePortfolioInputs,
  type OptimizerMethod,
  type OptimizerOptions,
  PortfolioOptimizer,
} from './portfolio-optimizer.js';
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
  /** Windows the optimiser had no solution for (held in cash), e.g. max-sharpe with no positive mean. */
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
interface AssetForecasts {
  readonly ewma: Float64Array;
  readonly garch: Float64Array;
  readonly naive: Float64Array;
  readonly var: Record<VarMethod, Float64Array>;
  fits: number;
  persistenceSum: number;
  unconverged: number;
}

export async function evaluateRiskWalkForward(
  data: AlignedReturns,
  options: WalkForwardRiskOptions,
  optimizer?: PortfolioOptimizer,
): Promise<WalkForwardRiskReport> {
  const total = windowLength(data);
  const trainBars = positiveInteger('trainBars', options.trainBars, 100);
  const testBars = positiveInteger('testBars', options.testBars, 1);
  const naiveWindow = positiveInteger('naiveWindow', options.naiveWindow ?? 20, 2);
  const level = checkLevel(options.level ?? 0.99);
  const lambda = options.lambda ?? RISKMETRICS_LAMBDA;
  const feeRate = options.feeRate ?? 0.001;
  if (!(feeRate >= 0)) throw new ConfigError(`feeRate must be >= 0, got ${feeRate}`, { field: 'feeRate' });
  const methods = options.optimizers ?? DEFAULT_OPTIMIZERS;
  if (methods.length === 0) throw new ConfigError('no optimizers to evaluate', { field: 'optimizers' });
  if (total < trainBars + 1) {
    throw new DataError(`${total} common returns are too few for a training window of ${trainBars} and a test bar`, {
      field: 'trainBars',
    });
  }
  const solver = optimizer ?? (await PortfolioOptimizer.create());
  const n = data.symbols.length;
  const testTotal = total - trainBars;

  // ---- per-symbol volatility and VaR forecasts ----------------------------------------------
  const assets: AssetForecasts[] = data.returns.map((r, i) => {
    const symbol = data.symbols[i] as string;
    const f: AssetForecasts = {
      ewma: new Float64Array(testTotal),
      garch: new Float64Array(testTotal),
      naive: new Float64Array(testTotal),
      var: {
        historical: new Float64Array(testTotal),
        'normal-ewma': new Float64Array(testTotal),
        'normal-garch': new Float64Array(testTotal),
        'filtered-garch': new Float64Array(testTotal),
      },
      fits: 0,
      persistenceSum: 0,
      unconverged: 0,
    };
    const ewma = EwmaVariance.fromHistory(r.subarray(0, trainBars), lambda);
    const naive = new RollingCovariance(1, naiveWindow);
    const historical = new RollingHistoricalVar(trainBars, level);
    for (let t = 0; t < trainBars; t++) {
      naive.update([r[t] as number]);
      historical.update(r[t] as number);
    }
    for (let start = trainBars; start < total; start += testBars) {
      const end = Math.min(total, start + testBars);
      const train = r.subarray(start - trainBars, start);
      let fit: ReturnType<typeof fitGarch>;
      try {
        fit = fitGarch(train);
      } catch (err) {
        if (err instanceof QuantflowError) {
          throw new DataError(
            `GARCH fit on the training bars before test bar ${start}: ${err.message}`,
            { symbol },
            { cause: err },
          );
        }
        throw err;
      }
      f.fits++;
      f.persistenceSum += fit.persistence;
      if (!fit.converged) f.unconverged++;
      const tail = standardisedTail(standardisedResiduals(fit, train), level);
      const garch = GarchVariance.afterFit(fit);
      for (let t = start; t < end; t++) {
        const k = t - trainBars;
        f.ewma[k] = ewma.variance;
        f.garch[k] = garch.variance;
        f.naive[k] = naive.covariance(0, 0);
        f.var.historical[k] = historical.estimate().valueAtRisk;
        f.var['normal-ewma'][k] = parametricVar(0, Math.sqrt(ewma.variance), level).valueAtRisk;
        f.var['normal-garch'][k] = parametricVar(fit.mean, Math.sqrt(garch.variance), level).valueAtRisk;
        f.var['filtered-garch'][k] = filteredHistoricalVar(tail, fit.mean, Math.sqrt(garch.variance)).valueAtRisk;
        const x = r[t] as number;
        ewma.update(x);
        garch.update(x);
        naive.update([x]);
        historical.update(x);
      }
    }
    return f;
  });

  // ---- portfolios -----------------------------------------------------------------------------
  const barsPerYear = observedBarsPerYear(data.timestamps.subarray(trainBars));
  const annualise = Math.sqrt(barsPerYear);
  const portfolios: PortfolioEvaluation[] = [];
  let windows = 0;
  for (const method of methods) {
    const net = new Float64Array(testTotal);
    const weights = new Float64Array(n);
    let equity = 1;
    let costs = 0;
    let turnoverSum = 0;
    let forecastSum = 0;
    let rebalances = 0;
    let skipped = 0;
    windows = 0;
    for (let start = trainBars; start < total; start += testBars) {
      windows++;
      const end = Math.min(total, start + testBars);
      const train = sliceWindow(data, start - trainBars, start);
      const inputs = estimatePortfolioInputs(train, { currentWeights: [...weights] });
      let target: number[];
      try {
        target = solver.targetWeights(method, inputs, options.optimizerOptions).weights;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        skipped++;
        target = new Array<number>(n).fill(0);
      }
      let turnover = 0;
      for (let i = 0; i < n; i++) turnover += Math.abs((target[i] as number) - (weights[i] as number));
      const fee = feeRate * turnover;
      costs += fee * equity;
      turnoverSum += turnover;
      rebalances++;
      forecastSum += portfolioVolatility(target, inputs.covariance) * annualise;
      weights.set(target);
      for (let t = start; t < end; t++) {
        let rp = 0;
        for (let i = 0; i < n; i++) rp += (weights[i] as number) * ((data.returns[i] as Float64Array)[t] as number);
        // Weights drift with prices; cash (1 - sum w) earns nothing.
        for (let i = 0; i < n; i++) {
          weights[i] = ((weights[i] as number) * (1 + ((data.returns[i] as Float64Array)[t] as number))) / (1 + rp);
        }
        const barNet = t === start ? (1 - fee) * (1 + rp) - 1 : rp;
        net[t - trainBars] = barNet;
        equity *= 1 + barNet;
      }
    }
    const curve = compoundedValue(net);
    portfolios.push({
      method,
      realisedVolatility: standardDeviation(net) * annualise,
      forecastVolatility: forecastSum / rebalances,
      totalReturn: equity - 1,
      maxDrawdown: drawdownStats(curve).max,
      turnoverPerRebalance: turnoverSum / rebalances,
      costs,
      skippedWindows: skipped,
    });
  }
  const equal = portfolios.find((p) => p.method === 'equal');
  const withRatio = portfolios.map((p) =>
    equal === undefined || equal.realisedVolatility === 0
      ? p
      : { ...p, volatilityVsEqual: p.realisedVolatility / equal.realisedVolatility },
  );

  // ---- scoring ----------------------------------------------------------------------------------
  const assetReports: AssetRiskEvaluation[] = assets.map((f, i) => {
    const realised = (data.returns[i] as Float64Array).subarray(trainBars);
    const usable = Array.from(
      { length: testTotal },
      (_, k) => (f.naive[k] as number) > 0 && (f.ewma[k] as number) > 0 && (f.garch[k] as number) > 0,
    );
    const scored = usable.filter(Boolean).length;
    const curve = compoundedValue(realised);
    return {
      symbol: data.symbols[i] as string,
      buyAndHold: {
        totalReturn: (curve[curve.length - 1] as number) - 1,
        volatility: standardDeviation(realised) * annualise,
        maxDrawdown: drawdownStats(curve).max,
      },
      valueAtRisk: {
        historical: backtestVar(realised, f.var.historical, level),
        'normal-ewma': backtestVar(realised, f.var['normal-ewma'], level),
        'normal-garch': backtestVar(realised, f.var['normal-garch'], level),
        'filtered-garch': backtestVar(realised, f.var['filtered-garch'], level),
      },
      qlike: {
        bars: scored,
        naive: scored > 0 ? qlike(realised, f.naive, usable) : Number.NaN,
        ewma: scored > 0 ? qlike(realised, f.ewma, usable) : Number.NaN,
        garch: scored > 0 ? qlike(realised, f.garch, usable) : Number.NaN,
      },
      garch: { fits: f.fits, meanPersistence: f.persistenceSum / f.fits, unconverged: f.unconverged },
    };
  });

  return {
    symbols: data.symbols,
    trainBars,
    testBars,
    windows,
    bars: testTotal,
    from: data.timestamps[trainBars] as number,
    to: data.timestamps[total - 1] as number,
    barsPerYear,
    level,
    feeRate,
    portfolios: withRatio,
    assets: assetReports,
  };
}
