/**
 * The backtest harness: candles (arrays, files or the synthetic market) and a
 * strategy in, a BacktestResult out — metrics, the buy-and-hold benchmark run
 * through the same engine and simulated broker, every trade, order and signal.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, DataError } from '../src/core/errors.js';
import { EventBus } from '../src/core/events.js';
import type { Logger } from '../src/core/logger.js';
import type { Strategy } from '../src/core/strategy.js';
import type { Candle, Signal, Timeframe } from '../src/core/types.js';
import {
  type CandleLoadReport,
  DEFAULT_SYNTHETIC,
  generateSyntheticCandles,
  loadCandles,
  type SyntheticOptions,
} from '../src/data/index.js';
import { toBenchmark } from '../src/engine/metrics.js';
import {
  type BacktestConfig,
  type BacktestResult,
  type BenchmarkResult,
  DEFAULT_BACKTEST_CONFIG,
  type ReportSection,
} from '../src/engine/result.js';
import { runSimulation } from '../src/engine/simulation.js';
import type { StrategyErrorPolicy } from '../src/engine/trading-engine.js';
import { BuyAndHold } from '../strategies/buy-and-hold.js';
import { renderHtmlReport } from './report-html.js';
import { renderJsonReport } from './report-json.js';

export interface RunBacktestOptions {
  readonly strategy: Strategy;
  /** One candle array per symbol, each in time order, all of one timeframe. */
  readonly candles: readonly (readonly Candle[])[];
  /** Merged over DEFAULT_BACKTEST_CONFIG. */
  readonly config?: Partial<BacktestConfig>;
  /** Run the buy-and-hold benchmark (default true). */
  readonly benchmarks?: boolean;
  /** Progress of the strategy's run: (candles done, total). */
  readonly progress?: (done: number, total: number) => void;
  readonly progressEvery?: number;
  readonly onStrategyError?: StrategyErrorPolicy;
  readonly log?: Logger;
  /**
   * At most this many equity points in the result (deepest drawdown per bucket,
   * first and last kept); default all. Metrics always use every point.
   */
  readonly maxEquityPoints?: number;
  /** Extra report sections (e.g. ML metrics) passed through to the result. */
  readonly sections?: readonly ReportSection[];
}

/** Checks that each array holds one symbol of one timeframe and that symbols differ; returns them. */
export function checkSeries(series: readonly (readonly Candle[])[]): { symbols: string[]; timeframe: Timeframe } {
  if (series.length === 0) throw new ConfigError('no candle series given', { field: 'candles' });
  const symbols: string[] = [];
  let timeframe: Timeframe | undefined;
  series.forEach((candles, index) => {
    const first = candles[0];
    if (first === undefined) throw new DataError('candle series is empty', { index });
    if (symbols.includes(first.symbol)) {
      throw new ConfigError('the same symbol is given twice: pass one candle series per symbol', {
        symbol: first.symbol,
      });
    }
    for (let i = 1; i < candles.length; i++) {
      const c = candles[i] as Candle;
      if (c.symbol !== first.symbol) {
        throw new DataError(`series mixes symbols ${first.symbol} and ${c.symbol}`, { symbol: first.symbol, index: i });
      }
    }
    if (timeframe !== undefined && first.timeframe !== timeframe) {
      throw new ConfigError(`all series must share one timeframe: ${timeframe} and ${first.timeframe} given`, {
        symbol: first.symbol,
        field: 'timeframe',
      });
    }
    timeframe = first.timeframe;
    symbols.push(first.symbol);
  });
  return { symbols, timeframe: timeframe as Timeframe };
}

