/**
 * ML backtests through the ordinary engine, with honest out-of-sample
 * predictions and the baselines a model has to beat.
 *
 * `runWalkForward`: the series becomes a dataset (streaming features, labels
 * `horizon` candles ahead) cut into walk-forward windows (walkForwardSplits):
 * each window's model is fitted (`fitOnDataset`, seeded) on its past training
 * rows only, the last `horizon` rows before the test period are left out (the
 * embargo, so no training label reaches into it), and the model predicts its
 * test window in one batch. All test windows are then traded in ONE
 * continuous engine run (the portfolio carries over) by the ML strategy fed
 * those precomputed predictions; each window's predictions carry their own
 * model version (`wf-1`, `wf-2`, ...). Its pieces are shared with the sweep
 * (src/sweep), which runs the windows as separate jobs: `walkForwardLayout`
 * (dataset and windows), `trainWalkForwardWindow` (one window's model and test
 * predictions) and `tradePredictions` (the one engine run and the per-window
 * scores).
 *
 * `runModelBacktest`: one given model (e.g. from the registry) over the data.
 *
 * Both add to the BacktestResult: the prediction tracker's scores (accuracy,
 * precision, recall, F1, Brier, log loss, per window and overall) next to the
 * no-skill baselines (majority class, always up), the trading baselines run
 * through the same engine and costs (buy-and-hold, the SMA crossover and an
 * always-long position at the ML strategy's size), a histogram of predicted
 * probabilities and a calibration plot.
 */

import { ConfigError, DataError } from '../src/core/errors.js';
import type { Logger } from '../src/core/logger.js';
import type { Candle, Prediction } from '../src/core/types.js';
import { toBenchmark } from '../src/engine/metrics.js';
import {
  type BacktestConfig,
  type BacktestResult,
  type BenchmarkResult,
  DEFAULT_BACKTEST_CONFIG,
  type ReportSection,
} from '../src/engine/result.js';
import { runSimulation } from '../src/engine/simulation.js';
import { buildDataset, type Dataset, sliceDataset } from '../src/features/dataset.js';
import { splitTail, type WalkForwardWindow, walkForwardSplits } from '../src/features/dataset-splits.js';
import type { FeatureSetName } from '../src/features/feature-schema.js';
import type { CalibrationMethod } from '../src/models/calibration.js';
import type { LinearOptions } from '../src/models/linear-model.js';
import { modelKind } from '../src/models/model-kinds.js';
import type { ModelKind, ValidationMetrics } from '../src/models/model-meta.js';
import { PrecomputedPredictor, type SeriesInputs, seriesInputs } from '../src/models/precomputed-predictor.js';
import type { Predictor } from '../src/models/predictor.js';
import {
  DEFAULT_MODEL_KIND,
  type FitResult,
  fitOnDataset,
  hashCandles,
  type NetworkOptions,
} from '../src/models/train.js';
import { PredictionTracker } from '../src/tracking/prediction-tracker.js';
import type { TrackedPrediction, TrackerStats } from '../src/tracking/types.js';
import { AlwaysLong } from '../strategies/always-long.js';
import { MlStrategy, type MlStrategyOptions } from '../strategies/ml-strategy.js';
import { SmaCrossover } from '../strategies/sma-crossover.js';
import { isoTime } from './format.js';
import { checkSeries, runBacktest } from './run-backtest.js';

/** The ML strategy's trading options (its predictor and tracker are supplied by the harness). */
export type MlTradingOptions = Omit<MlStrategyOptions, 'predictor' | 'tracker'>;

