/**
 * A model trained elsewhere, exported to ONNX, made into a QuantFlow model
 * directory: model.onnx, meta.json (kind `onnx`: the feature schema and
 * lookback it takes, the label it predicts, the period it was trained on),
 * scaler.json (the one given, or the identity when the graph scales its own
 * inputs) and the manifest. The files are then loaded exactly as every
 * later load will (manifest, meta, scaler, the ONNX checks of onnx-model.ts),
 * so a model that would be refused later is refused now.
 */
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { lookbackColumnNames } from '../features/dataset.js';
import { type FeatureSchema, type FeatureSetName, featureNames } from '../features/feature-schema.js';
import { resolveFeatureSchema } from '../features/feature-sets.js';
import { FeatureScaler } from '../features/scaler.js';
import { assertTargetKind, type TargetKind } from '../features/targets.js';
import { loadModel } from './load-model.js';
import { type ModelFiles, sha256Hex, withManifest } from './model-files.js';
import { type LabelDefinition, META_FILE, type ModelMeta, SCALER_FILE } from './model-meta.js';
import { ONNX_MODEL_FILE, type OnnxLoadOptions, openOnnxModel } from './onnx-model.js';
import { packageVersion } from './train.js';

export interface ImportOnnxOptions {
  /** The .onnx file's bytes. */
  readonly onnx: Uint8Array;
  /** Its path, for messages and meta.json. */
  readonly file: string;
  /** The feature set the model takes (a name, or a schema checked against the known sets). */
  readonly features: FeatureSetName | FeatureSchema;
  /** Feature rows per input, oldest first (default 1). */
  readonly lookback?: number;
  /** A QuantFlow scaler.json (parsed JSON) applied before the model, or undefined: the graph takes raw features. */
  readonly scaler?: unknown;
  /** Default 'direction'. */
  readonly target?: TargetKind;
  /** Candles ahead the label looks (default 1). */
  readonly horizon?: number;
  /** Direction: moves of at most this size were left out of training (default 0). */
  readonly threshold?: number;
  /** The output to read (default: the only float32 output, or the one named like 'prob'). */
  readonly output?: string;
  readonly name: string;
  /** What it was trained on: shown in listings and used to warn about in-sample backtests. */
  readonly training: {
    readonly symbol?: string;
    readonly timeframe?: string;
    /** Open times (ms UTC) of the first and last candle trained on. */
    readonly from: number;
    readonly to: number;
    readonly rows: number;
  };
  readonly createdAt?: Date | string;
  /** How the model is run to check it (backend, device). */
  readonly load?: OnnxLoadOptions;
  readonly logger?: Logger;
}

export interface ImportedOnnx {
  /** model.onnx, meta.json, scaler.json and manifest.json. */
  readonly files: ModelFiles;
  readonly meta: ModelMeta;
  /** The output read, and what ran the check. */
  readonly output: string;
  readonly backend: string;
  readonly provider: string;
}

function integer(value: number, field: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${field} must be an integer >= ${min}, got ${value}`, { field });
  }
  return value;
}

/** The identity scaler (zscore with mean 0 and sd 1, no clipping) for a graph that scales its own inputs. */
function identityScaler(columns: readonly string[]): FeatureScaler {
  return FeatureScaler.fromJSON({
    format: 'quantflow-scaler',
    version: 1,
    kind: 'zscore',
    clip: false,
    clipSigma: 5,
    featureNames: columns,
    center: columns.map(() => 0),
    spread: columns.map(() => 1),
  });
}

const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/** Builds, checks and returns the model files of an ONNX model trained elsewhere. */
export async function importOnnxModel(o: ImportOnnxOptions): Promise<ImportedOnnx> {
  const schema = resolveFeatureSchema(o.features);
  const lookback = integer(o.lookback ?? 1, 'lookback', 1);
  const columns = lookbackColumnNames(featureNames(schema), lookback);
  const target = o.target ?? 'direction';
  assertTargetKind(target);
  const horizon = integer(o.horizon ?? 1, 'horizon', 1);
  const threshold = o.threshold ?? 0;
  if (!(threshold >= 0)) throw new ConfigError(`threshold must be >= 0, got ${threshold}`, { field: 'threshold' });
  const { from, to } = o.training;
  if (!Number.isFinite(from) || !Number.isFinite(to) || from > to) {
    throw new ConfigError(`the training period must run forward (from ${from} to ${to})`, { field: 'training.from' });
  }
  const trainRows = integer(o.training.rows, 'training.rows', 1);
  const scaler = o.scaler === undefined ? identityScaler(columns) : FeatureScaler.fromJSON(o.scaler, SCALER_FILE);

  const model = await openOnnxModel(
    o.onnx,
    { columns, target, ...(o.output !== undefined ? { output: o.output } : {}) },
    { ...o.load, where: o.file, ...(o.logger !== undefined ? { logger: o.logger } : {}) },
  );
  const { output, backend, provider, info } = model;
  await model.dispose();

  const label: LabelDefinition =
    target === 'direction' ? { kind: 'direction', horizon, threshold } : { kind: target, horizon };
  const createdAt =
    o.createdAt === undefined
      ? new Date().toISOString()
      : typeof o.createdAt === 'string'
        ? o.createdAt
        : o.createdAt.toISOString();
  const producer = [info.producer, info.producerVersion].filter((s) => s !== '').join(' ');
  const meta: ModelMeta = {
    formatVersion: 1,
    kind: 'onnx',
    name: o.name,
    createdAt,
    featureSchema: schema,
    lookback,
    inputWidth: columns.length,
    scaler: scaler.kind,
    label,
    training: {
      symbol: o.training.symbol ?? 'unknown',
      timeframe: o.training.timeframe ?? 'unknown',
      from,
      to,
      trainRows,
      // Trained elsewhere: the candles are not known here.
      dataHash: 'unknown',
      seed: 0,
      options: {
        featureSet: schema.name,
        target,
        horizon,
        lookback,
        labelThreshold: threshold,
        imported: {
          file: path.basename(o.file),
          sha256: sha256Hex(o.onnx),
          scaler: o.scaler === undefined ? 'none (the graph takes raw features)' : SCALER_FILE,
        },
      },
    },
    versions: {
      quantflow: packageVersion(),
      node: process.versions.node,
      ...(producer !== '' ? { onnxProducer: producer } : {}),
      onnxIrVersion: String(info.irVersion),
      onnxOpsets: Object.entries(info.opsets)
        .map(([d, v]) => `${d} ${v}`)
        .join(', '),
    },
    onnx: { output },
  };
  const files = withManifest(
    new Map([
      [ONNX_MODEL_FILE, o.onnx],
      [META_FILE, json(meta)],
      [SCALER_FILE, json(scaler.toJSON())],
    ]),
  );
  // The whole directory as every later load sees it.
  const predictor = await loadModel(files, {
    where: path.dirname(o.file),
    ...(o.load !== undefined ? { onnx: o.load } : {}),
    ...(o.logger !== undefined ? { logger: o.logger } : {}),
  });
  await predictor.dispose();
  return { files, meta, output, backend, provider };
}
