/**
 * Training loop of the MLP. A hand-written loop rather than `model.fit` so that
 * nothing random escapes the seed: rows are visited in a seeded order (or in
 * time order), dropout masks are seeded per step, and early stopping restores
 * the best epoch's weights. The same seed and data give identical weights.
 *
 * Every tensor is created and released inside this module (tidy/dispose): after
 * training the only live tensors are the returned model's weights.
 */
import type * as Tf from '@tensorflow/tfjs';
import { ConfigError, DataError } from '../core/errors.js';
import { createRng, deriveSeed, seededPermutation } from '../core/random.js';
import { buildMlp, type MlpOptions, type ResolvedMlpOptions, resolveMlpOptions } from './mlp.js';
import type { TfModule, TfRuntime } from './tf-backend.js';

/** Row-major scaled features and targets (0/1 labels for a probability output). */
export interface TrainingRows {
  readonly x: Float32Array;
  readonly y: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

export interface EpochLog {
  /** 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  /** Mean training loss of the epoch (binary cross-entropy, or squared error for a value output; dropout active). */
  readonly loss: number;
  readonly validationLoss?: number;
  readonly seconds: number;
  /** Training rows processed per second in this epoch. */
  readonly samplesPerSecond: number;
}

export interface MlpTrainingHooks {
  /** Called after every epoch; may be async. */
  onEpoch?: (log: EpochLog) => void | Promise<void>;
}

export interface MlpTrainingResult {
  readonly model: Tf.Sequential;
  readonly options: ResolvedMlpOptions;
  readonly history: readonly EpochLog[];
  /** Epoch whose weights were kept (1-based). */
  readonly bestEpoch: number;
  readonly epochsRun: number;
  readonly stoppedEarly: boolean;
  /** Mean training throughput over all epochs (rows per second). */
  readonly samplesPerSecond: number;
}

/** Rows per forward pass when scoring the validation set. */
const EVAL_CHUNK = 8192;

function checkRows(data: TrainingRows, what: string, binary: boolean): void {
  if (!Number.isInteger(data.rows) || data.rows < 1) {
    throw new DataError(`${what} set has no rows`, { field: what });
  }
  if (data.x.length !== data.rows * data.cols || data.y.length !== data.rows) {
    throw new DataError(
      `${what} set has ${data.x.length} feature values and ${data.y.length} labels for ${data.rows} rows of ${data.cols}`,
      { field: what },
    );
  }
  for (let i = 0; i < data.y.length; i++) {
    const v = data.y[i]!;
    if (binary ? v !== 0 && v !== 1 : !Number.isFinite(v)) {
      throw new DataError(`label ${v} is not ${binary ? '0 or 1' : 'a finite number'}`, {
        field: `${what}.labels`,
        index: i,
      });
    }
  }
  for (let i = 0; i < data.x.length; i++) {
    if (!Number.isFinite(data.x[i]!)) {
      throw new DataError(`feature value is ${data.x[i]} in row ${Math.floor(i / data.cols)}`, {
        field: `${what}.features`,
        index: i % data.cols,
      });
    }
  }
}

interface DenseVars {
  readonly kernel: Tf.Variable;
  readonly bias: Tf.Variable;
}

function denseVariables(model: Tf.Sequential): DenseVars[] {
  return model.layers.map((layer) => {
    const [kernel, bias] = layer.trainableWeights.map((w) => (w as unknown as { read(): Tf.Variable }).read());
    if (kernel === undefined || bias === undefined) throw new ConfigError(`layer ${layer.name} has no kernel and bias`);
    return { kernel, bias };
  });
}

/**
 * Logits of the network: the same arithmetic as the Dense layers (x W + b, ReLU
 * on hidden layers) with the sigmoid left out so the loss is computed stably
 * from logits. Dropout only when `dropoutSeed` is given.
 */
function forwardLogits(
  tf: TfModule,
  x: Tf.Tensor2D,
  vars: readonly DenseVars[],
  dropout: number,
  dropoutSeed: number | undefined,
): Tf.Tensor2D {
  let h: Tf.Tensor2D = x;
  vars.forEach((v, i) => {
    const last = i === vars.length - 1;
    h = tf.fused.matMul({
      a: h,
      b: v.kernel as Tf.Tensor2D,
      bias: v.bias,
      activation: last ? 'linear' : 'relu',
    }) as Tf.Tensor2D;
    if (!last && dropout > 0 && dropoutSeed !== undefined) {
      h = tf.dropout(h, dropout, undefined, dropoutSeed + i) as Tf.Tensor2D;
    }
  });
  return h;
}

/** The training loss from the network's last layer before its output activation. */
function lossOf(tf: TfModule, output: ResolvedMlpOptions['output'], y: Tf.Tensor2D, logits: Tf.Tensor2D, sum = false) {
  const reduction = sum ? tf.Reduction.SUM : tf.Reduction.SUM_BY_NONZERO_WEIGHTS;
  return output === 'value'
    ? tf.losses.meanSquaredError(y, logits, undefined, reduction)
    : tf.losses.sigmoidCrossEntropy(y, logits, undefined, 0, reduction);
}

/** Mean loss of the model on `data`, in chunks, without dropout. */
function meanLoss(
  rt: TfRuntime,
  data: TrainingRows,
  vars: readonly DenseVars[],
  output: ResolvedMlpOptions['output'],
): number {
  const { tf } = rt;
  let sum = 0;
  for (let start = 0; start < data.rows; start += EVAL_CHUNK) {
    const n = Math.min(EVAL_CHUNK, data.rows - start);
    const part = tf.tidy(() => {
      const x = tf.tensor2d(data.x.subarray(start * data.cols, (start + n) * data.cols), [n, data.cols]);
      const y = tf.tensor2d(data.y.subarray(start, start + n), [n, 1]);
      return lossOf(tf, output, y, forwardLogits(tf, x, vars, 0, undefined), true);
    });
    sum += (part.dataSync() as Float32Array)[0]!;
    part.dispose();
  }
  return sum / data.rows;
}

/**
 * Trains a new MLP on `train`; with `validation`, reports its loss per epoch
 * and (unless disabled) stops early, keeping the best epoch's weights.
 */
export async function trainMlp(
  rt: TfRuntime,
  train: TrainingRows,
  validation: TrainingRows | undefined,
  options: MlpOptions = {},
  hooks: MlpTrainingHooks = {},
): Promise<MlpTrainingResult> {
  const opts = resolveMlpOptions(options);
  const binary = opts.output === 'probability';
  checkRows(train, 'train', binary);
  if (validation !== undefined) {
    checkRows(validation, 'validation', binary);
    if (validation.cols !== train.cols) {
      throw new DataError(`validation rows have ${validation.cols} values, training rows ${train.cols}`, {
        field: 'validation',
      });
    }
  }
  const { tf } = rt;
  const cols = train.cols;
  const model = buildMlp(tf, cols, opts);
  const vars = denseVariables(model);
  const varList = vars.flatMap((v) => [v.kernel, v.bias]);
  const optimizer = tf.train.adam(opts.learningRate);
  const order = new Int32Array(train.rows);
  const shuffleRng = createRng(deriveSeed(opts.seed, 1000));
  const dropoutBase = deriveSeed(opts.seed, 2000);
  const xBatch = new Float32Array(Math.min(opts.batchSize, train.rows) * cols);
  const yBatch = new Float32Array(Math.min(opts.batchSize, train.rows));

  const stopping = validation !== undefined ? opts.earlyStopping : false;
  const history: EpochLog[] = [];
  let best: { loss: number; epoch: number; weights: Tf.Tensor[] } | undefined;
  let sinceBest = 0;
  let stoppedEarly = false;
  let step = 0;
  let totalSeconds = 0;

  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const t0 = performance.now();
      if (opts.shuffle) seededPermutation(order, shuffleRng);
      else for (let i = 0; i < order.length; i++) order[i] = i;

      let lossSum = tf.scalar(0);
      for (let start = 0; start < train.rows; start += opts.batchSize) {
        const n = Math.min(opts.batchSize, train.rows - start);
        for (let k = 0; k < n; k++) {
          const r = order[start + k]!;
          xBatch.set(train.x.subarray(r * cols, (r + 1) * cols), k * cols);
          yBatch[k] = train.y[r]!;
        }
        step++;
        const dropoutSeed = opts.dropout > 0 ? (dropoutBase + step * 7919) % 0x7fffffff : undefined;
        const next = tf.tidy(() => {
          const x = tf.tensor2d(xBatch.subarray(0, n * cols), [n, cols]);
          const y = tf.tensor2d(yBatch.subarray(0, n), [n, 1]);
          const cost = optimizer.minimize(
            () => lossOf(tf, opts.output, y, forwardLogits(tf, x, vars, opts.dropout, dropoutSeed)) as Tf.Scalar,
            true,
            varList,
          ) as Tf.Scalar;
          return tf.add(lossSum, tf.mul(cost, n)) as Tf.Scalar;
        });
        lossSum.dispose();
        lossSum = next;
      }
      const loss = (lossSum.dataSync() as Float32Array)[0]! / train.rows;
      lossSum.dispose();
      const validationLoss = validation !== undefined ? meanLoss(rt, validation, vars, opts.output) : undefined;
      const seconds = (performance.now() - t0) / 1000;
      totalSeconds += seconds;
      const log: EpochLog = {
        epoch,
        epochs: opts.epochs,
        loss,
        ...(validationLoss !== undefined ? { validationLoss } : {}),
        seconds,
        samplesPerSecond: train.rows / seconds,
      };
      history.push(log);
      await hooks.onEpoch?.(log);

      if (stopping !== false && validationLoss !== undefined) {
        if (best === undefined || validationLoss < best.loss - stopping.minDelta) {
          for (const w of best?.weights ?? []) w.dispose();
          best = { loss: validationLoss, epoch, weights: varList.map((v) => tf.keep(v.clone())) };
          sinceBest = 0;
        } else if (++sinceBest >= stopping.patience) {
          stoppedEarly = epoch < opts.epochs;
          break;
        }
      }
    }
    if (best !== undefined && best.epoch !== history.length) {
      varList.forEach((v, i) => {
        v.assign(best!.weights[i]!);
      });
    }
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    for (const w of best?.weights ?? []) w.dispose();
    optimizer.dispose();
  }

  return {
    model,
    options: opts,
    history,
    bestEpoch: best?.epoch ?? history.length,
    epochsRun: history.length,
    stoppedEarly,
    samplesPerSecond: (train.rows * history.length) / Math.max(totalSeconds, 1e-9),
  };
}
