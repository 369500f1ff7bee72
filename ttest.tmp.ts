import { generateSyntheticCandles } from './src/data/index.js';
import { buildDataset } from './src/features/dataset.js';
import { loadModel } from './src/models/load-model.js';
import { trainModel } from './src/models/train.js';

const candles = generateSyntheticCandles({ mode: 'regime', seed: 42, count: 25000 });
const ds = buildDataset(candles, { horizon: 1 });
const w = ds.cols;
const N = 100000;
const batch = new Float32Array(N * w);
for (let i = 0; i < N; i++) batch.set(ds.features.subarray((i % ds.rows) * w, ((i % ds.rows) + 1) * w), i * w);
const trees = await trainModel({
  candles,
  kind: 'gbdt',
  gbdt: { trees: 200, earlyStopping: 0 },
  seed: 1,
  calibration: 'none',
});
await trees.predictor.dispose();
for (const threads of [undefined, 1, 2]) {
  const p = await loadModel(trees.files, { onnx: { backend: 'node', ...(threads ? { threads } : {}) } });
  const s = p.scaler.transform(batch, new Float32Array(batch.length));
  await p.model.predictScaled(s);
  const times = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    await p.model.predictScaled(s);
    times.push(performance.now() - t0);
  }
  console.log('threads', threads, times.map((t) => t.toFixed(0)).join(' '));
  const t0 = performance.now();
  await p.scaler.transform(batch, new Float32Array(batch.length));
  console.log('scale ms', (performance.now() - t0).toFixed(0));
  await p.dispose();
}
