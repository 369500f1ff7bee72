/**
 * Training: candles -> dataset -> chronological slices (fit, early stopping,
 * calibration, test) -> scaler fitted on the fitting rows only -> the model
 * kind's fit (model-kinds.ts) -> calibration on the rows after it -> scores on
 * the held-out test rows next to the naive baselines -> model files with
 * meta.json, scaler.json, calibration.json and a manifest, plus a ready
 * Predictor.
 *
 * No look-ahead: features at candle t use only candles closed at or before t
 * (the streaming extractor), labels look `horizon` candles ahead, and
 * `horizon` rows between consecutive slices are left out (the embargo) so no
 * label of an earlier slice overlaps a later one. The test rows were seen by
 * nothing: not the fit, not early stopping, not calibration.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { DataError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { assertSeed } from '../core/random.js';
import type { Candle } from '../core/types.js';
import { buildDataset, type Dataset, mergeDatasets } from '../features/dataset.js';
import { type FittingSplit, splitTail } from '../features/dataset-splits.js';
import { DEFAULT_VOLATILITY_SPAN } from '../features/ewma-volatility.js';
import { schemaWarmup } from '../features/feature-schema.js';
import type { FeatureSetSpec } from '../features/feature-sets.js';
import { DEFAULT_FEATURE_SET } from '../features/feature-sets.js';
import { FeatureScaler, type ScalerKind } from '../features/scaler.js';
import type { ContextSeries } from '../features/streaming-extractor.js';
import type { TargetKind } from '../features/targets.js';
import {
  CALIBRATION_FILE,
  type Calibration,
  type CalibrationMethod,
  calibrationToJSON,
  fitCalibration,
  fitResidual,
} from './calibration.js';
import { evaluatePredictions, evaluateRegression } from './evaluation.js';
import { defaultModelVersion } from './load-model.js';
import type { EpochLog } from './mlp-training.js';
import { type ModelFiles, withManifest } from './model-files.js';
import {
  assertFits,
  type FittedBackend,
  type KindOptions,
  modelKind,
  type NetworkOptions,
  type PythonTrainOptions,
} from './model-kinds.js';
import {
  META_FILE,
  type ModelKind,
  type ModelMeta,
  type RegressionMetrics,
  SCALER_FILE,
  type ValidationMetrics,
} from './model-meta.js';
import { ModelPredictor } from './model-predictor.js';

export type { NetworkOptions, PythonTrainOptions };

/** Where training data came from, recorded in meta.json. */
export interface TrainingSource {
  readonly symbol: string;
  readonly timeframe: string;
  /** Open times of the first and last candle used. */
  readonly from: number;
  readonly to: number;
  /** sha256 of the candles (see `hashCandles`). */
  readonly dataHash: string;
}

/** The model kind `train` and the walk-forward backtest use unless told otherwise. */
export const DEFAULT_MODEL_KIND: ModelKind = 'logistic';

export interface FitOptions extends KindOptions {
  /** Default DEFAULT_MODEL_KIND. */
  kind?: ModelKind;
  /** Default 'zscore' (clipped to +/-5 sd). */
  scaler?: ScalerKind;
  /** Direction models: 'platt', 'isotonic' or 'none' (default: the kind's; 'none' for logistic). Needs calibration rows. */
  calibration?: CalibrationMethod | 'none';
  /** Seeds everything random in training (default 42). */
  seed?: number;
  /** Default 'model'. */
  name?: string;
  /** Recorded in meta.json; without it the range of the dataset's rows and a hash of its values are used. */
  source?: TrainingSource;
  /** Extra entries for meta.json's `training.options` (e.g. the dataset options). */
  extraOptions?: Record<string, unknown>;
  /** Wall-clock creation time for meta.json (default now). */
  createdAt?: Date | string;
  /** LRU cache entries of the returned predictor (default 0). */
  cache?: number;
  logger?: Logger;
  onEpoch?: (log: EpochLog) => void | Promise<void>;
}

