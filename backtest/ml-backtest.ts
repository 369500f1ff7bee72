/**
 * ML backtests through the ordinary engine, with honest out-of-sample
 * predictions and the baselines a model has to beat.
 *
 * `runWalkForward`: one or several series (several: one model for all,
 * pooled training) cut into walk-forward windows (src/models/walk-forward-
 * windows.ts); each window's model learns from its past only and predicts
 * its test window in one batch per series; all test windows are then traded
 * in ONE continuous engine run (the portfolio carries over) by the ML
 * strategy fed those predictions, each window's carrying its own version
 * (`wf-1`, `wf-2`, ...). Windows can be reused from a content-addressed cache
 * (an unchanged rerun trains nothing). A volatility model cannot trade: its
 * forecasts are replayed through the tracker and scored next to the naive one.
 *
 * `runModelBacktest`: one given model (e.g. from the registry) over the data.
 *
 * Both add to the BacktestResult the report sections of ml-report.ts and the
 * trading baselines run through the same engine and costs (buy-and-hold, the
 * SMA crossover and an always-long position at the ML strategy's size).
 */
import { ConfigError } from '../src/core/errors.js';
import type { Logger } from '../src/core/logger.js';
import type { Strategy, StrategyContext } from '../src/core/strategy.js';
import type { Candle } from '../src/core/types.js';
import { toBenchmark } from '../src/engine/metrics.js';
import {
  type BacktestConfig,
  type BacktestResult,
  type BenchmarkResult,
  DEFAULT_BACKTEST_CONFIG,
} from '../src/engine/result.js';
import { runSimulation } from '../src/engine/simulation.js';
import type { FeatureSetSpec } from '../src/features/feature-sets.js';
import { DEFAULT_FEATURE_SET } from '../src/features/feature-sets.js';
import type { ContextSeries } from '../src/features/streaming-extractor.js';
import type { TargetKind } from '../src/features/targets.js';
import type { CalibrationMethod } from '../src/models/calibration.js';
import { type KindOptions, modelKind } from '../src/models/model-kinds.js';
import type { ModelKind, ValidationMetrics } from '../src/models/model-meta.js';
import { modelDataWarnings } from '../src/models/model-warnings.js';
import { PrecomputedPredictor, seriesInputs } from '../src/models/precomputed-predictor.js';
import type { Predictor } from '../src/models/predictor.js';
import { defaultThreads } from '../src/models/thread-pool.js';
import { DEFAULT_MODEL_KIND } from '../src/models/train.js';
import { packSeries, type WindowTask, windowPool } from '../src/models/walk-forward-task.js';
import {
  cachedWalkForwardWindow,
  predictRange,
  type TrainedWindow,
  trainWalkForwardWindow,
  type WalkForwardLayout,
  type WindowPlan,
  walkForwardLayout,
  walkForwardModelVersion,
} from '../src/models/walk-forward-windows.js';
import { WindowCache } from '../src/models/window-cache.js';
import { PredictionTracker } from '../src/tracking/prediction-tracker.js';
import type { TrackedPrediction, TrackerStats } from '../src/tracking/types.js';
import { AlwaysLong } from '../strategies/always-long.js';
import { MlStrategy, type MlStrategyOptions } from '../strategies/ml-strategy.js';
import { SmaCrossover } from '../strategies/sma-crossover.js';
import { isoTime } from './format.js';
import { type MlReportInput, mlSections, type ResolvedPrediction, resolvedAuc } from './ml-report.js';
import { checkSeries, runBacktest } from './run-backtest.js';

/** The ML strategy's trading options (its predictor and tracker are supplied by the harness). */
export type MlTradingOptions = Omit<MlStrategyOptions, 'predictor' | 'tracker'>;

/**
 * Defaults of the walk-forward backtest, chosen on files other than the ones
 * the README reports on (see the README's "Predictions worth acting on").
 */
