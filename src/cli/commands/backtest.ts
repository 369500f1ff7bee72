/**
 * `quantflow backtest`: replay candle files (or the synthetic market) through a
 * strategy with the simulated broker, print a summary next to buy-and-hold,
 * and write result.json and report.html.
 *
 * Strategies are looked up by name in BACKTEST_STRATEGIES; adding one (e.g.
 * `--strategy ml`) means adding an entry there and, if it needs them, its own
 * options to `register` below. Engine and cost options are shared by all.
 */
import path from 'node:path';
import type { Command } from 'commander';
import {
  checkSeries,
  loadBacktestData,
  renderConsoleSummary,
  runBacktest,
  writeBacktestReports,
} from '../../../backtest/index.js';
import { SmaCrossover, type SmaCrossoverMode } from '../../../strategies/index.js';
import { ConfigError } from '../../core/errors.js';
import type { Strategy } from '../../core/strategy.js';
import { describeLoadReport } from '../../data/index.js';
import type { BacktestConfig } from '../../engine/result.js';
import { action, numberOption } from '../action.js';
import { createProgress } from '../progress.js';

/** Every option of the command, as commander parses them. */
export interface BacktestCommandOptions {
  data?: string[];
  synthetic?: boolean;
  strategy: string;
  fast: number;
  slow: number;
  mode: string;
  fraction?: number;
  cash: number;
  fee: number;
  slippageBps: number;
  allowShort?: boolean;
  wholeUnits?: boolean;
  closeAtEnd: boolean;
  repair?: boolean;
  symbol?: string;
  timeframe?: string;
  out?: string;
  json?: boolean;
  maxEquityPoints: number;
}

/** How the command builds one kind of strategy from its options. */
export interface BacktestStrategyFactory {
  readonly description: string;
  create(options: BacktestCommandOptions, symbols: readonly string[]): Strategy | Promise<Strategy>;
  /** Settings the strategy implies (e.g. long-short needs shorts allowed). */
  config?(options: BacktestCommandOptions): Partial<BacktestConfig>;
}

const MODES: readonly SmaCrossoverMode[] = ['long-only', 'long-short'];

export const BACKTEST_STRATEGIES: Record<string, BacktestStrategyFactory> = {
  sma: {
    description: 'SMA crossover baseline (--fast, --slow, --mode, --fraction)',
    create(o, symbols) {
      if (!MODES.includes(o.mode as SmaCrossoverMode)) {
        throw new ConfigError(`--mode must be one of ${MODES.join(', ')}, got '${o.mode}'`, { field: 'mode' });
      }
      return new SmaCrossover({
        fast: o.fast,
        slow: o.slow,
        mode: o.mode as SmaCrossoverMode,
        fraction: o.fraction ?? 1 / symbols.length,
      });
    },
    config: (o) => (o.mode === 'long-short' ? { allowShort: true } : {}),
  },
};

export function register(program: Command): void {
  program
    .command('backtest')
    .description(
      'replay candles through a strategy with simulated fills, fees and slippage; write result.json and report.html',
    )
    .option('--data <files...>', 'candle files (CSV or ccxt JSON), one per symbol; default: the synthetic market')
    .option('--synthetic', 'use the built-in synthetic market (20,000 1h candles, seed 42)')
    .option('--strategy <name>', `strategy: ${Object.keys(BACKTEST_STRATEGIES).join(', ')}`, 'sma')
    .option('--fast <n>', 'SMA fast period', numberOption('fast'), 10)
    .option('--slow <n>', 'SMA slow period', numberOption('slow'), 30)
    .option('--mode <mode>', `SMA mode: ${MODES.join(' or ')} (long-short allows shorts)`, 'long-only')
    .option(
      '--fraction <f>',
      'position size per symbol as a fraction of equity (default 1 / symbols)',
      numberOption('fraction'),
    )
    .option('--cash <amount>', 'starting cash in quote currency', numberOption('cash'), 10_000)
    .option('--fee <rate>', 'fee per fill as a fraction of notional (0.001 = 0.1%)', numberOption('fee'), 0.001)
    .option('--slippage-bps <bps>', 'slippage on market orders in basis points', numberOption('slippage-bps'), 5)
    .option('--allow-short', 'allow short positions')
    .option('--whole-units', 'trade whole units only (no fractional quantities)')
    .option('--no-close-at-end', 'leave positions open at the end instead of closing them at the last close')
    .option('--repair', 'drop bad rows and duplicates and sort out-of-order rows instead of failing')
    .option('--symbol <symbol>', 'symbol of a single data file (default: from the file name)')
    .option('--timeframe <tf>', 'timeframe of the data (default: from the file name or the data)')
    .option('--out <dir>', 'output directory (default reports/<strategy>-<symbols>-<timeframe>)')
    .option('--json', 'print a JSON summary on stdout instead of the text summary')
    .option(
      '--max-equity-points <n>',
      'equity points kept in result.json (deepest drawdown per bucket; 0 = all)',
      numberOption('max-equity-points'),
      100_000,
    )
    .action(action(runBacktestCommand));
}

