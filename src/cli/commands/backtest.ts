/**
 * `quantflow backtest`: replay candle files (or the synthetic market) through a
 * strategy with the simulated broker, print a summary next to buy-and-hold,
 * and write result.json and report.html.
 *
 * Strategies are looked up by name in BACKTEST_STRATEGIES; adding one means
 * adding an entry there and, if it needs them, its own options to `register`
 * below. Engine and cost options are shared by all. A strategy that needs its
 * own harness (the ML strategy: walk-forward training, or a registered model)
 * implements `run` instead of `create`.
 *
 *   quantflow backtest --strategy ml [--data FILE... | --synthetic] [--train-window N] [--test-window M]
 *     [--horizon H] [--kind K] [--target T] [--features SET|FILE] [--context FILE...] [--calibration M]
 *     [--min-confidence 0.6] [--cost-gate [--cost-margin 0.5]] [--fraction 0.1] [--allow-short]
 *     [--stop-loss X] [--take-profit X] [--max-hold N] [--seed N] [--cache DIR | --no-cache]
 *     [--model NAME[@version] --registry DIR] [--tracker FILE] --out DIR
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import {
  bestNaive,
  checkSeries,
  type MlBacktestResult,
  type MlTradingOptions,
  renderConsoleSummary,
  roundTripCost,
  runBacktest,
  runModelBacktest,
  runWalkForward,
  WALK_FORWARD_DEFAULTS,
  writeBacktestReports,
} from '../../../backtest/index.js';
import { ML_STRATEGY_DEFAULTS, SmaCrossover, type SmaCrossoverMode } from '../../../strategies/index.js';
import { ConfigError } from '../../core/errors.js';
import { createJsonLogger } from '../../core/logger.js';
import type { Strategy } from '../../core/strategy.js';
import type { Candle } from '../../core/types.js';
import type { BacktestConfig, BacktestResult } from '../../engine/result.js';
import { loadPredictor, ModelRegistry } from '../../registry/index.js';
import { PredictionTracker } from '../../tracking/prediction-tracker.js';
import { action, integerOption, numberOption } from '../action.js';
import { loadCandleInput } from '../candle-input.js';
import {
  addModelOptions,
  MODEL_FLAG_KEYS,
  type ModelFlags,
  readContext,
  readModelFlags,
  renamedOption,
} from '../model-options.js';
import { createProgress, type Progress } from '../progress.js';
import { registryOptionHelp, registryRoot } from '../registry-option.js';

/** Every option of the command, as commander parses them. */
export interface BacktestCommandOptions extends ModelFlags {
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
  // --strategy ml
  trainWindow?: number;
  testWindow?: number;
  horizon?: number;
  minConfidence?: number;
  threshold?: number;
  costGate: boolean;
  workers?: number;
  costMargin?: number;
  expanding?: boolean;
  cache: string | false;
  stopLoss?: number;
  takeProfit?: number;
  maxHold?: number;
  seed?: number;
  model?: string;
  registry?: string;
  tracker?: string;
}

/** What a strategy with its own harness gets: the loaded data and the engine settings. */
export interface BacktestRunContext {
  readonly series: readonly (readonly Candle[])[];
  readonly symbols: readonly string[];
  readonly config: Partial<BacktestConfig>;
  readonly maxEquityPoints: number;
}

/** A result plus lines to print after the summary. */
export interface BacktestRunOutput {
  readonly result: BacktestResult;
  readonly notes: readonly string[];
}

/** How the command builds one kind of strategy from its options. */
export interface BacktestStrategyFactory {
  readonly description: string;
  /** The strategy, run by the ordinary harness (runBacktest with buy-and-hold). */
  create?(options: BacktestCommandOptions, symbols: readonly string[]): Strategy | Promise<Strategy>;
  /** Settings the strategy implies (e.g. long-short needs shorts allowed). */
  config?(options: BacktestCommandOptions): Partial<BacktestConfig>;
  /** Instead of `create`: the strategy runs its own harness and returns the whole result. */
  run?(options: BacktestCommandOptions, context: BacktestRunContext): Promise<BacktestRunOutput>;
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
  ml: {
    description:
      'ML strategy: walk-forward training on past windows (or --model from the registry), precomputed predictions',
    config: (o) => (o.allowShort === true ? { allowShort: true } : {}),
    run: runMl,
  },
};

