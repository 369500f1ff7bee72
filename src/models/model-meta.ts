/**
 * `meta.json` of a model directory: everything needed to feed the model the
 * same inputs it was trained on, and to judge it later.
 */
import path from 'node:path';
import { ModelError } from '../core/errors.js';
import { type FeatureSchema, parseFeatureSchema } from '../features/feature-schema.js';
import type { ScalerKind } from '../features/scaler.js';
import { TARGET_KINDS, type TargetKind } from '../features/targets.js';
import { CALIBRATION_FILE } from './calibration.js';

/** How a model runs (see model-kinds.ts): its files and the code that evaluates them. */
export type ModelKind = 'logistic' | 'tfjs' | 'python' | 'onnx' | 'gbdt';
export const MODEL_KINDS: readonly ModelKind[] = ['logistic', 'tfjs', 'python', 'onnx', 'gbdt'];

export const META_FILE = 'meta.json';
export { CALIBRATION_FILE };
export const SCALER_FILE = 'scaler.json';

/** Out-of-sample scores of a direction model next to the naive baselines, on the same rows. */
export interface ValidationMetrics {
  readonly rows: number;
  readonly accuracy: number;
  /** null when the rows hold only one class. */
  readonly rocAuc: number | null;
  readonly brier: number;
  readonly logLoss: number;
  /** Accuracy of always predicting the training set's majority class. */
  readonly majorityBaseline: number;
  /** Accuracy of always predicting "up". */
  readonly alwaysUpBaseline: number;
  /** Accuracy of "the next candle reverses the last" (absent in models saved before it was scored). */
  readonly reversalBaseline?: number;
  /** Accuracy of "the next candle continues the last". */
  readonly momentumBaseline?: number;
  /** Brier score of always predicting the base rate of these rows, b(1 - b). */
  readonly baseRateBrier?: number;
  /** Accuracy minus the best of the four baselines: the model's edge. */
  readonly edge?: number;
}

/** Out-of-sample scores of a return or volatility model next to its naive forecast, on the same rows. */
export interface RegressionMetrics {
  readonly rows: number;
  /** Mean absolute error, model and naive forecast (zero return; EWMA volatility). */
  readonly mae: number;
  readonly naiveMae: number;
  /** 1 - SSE(model) / SSE(naive): above 0 means closer than the naive forecast. */
  readonly r2VsNaive: number;
  /** 1 - SSE(model) / SST, SST around the rows' own mean. */
  readonly r2: number;
  /** Pearson correlation of forecast and outcome (null when either is constant). */
  readonly correlation: number | null;
  /** Volatility: mean QLIKE loss of the model and of the naive forecast (lower is better). */
  readonly qlike?: number;
  readonly naiveQlike?: number;
  /** Volatility: share of outcomes inside the model's 80% forecast interval. */
  readonly intervalHitRate?: number;
}

/** What the model predicts about the `horizon` candles after a candle (see features/targets.ts). */
export type LabelDefinition =
  | {
      readonly kind: 'direction';
      /** Candles ahead. */
      readonly horizon: number;
      /** Moves with |return| <= threshold were left out of training. */
      readonly threshold: number;
    }
  | { readonly kind: 'return' | 'volatility'; readonly horizon: number };

export interface ModelMeta {
  readonly formatVersion: 1;
  readonly kind: ModelKind;
  /** Free name given at training; the registry adds the version. */
  readonly name: string;
  /** Wall-clock creation time (ISO), metadata only. */
  readonly createdAt: string;
  readonly featureSchema: FeatureSchema;
  /** Feature rows per input (1 = the current candle only). */
  readonly lookback: number;
  /** featureSchema.features.length * lookback. */
  readonly inputWidth: number;
  readonly scaler: ScalerKind;
  readonly label: LabelDefinition;
  /**
   * How raw outputs became calibrated ones: fitted on rows after the fitting
   * (and early-stopping) rows, saved in calibration.json. Absent: uncalibrated.
   */
  readonly calibration?: {
    readonly method: 'platt' | 'isotonic' | 'residual';
    readonly rows: number;
    /** Open time of the first calibration row's candle. */
    readonly from: number;
  };
  /**
   * The predicted size of a move, E|log return| over the horizon, as `scale` x
   * the EWMA volatility of the candle (span `volatilitySpan`) x sqrt(horizon),
   * `scale` fitted on the training rows. Gives predictions their expected return.
   */
  readonly magnitude?: { readonly volatilitySpan: number; readonly scale: number };
  readonly training: {
    readonly symbol: string;
    readonly timeframe: string;
    /** Open time of the first and last candle used (ms UTC). */
    readonly from: number;
    readonly to: number;
    readonly trainRows: number;
    /** Share of "up" labels among the training rows (direction): its majority class is a baseline. */
    readonly upRate?: number;
    /** Open time of the first validation row's candle (rows from here on were not trained on); absent without validation. */
    readonly validationFrom?: number;
    /** sha256 of the candles (timestamp and OHLCV) trained on. */
    readonly dataHash: string;
    readonly seed: number;
    /** Architecture and optimiser settings as given. */
    readonly options: Readonly<Record<string, unknown>>;
  };
  /** Scores on held-out rows after everything the model was fitted, stopped or calibrated on (direction). */
  readonly validation?: ValidationMetrics;
  /** The same for a return or volatility model. */
  readonly regression?: RegressionMetrics;
  /** Library versions that produced the model. */
  readonly versions: Readonly<Record<string, string>>;
  /** Python models: the script (by file name, inside an allow-listed directory) and its sha256. */
  readonly python?: { readonly script: string; readonly scriptSha256: string };
  /** Models run by ONNX Runtime (kinds onnx and gbdt): the graph output read (see onnx-model.ts). */
  readonly onnx?: { readonly output: string };
}

