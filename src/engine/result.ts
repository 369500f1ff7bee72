import type { MarketRules, Order, Signal, Trade } from '../core/types.js';
import type { KillSwitchLimits } from './kill-switch.js';

/** Settings of the simulated broker and the replay. Fees and slippage are always applied. */
export interface BacktestConfig {
  /** Starting cash in quote currency. */
  readonly initialCash: number;
  /** Fee as a fraction of notional per fill (0.001 = 0.1%). */
  readonly feeRate: number;
  /** Slippage in basis points against the trader on market orders (5 = 0.05%). */
  readonly slippageBps: number;
  /** Allow short positions; otherwise a sell can only reduce a long. */
  readonly allowShort: boolean;
  /** Trade fractional units; when false quantities are whole units. */
  readonly fractional: boolean;
  /** Close every open position at the last candle's close (with fees and slippage). */
  readonly closeAtEnd: boolean;
  /** Per-symbol precision and minimums; quantities are floored to amountStep. */
  readonly markets?: Readonly<Record<string, MarketRules>>;
  /** The kill switch, as in paper and live: no new entries for the rest of the UTC day once a limit is reached. */
  readonly killSwitch?: KillSwitchLimits;
}

/** One point of the equity curve, taken after all symbols at `timestamp` were processed. */
export interface EquityPoint {
  readonly timestamp: number;
  readonly equity: number;
  readonly cash: number;
  /** Drawdown from the running peak, as a fraction <= 0 (e.g. -0.12). */
  readonly drawdown: number;
  /** Gross exposure (sum of |position value|) divided by equity. */
  readonly exposure: number;
}

export interface PerformanceMetrics {
  /** Final equity / initial cash - 1. */
  readonly totalReturn: number;
  /** Compounded per year over the elapsed calendar time. */
  readonly annualizedReturn: number;
  /** Annualised mean / stdev of per-bar returns (risk-free rate 0). */
  readonly sharpe: number;
  /** Annualised mean / downside deviation of per-bar returns. */
  readonly sortino: number;
  /** Largest peak-to-trough fall as a fraction <= 0. */
  readonly maxDrawdown: number;
  /** annualizedReturn / |maxDrawdown|. */
  readonly calmar: number;
  /** Share of closed trades with pnl > 0. */
  readonly winRate: number;
  /** Gross profit / gross loss of closed trades (Infinity when no losing trade). */
  readonly profitFactor: number;
  /** Share of bars with an open position. */
  readonly exposure: number;
  readonly trades: number;
  readonly totalFees: number;
  readonly finalEquity: number;
}

/** Result of a comparison strategy over the same candles (buy-and-hold, baselines). */
export interface BenchmarkResult {
  readonly name: string;
  readonly totalReturn: number;
  readonly annualizedReturn: number;
  readonly maxDrawdown: number;
  readonly sharpe: number;
}

export interface BacktestResult {
  readonly strategy: string;
  readonly symbols: readonly string[];
  readonly timeframe: string;
  /** First and last candle time (ms UTC). */
  readonly start: number;
  readonly end: number;
  readonly candles: number;
  readonly config: BacktestConfig;
  readonly metrics: PerformanceMetrics;
  /** Buy-and-hold over the same period (equal weight over symbols, same fees), then any other baselines. */
  readonly benchmarks: readonly BenchmarkResult[];
  readonly equityCurve: readonly EquityPoint[];
  readonly trades: readonly Trade[];
  readonly orders: readonly Order[];
  readonly signals: readonly Signal[];
  /** Extra sections added by later stages (e.g. ML metrics), rendered as tables by the reports. */
  readonly sections?: readonly ReportSection[];
}

/** A titled report part: warnings, label/value rows, a table, and a chart. */
export interface ReportSection {
  readonly title: string;
  /** Shown first and styled as warnings (console and HTML): what makes the figures below mean less. */
  readonly warnings?: readonly string[];
  readonly rows: readonly (readonly [label: string, value: string | number])[];
  /** A table with a header row. */
  readonly table?: {
    readonly columns: readonly string[];
    readonly rows: readonly (readonly (string | number)[])[];
  };
  /** Optional chart: x values and one or more y series. */
  readonly chart?: {
    readonly kind: 'bar' | 'line';
    readonly x: readonly number[];
    readonly series: Readonly<Record<string, readonly number[]>>;
    readonly xLabel?: string;
    readonly yLabel?: string;
    /** x values are counts (e.g. window numbers): ticks only at whole numbers. */
    readonly integerX?: boolean;
  };
}

export const DEFAULT_BACKTEST_CONFIG: BacktestConfig = {
  initialCash: 10_000,
  feeRate: 0.001,
  slippageBps: 5,
  allowShort: false,
  fractional: true,
  closeAtEnd: true,
};
