/**
 * Performance metrics of an equity curve and its trades.
 *
 * Conventions (all documented in PerformanceMetrics):
 * - Per-bar returns: r[0] = equity[0] / initialCash - 1, r[i] = equity[i] / equity[i-1] - 1.
 * - Calendar time runs from the first candle's open to the last candle's close
 *   (last timestamp + one timeframe); a year is 365 days (markets that trade
 *   every day; timeframe.ts uses the same year).
 * - Sharpe = mean(r) / stdev(r) * sqrt(barsPerYear), sample stdev, risk-free 0,
 *   where barsPerYear is what the series really has: its bars divided by the
 *   calendar years they span (about 252 for a daily stock series, 365 for
 *   daily crypto, 8,760 for hourly crypto), not the timeframe's nominal count.
 * - Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(barsPerYear).
 * - Max drawdown from a running peak that starts at the initial cash.
 */
import type { Trade } from '../core/types.js';
import type { BenchmarkResult, PerformanceMetrics } from './result.js';

export const YEAR_MS = 365 * 86_400_000;

export interface MetricsInput {
  /** Equity point times (candle open times), ascending. */
  readonly timestamps: ArrayLike<number>;
  readonly equity: ArrayLike<number>;
  /** Gross exposure per point (quote currency); a bar counts as exposed when > 0. */
  readonly grossExposure?: ArrayLike<number>;
  readonly initialCash: number;
  readonly trades: readonly Trade[];
  readonly totalFees: number;
  /** Bar length in ms: annualises Sharpe and Sortino and closes the calendar span. */
  readonly timeframeMs: number;
}

export function computeMetrics(input: MetricsInput): PerformanceMetrics {
  const { equity, timestamps, initialCash, timeframeMs } = input;
  const n = equity.length;
  const finalEquity = n > 0 ? (equity[n - 1] as number) : initialCash;
  const totalReturn = finalEquity / initialCash - 1;

  const years = n > 0 ? ((timestamps[n - 1] as number) - (timestamps[0] as number) + timeframeMs) / YEAR_MS : 0;
  const annualizedReturn = annualize(totalReturn, years);

  // Per-bar returns: mean, sample variance, downside deviation; running peak for drawdown.
  let prev = initialCash;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = equity[i] as number;
    sum += prev !== 0 ? e / prev - 1 : 0;
    prev = e;
  }
  const mean = n > 0 ? sum / n : 0;
  let sq = 0;
  let down = 0;
  let peak = initialCash;
  let maxDrawdown = 0;
  let exposed = 0;
  prev = initialCash;
  for (let i = 0; i < n; i++) {
    const e = equity[i] as number;
    const r = prev !== 0 ? e / prev - 1 : 0;
    prev = e;
    sq += (r - mean) * (r - mean);
    if (r < 0) down += r * r;
    if (e > peak) peak = e;
    const dd = peak > 0 ? e / peak - 1 : 0;
    if (dd < maxDrawdown) maxDrawdown = dd;
    if (input.grossExposure !== undefined && (input.grossExposure[i] as number) > 0) exposed++;
  }
  // Markets that close (weekends, nights) have fewer bars than their timeframe implies.
  const barsPerYear = n > 1 && years > 0 ? n / years : YEAR_MS / timeframeMs;
  const scale = Math.sqrt(barsPerYear);
  const stdev = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
  const downside = n > 0 ? Math.sqrt(down / n) : 0;
  const sharpe = stdev > 0 ? (mean / stdev) * scale : 0;
  const sortino = downside > 0 ? (mean / downside) * scale : mean > 0 ? Number.POSITIVE_INFINITY : 0;
  const calmar =
    maxDrawdown < 0 ? annualizedReturn / -maxDrawdown : annualizedReturn > 0 ? Number.POSITIVE_INFINITY : 0;

  let wins = 0;
  let grossProfit = 0;
  let grossLoss = 0;
  for (const t of input.trades) {
    if (t.pnl > 0) {
      wins++;
      grossProfit += t.pnl;
    } else grossLoss -= t.pnl;
  }
  const trades = input.trades.length;
  const profitFactor = grossLoss > 0 ? grossProfit / grossLoss : grossProfit > 0 ? Number.POSITIVE_INFINITY : 0;

  return {
    totalReturn,
    annualizedReturn,
    sharpe,
    sortino,
    maxDrawdown,
    calmar,
    winRate: trades > 0 ? wins / trades : 0,
    profitFactor,
    exposure: n > 0 ? exposed / n : 0,
    trades,
    totalFees: input.totalFees,
    finalEquity,
  };
}

/** Compounded yearly return of `totalReturn` earned over `years`; -1 when everything was lost. */
export function annualize(totalReturn: number, years: number): number {
  if (!(years > 0)) return 0;
  if (totalReturn <= -1) return -1;
  return (1 + totalReturn) ** (1 / years) - 1;
}

/** The benchmark row of a comparison run. */
export function toBenchmark(name: string, m: PerformanceMetrics): BenchmarkResult {
  return {
    name,
    totalReturn: m.totalReturn,
    annualizedReturn: m.annualizedReturn,
    maxDrawdown: m.maxDrawdown,
    sharpe: m.sharpe,
  };
}