type MlFlag = (typeof ML_FLAGS)[number];
/** Flags of walk-forward training (meaningless with --model). */
const WALK_FORWARD_FLAGS = [
  'trainWindow',
  'testWindow',
  'horizon',
  'seed',
  'expanding',
  'workers',
  ...MODEL_FLAG_KEYS,
] as const;
/** Flags of --strategy ml only. */
const ML_FLAGS = [
  ...WALK_FORWARD_FLAGS,
  'minConfidence',
  'threshold',
  'costMargin',
  'stopLoss',
  'takeProfit',
  'maxHold',
  'model',
  'registry',
  'tracker',
] as const;
/** `trainWindow` -> `--train-window`. */
const flagName = (key: MlFlag) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** `--strategy ml`: walk-forward training and trading, or a registered model over the data. */
async function runMl(o: BacktestCommandOptions, ctx: BacktestRunContext): Promise<BacktestRunOutput> {
  for (const flag of ['fast', 'slow'] as const) {
    if (o[flag] !== (flag === 'fast' ? 10 : 30)) {
      throw new ConfigError(`--${flag} applies to --strategy sma, not ml`, { field: flag });
    }
  }
  if (o.mode !== 'long-only') {
    throw new ConfigError('--mode applies to --strategy sma; for ml use --allow-short', { field: 'mode' });
  }
  if (o.model === undefined && o.registry !== undefined) {
    throw new ConfigError('--registry needs --model NAME[@version]', { field: 'registry' });
  }
  if (o.model !== undefined) {
    const given = WALK_FORWARD_FLAGS.filter((k) => o[k] !== undefined);
    if (given.length > 0) {
      throw new ConfigError(
        `${given.map(flagName).join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to walk-forward training, not to a registered --model`,
        { field: given[0] as string },
      );
    }
  }
  const gate = o.costGate !== false;
  if (o.costMargin !== undefined && !gate) {
    throw new ConfigError('--cost-margin applies to the cost gate, which --no-cost-gate turns off', {
      field: 'costMargin',
    });
  }
  const strategy: MlTradingOptions = {
    threshold: o.minConfidence ?? o.threshold ?? (gate ? 0 : ML_STRATEGY_DEFAULTS.threshold),
    fraction: o.fraction ?? ML_STRATEGY_DEFAULTS.fraction,
    allowShort: o.allowShort === true,
    ...(o.stopLoss !== undefined ? { stopLoss: o.stopLoss } : {}),
    ...(o.takeProfit !== undefined ? { takeProfit: o.takeProfit } : {}),
    ...(o.maxHold !== undefined ? { maxHoldCandles: o.maxHold } : {}),
    ...(gate
      ? {
          costs: {
            roundTripCost: roundTripCost(ctx.config),
            ...(o.costMargin !== undefined ? { margin: o.costMargin } : {}),
          },
        }
      : {}),
  };
  let tracker: PredictionTracker | undefined;
  if (o.tracker !== undefined) {
    const file = path.resolve(o.tracker);
    if (existsSync(file) && statSync(file).size > 0) {
      throw new ConfigError('tracker file already holds predictions; give a new file for each backtest', {
        file,
        field: 'tracker',
      });
    }
    tracker = PredictionTracker.open(file);
  }
  const logger = createJsonLogger('warn');
  const total = ctx.series.reduce((n, s) => n + s.length, 0);
  const common = {
    strategy,
    config: ctx.config,
    maxEquityPoints: ctx.maxEquityPoints,
    logger,
    ...(tracker !== undefined ? { tracker } : {}),
  };
  let run: MlBacktestResult;
  let progress: Progress | undefined;
  try {
    if (o.model !== undefined) {
      const registry = await ModelRegistry.open(registryRoot(o.registry), { create: false });
      const predictor = await loadPredictor(registry, o.model, { logger });
      try {
        run = await runModelBacktest({ ...common, candles: ctx.series, predictor });
      } finally {
        await predictor.dispose();
      }
    } else {
      const model = readModelFlags(o, ctx.series[0]![0]?.timeframe);
      const context = await readContext(o.context);
      run = await runWalkForward({
        ...common,
        series: ctx.series,
        ...(context !== undefined ? { context } : {}),
        kind: model.kind,
        target: model.target,
        ...(model.featureSet !== undefined ? { featureSet: model.featureSet } : {}),
        ...(model.calibration !== undefined ? { calibration: model.calibration } : {}),
        ...model.kindOptions,
        ...(o.trainWindow !== undefined ? { trainWindow: o.trainWindow } : {}),
        ...(o.testWindow !== undefined ? { testWindow: o.testWindow } : {}),
        ...(o.horizon !== undefined ? { horizon: o.horizon } : {}),
        ...(o.expanding === true ? { expanding: true } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.cache !== false ? { cache: path.resolve(o.cache) } : {}),
        ...(o.workers !== undefined ? { workers: o.workers } : {}),
        onWindow: (done, windows) => {
          progress ??= createProgress('walk-forward windows', windows);
          progress.update(done);
        },
      });
    }
  } finally {
    progress?.stop();
    tracker?.close();
  }
  const s = run.stats;
  const notes: string[] = [];
  if (o.model === undefined) {
    const cached = run.timings.cachedWindows;
    notes.push(
      `walk-forward: ${run.windows.length} models trained in ${run.timings.trainSeconds.toFixed(1)} s` +
        `${cached > 0 ? ` (${cached} read from the cache ${o.cache})` : ''}; ` +
        `${total.toLocaleString('en-US')} candles, ${run.result.candles.toLocaleString('en-US')} traded in ${run.timings.tradeSeconds.toFixed(1)} s`,
    );
  }
  const backend = run.windows.find((w) => w.backend !== undefined)?.backend;
  if (backend !== undefined) notes.push(`backend: ${backend}`);
  const best = bestNaive(s, run.majorityBaseline);
  notes.push(
    `ML accuracy ${pct(s.accuracy)} on ${s.resolved.toLocaleString('en-US')} outcomes vs ${pct(best.accuracy)} for the best naive baseline ` +
      `(${best.name}); ROC AUC ${run.rocAuc === null ? 'n/a' : run.rocAuc.toFixed(4)}; ` +
      `Brier ${s.brierScore === null ? 'n/a' : s.brierScore.toFixed(4)} vs ${s.baseRateBrier === null ? 'n/a' : s.baseRateBrier.toFixed(4)} for the base rate`,
  );
  if (tracker !== undefined) notes.push(`tracker: ${s.count.toLocaleString('en-US')} predictions in ${tracker.file}`);
  return { result: run.result, notes };
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);