export interface FitResult {
  /** Everything of the model, manifest included: write it with writeModelDirectory or to the registry. */
  readonly files: ModelFiles;
  readonly meta: ModelMeta;
  readonly predictor: ModelPredictor;
  /** Direction: scores on the test rows next to the baselines (absent without test rows). */
  readonly validation: ValidationMetrics | undefined;
  /** Return and volatility: scores on the test rows next to the naive forecast. */
  readonly regression: RegressionMetrics | undefined;
  /** What the model answered for the test rows, in order (calibrated probabilities, or the target's units). */
  readonly testPredictions: Float32Array | undefined;
  /** Direction: the model's raw probabilities and the calibrated ones on the calibration rows (reliability diagram). */
  readonly calibrationCheck:
    | { readonly raw: Float32Array; readonly calibrated: Float32Array; readonly labels: Float32Array }
    | undefined;
  /** Per-epoch log (TensorFlow.js models; empty otherwise). */
  readonly history: readonly EpochLog[];
  /** 'node', 'wasm' or 'cpu' for TensorFlow.js models; 'python', 'typescript', ... */
  readonly backend: string;
  readonly backendReason: string;
  /** Training throughput in rows per second (per epoch for TensorFlow.js models). */
  readonly samplesPerSecond: number | undefined;
  readonly info: Readonly<Record<string, unknown>>;
}

export interface TrainModelOptions extends Omit<FitOptions, 'source'> {
  /** One symbol's candles (or `series`). */
  candles?: readonly Candle[];
  /** Several symbols' candles: one model for all (pooled training), sliced by time across them. */
  series?: readonly (readonly Candle[])[];
  /** Default 'core' (DEFAULT_FEATURE_SET). */
  featureSet?: FeatureSetSpec;
  /** Candles of the feature set's context symbols. */
  context?: ContextSeries;
  /** Default 'direction'. */
  target?: TargetKind;
  /** Candles ahead the label looks (default 1). */
  horizon?: number;
  /** Feature rows per sample (default 1). */
  lookback?: number;
  /** Direction: drop samples whose |return over the horizon| is <= this (default 0). */
  labelThreshold?: number;
  /** The last fraction of rows held out and scored (default 0.2). */
  testFraction?: number;
  /** Fraction of rows for calibration, before the test rows (default 0.15, or 0 for an uncalibrated direction model). */
  calibrationFraction?: number;
  /** Fraction of rows for early stopping, before the calibration rows, for kinds that stop early (default 0.15). */
  validationFraction?: number;
}

export interface TrainModelResult extends FitResult {
  readonly dataset: {
    readonly rows: number;
    readonly cols: number;
    readonly trainRows: number;
    readonly validationRows: number;
    readonly calibrationRows: number;
    readonly testRows: number;
    /** Rows left out between consecutive slices (= horizon). */
    readonly embargo: number;
  };
}

export const TRAIN_DEFAULTS = { testFraction: 0.2, calibrationFraction: 0.15, validationFraction: 0.15 } as const;

/** sha256 of the candles' open times and OHLCV as little-endian float64, in order. */
export function hashCandles(candles: readonly Candle[]): string {
  const hash = createHash('sha256');
  const block = new Float64Array(6 * 1024);
  for (let start = 0; start < candles.length; start += 1024) {
    const end = Math.min(candles.length, start + 1024);
    for (let i = start; i < end; i++) {
      const c = candles[i]!;
      const o = (i - start) * 6;
      block[o] = c.timestamp;
      block[o + 1] = c.open;
      block[o + 2] = c.high;
      block[o + 3] = c.low;
      block[o + 4] = c.close;
      block[o + 5] = c.volume;
    }
    hash.update(new Uint8Array(block.buffer, 0, (end - start) * 6 * 8));
  }
  return hash.digest('hex');
}

function datasetHash(datasets: readonly Dataset[]): string {
  const hash = createHash('sha256');
  for (const ds of datasets) {
    hash.update(new Uint8Array(ds.timestamps.buffer, ds.timestamps.byteOffset, ds.timestamps.byteLength));
    hash.update(new Uint8Array(ds.features.buffer, ds.features.byteOffset, ds.features.byteLength));
    hash.update(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
  }
  return hash.digest('hex');
}

/** The installed quantflow-ml version, recorded in meta.json. */
export function packageVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('quantflow-ml/package.json') as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const encoder = new TextEncoder();

function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(`${JSON.stringify(value, null, 2)}\n`);
}