export const WALK_FORWARD_DEFAULTS = {
  trainWindow: 4000,
  testWindow: 1000,
  horizon: 1,
  featureSet: DEFAULT_FEATURE_SET,
  target: 'direction' as TargetKind,
  lookback: 1,
  kind: DEFAULT_MODEL_KIND,
  /** Early-stopping rows of kinds that stop early (the MLP). */
  validationFraction: 0.2,
  /** Of each training window, when its model is calibrated (the kind's default calibration, or --calibration). */
  calibrationFraction: 0.2,
  seed: 42,
  network: { layers: [32, 16], epochs: 20, batchSize: 256, learningRate: 0.001, earlyStopping: { patience: 3 } },
} as const;

export interface MlBacktestCommon {
  readonly strategy?: MlTradingOptions;
  /** Merged over DEFAULT_BACKTEST_CONFIG; shorts are allowed when the strategy allows them. */
  readonly config?: Partial<BacktestConfig>;
  /** Receives every prediction and outcome (default: a fresh in-memory tracker). Should hold nothing else. */
  readonly tracker?: PredictionTracker;
  /** Run buy-and-hold, SMA and always-long through the same engine (default true). */
  readonly benchmarks?: boolean;
  readonly maxEquityPoints?: number;
  /** Progress of the trading run: (candles done, total). */
  readonly progress?: (done: number, total: number) => void;
  readonly logger?: Logger;
}

export interface WalkForwardOptions extends MlBacktestCommon, KindOptions {
  /** One symbol's candles, in time order (or `series`). */
  readonly candles?: readonly Candle[];
  /** Several symbols' candles: one model per window for all of them (pooled training). */
  readonly series?: readonly (readonly Candle[])[];
  /** Candles of the feature set's context symbols. */
  readonly context?: ContextSeries;
  /** Timeline steps (about one per candle) each model trains on (default 4000). */
  readonly trainWindow?: number;
  /** Steps each model is tested and traded on (default 1000); the last window may be shorter. */
  readonly testWindow?: number;
  /** Candles ahead the labels look; also the embargo in steps (default 1). */
  readonly horizon?: number;
  readonly featureSet?: FeatureSetSpec;
  readonly target?: TargetKind;
  /** Direction: leave training rows with |return| <= this out (default 0). */
  readonly labelThreshold?: number;
  readonly lookback?: number;
  readonly kind?: ModelKind;
  /** Fraction of each training window held out (after an embargo) for early stopping, by kinds that stop early. */
  readonly validationFraction?: number;
  /** Fraction at the end of each training window its calibration is fitted on (default 0.2; 0 for an uncalibrated direction model). */
  readonly calibrationFraction?: number;
  /** Default: the kind's ('none' for logistic, whose fit is calibrated by its loss; 'platt' for the others). */
  readonly calibration?: CalibrationMethod | 'none';
  /** Training windows start at the first step and grow (default false: sliding). */
  readonly expanding?: boolean;
  /** Seed of every window's training (default 42). */
  readonly seed?: number;
  /** Reuse window models by content: a cache directory, or a WindowCache (default: none). */
  readonly cache?: string | WindowCache;
  /**
   * Worker threads training windows at once (default: 1 for the logistic
   * kind, whose windows train in milliseconds, else one per core).
   */
  readonly workers?: number;
  /** Called with (0, total) before the first window, then after each window's model has trained and predicted. */
  readonly onWindow?: (done: number, total: number) => void;
}

/** A window's plan and the model that predicts it, before trading. */
export interface MlWindowPlan extends WindowPlan {
  /** Model version its predictions carry ('wf-3'; the model's own version for a single model). */
  readonly modelVersion: string;
  /** The trained model's exact version ('wf-3@<manifest hash>'). */
  readonly modelId: string;
  readonly validation: ValidationMetrics | undefined;
  readonly epochsRun: number | undefined;
  readonly cached: boolean;
  /** The backend it trained on (absent when read from the cache or given). */
  readonly backend?: string;
}

/** One walk-forward window: what it trained on and what it traded. */
export interface MlWindowReport extends MlWindowPlan {
  /** Tracker scores of this window's predictions (after the run). */
  readonly stats: TrackerStats;
  /** Accuracy of always calling the training window's majority class on this window's outcomes. */
  readonly majorityBaseline: number | null;
}