export function register(program: Command): void {
  const cmd = program
    .command('backtest')
    .description(
      'replay candles through a strategy with simulated fills, fees and slippage; write result.json and report.html',
    )
    .option('--data <files...>', 'candle files (CSV or ccxt JSON), one per symbol; default: the synthetic market')
    .option('--synthetic', 'use the built-in synthetic market (20,000 1h candles, seed 42)')
    .option(
      '--strategy <name>',
      `strategy: ${Object.entries(BACKTEST_STRATEGIES)
        .map(([k, f]) => `${k} (${f.description})`)
        .join('; ')}`,
      'sma',
    )
    .option('--fast <n>', 'SMA fast period', numberOption('fast'), 10)
    .option('--slow <n>', 'SMA slow period', numberOption('slow'), 30)
    .option('--mode <mode>', `SMA mode: ${MODES.join(' or ')} (long-short allows shorts)`, 'long-only')
    .option(
      '--fraction <f>',
      `position size per symbol as a fraction of equity (default: sma 1 / symbols, ml ${ML_STRATEGY_DEFAULTS.fraction})`,
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
    .option(
      '--train-window <n>',
      `ml: samples (about one per candle) each walk-forward model trains on (default ${WALK_FORWARD_DEFAULTS.trainWindow})`,
      integerOption('train-window', 10),
    )
    .option(
      '--test-window <n>',
      `ml: samples each model then predicts and trades (default ${WALK_FORWARD_DEFAULTS.testWindow})`,
      integerOption('test-window', 1),
    )
    .option(
      '--horizon <n>',
      `ml: candles ahead the labels look; also the embargo (default ${WALK_FORWARD_DEFAULTS.horizon})`,
      integerOption('horizon', 1),
    )
    .option(
      '--min-confidence <x>',
      `ml: minimum confidence |p - 0.5| * 2 to trade (default 0 with the cost gate, ${ML_STRATEGY_DEFAULTS.threshold} without)`,
      numberOption('min-confidence'),
    )
    .option(
      '--no-cost-gate',
      'ml: trade on confidence alone; by default a call trades only when its expected return over the horizon beats the round trip (fees and slippage) by --cost-margin',
    )
    .option(
      '--cost-margin <x>',
      `ml: how far above the round trip the expected return must be (default ${ML_STRATEGY_DEFAULTS.costMargin} = 50%)`,
      numberOption('cost-margin'),
    )
    .option(
      '--workers <n>',
      'ml: worker threads training windows at once (default 1 for logistic, else one per core)',
      integerOption('workers', 1),
    )
    .option('--expanding', 'ml: training windows start at the first candle and grow (default: they slide)')
    .option(
      '--stop-loss <x>',
      'ml: exit at this loss as a fraction of the entry price (0.02 = 2%)',
      numberOption('stop-loss'),
    )
    .option('--take-profit <x>', 'ml: exit at this gain as a fraction (0.05 = 5%)', numberOption('take-profit'))
    .option('--max-hold <n>', 'ml: exit after this many candles in a position', integerOption('max-hold', 1))
    .option('--seed <n>', `ml: training seed (default ${WALK_FORWARD_DEFAULTS.seed})`, integerOption('seed', 0))
    .option(
      '--cache <dir>',
      'ml: reuse the models of unchanged walk-forward windows from this directory (keyed by data, settings and code)',
      DEFAULT_WINDOW_CACHE,
    )
    .option('--no-cache', 'ml: train every window, read and write no cache')
    .option('--model <ref>', 'ml: backtest a registered model NAME[@version] instead of walk-forward training')
    .option('--registry <dir>', registryOptionHelp('ml: model registry of --model'))
    .option('--tracker <file>', 'ml: also write every prediction and outcome to this (new) JSON-lines tracker file');
  addModelOptions(cmd, 'ml: ');
  renamedOption(
    cmd,
    'threshold',
    'min-confidence',
    'a minimum confidence |p - 0.5| * 2 to trade',
    numberOption('threshold'),
  );
  cmd.action(action(runBacktestCommand));
}

/** Where walk-forward window models are cached unless --cache or --no-cache says otherwise. */
export const DEFAULT_WINDOW_CACHE = path.join('.quantflow', 'cache', 'walk-forward');

async function runBacktestCommand(opts: BacktestCommandOptions): Promise<void> {
  const factory = BACKTEST_STRATEGIES[opts.strategy];
  if (factory === undefined) {
    throw new ConfigError(
      `unknown strategy '${opts.strategy}' (available: ${Object.keys(BACKTEST_STRATEGIES).join(', ')})`,
      { field: 'strategy' },
    );
  }
  const data = await loadCandleInput(opts, { neither: 'synthetic' });
  const { symbols, timeframe } = checkSeries(data.series);
  if (opts.strategy !== 'ml') {
    const given = ML_FLAGS.find((k) => opts[k] !== undefined);
    if (given !== undefined) {
      throw new ConfigError(`${flagName(given)} applies to --strategy ml only`, { field: given });
    }
  }

  const config: Partial<BacktestConfig> = {
    initialCash: opts.cash,
    feeRate: opts.fee,
    slippageBps: opts.slippageBps,
    allowShort: opts.allowShort === true,
    fractional: opts.wholeUnits !== true,
    closeAtEnd: opts.closeAtEnd,
    ...factory.config?.(opts),
  };

  let result: BacktestResult;
  let notes: readonly string[] = [];
  if (factory.run !== undefined) {
    const output = await factory.run(opts, {
      series: data.series,
      symbols,
      config,
      maxEquityPoints: opts.maxEquityPoints,
    });
    result = output.result;
    notes = output.notes;
  } else {
    if (factory.create === undefined) {
      throw new ConfigError(`strategy '${opts.strategy}' can be neither created nor run`, { field: 'strategy' });
    }
    const strategy = await factory.create(opts, symbols);
    const total = data.series.reduce((n, s) => n + s.length, 0);
    const progress = total >= 100_000 ? createProgress('backtest', total) : undefined;
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
      ...(result.sections !== undefined ? { sections: result.sections.map(({ chart: _c, ...rest }) => rest) } : {}),
      notes,
      files: written,
    };
    process.stdout.write(
      `${JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`,
    );
    return;
  }
  process.stdout.write(`${renderConsoleSummary(result)}\n\n`);
  for (const line of notes) process.stdout.write(`${line}\n`);
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
