/**
 * Leak analysis of a model's predictions: the features of its own schema (see
 * features/leak-analysis.ts) and then its predictions, treated as a one-column
 * pipeline: candles -> feature rows (streaming and batch extractor) -> the
 * model's `lookback` rows per input, float32 as in training and live -> ONE
 * `predictBatch` per series. A prediction at candle t that changes when the
 * candles after t are removed is look-ahead, whether it comes from the
 * features, the input assembly or the model itself (e.g. statistics taken
 * over the whole batch); one that changes with the amount of earlier history
 * shows how long a live predictor must warm up.
 */
import type { Candle } from '../core/types.js';
import { extractFeaturesBatch } from '../features/batch-extractor.js';
import { type FeatureSchema, schemaWarmup } from '../features/feature-schema.js';
import { resolveFeatureSchema } from '../features/feature-sets.js';
import {
  analyzeLeaks,
  type LeakAnalysisOptions,
  type LeakReport,
  type NamedExtract,
  streamingFeatureRows,
} from '../features/leak-analysis.js';
import type { Predictor } from './predictor.js';

export interface ModelLeakAnalysisOptions
  extends Omit<LeakAnalysisOptions, 'extract' | 'featureSet' | 'featureNames' | 'warmup'> {
  readonly predictor: Predictor;
  /** Also check the features of the model's schema (default true). */
  readonly features?: boolean;
  /** Warm-up agreement of predictions, absolute (probabilities are float32; default 1e-6). */
  readonly predictionTolerance?: number;
  /** A prediction further than this from its full-history value at `warmupHistory` is an error (default 1e-4). */
  readonly predictionFailTolerance?: number;
}

export interface ModelLeakReport {
  readonly model: {
    readonly modelVersion: string;
    readonly featureSet: string;
    readonly lookback: number;
    readonly horizon: number;
  };
  /** The model's feature set through both extractors (absent with `features: false`). */
  readonly features?: LeakReport;
  /** The column 'prediction', from streaming and from batch features. */
  readonly predictions: LeakReport;
  /** Neither features nor predictions look ahead or stay history-dependent. */
  readonly ok: boolean;
}

export const PREDICTION_LEAK_DEFAULTS = Object.freeze({ tolerance: 1e-6, failTolerance: 1e-4 });

/** Probabilities of every candle of `candles` (NaN before the first complete input), from one feature source. */
export async function predictSeries(
  predictor: Predictor,
  candles: readonly Candle[],
  source: 'streaming' | 'batch' = 'streaming',
): Promise<Float64Array> {
  const schema: FeatureSchema = resolveFeatureSchema(predictor.meta.featureSchema);
  const lookback = predictor.meta.lookback;
  const nf = schema.features.length;
  const n = candles.length;
  const features =
    source === 'streaming' ? streamingFeatureRows(candles, schema) : extractFeaturesBatch(candles, schema).values;
  const first = schemaWarmup(schema) + lookback - 1;
  const out = new Float64Array(n).fill(Number.NaN);
  if (first >= n) return out;
  const width = nf * lookback;
  const inputs = new Float32Array((n - first) * width);
  // Rows t-lookback+1 .. t are contiguous, oldest first (as buildDataset lays them out).
  for (let t = first; t < n; t++) {
    inputs.set(features.subarray((t - lookback + 1) * nf, (t + 1) * nf), (t - first) * width);
  }
  const p = await predictor.predictBatch(inputs);
  for (let i = 0; i < p.length; i++) out[first + i] = p[i]!;
  return out;
}

/** The model's predictions as two pipelines to check: from streaming features and from batch features. */
export function predictionExtractors(predictor: Predictor): NamedExtract[] {
  return [
    { name: 'streaming', extract: (c) => predictSeries(predictor, c, 'streaming') },
    { name: 'batch', extract: (c) => predictSeries(predictor, c, 'batch') },
  ];
}

/** Features of the model's schema, then its predictions, at the same sampled candles. */
export async function analyzeModelLeaks(options: ModelLeakAnalysisOptions): Promise<ModelLeakReport> {
  const {
    predictor,
    features: checkFeatures = true,
    predictionTolerance = PREDICTION_LEAK_DEFAULTS.tolerance,
    predictionFailTolerance = PREDICTION_LEAK_DEFAULTS.failTolerance,
    onProgress,
    ...common
  } = options;
  const schema = resolveFeatureSchema(predictor.meta.featureSchema);
  const lookback = predictor.meta.lookback;
  const warmup = schemaWarmup(schema) + lookback - 1;
  // One progress scale over both parts: features count as the first half when checked.
  const parts = checkFeatures ? 2 : 1;
  const progress = (part: number) =>
    onProgress === undefined
      ? undefined
      : (done: number, total: number) => onProgress(part * total + done, parts * total);

  const features = checkFeatures
    ? await analyzeLeaks({ ...common, featureSet: schema, ...withProgress(progress(0)) })
    : undefined;
  const predictions = await analyzeLeaks({
    ...common,
    extract: predictionExtractors(predictor),
    featureNames: ['prediction'],
    warmup,
    tolerance: predictionTolerance,
    failTolerance: predictionFailTolerance,
    ...withProgress(progress(parts - 1)),
  });
  return {
    model: {
      modelVersion: predictor.modelVersion,
      featureSet: schema.name,
      lookback,
      horizon: predictor.meta.label.horizon,
    },
    ...(features !== undefined ? { features } : {}),
    predictions,
    ok: predictions.ok && (features?.ok ?? true),
  };
}

function withProgress(
  onProgress: ((done: number, total: number) => void) | undefined,
): Pick<LeakAnalysisOptions, 'onProgress'> {
  return onProgress === undefined ? {} : { onProgress };
}