/** Throws unless every row of `later` comes after every row of `earlier`. */
function assertAfter(earlier: Dataset | undefined, later: Dataset | undefined, what: string): void {
  if (earlier === undefined || later === undefined || earlier.rows === 0 || later.rows === 0) return;
  if (earlier.cols !== later.cols) {
    throw new DataError(`${what} rows have ${later.cols} values, earlier rows ${earlier.cols}`, { field: what });
  }
  if (later.timestamps[0]! <= earlier.timestamps[earlier.rows - 1]!) {
    throw new DataError(`${what} rows must come after every earlier row (chronological split)`, { field: what });
  }
}

function meanAbs(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.abs(values[i]!);
  return values.length > 0 ? sum / values.length : 0;
}

/**
 * The scale of a direction model's predicted move: mean |log return over the
 * horizon| / mean(EWMA volatility x sqrt(horizon)) over the fitting rows.
 */
function magnitudeScale(fit: Dataset): number | undefined {
  const root = Math.sqrt(fit.horizon);
  let moves = 0;
  let vols = 0;
  for (let i = 0; i < fit.rows; i++) {
    moves += Math.abs(fit.outcomes[i]!);
    vols += fit.volatility[i]! * root;
  }
  return vols > 0 && moves > 0 ? moves / vols : undefined;
}

/**
 * Fits one model on `split.fit` (early stopping on `split.validation` for
 * kinds that use it), calibrates it on `split.calibration`, and scores it on
 * `split.test`. Each slice must come after the previous one in time; the
 * scaler is fitted on the fitting rows only. The walk-forward backtest calls
 * this once per window (without test rows: its test window is traded).
 */
