/**
 * Model files -> Predictor. Order matters: the manifest is verified first (no
 * byte is parsed before its sha256 is checked), then meta.json and scaler.json
 * are parsed with errors naming file and field, the feature schema is compared
 * with what the caller will feed, and only then is a backend started.
 */
import path from 'node:path';
import { ModelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { lookbackColumnNames } from '../features/dataset.js';
import { assertSameSchema, type FeatureSchema, featureNames } from '../features/feature-schema.js';
import { FeatureScaler } from '../features/scaler.js';
import { CALIBRATION_FILE, type Calibration, parseCalibration } from './calibration.js';
import { MANIFEST_FILE, type ModelFiles, readModelDirectory, sha256Hex, verifyModelFiles } from './model-files.js';
import { type KindLoadOptions, loadScaledModel, type PythonLoadOptions } from './model-kinds.js';
import { META_FILE, type ModelMeta, parseModelMeta, SCALER_FILE } from './model-meta.js';
import { ModelPredictor } from './model-predictor.js';

export type { PythonLoadOptions };

export interface LoadModelOptions {
  /** Name of the exact weights, e.g. 'btc-1h@v3' (default: `name@` + 12 hex digits of the manifest's sha256). */
  modelVersion?: string;
  /** Where the files came from (directory or registry entry), for error messages. */
  where?: string;
  python?: PythonLoadOptions;
  /** Entries of the LRU cache of single-row predictions (default 0: off). */
  cache?: number;
  /** The schema the caller will feed; a mismatch is a ModelError listing every difference. */
  expectedSchema?: FeatureSchema;
  logger?: Logger;
  /** Tuning of the TensorFlow.js backend. */
  tfjs?: KindLoadOptions['tfjs'];
  /** ONNX Runtime backend, device and threads (kinds onnx and gbdt). */
  onnx?: KindLoadOptions['onnx'];
}

/** `name@` and the first 12 hex digits of the manifest's sha256: changes whenever any file changes. */
export function defaultModelVersion(meta: ModelMeta, files: ModelFiles): string {
  const manifest = files.get(MANIFEST_FILE);
  return manifest === undefined ? meta.name : `${meta.name}@${sha256Hex(manifest).slice(0, 12)}`;
}

/** Parses scaler.json and checks it matches the model's columns. */
export function parseScalerFile(files: ModelFiles, meta: ModelMeta, where = '.'): FeatureScaler {
  const file = path.join(where, SCALER_FILE);
  const data = files.get(SCALER_FILE);
  if (data === undefined) throw new ModelError('file is missing', { file });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new ModelError(`not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
  const scaler = FeatureScaler.fromJSON(json, file);
  if (scaler.kind !== meta.scaler) {
    throw new ModelError(`scaler kind '${scaler.kind}' differs from meta.json's '${meta.scaler}'`, {
      file,
      field: 'kind',
    });
  }
  const expected = lookbackColumnNames(featureNames(meta.featureSchema), meta.lookback);
  const actual = scaler.featureNames;
  const j = expected.findIndex((name, i) => actual[i] !== name);
  if (actual.length !== expected.length || j >= 0) {
    throw new ModelError(
      actual.length !== expected.length
        ? `scaler has ${actual.length} columns but the model takes ${expected.length}`
        : `scaler column ${j} is '${actual[j]}' but the model's is '${expected[j]}'`,
      { file, field: 'featureNames' },
    );
  }
  return scaler;
}

/** Parses calibration.json when meta.json says the model is calibrated; ModelError if it is missing or does not match. */
export function parseCalibrationFile(files: ModelFiles, meta: ModelMeta, where = '.'): Calibration | undefined {
  const file = path.join(where, CALIBRATION_FILE);
  const data = files.get(CALIBRATION_FILE);
  if (meta.calibration === undefined) {
    if (data !== undefined) throw new ModelError('meta.json names no calibration but the file is there', { file });
    return undefined;
  }
  if (data === undefined) throw new ModelError('file is missing (meta.json says the model is calibrated)', { file });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new ModelError(`not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
  const calibration = parseCalibration(json, file);
  if (calibration.method !== meta.calibration.method) {
    throw new ModelError(`method '${calibration.method}' differs from meta.json's '${meta.calibration.method}'`, {
      file,
      field: 'calibration.method',
    });
  }
  return calibration;
}

/** Verifies, parses and loads model files into a Predictor. */
export async function loadModel(files: ModelFiles, options: LoadModelOptions = {}): Promise<ModelPredictor> {
  const where = options.where ?? '.';
  verifyModelFiles(files, where);
  const meta = parseModelMeta(files.get(META_FILE), where);
  const scaler = parseScalerFile(files, meta, where);
  const calibration = parseCalibrationFile(files, meta, where);
  if (options.expectedSchema !== undefined) assertSameSchema(meta.featureSchema, options.expectedSchema);

  const model = await loadScaledModel(files, meta, {
    where,
    ...(options.python !== undefined ? { python: options.python } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.tfjs !== undefined ? { tfjs: options.tfjs } : {}),
    ...(options.onnx !== undefined ? { onnx: options.onnx } : {}),
  });
  try {
    return new ModelPredictor(model, scaler, meta, {
      modelVersion: options.modelVersion ?? defaultModelVersion(meta, files),
      ...(calibration !== undefined ? { calibration } : {}),
      ...(options.cache !== undefined ? { cache: options.cache } : {}),
    });
  } catch (err) {
    await model.dispose();
    throw err;
  }
}

/** Reads a model directory (verifying its manifest) and loads it. */
export async function loadModelDirectory(dir: string, options: LoadModelOptions = {}): Promise<ModelPredictor> {
  const files = await readModelDirectory(dir);
  return loadModel(files, { where: path.resolve(dir), ...options });
}