async function runBacktestCommand(opts: BacktestCommandOptions): Promise<void> {
  const factory = BACKTEST_STRATEGIES[opts.strategy];
  if (factory === undefined) {
    throw new ConfigError(
      `unknown strategy '${opts.strategy}' (available: ${Object.keys(BACKTEST_STRATEGIES).join(', ')})`,
      { field: 'strategy' },
    );
  }
  const files = opts.data ?? [];
  if (opts.synthetic === true && files.length > 0) {
    throw new ConfigError('give either --data files or --synthetic, not both', { field: 'data' });
  }

  const data = await loadBacktestData({
    files,
    ...(opts.symbol !== undefined ? { symbol: opts.symbol } : {}),
    ...(opts.timeframe !== undefined ? { timeframe: opts.timeframe } : {}),
    ...(opts.repair === true ? { repair: true } : {}),
  });
  for (const report of data.reports) for (const line of describeLoadReport(report)) process.stderr.write(`${line}\n`);
  const { symbols, timeframe } = checkSeries(data.series);

  const strategy = await factory.create(opts, symbols);
  const config: Partial<BacktestConfig> = {
    initialCash: opts.cash,
    feeRate: opts.fee,
    slippageBps: opts.slippageBps,
    allowShort: opts.allowShort === true,
    fractional: opts.wholeUnits !== true,
    closeAtEnd: opts.closeAtEnd,
    ...factory.config?.(opts),
  };

  const total = data.series.reduce((n, s) => n + s.length, 0);
  const progress = total >= 100_000 ? createProgress('backtest', total) : undefined;
  let result: Awaited<ReturnType<typeof runBacktest>>;
  try {
    result = await runBacktest({
      strategy,
      candles: data.series,
      config,
      maxEquityPoints: opts.maxEquityPoints,
      ...(progress !== undefined ? { progress: (done: number) => progress.update(done) } : {}),
    });
  } finally {
    progress?.stop();
  }

  const outDir = opts.out ?? defaultOutDir(opts.strategy, symbols, timeframe);
  const written = writeBacktestReports(result, outDir);
  if (opts.json === true) {
    const summary = {
      strategy: result.strategy,
      symbols: result.symbols,
      timeframe: result.timeframe,
      start: result.start,
      end: result.end,
      candles: result.candles,
      config: result.config,
      metrics: result.metrics,
      benchmarks: result.benchmarks,
      trades: result.trades.length,
      rejectedOrders: result.orders.filter((o) => o.status === 'rejected').length,
      files: written,
    };
    process.stdout.write(
      `${JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`,
    );
    return;
  }
  process.stdout.write(`${renderConsoleSummary(result)}\n\n`);
  const rejected = result.orders.filter((o) => o.status === 'rejected');
  if (rejected.length > 0) {
    process.stdout.write(`${rejected.length} orders rejected, first: ${rejected[0]?.rejectReason ?? 'no reason'}\n`);
  }
  process.stdout.write(`wrote ${written.json}\nwrote ${written.html}\n`);
}

function defaultOutDir(strategy: string, symbols: readonly string[], timeframe: string): string {
  const name = [strategy, ...symbols, timeframe].join('-').replace(/[^A-Za-z0-9._-]+/g, '-');
  return path.join('reports', name);
}