export async function fitOnDataset(split: FittingSplit, options: FitOptions = {}): Promise<FitResult> {
  const { fit } = split;
  const def = modelKind(options.kind ?? DEFAULT_MODEL_KIND);
  const target = fit.target;
  assertFits(def, target);
  const seed = assertSeed(options.seed ?? 42);
  const name = options.name ?? 'model';
  const logger = options.logger ?? silentLogger;
  if (fit.rows < 1) throw new DataError('no training rows', { field: 'train' });
  const validation = def.usesValidation && (split.validation?.rows ?? 0) > 0 ? split.validation : undefined;
  const calibrationRows = (split.calibration?.rows ?? 0) > 0 ? split.calibration : undefined;
  const test = (split.test?.rows ?? 0) > 0 ? split.test : undefined;
  assertAfter(fit, validation, 'validation');
  assertAfter(validation ?? fit, calibrationRows, 'calibration');
  assertAfter(calibrationRows ?? validation ?? fit, test, 'test');
  const method = target === 'direction' ? (options.calibration ?? def.defaultCalibration) : 'residual';
  const cols = fit.cols;

  const scaler = new FeatureScaler({ kind: options.scaler ?? 'zscore', featureNames: fit.featureNames });
  scaler.fit(fit.features, cols);
  const scaled = (ds: Dataset) => scaler.transform(ds.features, new Float32Array(ds.features.length));

  const fitted: FittedBackend = await def.fit!(
    {
      target,
      cols,
      train: { x: scaled(fit), y: fit.labels, rows: fit.rows },
      ...(validation !== undefined
        ? { validation: { x: scaled(validation), y: validation.labels, rows: validation.rows } }
        : {}),
      seed,
      columns: fit.featureNames,
      logger,
      ...(options.onEpoch !== undefined ? { onEpoch: options.onEpoch } : {}),
    },
    options,
  );
  const { model } = fitted;
  try {
    let calibration: Calibration | undefined;
    let rawCalibration: Float32Array | undefined;
    if (calibrationRows !== undefined && method !== 'none') {
      rawCalibration = await model.predictScaled(scaled(calibrationRows));
      calibration =
        method === 'residual'
          ? fitResidual(
              target as 'return' | 'volatility',
              rawCalibration,
              calibrationRows.labels,
              calibrationRows.outcomes,
            )
          : fitCalibration(method, rawCalibration, calibrationRows.labels);
    }
    const lastRow = test ?? calibrationRows ?? validation ?? fit;
    const source: TrainingSource = options.source ?? {
      symbol: 'unknown',
      timeframe: 'unknown',
      from: fit.timestamps[0]!,
      to: lastRow.timestamps[lastRow.rows - 1]!,
      dataHash: datasetHash([fit, validation, calibrationRows, test].filter((d): d is Dataset => d !== undefined)),
    };
    const createdAt =
      options.createdAt === undefined
        ? new Date().toISOString()
        : typeof options.createdAt === 'string'
          ? options.createdAt
          : options.createdAt.toISOString();
    const scale = target === 'direction' ? magnitudeScale(fit) : undefined;
    let meta: ModelMeta = {
      formatVersion: 1,
      kind: def.kind,
      name,
      createdAt,
      featureSchema: fit.schema,
      lookback: fit.lookback,
      inputWidth: cols,
      scaler: scaler.kind,
      label:
        target === 'direction'
          ? { kind: 'direction', horizon: fit.horizon, threshold: fit.labelThreshold }
          : { kind: target, horizon: fit.horizon },
      ...(calibration !== undefined && calibrationRows !== undefined
        ? {
            calibration: {
              method: calibration.method,
              rows: calibrationRows.rows,
              from: calibrationRows.timestamps[0]!,
            },
          }
        : {}),
      ...(scale !== undefined ? { magnitude: { volatilitySpan: DEFAULT_VOLATILITY_SPAN, scale } } : {}),
      training: {
        symbol: source.symbol,
        timeframe: source.timeframe,
        from: source.from,
        to: source.to,
        trainRows: fit.rows,
        ...(target === 'direction' ? { upRate: meanAbs(fit.labels) } : {}),
        ...(validation !== undefined ? { validationFrom: validation.timestamps[0]! } : {}),
        dataHash: source.dataHash,
        seed,
        options: {
          featureSet: fit.schema.name,
          target,
          horizon: fit.horizon,
          lookback: fit.lookback,
          labelThreshold: fit.labelThreshold,
          scaler: scaler.kind,
          calibration: method,
          ...fitted.options,
          ...options.extraOptions,
        },
      },
      versions: { quantflow: packageVersion(), node: process.versions.node, ...fitted.versions },
      ...(fitted.python !== undefined ? { python: fitted.python } : {}),
      ...(fitted.onnx !== undefined ? { onnx: fitted.onnx } : {}),
    };

    // Scores on the test rows go through the full predictor (scaling, calibration), as serving does.
    const draft = new ModelPredictor(model, scaler, meta, calibration !== undefined ? { calibration } : {});
    let validationMetrics: ValidationMetrics | undefined;
    let regression: RegressionMetrics | undefined;
    let testPredictions: Float32Array | undefined;
    if (test !== undefined) {
      testPredictions = await draft.predictBatch(test.features);
      if (target === 'direction') {
        validationMetrics = evaluatePredictions(testPredictions, test.labels, {
          trainLabels: fit.labels,
          lastMoves: test.lastMoves,
        });
        meta = { ...meta, validation: validationMetrics };
      } else {
        regression = evaluateRegression(target, testPredictions, test.outcomes, test.naive, {
          ...(calibration?.method === 'residual' ? { residualSigma: calibration.sigma } : {}),
        });
        meta = { ...meta, regression };
      }
    }
    const files = withManifest(
      new Map([
        ...fitted.files,
        [META_FILE, jsonBytes(meta)],
        [SCALER_FILE, jsonBytes(scaler.toJSON())],
        ...(calibration !== undefined && calibrationRows !== undefined
          ? [[CALIBRATION_FILE, jsonBytes(calibrationToJSON(calibration, calibrationRows.rows))] as const]
          : []),
      ]),
    );
    const predictor = new ModelPredictor(model, scaler, meta, {
      modelVersion: defaultModelVersion(meta, files),
      ...(calibration !== undefined ? { calibration } : {}),
      ...(options.cache !== undefined ? { cache: options.cache } : {}),
    });
    let calibrationCheck: FitResult['calibrationCheck'];
    if (rawCalibration !== undefined && calibrationRows !== undefined && target === 'direction') {
      calibrationCheck = {
        raw: rawCalibration,
        calibrated: rawCalibration.map((p) => predictor.calibrate(p)),
        labels: calibrationRows.labels,
      };
    }
    return {
      files,
      meta,
      predictor,
      validation: validationMetrics,
      regression,
      testPredictions,
      calibrationCheck,
      history: fitted.history ?? [],
      backend: fitted.backend,
      backendReason: fitted.backendReason,
      samplesPerSecond: fitted.samplesPerSecond,
      info: fitted.info,
    };
  } catch (err) {
    await model.dispose();
    throw err;
  }
}

