/**
 * Configurations ranked by an out-of-sample metric, each with the spread of
 * that metric across symbols and across walk-forward windows, so a lucky
 * window or symbol shows as a wide range instead of hiding in one number.
 */
import { describeParams, type RankMetric, type SweepParams } from './grid.js';
import type { SweepPlan } from './jobs.js';
import { type Dispersion, dispersion, type RunResult, type WindowStats } from './reduce.js';

export interface ConfigSymbol {
  readonly symbol: string;
  readonly timeframe: string;
  readonly runId: string;
  /** The ranking metric of this symbol's run. */
  readonly value: number | null;
  readonly totalReturn: number;
  readonly sharpe: number;
  readonly maxDrawdown: number;
  readonly trades: number;
  readonly accuracy: number | null;
  readonly accuracyEdge: number | null;
  readonly buyAndHold: number | null;
}

export interface ConfigSummary {
  readonly rank: number;
  readonly paramsId: string;
  readonly params: SweepParams;
  /** The varying parameters, e.g. 'horizon=4 threshold=0.2'. */
  readonly label: string;
  /** Mean of the ranking metric over symbols (null when no symbol has one). */
  readonly score: number | null;
  readonly symbols: readonly ConfigSymbol[];
  /** The ranking metric of each symbol's whole run. */
  readonly acrossSymbols: Dispersion;
  /** The per-window counterpart of the ranking metric over every window of every symbol. */
  readonly acrossWindows: Dispersion;
  readonly meanAccuracy: number | null;
  readonly meanAccuracyEdge: number | null;
  readonly meanReturn: number;
  readonly meanBuyAndHold: number | null;
}

/** The per-window metric that stands for a run metric (annualised figures of short windows mean little). */
export function windowMetric(rankBy: RankMetric): 'sharpe' | 'totalReturn' | 'accuracyEdge' {
  return rankBy === 'annualizedReturn' ? 'totalReturn' : rankBy;
}

export function runMetric(run: RunResult, rankBy: RankMetric): number | null {
  if (rankBy === 'accuracyEdge') return run.ml.accuracyEdge;
  const v = run.metrics[rankBy];
  return Number.isFinite(v) ? v : null;
}

const mean = (xs: readonly (number | null)[]): number | null => {
  const ok = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return ok.length > 0 ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
};

/** One summary per parameter set, best first (ties and nulls in plan order). */
export function rankConfigs(plan: SweepPlan, runs: readonly RunResult[]): ConfigSummary[] {
  const rankBy = plan.grid.rankBy;
  const wm = windowMetric(rankBy);
  const order: string[] = [];
  const byParams = new Map<string, RunResult[]>();
  for (const r of runs) {
    let list = byParams.get(r.paramsId);
    if (list === undefined) {
      list = [];
      byParams.set(r.paramsId, list);
      order.push(r.paramsId);
    }
    list.push(r);
  }
  const configs = order.map((paramsId) => {
    const list = byParams.get(paramsId)!;
    const params = list[0]!.params;
    const values = list.map((r) => runMetric(r, rankBy));
    const windows: WindowStats[] = list.flatMap((r) => [...r.windows]);
    return {
      rank: 0,
      paramsId,
      params,
      label: describeParams(params, plan.grid.varying),
      score: mean(values),
      symbols: list.map((r, i) => ({
        symbol: r.symbol,
        timeframe: r.timeframe,
        runId: r.runId,
        value: values[i]!,
        totalReturn: r.metrics.totalReturn,
        sharpe: r.metrics.sharpe,
        maxDrawdown: r.metrics.maxDrawdown,
        trades: r.metrics.trades,
        accuracy: r.ml.accuracy,
        accuracyEdge: r.ml.accuracyEdge,
        buyAndHold: r.buyAndHold?.totalReturn ?? null,
      })),
      acrossSymbols: dispersion(values),
      acrossWindows: dispersion(windows.map((w) => w[wm])),
      meanAccuracy: mean(list.map((r) => r.ml.accuracy)),
      meanAccuracyEdge: mean(list.map((r) => r.ml.accuracyEdge)),
      meanReturn: mean(list.map((r) => r.metrics.totalReturn)) ?? 0,
      meanBuyAndHold: mean(list.map((r) => r.buyAndHold?.totalReturn ?? null)),
    };
  });
  const indexed = configs.map((c, i) => ({ c, i }));
  indexed.sort((a, b) => {
    const x = a.c.score;
    const y = b.c.score;
    if (x === null && y === null) return a.i - b.i;
    if (x === null) return 1;
    if (y === null) return -1;
    return y - x || a.i - b.i;
  });
  return indexed.map(({ c }, k) => ({ ...c, rank: k + 1 }));
}
