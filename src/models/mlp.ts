/**
 * The default network: a multilayer perceptron of dense layers (64-32-16 by
 * default) with ReLU, one sigmoid output (probability of "up"), trained with
 * Adam on binary cross-entropy. Dropout is applied during training only, so the
 * saved model is a plain stack of Dense layers (which the fast single-row path
 * evaluates without TensorFlow.js).
 *
 * Initialisers are seeded per layer, so the same seed builds the same weights.
 */
import type * as Tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.js';
import { assertSeed, deriveSeed } from '../core/random.js';
import type { TfModule } from './tf-backend.js';

export interface EarlyStoppingOptions {
  /** Epochs without improvement of the validation loss before stopping (default 5). */
  readonly patience?: number;
  /** Smallest decrease of the validation loss that counts as an improvement (default 0). */
  readonly minDelta?: number;
}

export interface MlpOptions {
  /** Units of each hidden layer, input side first (default [64, 32, 16]). */
  readonly layers?: readonly number[];
  /** Dropout rate after each hidden layer while training, in [0, 1) (default 0). */
  readonly dropout?: number;
  /** Adam learning rate (default 0.001). */
  readonly learningRate?: number;
  /** Maximum passes over the training rows (default 30). */
  readonly epochs?: number;
  /** Rows per gradient step (default 256). */
  readonly batchSize?: number;
  /**
   * Stop when the loss on the (chronological) validation rows has not improved
   * for `patience` epochs and restore the best epoch's weights. `false` turns it
   * off; it is also off when no validation rows are given.
   */
  readonly earlyStopping?: EarlyStoppingOptions | false;
  /** Seeds initialisers, the shuffle order and dropout (default 42). */
  readonly seed?: number;
  /** Visit training rows in a seeded random order each epoch (default true); false keeps time order. */
  readonly shuffle?: boolean;
  /**
   * 'probability' (default): a sigmoid output trained on 0/1 labels with
   * binary cross-entropy; 'value': a linear output trained on real targets
   * with mean squared error (the return and volatility targets).
   */
  readonly output?: MlpOutput;
}

export type MlpOutput = 'probability' | 'value';

export interface ResolvedMlpOptions {
  readonly layers: readonly number[];
  readonly dropout: number;
  readonly learningRate: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly earlyStopping: { readonly patience: number; readonly minDelta: number } | false;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly output: MlpOutput;
}

export const DEFAULT_MLP_OPTIONS: ResolvedMlpOptions = {
  layers: [64, 32, 16],
  dropout: 0,
  learningRate: 0.001,
  epochs: 30,
  batchSize: 256,
  earlyStopping: { patience: 5, minDelta: 0 },
  seed: 42,
  shuffle: true,
  output: 'probability',
};

function positiveInt(value: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(`${field} must be an integer in [1, ${max}], got ${value}`, { field });
  }
  return value;
}

/** Fills defaults and checks every option; ConfigError names the bad one. */
export function resolveMlpOptions(options: MlpOptions = {}): ResolvedMlpOptions {
  const d = DEFAULT_MLP_OPTIONS;
  const layers = options.layers ?? d.layers;
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new ConfigError('layers must list at least one hidden layer size, e.g. 64,32,16', { field: 'layers' });
  }
  layers.forEach((u, i) => {
    positiveInt(u, `layers[${i}]`, 4096);
  });
  const dropout = options.dropout ?? d.dropout;
  if (!(dropout >= 0 && dropout < 1)) {
    throw new ConfigError(`dropout must be in [0, 1), got ${dropout}`, { field: 'dropout' });
  }
  const learningRate = options.learningRate ?? d.learningRate;
  if (!(learningRate > 0 && learningRate <= 1)) {
    throw new ConfigError(`learningRate must be in (0, 1], got ${learningRate}`, { field: 'learningRate' });
  }
  let earlyStopping: ResolvedMlpOptions['earlyStopping'] = d.earlyStopping;
  if (options.earlyStopping === false) earlyStopping = false;
  else if (options.earlyStopping !== undefined) {
    const patience = positiveInt(options.earlyStopping.patience ?? 5, 'earlyStopping.patience');
    const minDelta = options.earlyStopping.minDelta ?? 0;
    if (!(minDelta >= 0 && Number.isFinite(minDelta))) {
      throw new ConfigError(`earlyStopping.minDelta must be >= 0, got ${minDelta}`, {
        field: 'earlyStopping.minDelta',
      });
    }
    earlyStopping = { patience, minDelta };
  }
  return {
    layers: [...layers],
    dropout,
    learningRate,
    epochs: positiveInt(options.epochs ?? d.epochs, 'epochs', 100_000),
    batchSize: positiveInt(options.batchSize ?? d.batchSize, 'batchSize', 1_000_000),
    earlyStopping,
    seed: assertSeed(options.seed ?? d.seed),
    shuffle: options.shuffle ?? d.shuffle,
    output: resolveOutput(options.output ?? d.output),
  };
}

function resolveOutput(output: MlpOutput): MlpOutput {
  if (output !== 'probability' && output !== 'value') {
    throw new ConfigError(`output must be 'probability' or 'value', got '${String(output)}'`, { field: 'output' });
  }
  return output;
}

/**
 * A freshly initialised network for rows of `inputWidth` values. Layer names
 * are fixed (`dense_1`...), so the same options give byte-identical model files.
 */
export function buildMlp(tf: TfModule, inputWidth: number, options: ResolvedMlpOptions): Tf.Sequential {
  positiveInt(inputWidth, 'inputWidth');
  const model = tf.sequential({ name: 'quantflow_mlp' });
  const units = [...options.layers, 1];
  units.forEach((u, i) => {
    const last = i === units.length - 1;
    model.add(
      tf.layers.dense({
        name: `dense_${i + 1}`,
        units: u,
        activation: last ? (options.output === 'value' ? 'linear' : 'sigmoid') : 'relu',
        ...(i === 0 ? { inputShape: [inputWidth] } : {}),
        kernelInitializer: tf.initializers.glorotUniform({ seed: deriveSeed(options.seed, i + 1) }),
        biasInitializer: 'zeros',
      }),
    );
  });
  return model;
}
