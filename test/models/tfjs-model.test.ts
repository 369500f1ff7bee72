/**
 * The TensorFlow.js backend: the typed-array fast path equals tfjs's own
 * forward pass, nothing leaks tensors, the same seed trains the same weights,
 * and the layers format loads both ways (including a model.json written the
 * way tfjs-node's file:// handler writes a compiled model).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDataset } from '../../src/features/dataset.js';
import { splitChronological } from '../../src/features/dataset-splits.js';
import { DenseForward } from '../../src/models/dense-forward.js';
import { buildMlp, resolveMlpOptions } from '../../src/models/mlp.js';
import { trainMlp } from '../../src/models/mlp-training.js';
import { loadTf, type TfRuntime } from '../../src/models/tf-backend.js';
import { loadTfjsModel, TfjsScaledModel } from '../../src/models/tfjs-model.js';
import { layersModelToFiles } from '../../src/models/tfjs-model-io.js';
import { fitOnDataset } from '../../src/models/train.js';
import { randomRows, syntheticCandles } from './helpers.js';

let rt: TfRuntime;
beforeAll(async () => {
  rt = await loadTf();
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const training = (rows: number, cols: number, seed: number) => {
  const x = randomRows(rows, cols, seed);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) y[i] = x[i * cols]! + 0.5 * x[i * cols + 1]! > 0 ? 1 : 0;
  return { x, y, rows, cols };
};

describe('TensorFlow.js backend', () => {
  it(`runs on the backend chosen at load (${process.env.QUANTFLOW_TF_BACKEND ?? 'auto'})`, () => {
    expect(['node', 'wasm', 'cpu']).toContain(rt.backend);
    expect(rt.reason.length).toBeGreaterThan(0);
  });

  it('fast path equals tfjs predict to 1e-6 (trained model, 2,000 rows)', async () => {
    const result = await trainMlp(rt, training(3000, 21, 1), undefined, { epochs: 3, seed: 4 });
    const model = new TfjsScaledModel(rt, result.model);
    try {
      expect(model.fastPath).toBeDefined();
      const rows = randomRows(2000, 21, 9);
      const viaTf = await model.predictWithTf(rows);
      const viaFast = model.predictFast(rows);
      expect(maxAbsDiff(viaFast, viaTf)).toBeLessThan(1e-6);
      // predictScaled picks the fast path for small batches and tfjs for big ones: same answers.
      expect(maxAbsDiff(await model.predictScaled(rows.subarray(0, 21 * 10)), viaTf.subarray(0, 10))).toBeLessThan(
        1e-6,
      );
      expect(Array.from(await model.predictScaled(rows))).toEqual(Array.from(viaTf));
    } finally {
      await model.dispose();
    }
  });

  it('fast path handles other activations and missing biases like tfjs', async () => {
    const tf = rt.tf;
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 8, inputShape: [5], activation: 'tanh', useBias: false }));
    m.add(tf.layers.dropout({ rate: 0.3 }));
    m.add(tf.layers.dense({ units: 6, activation: 'elu' }));
    m.add(tf.layers.dense({ units: 4, activation: 'selu' }));
    m.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
    const model = new TfjsScaledModel(rt, m);
    try {
      const rows = randomRows(300, 5, 3);
      expect(maxAbsDiff(model.predictFast(rows), await model.predictWithTf(rows))).toBeLessThan(1e-6);
    } finally {
      await model.dispose();
    }
  });

  it('has no fast path for a topology it cannot evaluate, and still predicts', async () => {
    const tf = rt.tf;
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 4, inputShape: [3] }));
    m.add(tf.layers.batchNormalization());
    m.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
    const model = new TfjsScaledModel(rt, m);
    try {
      expect(model.fastPath).toBeUndefined();
      expect(model.fastPathUnavailable).toMatch(/BatchNormalization/);
      expect((await model.predictScaled(randomRows(2, 3))).length).toBe(2);
      expect(DenseForward.fromLayersModel(m)).toMatch(/not Dense/);
    } finally {
      await model.dispose();
    }
  });

  it('10,000 predictions (fast path and tfjs batches) do not grow tf.memory().numTensors', async () => {
    const candles = syntheticCandles('planted', 3000, 2);
    const ds = buildDataset(candles, { horizon: 1 });
    const split = splitChronological(ds, 0.2);
    const before = rt.tf.memory().numTensors;
    const fit = await fitOnDataset(
      { fit: split.train, validation: split.validation },
      { kind: 'tfjs', network: { epochs: 2 } },
    );
    const afterTraining = rt.tf.memory().numTensors;
    const predictor = fit.predictor;
    const w = predictor.inputWidth;
    for (let i = 0; i < 10_000; i++) {
      const r = i % ds.rows;
      await predictor.predict(ds.features.subarray(r * w, (r + 1) * w));
    }
    expect(rt.tf.memory().numTensors).toBe(afterTraining);
    for (let i = 0; i < 20; i++) await predictor.predictBatch(ds.features.subarray(0, 1000 * w));
    expect(rt.tf.memory().numTensors).toBe(afterTraining);
    await predictor.dispose();
    await predictor.dispose(); // idempotent
    expect(rt.tf.memory().numTensors).toBe(before);
  });

  it('same seed and same data train identical weights; another seed does not', async () => {
    const data = training(2000, 21, 5);
    const valid = training(500, 21, 6);
    const opts = { epochs: 3, seed: 77, dropout: 0.2 };
    const bytes = async (seed: number) => {
      const r = await trainMlp(rt, data, valid, { ...opts, seed });
      const files = await layersModelToFiles(rt.tf, r.model);
      r.model.dispose();
      return files;
    };
    const a = await bytes(77);
    const b = await bytes(77);
    const c = await bytes(78);
    expect(Buffer.from(a.get('weights.bin')!).equals(Buffer.from(b.get('weights.bin')!))).toBe(true);
    expect(Buffer.from(a.get('model.json')!).equals(Buffer.from(b.get('model.json')!))).toBe(true);
    expect(Buffer.from(a.get('weights.bin')!).equals(Buffer.from(c.get('weights.bin')!))).toBe(false);
  });

  it('early stopping restores the best epoch and reports every epoch', async () => {
    const logs: number[] = [];
    const r = await trainMlp(
      rt,
      training(1000, 21, 7),
      training(400, 21, 8),
      { epochs: 40, learningRate: 0.05, earlyStopping: { patience: 2 } },
      { onEpoch: (l) => void logs.push(l.epoch) },
    );
    try {
      expect(logs).toEqual(r.history.map((h) => h.epoch));
      const best = Math.min(...r.history.map((h) => h.validationLoss!));
      expect(r.history[r.bestEpoch - 1]!.validationLoss).toBe(best);
      if (r.stoppedEarly) expect(r.epochsRun).toBe(r.bestEpoch + 2);
    } finally {
      r.model.dispose();
    }
  });

  it('loads a model.json as tfjs-node saves a compiled model (./ paths, trainingConfig)', async () => {
    const opts = resolveMlpOptions({ layers: [8, 4], seed: 3 });
    const original = buildMlp(rt.tf, 6, opts);
    const files = await layersModelToFiles(rt.tf, original);
    const json = JSON.parse(new TextDecoder().decode(files.get('model.json')));
    json.weightsManifest[0].paths = ['./weights.bin'];
    json.convertedBy = null;
    json.trainingConfig = {
      loss: 'binary_crossentropy',
      metrics: ['accuracy'],
      optimizer_config: {
        class_name: 'Adam',
        config: { learning_rate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
      },
    };
    const nodeStyle = new Map(files).set('model.json', new TextEncoder().encode(JSON.stringify(json)));
    const loaded = await loadTfjsModel(nodeStyle);
    const reference = new TfjsScaledModel(rt, original);
    try {
      const rows = randomRows(50, 6, 4);
      expect(Array.from(await loaded.predictWithTf(rows))).toEqual(Array.from(await reference.predictWithTf(rows)));
    } finally {
      await loaded.dispose();
      await reference.dispose();
    }
  });

  it('refuses weights paths outside the model', async () => {
    const original = buildMlp(rt.tf, 3, resolveMlpOptions({ layers: [2] }));
    const files = await layersModelToFiles(rt.tf, original);
    original.dispose();
    const json = JSON.parse(new TextDecoder().decode(files.get('model.json')));
    json.weightsManifest[0].paths = ['../other/weights.bin'];
    const bad = new Map(files).set('model.json', new TextEncoder().encode(JSON.stringify(json)));
    await expect(loadTfjsModel(bad, { where: 'dir' })).rejects.toThrow(
      "dir/model.json, field 'weightsManifest[0]': weights path '../other/weights.bin' is not a plain file name",
    );
  });
});