/**
 * Parses and checks `meta.json` bytes. Every problem is a ModelError naming the
 * file (`where`/meta.json) and the field, e.g. `training.horizon`.
 */
export function parseModelMeta(data: Uint8Array | undefined, where = '.'): ModelMeta {
  const file = path.join(where, META_FILE);
  if (data === undefined) throw new ModelError('file is missing', { file });
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new ModelError(`not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
  const fail = (field: string, message: string): never => {
    throw new ModelError(message, { file, field });
  };
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : fail(field, 'must be an object');
  const str = (v: unknown, field: string): string => (typeof v === 'string' ? v : fail(field, 'must be a string'));
  const num = (v: unknown, field: string): number =>
    typeof v === 'number' && Number.isFinite(v) ? v : fail(field, 'must be a finite number');
  const int = (v: unknown, field: string, min: number): number =>
    Number.isInteger(v) && (v as number) >= min ? (v as number) : fail(field, `must be an integer >= ${min}`);

  const m = obj(value, 'meta');
  if (m.formatVersion !== 1) fail('formatVersion', `unsupported formatVersion ${String(m.formatVersion)} (expected 1)`);
  if (!MODEL_KINDS.includes(m.kind as ModelKind)) {
    fail('kind', `unknown model kind '${String(m.kind)}' (expected ${MODEL_KINDS.join(', ')})`);
  }
  const featureSchema = parseFeatureSchema(m.featureSchema, file);
  const lookback = int(m.lookback, 'lookback', 1);
  const inputWidth = int(m.inputWidth, 'inputWidth', 1);
  if (inputWidth !== featureSchema.features.length * lookback) {
    fail('inputWidth', `${inputWidth} does not equal ${featureSchema.features.length} features x lookback ${lookback}`);
  }
  if (m.scaler !== 'minmax' && m.scaler !== 'zscore') fail('scaler', `unknown scaler '${String(m.scaler)}'`);
  const label = obj(m.label, 'label');
  if (!TARGET_KINDS.includes(label.kind as TargetKind)) {
    fail('label.kind', `unknown label kind '${String(label.kind)}' (expected ${TARGET_KINDS.join(', ')})`);
  }
  int(label.horizon, 'label.horizon', 1);
  if (label.kind === 'direction' && num(label.threshold, 'label.threshold') < 0)
    fail('label.threshold', 'must be >= 0');
  if (m.calibration !== undefined) {
    const c = obj(m.calibration, 'calibration');
    if (c.method !== 'platt' && c.method !== 'isotonic' && c.method !== 'residual') {
      fail('calibration.method', `unknown calibration '${String(c.method)}'`);
    }
    int(c.rows, 'calibration.rows', 1);
    num(c.from, 'calibration.from');
  }
  if (m.magnitude !== undefined) {
    const g = obj(m.magnitude, 'magnitude');
    int(g.volatilitySpan, 'magnitude.volatilitySpan', 1);
    if (!(num(g.scale, 'magnitude.scale') > 0)) fail('magnitude.scale', 'must be > 0');
  }
  const training = obj(m.training, 'training');
  str(training.symbol, 'training.symbol');
  str(training.timeframe, 'training.timeframe');
  num(training.from, 'training.from');
  num(training.to, 'training.to');
  int(training.trainRows, 'training.trainRows', 1);
  str(training.dataHash, 'training.dataHash');
  int(training.seed, 'training.seed', 0);
  obj(training.options, 'training.options');
  if (training.validationFrom !== undefined) num(training.validationFrom, 'training.validationFrom');
  str(m.name, 'name');
  str(m.createdAt, 'createdAt');
  const versions = obj(m.versions, 'versions');
  for (const [k, v] of Object.entries(versions)) str(v, `versions.${k}`);
  if (m.validation !== undefined) {
    const v = obj(m.validation, 'validation');
    int(v.rows, 'validation.rows', 1);
    for (const k of ['accuracy', 'brier', 'logLoss', 'majorityBaseline', 'alwaysUpBaseline'])
      num(v[k], `validation.${k}`);
    for (const k of ['reversalBaseline', 'momentumBaseline', 'baseRateBrier', 'edge'])
      if (v[k] !== undefined) num(v[k], `validation.${k}`);
    if (v.rocAuc !== null) num(v.rocAuc, 'validation.rocAuc');
  }
  if (m.regression !== undefined) {
    const r = obj(m.regression, 'regression');
    int(r.rows, 'regression.rows', 1);
    for (const k of ['mae', 'naiveMae', 'r2VsNaive', 'r2']) num(r[k], `regression.${k}`);
  }
  if (m.kind === 'python' || m.python !== undefined) {
    const p = obj(m.python, 'python');
    str(p.script, 'python.script');
    if (!/^[0-9a-f]{64}$/.test(str(p.scriptSha256, 'python.scriptSha256'))) {
      fail('python.scriptSha256', 'must be 64 lowercase hex digits');
    }
  }
  return { ...(m as unknown as ModelMeta), featureSchema };
}
