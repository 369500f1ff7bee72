/**
 * Walk-forward training windows, shared by the walk-forward backtest and the
 * sweep: the datasets of one or several series (one model for all: pooled
 * training), their windows on one timeline, and the training of one window's
 * model on its past only.
 *
 * The timeline is the sorted set of the series' row times; windows are cut on
 * it (walkForwardSplits), so with one series a window of N training rows is N
 * rows of that series, and with several it is N distinct times with every
 * series' rows at those times. Between training and test, and between the
 * fitting, early-stopping and calibration slices inside a training window,
 * `horizon` timeline steps are left out (the embargo): no label of an earlier
 * slice reaches a later one. The last, shorter window is tested too.
 */
import { DataError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Candle, Prediction } from '../core/types.js';
import { buildDataset, type Dataset, mergeDatasets, rowsBetween } from '../features/dataset.js';
import { type WalkForwardWindow, walkForwardSplits } from '../features/dataset-splits.js';
import type { FeatureSchema } from '../features/feature-schema.js';
import type { FeatureSetSpec } from '../features/feature-sets.js';
import type { ContextSeries } from '../features/streaming-extractor.js';
import type { TargetKind } from '../features/targets.js';
import type { CalibrationMethod } from './calibration.js';
import type { ModelFiles } from './model-files.js';
import { type KindOptions, modelKind } from './model-kinds.js';
import type { ModelKind, ModelMeta, ValidationMetrics } from './model-meta.js';
import { gatherInputs, type SeriesInputs, seriesInputs } from './precomputed-predictor.js';
import { predictionOf } from './prediction-of.js';
import type { Predictor } from './predictor.js';
import { DEFAULT_MODEL_KIND, fitOnDataset, hashCandles } from './train.js';
import { type WindowCache, windowCacheKey } from './window-cache.js';

/** What fixes the windows of a set of series. */
export interface WalkForwardSettings {
  readonly featureSet: FeatureSetSpec;
  readonly target: TargetKind;
  /** Candles ahead the labels look; also the embargo in timeline steps. */
  readonly horizon: number;
  readonly lookback: number;
  /** Direction: training rows with |return| <= this are left out (default 0). */
  readonly labelThreshold?: number;
  /** Timeline steps (about one per candle of each series) per training window. */
  readonly trainWindow: number;
  readonly testWindow: number;
  /** Training windows start at the first step and grow (else they slide). */
  readonly expanding: boolean;
}

export interface SeriesLayout {
  readonly candles: readonly Candle[];
  readonly symbol: string;
  readonly ds: Dataset;
  /** Model inputs of every candle, shared by the windows' models. */
  readonly inputs: SeriesInputs;
}

export interface WalkForwardLayout {
  readonly settings: WalkForwardSettings;
  readonly schema: FeatureSchema;
  readonly series: readonly SeriesLayout[];
  /** Sorted distinct row times of every series. */
  readonly timeline: Float64Array;
  /** Windows in timeline steps; the last one may be shorter. */
  readonly splits: readonly WalkForwardWindow[];
  /** Context candles the features were built with (kept for the cache key). */
  readonly context: ContextSeries | undefined;
}

/** Builds each series' dataset and inputs, the timeline and the windows. */
export function walkForwardLayout(
  series: readonly (readonly Candle[])[],
  settings: WalkForwardSettings,
  context?: ContextSeries,
): WalkForwardLayout {
  const { featureSet, horizon, lookback, target, trainWindow, testWindow, expanding } = settings;
  const labelThreshold = settings.labelThreshold ?? 0;
  const symbols = new Set<string>();
  const layouts: SeriesLayout[] = series.map((candles) => {
    const ds = buildDataset(candles, {
      featureSet,
      horizon,
      lookback,
      target,
      labelThreshold,
      ...(context !== undefined ? { context } : {}),
    });
    const symbol = candles[0]?.symbol ?? '';
    if (symbols.has(symbol)) throw new DataError(`symbol ${symbol} is given twice`, { symbol, field: 'data' });
    symbols.add(symbol);
    return { candles, symbol, ds, inputs: seriesInputs(candles, ds.schema, lookback, context) };
  });
  const times = new Set<number>();
  for (const s of layouts) for (let i = 0; i < s.ds.rows; i++) times.add(s.ds.timestamps[i]!);
  const timeline = Float64Array.from(times).sort();
  const splits = walkForwardSplits({
    rows: timeline.length,
    trainWindow,
    testWindow,
    embargo: horizon,
    ...(expanding ? { expanding: true } : {}),
  });
  return { settings, schema: layouts[0]!.ds.schema, series: layouts, timeline, splits, context };
}

