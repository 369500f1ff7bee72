/**
 * The reduce step: one (data file, parameter set) walk-forward run assembled
 * from its windows' job results. The windows' precomputed predictions are
 * traded in ONE continuous engine run over the concatenated test windows (the
 * portfolio carries over), with the prediction tracker scoring every
 * prediction — `tradePredictions`, what `runWalkForward` does after its
 * training loop, so splitting the training into jobs changes nothing in the
 * results. Then the run's out-of-sample figures per window (return, Sharpe,
 * drawdown of the equity curve inside each test window; accuracy against the
 * no-skill baselines), so the spread across windows is visible next to the
 * total.
 *
 * Deterministic: the same job results give the same RunResult, whatever
 * order they arrived in.
 */
import { type MlWindowPlan, overallMajority, tradePredictions } from '../../backtest/ml-backtest.js';
import { DataError } from '../core/errors.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Timeframe } from '../core/types.js';
import { computeMetrics } from '../engine/metrics.js';
import type { BenchmarkResult, PerformanceMetrics } from '../engine/result.js';
import { PrecomputedPredictor } from '../models/precomputed-predictor.js';
import { walkForwardModelVersion } from '../models/walk-forward-windows.js';
import type { SweepParams } from './grid.js';
import type { SweepRunPlan } from './jobs.js';
import type { JobResult } from './run-job.js';

/** min / quartiles / max / mean / sample stdev of a metric over windows (nulls left out). */
export interface Dispersion {
  readonly n: number;
  readonly min: number | null;
  readonly q1: number | null;
  readonly median: number | null;
  readonly q3: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly std: number | null;
  /** Share of values > 0. */
  readonly positive: number | null;
}

export interface WindowStats {
  readonly window: number;
  readonly jobId: string;
  readonly seed: number;
  readonly modelId: string;
  readonly testFrom: number;
  readonly testTo: number;
  readonly candles: number;
  /** Tracker scores of this window's predictions. */
  readonly resolved: number;
  readonly accuracy: number | null;
  /** Always calling the training window's majority class. */
  readonly majorityBaseline: number | null;
  /** Always calling the majority class of this window's outcomes (hindsight). */
  readonly noSkillAccuracy: number | null;
  readonly alwaysUp: number | null;
  /** "The next candle reverses the last" and "continues the last", on the same predictions. */
  readonly reversal: number | null;
  readonly momentum: number | null;
  /** accuracy minus the best naive baseline (majority of the training window, always up, reversal, momentum). */
  readonly accuracyEdge: number | null;
  readonly epochsRun: number | null;
  /** Equity inside the window (fees and slippage included). */
  readonly totalReturn: number;
  readonly sharpe: number;
  readonly maxDrawdown: number;
  /** Trades entered in the window. */
  readonly trades: number;
  /** Price change over the window (first open to last close). */
  readonly buyAndHold: number;
}

export interface RunMl {
  readonly predictions: number;
  readonly resolved: number;
  readonly accuracy: number | null;
  readonly precision: number | null;
  readonly recall: number | null;
  readonly f1: number | null;
  readonly brier: number | null;
  readonly logLoss: number | null;
  /** Majority class of each training window, weighted by resolved outcomes. */
  readonly majorityBaseline: number | null;
  readonly noSkillAccuracy: number | null;
  readonly alwaysUp: number | null;
  readonly reversal: number | null;
  readonly momentum: number | null;
  /** Brier score of always predicting the base rate. */
  readonly baseRateBrier: number | null;
  /** accuracy minus the best naive baseline (majority of the training windows, always up, reversal, momentum). */
  readonly accuracyEdge: number | null;
}

export interface RunResult {
  readonly runId: string;
  readonly paramsId: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly file: string;
  readonly sha256: string;
  readonly params: SweepParams;
  /** First and last traded candle (open times) and how many. */
  readonly period: { readonly from: number; readonly to: number; readonly candles: number };
  readonly metrics: PerformanceMetrics;
  readonly buyAndHold: BenchmarkResult | null;
  readonly ml: RunMl;
  readonly windows: readonly WindowStats[];
  readonly dispersion: {
    readonly totalReturn: Dispersion;
    readonly sharpe: Dispersion;
    readonly accuracyEdge: Dispersion;
  };
}