export interface MlBacktestResult {
  /** Metrics, benchmarks (buy-and-hold, SMA, always-long) and the ML report sections. */
  readonly result: BacktestResult;
  readonly windows: readonly MlWindowReport[];
  /** Tracker scores over every window. */
  readonly stats: TrackerStats;
  /** ROC AUC of every resolved prediction (null without both outcomes). */
  readonly rocAuc: number | null;
  /** Accuracy of calling each training window's majority class, over all windows (null for a single model). */
  readonly majorityBaseline: number | null;
  readonly tracker: PredictionTracker;
  readonly predictions: PrecomputedPredictor;
  /** Candle indices [start, end) of each series that were traded. */
  readonly traded: readonly (readonly [number, number])[];
  /** Seconds spent training (walk-forward) and trading; windows read from the cache. */
  readonly timings: { readonly trainSeconds: number; readonly tradeSeconds: number; readonly cachedWindows: number };
}

function positiveInt(value: number, field: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${field} must be an integer >= ${min}, got ${value}`, { field });
  }
  return value;
}

function fraction(value: number, field: string): number {
  if (!(value >= 0 && value < 1)) throw new ConfigError(`${field} must be in [0, 1), got ${value}`, { field });
  return value;
}

const key = (symbol: string, timestamp: number) => `${symbol}\u0000${timestamp}`;

/** Walk-forward: train per window on the past only, trade all test windows in one run. */
export async function runWalkForward(options: WalkForwardOptions): Promise<MlBacktestResult> {
  const d = WALK_FORWARD_DEFAULTS;
  const series = options.series ?? (options.candles !== undefined ? [options.candles] : []);
  if (series.length === 0 || series.some((s) => s.length === 0)) {
    throw new ConfigError('no candles for the walk-forward backtest', { field: 'candles' });
  }
  checkSeries(series);
  const trainWindow = positiveInt(options.trainWindow ?? d.trainWindow, 'trainWindow', 10);
  const testWindow = positiveInt(options.testWindow ?? d.testWindow, 'testWindow');
  const horizon = positiveInt(options.horizon ?? d.horizon, 'horizon');
  const lookback = positiveInt(options.lookback ?? d.lookback, 'lookback');
  const target = options.target ?? d.target;
  const validationFraction = fraction(options.validationFraction ?? d.validationFraction, 'validationFraction');
  const seed = options.seed ?? d.seed;
  const kind = options.kind ?? d.kind;
  const calibration = options.calibration ?? modelKind(kind).defaultCalibration;
  // An uncalibrated direction model fits on the rows calibration would take; regression targets always use them.
  const calibrationFraction = fraction(
    options.calibrationFraction ?? (target === 'direction' && calibration === 'none' ? 0 : d.calibrationFraction),
    'calibrationFraction',
  );

  const layout = walkForwardLayout(
    series,
    {
      featureSet: options.featureSet ?? d.featureSet,
      target,
      horizon,
      lookback,
      labelThreshold: options.labelThreshold ?? 0,
      trainWindow,
      testWindow,
      expanding: options.expanding === true,
    },
    options.context,
  );
  if (layout.splits.length === 0) {
    const rows = layout.series.map((s) => s.ds.rows).join(' + ');
    throw new ConfigError(
      `${series.reduce((n, s) => n + s.length, 0)} candles give ${rows} samples (${layout.timeline.length} distinct times): ` +
        `too few for a ${trainWindow}-step training window and a ${horizon}-step embargo (lower --train-window / --test-window)`,
      { field: 'trainWindow' },
    );
  }
  const cache = typeof options.cache === 'string' ? new WindowCache(options.cache) : options.cache;
  const predictions = new PrecomputedPredictor({ horizon });
  const raw = new Map<string, number>();
  const forecasts = new Map<string, number>();
  const windows = layout.splits.length;
  options.onWindow?.(0, windows);
  const started = performance.now();
  const training: WindowTask['options'] = {
    kind,
    seed,
    validationFraction,
    calibrationFraction,
    calibration,
    // Models dated by their data, not the clock: the same window gives the same files wherever it trains.
    dataTime: true,
    network: { ...d.network, ...options.network },
    ...(options.linear !== undefined ? { linear: options.linear } : {}),
    ...(options.python !== undefined ? { python: options.python } : {}),
    ...(options.gbdt !== undefined ? { gbdt: options.gbdt } : {}),
  };
  const workers = Math.min(windows, options.workers ?? (kind === 'logistic' ? 1 : defaultThreads()));
  let done = 0;
  const progress = (t: TrainedWindow) => {
    options.onWindow?.(++done, windows);
    return t;
  };
  const inMainThread = {
    ...training,
    ...(cache !== undefined ? { cache } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  };
  const trainedWindows: (TrainedWindow | undefined)[] = new Array(windows).fill(undefined);
  // Cached windows load here: worker threads (slow to start) only for windows that must train.
  if (workers > 1 && cache !== undefined) {
    for (let k = 1; k <= windows; k++) {
      const hit = await cachedWalkForwardWindow(layout, k, { ...inMainThread, cache });
      if (hit !== undefined) trainedWindows[k - 1] = progress(hit);
    }
  }
  const missing = trainedWindows.flatMap((t, i) => (t === undefined ? [i + 1] : []));
  if (Math.min(workers, missing.length) > 1) {
    const pool = windowPool(Math.min(workers, missing.length));
    try {
      const task = {
        series: packSeries(series),
        context: options.context === undefined ? undefined : packSeries([...options.context.values()]),
        settings: layout.settings,
        options: training,
        cacheDir: cache?.dir,
      };
      await Promise.all(
        missing.map((k) =>
          pool.run({ ...task, index: k }).then((t: TrainedWindow) => {
            trainedWindows[k - 1] = progress(t);
          }),
        ),
      );
    } finally {
      await pool.destroy();
    }
  } else {
    for (const k of missing) trainedWindows[k - 1] = progress(await trainWalkForwardWindow(layout, k, inMainThread));
  }
  const plans: MlWindowPlan[] = [];
  let cachedWindows = 0;
  for (const trained of trainedWindows as TrainedWindow[]) {
    const k = trained.plan.index;
    trained.plan.series.forEach((sp, s) => {
      if (target !== 'volatility') {
        predictions.addPredictions(layout.series[s]!.candles, trained.predictions[s]!, {
          from: sp.testCandles[0],
          modelVersion: walkForwardModelVersion(k),
        });
      }
      const candles = layout.series[s]!.candles;
      for (let i = sp.testCandles[0]; i < sp.testCandles[1]; i++) {
        const r = trained.rawProbabilities[s]![i - sp.testCandles[0]];
        if (r !== null && r !== undefined) raw.set(key(sp.symbol, candles[i]!.timestamp), r);
        const f = trained.forecasts[s]![i - sp.testCandles[0]];
        if (f !== null && f !== undefined) forecasts.set(key(sp.symbol, candles[i]!.timestamp), f);
      }
    });
    if (trained.model.cached) cachedWindows++;
    plans.push({
      ...trained.plan,
      modelVersion: walkForwardModelVersion(k),
      modelId: trained.model.id,
      validation: trained.model.validation,
      epochsRun: trained.model.epochsRun,
      cached: trained.model.cached,
      ...(trained.model.backend !== undefined ? { backend: trained.model.backend } : {}),
    });
  }
  const trainSeconds = (performance.now() - started) / 1000;
  const ranges = layout.series.map(
    (_, s) => [plans[0]!.series[s]!.testCandles[0], plans.at(-1)!.series[s]!.testCandles[1]] as const,
  );
  const tf = series[0]![0]!.timeframe;
  return tradeMl({
    ...options,
    series,
    ranges,
    predictions,
    raw,
    plans,
    trainSeconds,
    cachedWindows,
    walkForward: true,
    calibration,
    ...(target === 'volatility' ? { volatility: { layout, forecasts } } : {}),
    title:
      `walk-forward: ${plans.length} windows (${kind}, ${target}), train ${trainWindow} / test ${testWindow} steps ` +
      `of ${tf}, horizon ${horizon}, embargo ${horizon}` +
      (series.length > 1 ? `, one model for ${layout.series.map((s) => s.symbol).join(', ')}` : ''),
  });
}

export interface ModelBacktestOptions extends MlBacktestCommon {
  /** One candle array per symbol. */
  readonly candles: readonly (readonly Candle[])[];
  /** The model (e.g. `loadPredictor(registry, 'btc-1h@v3')`); the caller disposes it. */
  readonly predictor: Predictor;
  /** Candles of the model's context symbols. */
  readonly context?: ContextSeries;
}

/** One model over the whole data (no retraining): batch predictions, one engine run, the same report. */
export async function runModelBacktest(options: ModelBacktestOptions): Promise<MlBacktestResult> {
  const { symbols } = checkSeries(options.candles);
  const predictor = options.predictor;
  const meta = predictor.meta;
  const predictions = new PrecomputedPredictor({ horizon: meta.label.horizon });
  const raw = new Map<string, number>();
  for (const candles of options.candles) {
    const inputs = seriesInputs(candles, meta.featureSchema, meta.lookback, options.context);
    await predictions.addSeries(predictor, candles, { inputs });
    const out = await predictRange(predictor, { candles, inputs }, 0, candles.length, predictor.modelVersion);
    out.raw.forEach((r, i) => {
      if (r !== null) raw.set(key(candles[i]!.symbol, candles[i]!.timestamp), r);
    });
  }
  const start = Math.min(...options.candles.map((s) => (s[0] as Candle).timestamp));
  const end = Math.max(...options.candles.map((s) => (s[s.length - 1] as Candle).timestamp));
  const plan: MlWindowPlan = {
    index: 1,
    modelVersion: predictor.modelVersion,
    modelId: predictor.modelVersion,
    trainRows: [0, meta.training.trainRows],
    fitRows: meta.training.trainRows,
    validationRows: 0,
    calibrationRows: meta.calibration?.rows ?? 0,
    series: options.candles.map((s) => ({
      symbol: s[0]!.symbol,
      trainCandles: [-1, -1] as const,
      lastLabelCandle: -1,
      testCandles: [0, s.length] as const,
    })),
    testFrom: start,
    testTo: end,
    trainUpRate: meta.training.upRate ?? null,
    validation: meta.validation,
    epochsRun: undefined,
    cached: false,
  };
  return tradeMl({
    ...options,
    series: options.candles,
    ranges: options.candles.map((s) => [0, s.length] as const),
    predictions,
    raw,
    plans: [plan],
    trainSeconds: 0,
    cachedWindows: 0,
    walkForward: false,
    calibration: meta.calibration?.method ?? 'none',
    title:
      `model ${predictor.modelVersion} (${meta.kind}, ${meta.training.symbol} ${meta.training.timeframe}, trained on ` +
      `${isoTime(meta.training.from)} → ${isoTime(meta.training.to)}) on ${symbols.join(', ')}`,
    warnings: modelDataWarnings(predictor, options.candles),
  });
}

export interface TradePredictionsInput extends MlBacktestCommon {
  readonly series: readonly (readonly Candle[])[];
  /** Candle range [start, end) traded per series. */
  readonly ranges: readonly (readonly [number, number])[];
  readonly predictions: PrecomputedPredictor;
  readonly plans: readonly MlWindowPlan[];
  /** Instead of the ML strategy (e.g. replaying volatility forecasts into the tracker). */
  readonly replay?: (tracker: PredictionTracker) => Strategy;
}

export interface TradedPredictions {
  /** The engine run, with the buy-and-hold benchmark unless `benchmarks` is false. */
  readonly result: BacktestResult;
  readonly windows: MlWindowReport[];
  /** Tracker scores over every window. */
  readonly stats: TrackerStats;
  readonly tracker: PredictionTracker;
  /** The strategy's size and side rules, for the trading baselines. */
  readonly fraction: number;
  readonly allowShort: boolean;
  readonly threshold: number;
  /** The run's config as given to the engine (shorts allowed when the strategy allows them). */
  readonly config: Partial<BacktestConfig>;
  /** The candles traded, per series. */
  readonly trading: readonly (readonly Candle[])[];
  readonly tradeSeconds: number;
}

/**
 * Trades precomputed predictions in ONE engine run over the given ranges (the
 * portfolio carries over from window to window) with the ML strategy, the
 * tracker scoring every prediction; then each window's scores and its
 * majority-class baseline.
 */
export async function tradePredictions(input: TradePredictionsInput): Promise<TradedPredictions> {
  const tracker = input.tracker ?? new PredictionTracker();
  const ml = new MlStrategy({ ...input.strategy, predictor: input.predictions, tracker });
  const strategy = input.replay?.(tracker) ?? ml;
  const config: Partial<BacktestConfig> = {
    ...input.config,
    ...(ml.allowShort ? { allowShort: true } : {}),
  };
  const trading = input.series.map((s, i) => s.slice(input.ranges[i]![0], input.ranges[i]![1]));
  const t0 = performance.now();
  const result = await runBacktest({
    strategy,
    candles: trading,
    config,
    ...(input.maxEquityPoints !== undefined ? { maxEquityPoints: input.maxEquityPoints } : {}),
    ...(input.progress !== undefined ? { progress: input.progress } : {}),
    ...(input.logger !== undefined ? { log: input.logger } : {}),
    benchmarks: input.benchmarks !== false,
  });
  // The last predictions resolve from the candles after the traded range (trading is over: no look-ahead).
  const horizon = input.predictions.horizon;
  input.series.forEach((s, i) => {
    const end = input.ranges[i]![1];
    for (let j = end; j < Math.min(s.length, end + horizon); j++) tracker.onCandle(s[j]!);
  });
  const tradeSeconds = (performance.now() - t0) / 1000;
  const windows: MlWindowReport[] = input.plans.map((plan) => {
    const stats = tracker.stats({ modelVersion: plan.modelVersion });
    const b = stats.baseRate;
    const majorityBaseline =
      b === null ? null : plan.trainUpRate === null ? stats.noSkillAccuracy : plan.trainUpRate >= 0.5 ? b : 1 - b;
    return { ...plan, stats, majorityBaseline };
  });
  return {
    result,
    windows,
    stats: tracker.stats(),
    tracker,
    fraction: ml.fraction,
    allowShort: ml.allowShort,
    threshold: ml.threshold,
    config,
    trading,
    tradeSeconds,
  };
}

/** Weighted majority-class baseline over windows (by resolved outcomes). */
export function overallMajority(windows: readonly MlWindowReport[]): number | null {
  let n = 0;
  let hits = 0;
  for (const w of windows) {
    if (w.majorityBaseline === null) continue;
    n += w.stats.resolved;
    hits += w.majorityBaseline * w.stats.resolved;
  }
  return n > 0 ? hits / n : null;
}

/** Fees and slippage of an entry and its exit, as a fraction of the notional. */
export function roundTripCost(config: Partial<BacktestConfig>): number {
  const c = { ...DEFAULT_BACKTEST_CONFIG, ...config };
  return 2 * (c.feeRate + c.slippageBps / 10_000);
}

/** Records each candle's volatility forecast in the tracker as the candles replay; trades nothing. */
function volatilityReplay(layout: WalkForwardLayout, forecasts: ReadonlyMap<string, number>) {
  const { horizon } = layout.settings;
  const naive = new Map<string, number>();
  for (const s of layout.series) {
    s.candles.forEach((c, i) => {
      naive.set(key(c.symbol, c.timestamp), s.inputs.volatility[i]! * Math.sqrt(horizon));
    });
  }
  return (tracker: PredictionTracker): Strategy => ({
    name: 'volatility forecasts',
    onCandle(candle: Candle, _ctx: StrategyContext) {
      tracker.onCandle(candle);
      const k = key(candle.symbol, candle.timestamp);
      const value = forecasts.get(k);
      if (value === undefined) return;
      tracker.record({
        symbol: candle.symbol,
        modelVersion: `wf-${windowOf(layout, candle.timestamp)}`,
        timestamp: candle.timestamp,
        horizon,
        price: candle.close,
        forecast: { target: 'volatility', value, naive: naive.get(k)! },
      });
    },
  });
}

/** The 1-based window whose test period holds time `t`. */
function windowOf(layout: WalkForwardLayout, t: number): number {
  let k = 1;
  for (let i = 0; i < layout.splits.length; i++) if (layout.timeline[layout.splits[i]!.testStart]! <= t) k = i + 1;
  return k;
}

interface TradeMlInput extends TradePredictionsInput {
  readonly trainSeconds: number;
  readonly cachedWindows: number;
  readonly title: string;
  readonly warnings?: readonly string[];
  /** Windows trained by the harness (a majority class per training window is known). */
  readonly walkForward: boolean;
  readonly raw: ReadonlyMap<string, number>;
  readonly calibration: string;
  readonly volatility?: { readonly layout: WalkForwardLayout; readonly forecasts: ReadonlyMap<string, number> };
}

/** `tradePredictions`, then the SMA and always-long benchmarks and the ML report sections. */
async function tradeMl(input: TradeMlInput): Promise<MlBacktestResult> {
  const tracker = input.tracker ?? new PredictionTracker();
  const resolved: ResolvedPrediction[] = [];
  const onResolved = (t: TrackedPrediction) => {
    if ((t.outcome === 0 || t.outcome === 1) && t.prediction !== null) {
      resolved.push({
        p: t.prediction,
        raw: input.raw.get(key(t.symbol, t.timestamp)) ?? null,
        y: t.outcome,
        move: t.price !== null && t.closePrice !== null ? Math.abs(Math.log(t.closePrice / t.price)) : 0,
      });
    }
  };
  tracker.on('resolved', onResolved);
  let traded: TradedPredictions;
  try {
    traded = await tradePredictions({
      ...input,
      tracker,
      ...(input.volatility !== undefined
        ? { replay: volatilityReplay(input.volatility.layout, input.volatility.forecasts) }
        : {}),
    });
  } finally {
    tracker.off('resolved', onResolved);
  }
  const { result, windows, stats, config, trading } = traded;

  const benchmarks: BenchmarkResult[] = [...result.benchmarks];
  if (input.benchmarks !== false) {
    const full: BacktestConfig = { ...DEFAULT_BACKTEST_CONFIG, ...config };
    const sma = new SmaCrossover({ fraction: traded.fraction, mode: traded.allowShort ? 'long-short' : 'long-only' });
    benchmarks.push(
      toBenchmark(`${sma.name} at ${traded.fraction}`, (await runSimulation(trading, sma, full)).metrics),
    );
    const long = new AlwaysLong({ fraction: traded.fraction });
    benchmarks.push(toBenchmark(long.name, (await runSimulation(trading, long, full)).metrics));
  }
  const majority = input.walkForward ? overallMajority(windows) : null;
  const report: MlReportInput = {
    title: input.title,
    warnings: input.warnings ?? [],
    stats,
    majorityBaseline: majority,
    resolved,
    predictions: input.predictions.predictions(),
    windows: windows.map((w) => ({
      label: w.modelVersion,
      testFrom: w.testFrom,
      testTo: w.testTo,
      stats: w.stats,
      majorityBaseline: w.majorityBaseline,
      fitRows: w.fitRows,
      calibrationRows: w.calibrationRows,
      cached: w.cached,
    })),
    walkForward: input.walkForward,
    threshold: traded.threshold,
    roundTripCost: roundTripCost(config),
    trades: input.volatility !== undefined ? [] : result.trades,
    calibration: input.calibration,
    forecastsOnly: input.volatility !== undefined,
  };
  const sections = mlSections(report);
  const auc = resolvedAuc(resolved);
  return {
    result: { ...result, benchmarks, sections: [...(result.sections ?? []), ...sections] },
    windows,
    stats,
    rocAuc: auc,
    majorityBaseline: majority,
    tracker,
    predictions: input.predictions,
    traded: input.ranges,
    timings: {
      trainSeconds: input.trainSeconds,
      tradeSeconds: traded.tradeSeconds,
      cachedWindows: input.cachedWindows,
    },
  };
}