/** The version a walk-forward window's predictions carry ('wf-3'). */
export function walkForwardModelVersion(window: number): string {
  return `wf-${window}`;
}

/** One series' part of a window: what it trained on and which of its candles the window predicts. */
export interface WindowSeriesPlan {
  readonly symbol: string;
  /** Candle indices [first, last] of this series' training rows ([-1, -1] without any). */
  readonly trainCandles: readonly [number, number];
  /** The last candle any of its training labels looks at: last training candle + horizon. */
  readonly lastLabelCandle: number;
  /** Candle indices [start, end) predicted and traded. */
  readonly testCandles: readonly [number, number];
}

/** Where one walk-forward window trained and what it predicts. */
export interface WindowPlan {
  /** 1-based. */
  readonly index: number;
  /** Timeline steps [start, end) of the training window (validation and calibration rows included). */
  readonly trainRows: readonly [number, number];
  readonly fitRows: number;
  readonly validationRows: number;
  readonly calibrationRows: number;
  readonly series: readonly WindowSeriesPlan[];
  /** Open times of the first and last test step. */
  readonly testFrom: number;
  readonly testTo: number;
  /** Share of "up" labels among the fitting rows (direction): its majority class is a baseline. */
  readonly trainUpRate: number | null;
}

/** The model a window trained (or found in the cache). */
export interface WindowModel {
  /** 'wf-3@<manifest hash>'. */
  readonly id: string;
  readonly files: ModelFiles;
  readonly meta: ModelMeta;
  readonly validation: ValidationMetrics | undefined;
  readonly epochsRun: number | undefined;
  readonly bestEpoch: number | undefined;
  /** Read from the window cache instead of trained. */
  readonly cached: boolean;
  /** What it trained on ('wasm: ...'), when it was trained rather than read from the cache. */
  readonly backend?: string;
}

export interface TrainedWindow {
  readonly plan: WindowPlan;
  readonly model: WindowModel;
  /** Per series, the prediction of each test candle [testCandles[0], testCandles[1]) (null: none). */
  readonly predictions: readonly (readonly (Prediction | null)[])[];
  /** Per series, the model's probability before calibration for the same candles (null: none). */
  readonly rawProbabilities: readonly (readonly (number | null)[])[];
  /** Per series, return and volatility models: the forecast in the target's units (null: none). */
  readonly forecasts: readonly (readonly (number | null)[])[];
}

export interface WindowTrainingOptions extends KindOptions {
  readonly kind?: ModelKind;
  readonly seed: number;
  /** Fraction of the training window held out (after an embargo) for early stopping, kinds that use it. */
  readonly validationFraction: number;
  /** Fraction at the end of the training window the calibration is fitted on (0: uncalibrated). */
  readonly calibrationFraction: number;
  readonly calibration: CalibrationMethod | 'none';
  /** More entries for the model's `training.options`, after `walkForward`. */
  readonly extraOptions?: Readonly<Record<string, unknown>>;
  /** Date the model by the last candle it learned from instead of the clock: the same window gives byte-identical files. */
  readonly dataTime?: boolean;
  /** Reuse (and store) window models by content. */
  readonly cache?: WindowCache;
  readonly logger?: Logger;
}