/**
 * Trains a model on a candle series: builds the dataset, holds out (from the
 * end, each after a `horizon`-row embargo) the test rows, before them the
 * calibration rows and, for kinds that stop early, the early-stopping rows;
 * fits, calibrates and scores.
 */
export async function trainModel(options: TrainModelOptions): Promise<TrainModelResult> {
  const series = options.series ?? (options.candles !== undefined ? [options.candles] : []);
  if (series.length === 0 || series.some((s) => s.length === 0)) {
    throw new DataError('no candles to train on', { field: 'candles' });
  }
  const symbols = series.map((s) => s[0]!.symbol);
  if (new Set(symbols).size !== symbols.length) {
    throw new DataError('the same symbol is given twice: pass one candle series per symbol', { field: 'candles' });
  }
  const timeframes = new Set(series.map((s) => s[0]!.timeframe));
  if (timeframes.size > 1) {
    throw new DataError(`pooled series must share one timeframe: ${[...timeframes].join(', ')} given`, {
      field: 'timeframe',
    });
  }
  const candleCount = series.reduce((n, s) => n + s.length, 0);
  const horizon = options.horizon ?? 1;
  const lookback = options.lookback ?? 1;
  const labelThreshold = options.labelThreshold ?? 0;
  const target = options.target ?? 'direction';
  const featureSet = options.featureSet ?? DEFAULT_FEATURE_SET;
  const def = modelKind(options.kind ?? DEFAULT_MODEL_KIND);
  assertFits(def, target);
  const testFraction = options.testFraction ?? TRAIN_DEFAULTS.testFraction;
  const calibration = options.calibration ?? def.defaultCalibration;
  // An uncalibrated direction model fits on the rows calibration would take; regression targets always use them.
  const calibrationFraction =
    options.calibrationFraction ??
    (target === 'direction' && calibration === 'none' ? 0 : TRAIN_DEFAULTS.calibrationFraction);
  const validationFraction = def.usesValidation ? (options.validationFraction ?? TRAIN_DEFAULTS.validationFraction) : 0;
  const context = options.context;
  const build = (threshold: number) =>
    mergeDatasets(
      series.map((candles) =>
        buildDataset(candles, {
          featureSet,
          horizon,
          lookback,
          labelThreshold: threshold,
          target,
          ...(context ? { context } : {}),
        }),
      ),
    );
  const ds = build(labelThreshold);
  if (ds.rows < 10) {
    const warm = labelThreshold > 0 ? build(0).rows : ds.rows;
    const cause = labelThreshold > 0 && warm >= 10;
    throw new DataError(
      cause
        ? `the label threshold ${labelThreshold} leaves ${ds.rows} of ${warm} samples (it drops every move of at most ` +
            `${(labelThreshold * 100).toFixed(2)}% over ${horizon} candles); lower --label-threshold`
        : `${candleCount} candles give only ${ds.rows} samples after the feature warm-up ` +
            `(${schemaWarmup(ds.schema)} candles); train on more candles`,
      { field: cause ? 'labelThreshold' : 'candles' },
    );
  }
  const split = splitTail(
    ds,
    { validation: validationFraction, calibration: calibrationFraction, test: testFraction },
    horizon,
  );
  const result = await fitOnDataset(split, {
    ...options,
    source: {
      symbol: symbols.join(','),
      timeframe: series[0]![0]!.timeframe,
      from: Math.min(...series.map((s) => s[0]!.timestamp)),
      to: Math.max(...series.map((s) => s[s.length - 1]!.timestamp)),
      dataHash: hashCandles(series.flat()),
    },
    extraOptions: {
      testFraction,
      calibrationFraction,
      validationFraction,
      embargo: horizon,
      candles: candleCount,
      ...options.extraOptions,
    },
  });
  return {
    ...result,
    dataset: {
      rows: ds.rows,
      cols: ds.cols,
      trainRows: split.fit.rows,
      validationRows: split.validation?.rows ?? 0,
      calibrationRows: split.calibration?.rows ?? 0,
      testRows: split.test?.rows ?? 0,
      embargo: horizon,
    },
  };
}
