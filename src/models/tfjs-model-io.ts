/**
 * TensorFlow.js layers models <-> ModelFiles, in memory, in the standard
 * TensorFlow.js layers format: `model.json` (topology plus weights manifest)
 * and `weights.bin` (the weight bytes). That is exactly what tfjs-node's
 * `file://` handler writes and reads, so models move both ways between this
 * pure-JS backend and tfjs-node. Pure tfjs has no file handler, hence this small
 * IOHandler over bytes: files are verified against the manifest before they get
 * here, and are never read from disk behind the verifier's back.
 */
import path from 'node:path';
import type * as Tf from '@tensorflow/tfjs';
import { ModelError } from '../core/errors.js';
import { assertModelFileName, type ModelFiles } from './model-files.js';
import type { TfModule } from './tf-backend.js';

export const TFJS_MODEL_FILE = 'model.json';
export const TFJS_WEIGHTS_FILE = 'weights.bin';

type ModelArtifacts = Tf.io.ModelArtifacts;
type ModelJSON = Tf.io.ModelJSON;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function weightBytes(data: Tf.io.WeightData | undefined, tf: TfModule): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const buffer = Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : (data as ArrayBuffer);
  return new Uint8Array(buffer);
}

/** `model.json` and `weights.bin` of a layers model (the same two files tfjs-node's `file://` handler writes). */
export async function layersModelToFiles(tf: TfModule, model: Tf.LayersModel): Promise<Map<string, Uint8Array>> {
  let captured: ModelArtifacts | undefined;
  const handler: Tf.io.IOHandler = {
    save: async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
  await model.save(handler);
  if (captured === undefined || captured.modelTopology === undefined || captured.modelTopology instanceof ArrayBuffer) {
    throw new ModelError('TensorFlow.js produced no JSON model topology', { file: TFJS_MODEL_FILE });
  }
  const a = captured;
  const json: ModelJSON = {
    modelTopology: a.modelTopology as object,
    ...(a.format !== undefined ? { format: a.format } : {}),
    ...(a.generatedBy !== undefined ? { generatedBy: a.generatedBy } : {}),
    ...(a.convertedBy !== undefined ? { convertedBy: a.convertedBy } : {}),
    weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: a.weightSpecs ?? [] }],
    ...(a.trainingConfig !== undefined ? { trainingConfig: a.trainingConfig } : {}),
    ...(a.signature !== undefined ? { signature: a.signature } : {}),
    ...(a.userDefinedMetadata !== undefined ? { userDefinedMetadata: a.userDefinedMetadata } : {}),
    ...(a.modelInitializer !== undefined ? { modelInitializer: a.modelInitializer } : {}),
  };
  return new Map([
    [TFJS_MODEL_FILE, encoder.encode(JSON.stringify(json))],
    [TFJS_WEIGHTS_FILE, weightBytes(a.weightData, tf)],
  ]);
}

/**
 * Reassembles the artifacts of `model.json` from `files`: every weights path of
 * the manifest must name a plain file of the same model (no directories).
 * `where` (the model's directory or registry entry) is used in error messages.
 */
export function filesToModelArtifacts(files: ModelFiles, where = '.'): ModelArtifacts {
  const file = path.join(where, TFJS_MODEL_FILE);
  const raw = files.get(TFJS_MODEL_FILE);
  if (raw === undefined) throw new ModelError(`${TFJS_MODEL_FILE} is missing`, { file });
  let json: ModelJSON;
  try {
    json = JSON.parse(decoder.decode(raw)) as ModelJSON;
  } catch (err) {
    throw new ModelError(`not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
  if (
    json === null ||
    typeof json !== 'object' ||
    typeof json.modelTopology !== 'object' ||
    json.modelTopology === null
  ) {
    throw new ModelError('no modelTopology object: not a TensorFlow.js layers model', { file, field: 'modelTopology' });
  }
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new ModelError(`format '${json.format}' is not supported (expected 'layers-model')`, {
      file,
      field: 'format',
    });
  }
  if (!Array.isArray(json.weightsManifest)) {
    throw new ModelError('weightsManifest must be an array', { file, field: 'weightsManifest' });
  }
  const weightSpecs: Tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  json.weightsManifest.forEach((group, g) => {
    const field = `weightsManifest[${g}]`;
    if (group === null || typeof group !== 'object' || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new ModelError('weights group needs paths and weights arrays', { file, field });
    }
    for (const p of group.paths) {
      const name = typeof p === 'string' ? p.replace(/^\.\//, '') : '';
      try {
        assertModelFileName(name);
      } catch {
        throw new ModelError(`weights path '${String(p)}' is not a plain file name of this model`, { file, field });
      }
      const data = files.get(name);
      if (data === undefined) throw new ModelError(`weights file '${name}' is missing`, { file, field });
      parts.push(data);
    }
    weightSpecs.push(...group.weights);
  });
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    weightData.set(p, offset);
    offset += p.byteLength;
  }
  return {
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData: weightData.buffer,
    ...(json.format !== undefined ? { format: json.format } : {}),
    ...(json.generatedBy !== undefined ? { generatedBy: json.generatedBy } : {}),
    ...(json.convertedBy !== undefined ? { convertedBy: json.convertedBy } : {}),
    ...(json.trainingConfig !== undefined ? { trainingConfig: json.trainingConfig } : {}),
    ...(json.userDefinedMetadata !== undefined ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
  };
}

/** Loads a layers model from `model.json` and its weights files in `files` (already verified). */
export async function filesToLayersModel(tf: TfModule, files: ModelFiles, where = '.'): Promise<Tf.LayersModel> {
  const artifacts = filesToModelArtifacts(files, where);
  try {
    // strict: every weight in the file must match a weight of the topology.
    return await tf.loadLayersModel({ load: async () => artifacts }, { strict: true });
  } catch (err) {
    throw new ModelError(
      `TensorFlow.js cannot load the model (${(err as Error).message})`,
      {
        file: path.join(where, TFJS_MODEL_FILE),
      },
      {
        cause: err,
      },
    );
  }
}
