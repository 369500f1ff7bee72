/**
 * The TensorFlow.js backend of a model: a layers model (model.json +
 * weights.bin) answering scaled rows. Small batches go through the plain
 * typed-array forward pass (no TensorFlow.js call at all); big batches through
 * `model.predict` with a large batch size (the default of 32 is about 100x
 * slower on the wasm backend, which pays a Slice per batch).
 */
import type * as Tf from '@tensorflow/tfjs';
import { DataError, ModelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DenseForward } from './dense-forward.js';
import type { ModelFiles } from './model-files.js';
import type { ScaledModel } from './scaled-model.js';
import { loadTf, type TfRuntime } from './tf-backend.js';
import { filesToLayersModel, layersModelToFiles } from './tfjs-model-io.js';

export interface TfjsModelOptions {
  /** Batches of at most this many rows use the typed-array fast path (default 32, about where tfjs catches up). 0 disables it. */
  fastPathMaxRows?: number;
  /** Rows per `model.predict` slice for big batches (default 16384). */
  predictBatchSize?: number;
  /** Where the files came from, for error messages. */
  where?: string;
  logger?: Logger;
}

export const DEFAULT_FAST_PATH_MAX_ROWS = 32;
export const DEFAULT_PREDICT_BATCH_SIZE = 16_384;

export class TfjsScaledModel implements ScaledModel {
  readonly inputWidth: number;
  /** The typed-array forward pass, or undefined when the topology is not a plain Dense stack. */
  readonly fastPath: DenseForward | undefined;
  /** Why there is no fast path (when there is none). */
  readonly fastPathUnavailable: string | undefined;
  private readonly fastPathMaxRows: number;
  private readonly predictBatchSize: number;
  private disposed = false;

  constructor(
    readonly runtime: TfRuntime,
    readonly model: Tf.LayersModel,
    options: TfjsModelOptions = {},
  ) {
    const input = model.inputs[0]?.shape;
    const output = model.outputs[0]?.shape;
    const where = options.where;
    if (model.inputs.length !== 1 || input?.length !== 2 || typeof input[1] !== 'number') {
      throw new ModelError('model must take one input of shape [rows, features]', { file: where, field: 'inputs' });
    }
    if (model.outputs.length !== 1 || output?.length !== 2 || output[1] !== 1) {
      throw new ModelError('model must give one output of shape [rows, 1] (probability of up)', {
        file: where,
        field: 'outputs',
      });
    }
    this.inputWidth = input[1];
    this.fastPathMaxRows = options.fastPathMaxRows ?? DEFAULT_FAST_PATH_MAX_ROWS;
    this.predictBatchSize = options.predictBatchSize ?? DEFAULT_PREDICT_BATCH_SIZE;
    const fast = this.fastPathMaxRows > 0 ? DenseForward.fromLayersModel(model) : 'disabled';
    this.fastPath = typeof fast === 'string' ? undefined : fast;
    this.fastPathUnavailable = typeof fast === 'string' ? fast : undefined;
    if (typeof fast === 'string' && fast !== 'disabled') {
      options.logger?.debug('no fast path for this model; every prediction goes through tensorflow.js', {
        reason: fast,
      });
    }
  }

  /** The backend TensorFlow.js runs on ('node', 'wasm' or 'cpu'). */
  get backend(): string {
    return this.runtime.backend;
  }

  async predictScaled(rows: Float32Array): Promise<Float32Array> {
    const n = this.rowCount(rows);
    if (this.fastPath !== undefined && n <= this.fastPathMaxRows) return this.fastPath.predict(rows, n);
    return this.predictWithTf(rows);
  }

  /** Synchronous small-batch prediction on the fast path (throws ModelError when the model has none). */
  predictFast(rows: Float32Array): Float32Array {
    const n = this.rowCount(rows);
    if (this.fastPath === undefined) {
      throw new ModelError(`no fast path for this model: ${this.fastPathUnavailable ?? 'disabled'}`);
    }
    return this.fastPath.predict(rows, n);
  }

  /** Always through TensorFlow.js (`model.predict` with a large batch size). */
  async predictWithTf(rows: Float32Array): Promise<Float32Array> {
    const n = this.rowCount(rows);
    if (n === 0) return new Float32Array(0);
    const { tf } = this.runtime;
    const out = tf.tidy(() => {
      const x = tf.tensor2d(rows, [n, this.inputWidth]);
      return this.model.predict(x, { batchSize: Math.min(n, this.predictBatchSize) }) as Tf.Tensor;
    });
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  /** `model.json` + `weights.bin` of this model. */
  toFiles(): Promise<Map<string, Uint8Array>> {
    if (this.disposed) throw new ModelError('model was disposed');
    return layersModelToFiles(this.runtime.tf, this.model);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }

  private rowCount(rows: Float32Array): number {
    if (this.disposed) throw new ModelError('model was disposed');
    if (rows.length % this.inputWidth !== 0) {
      throw new DataError(`expected a multiple of ${this.inputWidth} values, got ${rows.length}`, { field: 'rows' });
    }
    return rows.length / this.inputWidth;
  }
}

/** Loads the TensorFlow.js model of `files` (already verified against the manifest). */
export async function loadTfjsModel(files: ModelFiles, options: TfjsModelOptions = {}): Promise<TfjsScaledModel> {
  const runtime = await loadTf({ ...(options.logger !== undefined ? { logger: options.logger } : {}) });
  const model = await filesToLayersModel(runtime.tf, files, options.where);
  try {
    return new TfjsScaledModel(runtime, model, options);
  } catch (err) {
    model.dispose();
    throw err;
  }
}