/** Quantile by linear interpolation of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function dispersion(values: readonly (number | null)[]): Dispersion {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const n = xs.length;
  if (n === 0)
    return { n, min: null, q1: null, median: null, q3: null, max: null, mean: null, std: null, positive: null };
  const sorted = [...xs].sort((a, b) => a - b);
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / n;
  let sq = 0;
  for (const x of xs) sq += (x - mean) * (x - mean);
  return {
    n,
    min: sorted[0]!,
    q1: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    q3: quantile(sorted, 0.75),
    max: sorted[n - 1]!,
    mean,
    std: n > 1 ? Math.sqrt(sq / (n - 1)) : 0,
    positive: xs.filter((x) => x > 0).length / n,
  };
}

const best = (...xs: (number | null)[]) => {
  const ok = xs.filter((x): x is number => x !== null);
  return ok.length > 0 ? Math.max(...ok) : null;
};
const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);

/** Assembles one walk-forward run from its windows' results and trades it. */
export async function assembleRun(
  plan: SweepRunPlan,
  results: ReadonlyMap<string, JobResult>,
  candles: readonly Candle[],
): Promise<RunResult> {
  const windows: JobResult[] = plan.jobIds.map((id) => {
    const r = results.get(id);
    if (r === undefined) throw new DataError(`no result for job ${id} of run ${plan.id}`);
    return r;
  });
  const p = plan.params;
  const predictions = new PrecomputedPredictor({ horizon: p.horizon });
  const plans: MlWindowPlan[] = windows.map((w) => {
    const [from, to] = w.plan.series[0]!.testCandles;
    if (w.predictions.length !== to - from) {
      throw new DataError(`job ${w.jobId}: ${w.predictions.length} predictions for ${to - from} candles`);
    }
    const modelVersion = walkForwardModelVersion(w.window);
    predictions.addPredictions(candles, w.predictions, { from, modelVersion });
    return {
      ...w.plan,
      modelVersion,
      modelId: w.model.id,
      validation: undefined,
      epochsRun: w.model.epochsRun ?? undefined,
      cached: false,
    };
  });
  const tradeStart = windows[0]!.plan.series[0]!.testCandles[0];
  const tradeEnd = windows[windows.length - 1]!.plan.series[0]!.testCandles[1];
  const traded = await tradePredictions({
    series: [candles],
    ranges: [[tradeStart, tradeEnd]],
    predictions,
    plans,
    strategy: {
      threshold: p.threshold,
      fraction: p.fraction,
      allowShort: p.allowShort,
      ...(p.stopLoss !== null ? { stopLoss: p.stopLoss } : {}),
      ...(p.takeProfit !== null ? { takeProfit: p.takeProfit } : {}),
      ...(p.maxHold !== null ? { maxHoldCandles: p.maxHold } : {}),
    },
    config: { feeRate: p.fee, slippageBps: p.slippageBps },
  });
  const { result } = traded;
  const trading = traded.trading[0]!;

  const timeframeMs = timeframeToMs(result.timeframe as Timeframe);
  const curve = result.equityCurve;
  let point = 0;
  let equityBefore = result.config.initialCash;
  const stats: WindowStats[] = windows.map((w, i) => {
    const { stats: ws, majorityBaseline: majority } = traded.windows[i]!;
    const { testFrom, testTo } = w.plan;
    while (point < curve.length && curve[point]!.timestamp < testFrom) equityBefore = curve[point++]!.equity;
    const times: number[] = [];
    const equity: number[] = [];
    while (point < curve.length && curve[point]!.timestamp <= testTo) {
      times.push(curve[point]!.timestamp);
      equity.push(curve[point]!.equity);
      point++;
    }
    const trades = result.trades.filter((t) => t.entryTime >= testFrom && t.entryTime <= testTo);
    const m = computeMetrics({
      timestamps: times,
      equity,
      initialCash: equityBefore,
      trades,
      totalFees: 0,
      timeframeMs,
    });
    if (equity.length > 0) equityBefore = equity[equity.length - 1]!;
    const [from, to] = w.plan.series[0]!.testCandles;
    return {
      window: w.window,
      jobId: w.jobId,
      seed: w.seed,
      modelId: w.model.id,
      testFrom,
      testTo,
      candles: to - from,
      resolved: ws.resolved,
      accuracy: ws.accuracy,
      majorityBaseline: majority,
      noSkillAccuracy: ws.noSkillAccuracy,
      alwaysUp: ws.baseRate,
      reversal: ws.reversalAccuracy,
      momentum: ws.momentumAccuracy,
      accuracyEdge: minus(ws.accuracy, best(majority, ws.baseRate, ws.reversalAccuracy, ws.momentumAccuracy)),
      epochsRun: w.model.epochsRun,
      totalReturn: m.totalReturn,
      sharpe: m.sharpe,
      maxDrawdown: m.maxDrawdown,
      trades: trades.length,
      buyAndHold: candles[to - 1]!.close / candles[from]!.open - 1,
    };
  });

  const all = traded.stats;
  const majority = overallMajority(traded.windows);
  return {
    runId: plan.id,
    paramsId: plan.paramsId,
    symbol: plan.data.symbol,
    timeframe: plan.data.timeframe,
    file: plan.data.file,
    sha256: plan.data.sha256,
    params: p,
    period: { from: trading[0]!.timestamp, to: trading[trading.length - 1]!.timestamp, candles: trading.length },
    metrics: result.metrics,
    buyAndHold: result.benchmarks.find((b) => b.name === 'buy-and-hold') ?? null,
    ml: {
      predictions: all.count,
      resolved: all.resolved,
      accuracy: all.accuracy,
      precision: all.precision,
      recall: all.recall,
      f1: all.f1,
      brier: all.brierScore,
      logLoss: all.logLoss,
      majorityBaseline: majority,
      noSkillAccuracy: all.noSkillAccuracy,
      alwaysUp: all.baseRate,
      reversal: all.reversalAccuracy,
      momentum: all.momentumAccuracy,
      baseRateBrier: all.baseRateBrier,
      accuracyEdge: minus(all.accuracy, best(majority, all.baseRate, all.reversalAccuracy, all.momentumAccuracy)),
    },
    windows: stats,
    dispersion: {
      totalReturn: dispersion(stats.map((w) => w.totalReturn)),
      sharpe: dispersion(stats.map((w) => w.sharpe)),
      accuracyEdge: dispersion(stats.map((w) => w.accuracyEdge)),
    },
  };
}