/** Defaults of the walk-forward backtest: quick enough for `quantflow backtest --strategy ml` on 20,000 candles. */
export const WALK_FORWARD_DEFAULTS = {
  trainWindow: 4000,
  testWindow: 2000,
  horizon: 1,
  featureSet: 'relative' as FeatureSetName,
  lookback: 1,
  validationFraction: 0.2,
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

export interface WalkForwardOptions extends MlBacktestCommon {
  /** One symbol's candles, in time order. */
  readonly candles: readonly Candle[];
  /** Dataset rows (about one per candle) each model trains on (default 4000). */
  readonly trainWindow?: number;
  /** Rows each model is tested and traded on (default 2000). */
  readonly testWindow?: number;
  /** Candles ahead the labels look; also the embargo in rows (default 1). */
  readonly horizon?: number;
  readonly featureSet?: FeatureSetName;
  readonly lookback?: number;
  /** Last fraction of each training window held out (after an embargo) for early stopping; 0 = none (default 0.2). */
  readonly validationFraction?: number;
  /** Training windows start at row 0 and grow (default false: sliding). */
  readonly expanding?: boolean;
  /** Network and optimiser (merged over WALK_FORWARD_DEFAULTS.network). */
  readonly network?: NetworkOptions;
  /** Model kind of every window (default DEFAULT_MODEL_KIND). */
  readonly kind?: ModelKind;
  readonly linear?: LinearOptions;
  /** Calibration of each window's probabilities (default 'platt'), fitted on the end of its training window. */
  readonly calibration?: CalibrationMethod | 'none';
  /** Fraction of each training window its calibration is fitted on (default 0.2). */
  readonly calibrationFraction?: number;
  /** Seed of every window's training (default 42). */
  readonly seed?: number;
  /** Called with (0, total) before the first window, then after each window's model has trained and predicted. */
  readonly onWindow?: (done: number, total: number) => void;
}

/** Where one walk-forward window trained and what it predicts and trades. Candle ranges index the input series. */
export interface WindowPlan {
  /** Dataset rows [start, end) of the training window (validation rows included). */
  readonly trainRows: readonly [number, number];
  readonly fitRows: number;
  readonly validationRows: number;
  /** Candle indices [first, last] of the training rows. */
  readonly trainCandles: readonly [number, number];
  /** The last candle any training label looks at: last training candle + horizon. */
  readonly lastLabelCandle: number;
  /** Candle indices [start, end) predicted and traded. */
  readonly testCandles: readonly [number, number];
  readonly testFrom: number;
  readonly testTo: number;
  /** Share of "up" labels in the training window; its majority class is the majority baseline (null: not trained here). */
  readonly trainUpRate: number | null;
}

/** A window's plan and the model that predicts it, before trading. */
export interface MlWindowPlan extends WindowPlan {
  /** 1-based. */
  readonly index: number;
  /** Model version its predictions carry ('wf-3'; the model's own version for a single model). */
  readonly modelVersion: string;
  /** The trained model's exact version ('wf-3@<manifest hash>'). */
  readonly modelId: string;
  readonly validation: ValidationMetrics | undefined;
  readonly epochsRun: number | undefined;
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
  readonly tracker: PredictionTracker;
  readonly predictions: PrecomputedPredictor;
  /** Candle indices [start, end) of each series that were traded. */
  readonly traded: readonly (readonly [number, number])[];
  /** Seconds spent training (walk-forward) and trading. */
  readonly timings: { readonly trainSeconds: number; readonly tradeSeconds: number };
}

function positiveInt(value: number, field: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${field} must be an integer >= ${min}, got ${value}`, { field });
  }
  return value;
}

/** Walk-forward: train per window on the past only, trade all test windows in one run. */
export async function runWalkForward(options: WalkForwardOptions): Promise<MlBacktestResult> {
  const d = WALK_FORWARD_DEFAULTS;
  const candles = options.candles;
  if (candles.length === 0) throw new ConfigError('no candles for the walk-forward backtest', { field: 'candles' });
  checkSeries([candles]);
  const trainWindow = positiveInt(options.trainWindow ?? d.trainWindow, 'trainWindow', 10);
  const testWindow = positiveInt(options.testWindow ?? d.testWindow, 'testWindow');
  const horizon = positiveInt(options.horizon ?? d.horizon, 'horizon');
  const lookback = positiveInt(options.lookback ?? d.lookback, 'lookback');
  const validationFraction = options.validationFraction ?? d.validationFraction;
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw new ConfigError(`validationFraction must be in [0, 1), got ${validationFraction}`, {
      field: 'validationFraction',
    });
  }
  const seed = options.seed ?? d.seed;
  const network: NetworkOptions = { ...d.network, ...options.network };

  const layout = walkForwardLayout(candles, {
    featureSet: options.featureSet ?? d.featureSet,
    horizon,
    lookback,
    trainWindow,
    testWindow,
    expanding: options.expanding === true,
  });
  const { ds, splits } = layout;
  if (splits.length === 0) {
    throw new ConfigError(
      `${candles.length} candles give ${ds.rows} samples: too few for a ${trainWindow}-row training window, ` +
        `a ${horizon}-row embargo and a ${testWindow}-row test window (lower --train-window / --test-window)`,
      { field: 'trainWindow' },
    );
  }
  const inputs = seriesInputs(candles, ds.schema, lookback);
  const predictions = new PrecomputedPredictor({ horizon });
  options.onWindow?.(0, splits.length);
  const plans: MlWindowPlan[] = [];
  const started = performance.now();
  for (let k = 1; k <= splits.length; k++) {
    const trained = await trainWalkForwardWindow(candles, layout, k, {
      inputs,
      validationFraction,
      seed,
      network,
      ...(options.kind !== undefined ? { kind: options.kind } : {}),
      ...(options.linear !== undefined ? { linear: options.linear } : {}),
      calibration: options.calibration ?? 'platt',
      calibrationFraction: options.calibrationFraction ?? 0.2,
      predictions,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
    plans.push(trained.window);
    options.onWindow?.(k, splits.length);
  }
  const trainSeconds = (performance.now() - started) / 1000;
  const tradeStart = plans[0]!.testCandles[0];
  const tradeEnd = plans[plans.length - 1]!.testCandles[1];
  return tradeMl({
    ...options,
    series: [candles],
    ranges: [[tradeStart, tradeEnd]],
    predictions,
    plans,
    trainSeconds,
    walkForward: true,
    title: `walk-forward: ${plans.length} windows, train ${trainWindow} / test ${testWindow} rows, horizon ${horizon}, embargo ${horizon}`,
  });
}

/** What fixes a series' walk-forward windows. */
export interface WalkForwardSettings {
  readonly featureSet: FeatureSetName;
  /** Candles ahead the labels look; also the embargo in rows. */
  readonly horizon: number;
  readonly lookback: number;
  readonly trainWindow: number;
  readonly testWindow: number;
  /** Training windows start at row 0 and grow (else they slide). */
  readonly expanding: boolean;
}

/** The dataset of a series and its walk-forward windows (dataset rows). */
export interface WalkForwardLayout {
  readonly settings: WalkForwardSettings;
  readonly ds: Dataset;
  readonly splits: readonly WalkForwardWindow[];
}

/** Builds the dataset (streaming features, labels `horizon` ahead) and cuts it into windows with an embargo of `horizon` rows. */
export function walkForwardLayout(candles: readonly Candle[], settings: WalkForwardSettings): WalkForwardLayout {
  const { featureSet, horizon, lookback, trainWindow, testWindow, expanding } = settings;
  const ds = buildDataset(candles, { featureSet, horizon, lookback });
  const splits = walkForwardSplits({
    rows: ds.rows,
    trainWindow,
    testWindow,
    embargo: horizon,
    ...(expanding ? { expanding: true } : {}),
  });
  return { settings: { featureSet, horizon, lookback, trainWindow, testWindow, expanding }, ds, splits };
}

/** The version a walk-forward window's predictions carry ('wf-3'). */
export function walkForwardModelVersion(window: number): string {
  return `wf-${window}`;
}

/** A trained window as the trading step takes it. */
export function mlWindowPlan(
  index: number,
  plan: WindowPlan,
  model: {
    readonly id: string;
    readonly validation: ValidationMetrics | undefined;
    readonly epochsRun: number | undefined;
  },
): MlWindowPlan {
  return {
    index,
    modelVersion: walkForwardModelVersion(index),
    modelId: model.id,
    ...plan,
    validation: model.validation,
    epochsRun: model.epochsRun,
  };
}

export interface WindowTrainingOptions {
  /** Model inputs of every candle (`seriesInputs` with the layout's schema and lookback), shared by the windows. */
  readonly inputs: SeriesInputs;
  /** Last fraction of the training window held out (after an embargo) for early stopping; 0 = none. */
  readonly validationFraction: number;
  /** Fraction of the training window, at its end, the probabilities are calibrated on (default 0: none). */
  readonly calibrationFraction?: number;
  readonly calibration?: CalibrationMethod | 'none';
  readonly kind?: ModelKind;
  readonly seed: number;
  readonly network: NetworkOptions;
  readonly linear?: LinearOptions;
  /** Receives the test window's predictions (default: a source of this window alone). */
  readonly predictions?: PrecomputedPredictor;
  /** More entries for the model's `training.options`, after `walkForward`. */
  readonly extraOptions?: Readonly<Record<string, unknown>>;
  /** Date the model by the last candle it learned from instead of the clock: the same window gives byte-identical model files. */
  readonly dataTime?: boolean;
  readonly logger?: Logger;
}

export interface TrainedWindow {
  readonly plan: WindowPlan & { readonly trainUpRate: number };
  /** The plan with the model that predicts it. */
  readonly window: MlWindowPlan;
  /** The fitted model (files, meta, scores); its predictor is disposed. */
  readonly fitted: FitResult;
  /** The training window's rows (validation rows included). */
  readonly train: Dataset;
  /** P(up) for candles [plan.testCandles[0], plan.testCandles[1]), in order. */
  readonly probabilities: number[];
}

/**
 * Trains window `index` (1-based) of a layout on its past rows only: the last
 * `horizon` rows before the test period are left out (the embargo, so no
 * training label reaches into it), the last `validationFraction` of the rest
 * (after another embargo) is held out for early stopping, the model is fitted
 * (`fitOnDataset`, seeded) and predicts its test candles in one batch. The
 * test period runs up to the next window's first test candle (contiguous test
 * periods: a flat-label candle in between still trades).
 */
export async function trainWalkForwardWindow(
  candles: readonly Candle[],
  layout: WalkForwardLayout,
  index: number,
  options: WindowTrainingOptions,
): Promise<TrainedWindow> {
  const { ds, splits, settings } = layout;
  const { horizon } = settings;
  const w = splits[index - 1];
  if (w === undefined) throw new ConfigError(`window ${index} of ${splits.length}`, { field: 'window' });
  const next = splits[index];
  const testStart = ds.candleIndex[w.testStart]!;
  const testEnd = next !== undefined ? ds.candleIndex[next.testStart]! : ds.candleIndex[w.testEnd - 1]! + 1;
  const train = sliceDataset(ds, w.trainStart, w.trainEnd);
  const firstTrainCandle = ds.candleIndex[w.trainStart]!;
  const lastTrainCandle = ds.candleIndex[w.trainEnd - 1]!;
  const lastLabelCandle = lastTrainCandle + horizon;
  if (lastLabelCandle >= testStart) {
    throw new DataError(`window ${index}: a training label reaches candle ${lastLabelCandle} of the test period`);
  }
  const def = modelKind(options.kind ?? DEFAULT_MODEL_KIND);
  const split = splitTail(
    train,
    {
      validation: def.usesValidation ? options.validationFraction : 0,
      calibration: options.calibration === 'none' ? 0 : (options.calibrationFraction ?? 0),
    },
    horizon,
  );
  const fit = split.fit;
  const validation = split.validation;
  const name = walkForwardModelVersion(index);
  const first = candles[0] as Candle;
  const fitted = await fitOnDataset(split, {
    kind: def.kind,
    seed: options.seed,
    name,
    network: options.network,
    ...(options.linear !== undefined ? { linear: options.linear } : {}),
    ...(options.calibration !== undefined ? { calibration: options.calibration } : {}),
    source: {
      symbol: first.symbol,
      timeframe: first.timeframe,
      from: candles[firstTrainCandle]!.timestamp,
      to: candles[lastLabelCandle]!.timestamp,
      dataHash: hashCandles(candles.slice(firstTrainCandle, lastLabelCandle + 1)),
    },
    extraOptions: {
      walkForward: {
        window: index,
        trainWindow: settings.trainWindow,
        testWindow: settings.testWindow,
        embargo: horizon,
        validationFraction: options.validationFraction,
      },
      ...options.extraOptions,
    },
    ...(options.dataTime === true ? { createdAt: new Date(candles[lastLabelCandle]!.timestamp) } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  const predictions = options.predictions ?? new PrecomputedPredictor({ horizon });
  const probabilities: number[] = [];
  try {
    await predictions.addSeries(fitted.predictor, candles, {
      from: testStart,
      to: testEnd,
      inputs: options.inputs,
      modelVersion: name,
    });
    for (let i = testStart; i < testEnd; i++) {
      const c = candles[i] as Candle;
      const p = predictions.get(c.symbol, c.timestamp);
      if (p === undefined) throw new DataError(`no prediction for test candle ${i}`, { index: i });
      probabilities.push(p.prediction);
    }
  } finally {
    await fitted.predictor.dispose();
  }
  let up = 0;
  for (let i = 0; i < train.rows; i++) up += train.labels[i]!;
  const plan = {
    trainRows: [w.trainStart, w.trainEnd] as const,
    fitRows: fit.rows,
    validationRows: validation?.rows ?? 0,
    trainCandles: [firstTrainCandle, lastTrainCandle] as const,
    lastLabelCandle,
    testCandles: [testStart, testEnd] as const,
    testFrom: candles[testStart]!.timestamp,
    testTo: candles[testEnd - 1]!.timestamp,
    trainUpRate: up / train.rows,
  };
  const epochsRun = fitted.info.epochsRun;
  const window = mlWindowPlan(index, plan, {
    id: fitted.predictor.modelVersion,
    validation: fitted.validation,
    epochsRun: typeof epochsRun === 'number' ? epochsRun : undefined,
  });
  return { plan, window, fitted, train, probabilities };
}

export interface ModelBacktestOptions extends MlBacktestCommon {
  /** One candle array per symbol. */
  readonly candles: readonly (readonly Candle[])[];
  /** The model (e.g. `loadPredictor(registry, 'btc-1h@v3')`); the caller disposes it. */
  readonly predictor: Predictor;
}

/** One model over the whole data (no retraining): batch predictions, one engine run, the same report. */
export async function runModelBacktest(options: ModelBacktestOptions): Promise<MlBacktestResult> {
  const { symbols } = checkSeries(options.candles);
  const predictor = options.predictor;
  const meta = predictor.meta;
  const predictions = await PrecomputedPredictor.fromSeries(predictor, options.candles);
  const start = Math.min(...options.candles.map((s) => (s[0] as Candle).timestamp));
  const end = Math.max(...options.candles.map((s) => (s[s.length - 1] as Candle).timestamp));
  const overlap = meta.training.to >= start && meta.training.from <= end;
  const plan: MlWindowPlan = {
    index: 1,
    modelVersion: predictor.modelVersion,
    modelId: predictor.modelVersion,
    trainRows: [0, meta.training.trainRows],
    fitRows: meta.training.trainRows,
    validationRows: meta.validation?.rows ?? 0,
    trainCandles: [-1, -1],
    lastLabelCandle: -1,
    testCandles: [0, Math.max(...options.candles.map((s) => s.length))],
    testFrom: start,
    testTo: end,
    trainUpRate: null,
    validation: meta.validation,
    epochsRun: undefined,
  };
  return tradeMl({
    ...options,
    series: options.candles,
    ranges: options.candles.map((s) => [0, s.length] as const),
    predictions,
    plans: [plan],
    trainSeconds: 0,
    walkForward: false,
    title:
      `model ${predictor.modelVersion} (${meta.training.symbol} ${meta.training.timeframe}, trained on ` +
      `${isoTime(meta.training.from)} → ${isoTime(meta.training.to)}) on ${symbols.join(', ')}`,
    ...(overlap
      ? {
          warning:
            'the data overlaps the period the model was trained on: those predictions are in-sample and flatter the scores',
        }
      : {}),
  });
}

export interface TradePredictionsInput extends MlBacktestCommon {
  readonly series: readonly (readonly Candle[])[];
  /** Candle range [start, end) traded per series. */
  readonly ranges: readonly (readonly [number, number])[];
  readonly predictions: PrecomputedPredictor;
  readonly plans: readonly MlWindowPlan[];
}

export interface TradedPredictions {
  /** The engine run, with the buy-and-hold benchmark unless `benchmarks` is false. */
  readonly result: BacktestResult;
  readonly windows: MlWindowReport[];
  /** Tracker scores over every window. */
  readonly stats: TrackerStats;
  readonly tracker: PredictionTracker;
  readonly strategy: MlStrategy;
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
  const strategy = new MlStrategy({ ...input.strategy, predictor: input.predictions, tracker });
  const config: Partial<BacktestConfig> = {
    ...input.config,
    ...(strategy.allowShort ? { allowShort: true } : {}),
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
  return { result, windows, stats: tracker.stats(), tracker, strategy, config, trading, tradeSeconds };
}

interface TradeMlInput extends TradePredictionsInput {
  readonly trainSeconds: number;
  readonly title: string;
  readonly warning?: string;
  /** Windows trained by the harness (a majority class per training window is known). */
  readonly walkForward: boolean;
}

interface Resolved {
  readonly p: number;
  readonly y: 0 | 1;
  readonly modelVersion: string;
}

/** `tradePredictions`, then the SMA and always-long benchmarks and the ML report sections. */
async function tradeMl(input: TradeMlInput): Promise<MlBacktestResult> {
  const tracker = input.tracker ?? new PredictionTracker();
  const resolved: Resolved[] = [];
  const onResolved = (t: TrackedPrediction) => {
    if (t.outcome === 0 || t.outcome === 1)
      resolved.push({ p: t.prediction, y: t.outcome, modelVersion: t.modelVersion });
  };
  tracker.on('resolved', onResolved);
  let traded: TradedPredictions;
  try {
    traded = await tradePredictions({ ...input, tracker });
  } finally {
    tracker.off('resolved', onResolved);
  }
  const { result, windows, stats, strategy, config, trading } = traded;

  const benchmarks: BenchmarkResult[] = [...result.benchmarks];
  if (input.benchmarks !== false) {
    const full: BacktestConfig = { ...DEFAULT_BACKTEST_CONFIG, ...config };
    const sma = new SmaCrossover({
      fraction: strategy.fraction,
      mode: strategy.allowShort ? 'long-short' : 'long-only',
    });
    const smaRun = await runSimulation(trading, sma, full);
    benchmarks.push(toBenchmark(`${sma.name} at ${strategy.fraction}`, smaRun.metrics));
    const long = new AlwaysLong({ fraction: strategy.fraction });
    const longRun = await runSimulation(trading, long, full);
    benchmarks.push(toBenchmark(long.name, longRun.metrics));
  }

  const sections = mlSections({
    title: input.title,
    warning: input.warning,
    windows,
    stats,
    resolved,
    predictions: input.predictions.predictions(),
    threshold: strategy.threshold,
    walkForward: input.walkForward,
  });
  return {
    result: { ...result, benchmarks, sections: [...(result.sections ?? []), ...sections] },
    windows,
    stats,
    tracker,
    predictions: input.predictions,
    traded: input.ranges,
    timings: { trainSeconds: input.trainSeconds, tradeSeconds: traded.tradeSeconds },
  };
}

// ---- Report sections ----

const fixed = (x: number | null | undefined, digits = 4) => (x === null || x === undefined ? 'n/a' : x.toFixed(digits));
const count = (n: number) => n.toLocaleString('en-US');
const orNaN = (x: number | null | undefined) => (x === null || x === undefined ? Number.NaN : x);

interface SectionInput {
  readonly title: string;
  readonly warning: string | undefined;
  readonly windows: readonly MlWindowReport[];
  readonly stats: TrackerStats;
  readonly resolved: readonly Resolved[];
  readonly predictions: readonly Prediction[];
  readonly threshold: number;
  readonly walkForward: boolean;
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

function mlSections(input: SectionInput): ReportSection[] {
  const { stats, windows, resolved, threshold } = input;
  const confident = resolved.filter((r) => Math.abs(r.p - 0.5) * 2 >= threshold);
  const confidentHits = confident.filter((r) => (r.p > 0.5 ? 1 : 0) === r.y).length;
  const majority = overallMajority(windows);
  const best = Math.max(orNaN(majority), orNaN(stats.baseRate), orNaN(stats.noSkillAccuracy));
  const rows: [string, string | number][] = [['setup', input.title]];
  if (input.warning !== undefined) rows.push(['WARNING', input.warning]);
  rows.push(
    ['predictions', count(stats.count)],
    ['resolved (up/down)', count(stats.resolved)],
    ['flat outcomes (not scored)', count(stats.flat)],
    ['pending (no later candle)', count(stats.pending)],
    ['accuracy', orNaN(stats.accuracy)],
    ['precision (up)', orNaN(stats.precision)],
    ['recall (up)', orNaN(stats.recall)],
    ['F1 (up)', orNaN(stats.f1)],
    ['Brier score', orNaN(stats.brierScore)],
    ['log loss', orNaN(stats.logLoss)],
  );
  if (input.walkForward) rows.push(['baseline: majority class of each training window', orNaN(majority)]);
  rows.push(
    ['baseline: majority class in hindsight', orNaN(stats.noSkillAccuracy)],
    ['baseline: always up', orNaN(stats.baseRate)],
    ['baseline: Brier / log loss of p = 0.5', '0.2500 / 0.6931'],
    ['accuracy minus best no-skill baseline', orNaN(stats.accuracy) - best],
    [`calls with confidence >= ${threshold}`, count(confident.length)],
    [`accuracy of those calls`, confident.length > 0 ? confidentHits / confident.length : Number.NaN],
  );
  const sections: ReportSection[] = [{ title: 'ML predictions (prediction tracker, out of sample)', rows }];

  if (input.walkForward) {
    sections.push({
      title: 'Walk-forward windows',
      rows: windows.map((w) => [
        `${w.modelVersion} · test ${isoTime(w.testFrom)} → ${isoTime(w.testTo)}`,
        `accuracy ${fixed(w.stats.accuracy)} · majority ${fixed(w.majorityBaseline)} · always up ${fixed(w.stats.baseRate)} · ` +
          `precision ${fixed(w.stats.precision)} · recall ${fixed(w.stats.recall)} · F1 ${fixed(w.stats.f1)} · Brier ${fixed(w.stats.brierScore)} · log loss ${fixed(w.stats.logLoss)} · n ${w.stats.resolved}` +
          (w.validation !== undefined ? ` · validation accuracy ${fixed(w.validation.accuracy)}` : '') +
          (w.epochsRun !== undefined ? ` · epochs ${w.epochsRun}` : ''),
      ]),
      chart: {
        kind: 'line',
        x: windows.map((w) => w.index),
        series: {
          accuracy: windows.map((w) => orNaN(w.stats.accuracy)),
          'majority baseline': windows.map((w) => orNaN(w.majorityBaseline)),
          'always up': windows.map((w) => orNaN(w.stats.baseRate)),
        },
      },
    });
  }

  const hist = histogram(input.predictions.map((p) => p.prediction));
  if (hist !== undefined) {
    sections.push({
      title: 'Predicted probability of up (histogram)',
      rows: [
        ['predictions', count(input.predictions.length)],
        ['min', hist.min],
        ['mean', hist.mean],
        ['max', hist.max],
        [
          `share with confidence >= ${threshold} (p <= ${fixed((1 - threshold) / 2, 3)} or p >= ${fixed((1 + threshold) / 2, 3)})`,
          hist.confidentShare(threshold),
        ],
      ],
      chart: { kind: 'bar', x: hist.centers, series: { predictions: hist.counts } },
    });
  }

  const bins = calibrationBins(resolved, 10);
  if (bins.length > 0) {
    sections.push({
      title: 'Calibration (deciles of predicted probability)',
      rows: bins.map((b) => [
        `mean predicted ${b.meanPredicted.toFixed(4)} (n ${b.count})`,
        `observed up rate ${b.observedRate.toFixed(4)}`,
      ]),
      chart: {
        kind: 'line',
        x: bins.map((b) => b.meanPredicted),
        series: {
          'observed up rate': bins.map((b) => b.observedRate),
          'perfect calibration': bins.map((b) => b.meanPredicted),
        },
      },
    });
  }
  return sections;
}

interface Histogram {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly centers: number[];
  readonly counts: number[];
  confidentShare(threshold: number): number;
}

/** 20 equal bins between the smallest and largest prediction, edges rounded out to 0.01. */
function histogram(values: readonly number[], bins = 20): Histogram | undefined {
  if (values.length === 0) return undefined;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const lo = Math.max(0, Math.floor(min * 100) / 100);
  const hi = Math.min(1, Math.max(lo + 0.01, Math.ceil(max * 100) / 100));
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]! += 1;
  return {
    min,
    max,
    mean: sum / values.length,
    centers: counts.map((_, i) => Number((lo + (i + 0.5) * width).toFixed(6))),
    counts,
    confidentShare: (t) => values.filter((v) => Math.abs(v - 0.5) * 2 >= t).length / values.length,
  };
}

interface CalibrationPoint {
  readonly count: number;
  readonly meanPredicted: number;
  readonly observedRate: number;
}

/** Equal-count bins of resolved predictions sorted by probability: mean predicted vs share of ups. */
function calibrationBins(resolved: readonly Resolved[], bins: number): CalibrationPoint[] {
  if (resolved.length === 0) return [];
  const sorted = [...resolved].sort((a, b) => a.p - b.p);
  const k = Math.min(bins, sorted.length);
  const out: CalibrationPoint[] = [];
  for (let b = 0; b < k; b++) {
    const from = Math.floor((b * sorted.length) / k);
    const to = Math.floor(((b + 1) * sorted.length) / k);
    let p = 0;
    let y = 0;
    for (let i = from; i < to; i++) {
      p += sorted[i]!.p;
      y += sorted[i]!.y;
    }
    const n = to - from;
    if (n > 0) out.push({ count: n, meanPredicted: p / n, observedRate: y / n });
  }
  return out;
}