export async function runBacktest(options: RunBacktestOptions): Promise<BacktestResult> {
  const series = options.candles;
  const { symbols, timeframe } = checkSeries(series);
  const config: BacktestConfig = { ...DEFAULT_BACKTEST_CONFIG, ...options.config };

  const events = new EventBus();
  const signals: Signal[] = [];
  events.on('signal', (s) => signals.push(s));
  const run = await runSimulation(series, options.strategy, config, {
    events,
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.onStrategyError !== undefined ? { onStrategyError: options.onStrategyError } : {}),
    ...(options.progress !== undefined ? { progress: options.progress } : {}),
    ...(options.progressEvery !== undefined ? { progressEvery: options.progressEvery } : {}),
  });

  const benchmarks: BenchmarkResult[] = [];
  if (options.benchmarks !== false) {
    const hold = await runSimulation(series, new BuyAndHold({ symbols: symbols.length }), config);
    benchmarks.push(toBenchmark('buy-and-hold', hold.metrics));
  }

  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const s of series) {
    start = Math.min(start, (s[0] as Candle).timestamp);
    end = Math.max(end, (s[s.length - 1] as Candle).timestamp);
  }
  return {
    strategy: options.strategy.name,
    symbols,
    timeframe,
    start,
    end,
    candles: run.summary.candles,
    config,
    metrics: run.metrics,
    benchmarks,
    equityCurve: run.engine.equityCurve.toPoints(config.initialCash, options.maxEquityPoints),
    trades: run.portfolio.trades,
    orders: run.broker.orders(),
    signals,
    ...(options.sections !== undefined ? { sections: options.sections } : {}),
  };
}

export interface BacktestDataOptions {
  /** Candle files, one per symbol; when empty or absent the synthetic market is used. */
  readonly files?: readonly string[];
  /** Options of the synthetic market (merged over DEFAULT_SYNTHETIC). */
  readonly synthetic?: SyntheticOptions;
  /** Symbol of a single file or of the synthetic market. */
  readonly symbol?: string;
  readonly timeframe?: Timeframe;
  /** Drop bad rows and duplicates, sort out-of-order rows (files only). */
  readonly repair?: boolean;
}

export interface BacktestData {
  readonly series: Candle[][];
  /** One load report per file (empty for synthetic data). */
  readonly reports: CandleLoadReport[];
  readonly synthetic: boolean;
}

/** Load the candles of a backtest from files (via src/data) or generate the synthetic market. */
export async function loadBacktestData(options: BacktestDataOptions = {}): Promise<BacktestData> {
  const files = options.files ?? [];
  if (files.length === 0) {
    const candles = generateSyntheticCandles({
      ...DEFAULT_SYNTHETIC,
      ...options.synthetic,
      ...(options.symbol !== undefined ? { symbol: options.symbol } : {}),
      ...(options.timeframe !== undefined ? { timeframe: options.timeframe } : {}),
    });
    return { series: [candles], reports: [], synthetic: true };
  }
  if (options.symbol !== undefined && files.length > 1) {
    throw new ConfigError('a symbol can only be given for a single data file (symbols come from file names)', {
      field: 'symbol',
    });
  }
  const series: Candle[][] = [];
  const reports: CandleLoadReport[] = [];
  for (const file of files) {
    if (!existsSync(file)) throw new DataError('data file not found', { file });
    const loaded = await loadCandles(file, {
      ...(options.symbol !== undefined ? { symbol: options.symbol } : {}),
      ...(options.timeframe !== undefined ? { timeframe: options.timeframe } : {}),
      ...(options.repair !== undefined ? { repair: options.repair } : {}),
    });
    if (loaded.candles.length === 0) throw new DataError('data file has no candles', { file });
    series.push(loaded.candles);
    reports.push(loaded.report);
  }
  return { series, reports, synthetic: false };
}

export interface WrittenReports {
  readonly json: string;
  readonly html: string;
}

/** Write `result.json` and `report.html` into `outDir` (created if needed). */
export function writeBacktestReports(result: BacktestResult, outDir: string): WrittenReports {
  mkdirSync(outDir, { recursive: true });
  const json = path.join(outDir, 'result.json');
  const html = path.join(outDir, 'report.html');
  writeFileSync(json, renderJsonReport(result));
  writeFileSync(html, renderHtmlReport(result));
  return { json, html };
}