/** First index of `candles` whose open time is >= t (binary search). */
function firstAtOrAfter(candles: readonly Candle[], t: number): number {
  let lo = 0;
  let hi = candles.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (candles[mid]!.timestamp < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The rows of every series between two timeline steps [a, b), pooled in time order (undefined when empty). */
function pooled(layout: WalkForwardLayout, a: number, b: number): Dataset | undefined {
  if (b <= a) return undefined;
  const from = layout.timeline[a]!;
  const to = layout.timeline[b - 1]!;
  const parts = layout.series.map((s) => rowsBetween(s.ds, from, to)).filter((d) => d.rows > 0);
  return parts.length === 0 ? undefined : mergeDatasets(parts);
}

/** Candle ranges each series predicts in window `index`: contiguous from one window to the next. */
function testRanges(layout: WalkForwardLayout, index: number): (readonly [number, number])[] {
  const { splits, timeline, settings } = layout;
  const start = (k: number, s: SeriesLayout) => {
    const w = splits[k]!;
    // No training label of this series may reach its first test candle, whatever its own gaps.
    const lastTrain = rowsBetween(s.ds, timeline[w.trainStart]!, timeline[w.trainEnd - 1]!);
    const after = lastTrain.rows > 0 ? lastTrain.candleIndex[lastTrain.rows - 1]! + settings.horizon + 1 : 0;
    return Math.max(firstAtOrAfter(s.candles, timeline[w.testStart]!), after);
  };
  const w = splits[index - 1]!;
  return layout.series.map((s) => {
    const from = start(index - 1, s);
    const to = index < splits.length ? start(index, s) : firstAtOrAfter(s.candles, timeline[w.testEnd - 1]! + 1);
    return [from, Math.max(from, to)] as const;
  });
}

/**
 * Trains window `index` (1-based) of a layout on its past only: the fitting
 * rows, then (kinds that stop early) the early-stopping rows, then the
 * calibration rows, each after a `horizon`-step embargo, pooled over every
 * series; then predicts every series' test candles in one batch each.
 */
export async function trainWalkForwardWindow(
  layout: WalkForwardLayout,
  index: number,
  options: WindowTrainingOptions,
): Promise<TrainedWindow> {
  return (await windowModelOf(layout, index, options, true))!;
}

/**
 * The window from `options.cache` alone, or undefined when it is not cached
 * (nothing trains): lets the backtest start worker threads only for windows
 * that must train.
 */
export async function cachedWalkForwardWindow(
  layout: WalkForwardLayout,
  index: number,
  options: WindowTrainingOptions & { readonly cache: WindowCache },
): Promise<TrainedWindow | undefined> {
  return windowModelOf(layout, index, options, false);
}

async function windowModelOf(
  layout: WalkForwardLayout,
  index: number,
  options: WindowTrainingOptions,
  train: boolean,
): Promise<TrainedWindow | undefined> {
  const { splits, settings, timeline } = layout;
  const { horizon } = settings;
  const w = splits[index - 1];
  if (w === undefined) throw new DataError(`window ${index} of ${splits.length}`, { field: 'window' });
  const def = modelKind(options.kind ?? DEFAULT_MODEL_KIND);
  const n = w.trainEnd - w.trainStart;
  const calRows = options.calibration === 'none' ? 0 : Math.floor(n * options.calibrationFraction);
  const valRows = def.usesValidation ? Math.floor(n * options.validationFraction) : 0;
  const calStart = w.trainEnd - calRows;
  const valEnd = calRows > 0 ? calStart - horizon : w.trainEnd;
  const valStart = valEnd - valRows;
  const fitEnd = valRows > 0 ? valStart - horizon : valEnd;
  if (fitEnd - w.trainStart < 10) {
    throw new DataError(`window ${index}: ${n} training steps leave too few to fit after the held-out slices`, {
      field: 'trainWindow',
    });
  }
  const fit = pooled(layout, w.trainStart, fitEnd)!;
  const validation = pooled(layout, valStart, valEnd);
  const calibration = pooled(layout, calStart, w.trainEnd);
  const ranges = testRanges(layout, index);

  const seriesPlans: WindowSeriesPlan[] = layout.series.map((s, k) => {
    const rows = rowsBetween(s.ds, timeline[w.trainStart]!, timeline[w.trainEnd - 1]!);
    const first = rows.rows > 0 ? rows.candleIndex[0]! : -1;
    const last = rows.rows > 0 ? rows.candleIndex[rows.rows - 1]! : -1;
    const lastLabelCandle = last < 0 ? -1 : last + horizon;
    const testCandles = ranges[k]!;
    if (lastLabelCandle >= 0 && lastLabelCandle >= testCandles[0]) {
      throw new DataError(
        `window ${index}: a training label of ${s.symbol} reaches candle ${lastLabelCandle} of the test period`,
      );
    }
    return { symbol: s.symbol, trainCandles: [first, last], lastLabelCandle, testCandles };
  });
  let up = 0;
  for (let i = 0; i < fit.rows; i++) up += fit.labels[i]!;
  const plan: WindowPlan = {
    index,
    trainRows: [w.trainStart, w.trainEnd],
    fitRows: fit.rows,
    validationRows: validation?.rows ?? 0,
    calibrationRows: calibration?.rows ?? 0,
    series: seriesPlans,
    testFrom: timeline[w.testStart]!,
    testTo: timeline[w.testEnd - 1]!,
    trainUpRate: settings.target === 'direction' ? up / fit.rows : null,
  };

  // What the model learned from: every series' candles from its first training row to its last label.
  const learned = layout.series
    .map((s, k) => {
      const [first] = seriesPlans[k]!.trainCandles;
      const last = seriesPlans[k]!.lastLabelCandle;
      return first < 0 ? undefined : s.candles.slice(first, last + 1);
    })
    .filter((c): c is Candle[] => c !== undefined);
  const lastLearned = Math.max(...learned.map((c) => c[c.length - 1]!.timestamp));
  const firstLearned = Math.min(...learned.map((c) => c[0]!.timestamp));
  const dataHash = hashCandles(learned.flat());
  const name = walkForwardModelVersion(index);
  const walkForward = {
    window: index,
    trainWindow: settings.trainWindow,
    testWindow: settings.testWindow,
    embargo: horizon,
    validationFraction: options.validationFraction,
    calibrationFraction: options.calibrationFraction,
    symbols: layout.series.map((s) => s.symbol),
  };
  const key =
    options.cache === undefined
      ? undefined
      : windowCacheKey({
          dataHash,
          context: layout.context,
          from: firstLearned,
          to: lastLearned,
          schema: layout.schema,
          settings,
          slices: [fit.rows, validation?.rows ?? 0, calibration?.rows ?? 0],
          kind: def.kind,
          kindOptions: { network: options.network, linear: options.linear, python: options.python, gbdt: options.gbdt },
          seed: options.seed,
          calibration: options.calibration,
          extraOptions: { walkForward, ...options.extraOptions },
        });

  let predictor: Predictor;
  let model: WindowModel;
  const hit = key === undefined ? undefined : await options.cache!.load(key, name, options.logger);
  if (hit !== undefined) {
    predictor = hit.predictor;
    model = windowModel(hit.files, hit.predictor.meta, hit.predictor.modelVersion, true);
  } else if (!train) {
    return undefined;
  } else {
    const first = layout.series[0]!.candles[0]!;
    const fitted = await fitOnDataset(
      {
        fit,
        ...(validation !== undefined ? { validation } : {}),
        ...(calibration !== undefined ? { calibration } : {}),
      },
      {
        kind: def.kind,
        seed: options.seed,
        name,
        ...(options.network !== undefined ? { network: options.network } : {}),
        ...(options.linear !== undefined ? { linear: options.linear } : {}),
        ...(options.python !== undefined ? { python: options.python } : {}),
        ...(options.gbdt !== undefined ? { gbdt: options.gbdt } : {}),
        calibration: options.calibration,
        source: {
          symbol: layout.series.map((s) => s.symbol).join(','),
          timeframe: first.timeframe,
          from: firstLearned,
          to: lastLearned,
          dataHash,
        },
        extraOptions: { walkForward, ...options.extraOptions },
        ...(options.dataTime === true || key !== undefined ? { createdAt: new Date(lastLearned) } : {}),
        ...(options.logger !== undefined ? { logger: options.logger } : {}),
      },
    );
    predictor = fitted.predictor;
    model = {
      ...windowModel(fitted.files, fitted.meta, fitted.predictor.modelVersion, false),
      backend: `${fitted.backend} (${fitted.backendReason})`,
    };
    if (key !== undefined) await options.cache!.store(key, fitted.files, options.logger);
  }

  const predictions: (Prediction | null)[][] = [];
  const rawProbabilities: (number | null)[][] = [];
  const forecasts: (number | null)[][] = [];
  try {
    for (let k = 0; k < layout.series.length; k++) {
      const s = layout.series[k]!;
      const [from, to] = ranges[k]!;
      const out = await predictRange(predictor, s, from, to, name);
      predictions.push(out.predictions);
      rawProbabilities.push(out.raw);
      forecasts.push(out.forecasts);
    }
  } finally {
    await predictor.dispose();
  }
  return { plan, model, predictions, rawProbabilities, forecasts };
}

/**
 * The model's answers for candles [from, to) of a series (null where the
 * candle has no complete input): its Prediction (not for volatility models),
 * the raw probability before calibration (direction), the forecast in the
 * target's units (return, volatility).
 */
export async function predictRange(
  predictor: Predictor,
  s: Pick<SeriesLayout, 'candles' | 'inputs'>,
  from: number,
  to: number,
  modelVersion: string,
): Promise<{ predictions: (Prediction | null)[]; raw: (number | null)[]; forecasts: (number | null)[] }> {
  const none = () => new Array<null>(to - from).fill(null) as (number | null)[];
  const predictions: (Prediction | null)[] = new Array<null>(to - from).fill(null);
  const raw = none();
  const forecasts = none();
  const rows: number[] = [];
  for (let i = from; i < to; i++) if (s.inputs.valid[i] === 1) rows.push(i);
  if (rows.length === 0) return { predictions, raw, forecasts };
  const batch = gatherInputs(s.inputs, rows);
  const meta = predictor.meta;
  const values = await predictor.predictBatch(batch);
  const direction = meta.label.kind === 'direction';
  const rawValues =
    direction && predictor.predictBatchRaw !== undefined ? await predictor.predictBatchRaw(batch) : undefined;
  rows.forEach((i, k) => {
    const c = s.candles[i]!;
    const v = values[k]!;
    if (meta.label.kind !== 'volatility') {
      predictions[i - from] = predictionOf(
        meta,
        predictor.calibration,
        c.symbol,
        v,
        modelVersion,
        c.timestamp,
        s.inputs.volatility[i]!,
      );
    }
    if (rawValues !== undefined) raw[i - from] = rawValues[k]!;
    if (!direction) forecasts[i - from] = v;
  });
  return { predictions, raw, forecasts };
}

function windowModel(files: ModelFiles, meta: ModelMeta, id: string, cached: boolean): WindowModel {
  const options = meta.training.options as { epochsRun?: unknown; bestEpoch?: unknown };
  return {
    id,
    files,
    meta,
    validation: meta.validation,
    epochsRun: typeof options.epochsRun === 'number' ? options.epochsRun : undefined,
    bestEpoch: typeof options.bestEpoch === 'number' ? options.bestEpoch : undefined,
    cached,
  };
}
