/**
 * `meta.json` of a model directory: everything needed to feed the model the
 * same inputs it was trained on, and to judge it later.
 */
import type { FeatureSchema } from '../features/feature-schema.js';
import type { ScalerKind } from '../features/scaler.js';

export type ModelKind = 'tfjs' | 'python';

export const META_FILE = 'meta.json';
export const SCALER_FILE = 'scaler.json';

export interface ValidationMetrics {
  readonly rows: number;
  readonly accuracy: number;
  readonly rocAuc: number;
  readonly brier: number;
  readonly logLoss: number;
  /** Accuracy of always predicting the training set's majority class. */
  readonly majorityBaseline: number;
  /** Accuracy of always predicting "up". */
  readonly alwaysUpBaseline: number;
}

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
  readonly label: {
    readonly kind: 'direction';
    /** Candles ahead. */
    readonly horizon: number;
    /** Moves with |return| <= threshold were left out of training. */
    readonly threshold: number;
  };
  readonly training: {
    readonly symbol: string;
    readonly timeframe: string;
    /** Open time of the first and last candle used (ms UTC). */
    readonly from: number;
    readonly to: number;
    readonly trainRows: number;
    /** sha256 of the candles (timestamp and OHLCV) trained on. */
    readonly dataHash: string;
    readonly seed: number;
    /** Architecture and optimiser settings as given. */
    readonly options: Readonly<Record<string, unknown>>;
  };
  readonly validation?: ValidationMetrics;
  /** Library versions that produced the model. */
  readonly versions: Readonly<Record<string, string>>;
  /** Python models: the script (by file name, inside an allow-listed directory) and its sha256. */
  readonly python?: { readonly script: string; readonly scriptSha256: string };
}
