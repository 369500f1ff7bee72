/**
 * Training: candles -> dataset -> chronological split -> scaler fitted on the
 * training rows only -> network (TensorFlow.js MLP or a Python script) ->
 * scores on the held-out later rows -> model files with meta.json, scaler.json
 * and a manifest, plus a ready Predictor.
 *
 * No look-ahead: features at candle t use only candles closed at or before t
 * (the streaming extractor), labels look `horizon` candles ahead, and the
 * `horizon` rows before the validation period are left out of training (the
 * embargo) so no training label overlaps it.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError, DataError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { assertSeed } from '../core/random.js';
import type { Candle } from '../core/types.js';
import { buildDataset, type Dataset } from '../features/dataset.js';
import { splitChronological } from '../features/dataset-splits.js';
import type { FeatureSetName } from '../features/feature-schema.js';
import { FeatureScaler, type ScalerKind } from '../features/scaler.js';
import { evaluatePredictions } from './evaluation.js';
import { defaultModelVersion } from './load-model.js';
import { type MlpOptions, resolveMlpOptions } from './mlp.js';
import { type EpochLog, trainMlp } from './mlp-training.js';
import { type ModelFiles, withManifest } from './model-files.js';
import { META_FILE, type ModelKind, type ModelMeta, SCALER_FILE, type ValidationMetrics } from './model-meta.js';
import { ModelPredictor } from './model-predictor.js';
import {
  BUNDLED_PYTHON_DIR,
  EXAMPLE_PYTHON_SCRIPT,
  fitPythonModel,
  loadPythonModel,
  pythonScriptInfo,
} from './python-model.js';
import type { ScaledModel } from './scaled-model.js';
import { loadTf } from './tf-backend.js';
import { TfjsScaledModel } from './tfjs-model.js';
import { layersModelToFiles } from './tfjs-model-io.js';

/** The network's options without the seed (given once, at the top level). */
export type NetworkOptions = Omit<MlpOptions, 'seed'>;

export interface PythonTrainOptions {
  /** Absolute path of the model script (default: the bundled logistic regression example). */
  readonly script?: string;
  /** Passed to the script's `fit` (the seed is added). */
  readonly params?: Record<string, unknown>;
  readonly timeoutMs?: number;
  /** Python executable (default python3). */
  readonly python?: string;
}

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

export interface FitOptions {
  /** Default 'tfjs'. */
  kind?: ModelKind;
  /** Default 'zscore'. */
  scaler?: ScalerKind;
  network?: NetworkOptions;
  python?: PythonTrainOptions;
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
  /** Scores on the validation rows (absent without validation rows). */
  readonly validation: ValidationMetrics | undefined;
  /** Probabilities the model gave the validation rows, in order. */
  readonly validationPredictions: Float32Array | undefined;
  /** Per-epoch log (TensorFlow.js models; empty for Python). */
  readonly history: readonly EpochLog[];
  /** 'node', 'wasm' or 'cpu' for TensorFlow.js models; 'python' for Python ones. */
  readonly backend: string;
  readonly backendReason: string;
  /** Training throughput in rows per second per epoch (TensorFlow.js models). */
  readonly samplesPerSecond: number | undefined;
  readonly info: Readonly<Record<string, unknown>>;
}

export interface TrainModelOptions extends Omit<FitOptions, 'source'> {
  candles: readonly Candle[];
  /** Default 'relative'. */
  featureSet?: FeatureSetName;
  /** Candles ahead the label looks (default 1). */
  horizon?: number;
  /** Feature rows per sample (default 1). */
  lookback?: number;
  /** Drop samples whose |return over the horizon| is <= this (default 0). */
  labelThreshold?: number;
  /** The last fraction of rows held out for validation (default 0.2). */
  validationFraction?: number;
}

export interface TrainModelResult extends FitResult {
  readonly dataset: {
    readonly rows: number;
    readonly cols: number;
    readonly trainRows: number;
    readonly validationRows: number;
    /** Rows left out between training and validation (= horizon). */
    readonly embargo: number;
  };
}

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

function packageVersion(): string {
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

/**
 * Fits one model on `train` and scores it on `validation` (rows that come
 * after `train` in time; also used for early stopping). The scaler is fitted on
 * `train` only. The walk-forward backtest calls this once per window.
 */
export async function fitOnDataset(
  train: Dataset,
  validation: Dataset | undefined,
  options: FitOptions = {},
): Promise<FitResult> {
  const kind = options.kind ?? 'tfjs';
  if (kind !== 'tfjs' && kind !== 'python') {
    throw new ConfigError(`unknown model kind '${String(kind)}' (expected tfjs or python)`, { field: 'kind' });
  }
  const seed = assertSeed(options.seed ?? 42);
  const name = options.name ?? 'model';
  const logger = options.logger ?? silentLogger;
  if (train.rows < 1) throw new DataError('no training rows', { field: 'train' });
  if (validation !== undefined) {
    if (validation.cols !== train.cols) {
      throw new DataError(`validation rows have ${validation.cols} values, training rows ${train.cols}`, {
        field: 'validation',
      });
    }
    if (validation.rows > 0 && train.rows > 0 && validation.timestamps[0]! <= train.timestamps[train.rows - 1]!) {
      throw new DataError('validation rows must come after every training row (chronological split)', {
        field: 'validation',
      });
    }
  }
  const hasValidation = validation !== undefined && validation.rows > 0;
  const cols = train.cols;

  const scaler = new FeatureScaler({ kind: options.scaler ?? 'zscore', featureNames: train.featureNames });
  scaler.fit(train.features, cols);
  const trainX = scaler.transform(train.features, new Float32Array(train.features.length));
  const validX = hasValidation
    ? scaler.transform(validation.features, new Float32Array(validation.features.length))
    : undefined;

  const datasetOptions = {
    featureSet: train.schema.name,
    horizon: train.horizon,
    lookback: train.lookback,
    labelThreshold: train.labelThreshold,
    scaler: scaler.kind,
    ...options.extraOptions,
  };
  const lastRow = hasValidation ? validation : train;
  const source: TrainingSource = options.source ?? {
    symbol: 'unknown',
    timeframe: 'unknown',
    from: train.timestamps[0]!,
    to: lastRow.timestamps[lastRow.rows - 1]!,
    dataHash: datasetHash(hasValidation ? [train, validation] : [train]),
  };
  const createdAt =
    options.createdAt === undefined
      ? new Date().toISOString()
      : typeof options.createdAt === 'string'
        ? options.createdAt
        : options.createdAt.toISOString();

  const metaWithout = (
    trainingOptions: Record<string, unknown>,
    versions: Record<string, string>,
    python?: ModelMeta['python'],
  ): ModelMeta => ({
    formatVersion: 1,
    kind,
    name,
    createdAt,
    featureSchema: train.schema,
    lookback: train.lookback,
    inputWidth: cols,
    scaler: scaler.kind,
    label: { kind: 'direction', horizon: train.horizon, threshold: train.labelThreshold },
    training: {
      symbol: source.symbol,
      timeframe: source.timeframe,
      from: source.from,
      to: source.to,
      trainRows: train.rows,
      ...(hasValidation ? { validationFrom: validation.timestamps[0]! } : {}),
      dataHash: source.dataHash,
      seed,
      options: trainingOptions,
    },
    versions: { quantflow: packageVersion(), node: process.versions.node, ...versions },
    ...(python !== undefined ? { python } : {}),
  });

  let model: ScaledModel;
  let backendFiles: Map<string, Uint8Array>;
  let meta: ModelMeta;
  let history: readonly EpochLog[] = [];
  let backend: string;
  let backendReason: string;
  let samplesPerSecond: number | undefined;
  let info: Record<string, unknown>;

  if (kind === 'tfjs') {
    const rt = await loadTf({ logger });
    const network = resolveMlpOptions({ ...options.network, seed });
    logger.info('training tensorflow.js model', {
      name,
      backend: rt.backend,
      trainRows: train.rows,
      validationRows: validation?.rows ?? 0,
      cols,
    });
    const result = await trainMlp(
      rt,
      { x: trainX, y: train.labels, rows: train.rows, cols },
      validX !== undefined && hasValidation
        ? { x: validX, y: validation.labels, rows: validation.rows, cols }
        : undefined,
      network,
      {
        onEpoch: async (log) => {
          logger.debug('epoch', { ...log });
          await options.onEpoch?.(log);
        },
      },
    );
    const tfModel = new TfjsScaledModel(rt, result.model, { logger });
    model = tfModel;
    try {
      backendFiles = await layersModelToFiles(rt.tf, result.model);
    } catch (err) {
      await model.dispose();
      throw err;
    }
    history = result.history;
    backend = rt.backend;
    backendReason = rt.reason;
    samplesPerSecond = result.samplesPerSecond;
    info = {
      epochsRun: result.epochsRun,
      bestEpoch: result.bestEpoch,
      stoppedEarly: result.stoppedEarly,
      fastPath: tfModel.fastPath !== undefined,
    };
    const { seed: _seed, ...network_ } = network;
    meta = metaWithout(
      { ...datasetOptions, network: network_, bestEpoch: result.bestEpoch, epochsRun: result.epochsRun },
      rt.versions,
    );
  } else {
    const script = options.python?.script ?? path.join(BUNDLED_PYTHON_DIR, EXAMPLE_PYTHON_SCRIPT);
    if (!path.isAbsolute(script)) {
      throw new ConfigError(`python script must be an absolute path, got '${script}'`, { field: 'python.script' });
    }
    const scriptInfo = await pythonScriptInfo(script);
    const params = { ...options.python?.params, seed };
    logger.info('training python model', { name, script, trainRows: train.rows, cols });
    const fitted = await fitPythonModel({
      script,
      trainX,
      trainY: new Float32Array(train.labels),
      cols,
      params,
      ...(options.python?.timeoutMs !== undefined ? { timeoutMs: options.python.timeoutMs } : {}),
      ...(options.python?.python !== undefined ? { python: options.python.python } : {}),
    });
    backendFiles = fitted.files;
    info = fitted.info;
    const pythonVersion: Record<string, string> =
      typeof fitted.info.python === 'string' ? { python: fitted.info.python } : {};
    meta = metaWithout({ ...datasetOptions, python: { script: scriptInfo.script, params } }, pythonVersion, scriptInfo);
    model = await loadPythonModel(backendFiles, meta, {
      scriptDirs: [path.dirname(script)],
      ...(options.python?.python !== undefined ? { python: options.python.python } : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
    backend = 'python';
    backendReason = `python script ${scriptInfo.script}`;
  }

  try {
    let validationMetrics: ValidationMetrics | undefined;
    let validationPredictions: Float32Array | undefined;
    if (hasValidation && validX !== undefined) {
      validationPredictions = await model.predictScaled(validX);
      validationMetrics = evaluatePredictions(validationPredictions, validation.labels, { trainLabels: train.labels });
      meta = { ...meta, validation: validationMetrics };
    }
    const files = withManifest(
      new Map([...backendFiles, [META_FILE, jsonBytes(meta)], [SCALER_FILE, jsonBytes(scaler.toJSON())]]),
    );
    const predictor = new ModelPredictor(model, scaler, meta, {
      modelVersion: defaultModelVersion(meta, files),
      ...(options.cache !== undefined ? { cache: options.cache } : {}),
    });
    return {
      files,
      meta,
      predictor,
      validation: validationMetrics,
      validationPredictions,
      history,
      backend,
      backendReason,
      samplesPerSecond,
      info,
    };
  } catch (err) {
    await model.dispose();
    throw err;
  }
}

/**
 * Trains a model on a candle series: builds the dataset, holds out the last
 * `validationFraction` of rows (after a `horizon`-row embargo), fits and scores.
 */
export async function trainModel(options: TrainModelOptions): Promise<TrainModelResult> {
  const { candles } = options;
  if (candles.length === 0) throw new DataError('no candles to train on', { field: 'candles' });
  const horizon = options.horizon ?? 1;
  const lookback = options.lookback ?? 1;
  const labelThreshold = options.labelThreshold ?? 0;
  const validationFraction = options.validationFraction ?? 0.2;
  const featureSet = options.featureSet ?? 'relative';
  const ds = buildDataset(candles, { featureSet, horizon, lookback, labelThreshold });
  if (ds.rows < 10) {
    throw new DataError(
      `${candles.length} candles give only ${ds.rows} samples after the feature warm-up; train on more candles`,
      { field: 'candles' },
    );
  }
  const split = splitChronological(ds, validationFraction, horizon);
  const first = candles[0]!;
  const last = candles[candles.length - 1]!;
  const result = await fitOnDataset(split.train, split.validation, {
    ...options,
    source: {
      symbol: first.symbol,
      timeframe: first.timeframe,
      from: first.timestamp,
      to: last.timestamp,
      dataHash: hashCandles(candles),
    },
    extraOptions: { validationFraction, embargo: horizon, candles: candles.length },
  });
  return {
    ...result,
    dataset: {
      rows: ds.rows,
      cols: ds.cols,
      trainRows: split.train.rows,
      validationRows: split.validation.rows,
      embargo: split.validationStart - split.trainEnd,
    },
  };
}
