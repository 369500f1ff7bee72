/**
 * Model speed on the TensorFlow.js backend chosen here (see tf-backend.ts):
 * - training throughput (rows per second per epoch) of the default 64-32-16 MLP;
 * - single-row prediction latency p50/p99 through the Predictor: the typed-array
 *   fast path vs tfjs `model.predict` on one row (the baseline), goal p99 < 1 ms;
 * - batch prediction rows/s through the Predictor, goal 100,000 rows < 1 s, next
 *   to tfjs `predict` with its default batchSize of 32 (what not to do).
 * Run: npx tsx test/bench/models.bench.ts
 */
import { pathToFileURL } from 'node:url';
import type { Tensor } from '@tensorflow/tfjs';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { loadTf } from '../../src/models/tf-backend.js';
import type { TfjsScaledModel } from '../../src/models/tfjs-model.js';
import { trainModel } from '../../src/models/train.js';
import { latencies } from './latency.js';

const TRAIN_CANDLES = 25_000;
const EPOCHS = 5;
const SINGLE_CALLS = 20_000;
const TF_SINGLE_CALLS = 2_000;
const BATCH_ROWS = 100_000;
const DEFAULT_BATCH_ROWS = 10_000;

const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export async function run(): Promise<void> {
  const rt = await loadTf();
  console.log('models bench');
  console.log(`  backend: ${rt.backend} (${rt.reason})`);

  const candles = generateSyntheticCandles({ mode: 'regime', seed: 42, count: TRAIN_CANDLES });
  const trained = await trainModel({
    candles,
    kind: 'tfjs',
    network: { epochs: EPOCHS, earlyStopping: false },
    seed: 1,
  });
  const perEpoch = trained.history.map((h) => h.samplesPerSecond);
  console.log(
    `  training, 64-32-16 MLP, batch 256, ${fmt(trained.dataset.trainRows)} rows x ${EPOCHS} epochs: ` +
      `${fmt(trained.samplesPerSecond!)} samples/s (per epoch: ${perEpoch.map(fmt).join(', ')})`,
  );

  const predictor = trained.predictor;
  const model = predictor.model as TfjsScaledModel;
  const ds = buildDataset(candles, { horizon: 1 });
  const w = ds.cols;
  const row = (i: number) => ds.features.subarray((i % ds.rows) * w, ((i % ds.rows) + 1) * w);

  const fast = await latencies(SINGLE_CALLS, (i) => predictor.predict(row(i)));
  const scaledRows = predictor.scaler.transform(ds.features.subarray(0, 4096 * w), new Float32Array(4096 * w));
  const tfOne = await latencies(TF_SINGLE_CALLS, (i) =>
    model.predictWithTf(scaledRows.subarray((i % 4096) * w, ((i % 4096) + 1) * w)),
  );
  console.log(
    `  single row, Predictor.predict (fast path, incl. checks and scaling): p50 ${us(fast.p50)}, p99 ${us(fast.p99)} ` +
      `(goal p99 < 1 ms: ${fast.p99 < 1 ? 'met' : 'NOT met'})`,
  );
  console.log(`  single row, baseline tfjs model.predict: p50 ${us(tfOne.p50)}, p99 ${us(tfOne.p99)}`);
  console.log(
    `  ratio tfjs/fast path: p50 ${(tfOne.p50 / fast.p50).toFixed(1)}x, p99 ${(tfOne.p99 / fast.p99).toFixed(1)}x`,
  );

  const batch = new Float32Array(BATCH_ROWS * w);
  for (let i = 0; i < BATCH_ROWS; i++) batch.set(row(i), i * w);
  await predictor.predictBatch(batch.subarray(0, 1000 * w)); // warm-up
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    await predictor.predictBatch(batch);
    best = Math.min(best, performance.now() - t0);
  }
  console.log(
    `  batch, Predictor.predictBatch of ${fmt(BATCH_ROWS)} rows: ${best.toFixed(0)} ms = ${fmt(BATCH_ROWS / (best / 1000))} rows/s ` +
      `(goal < 1 s: ${best < 1000 ? 'met' : 'NOT met'})`,
  );

  const { tf } = rt;
  const sub = scaledRows.length >= DEFAULT_BATCH_ROWS * w ? scaledRows : batch.subarray(0, DEFAULT_BATCH_ROWS * w);
  const t0 = performance.now();
  const out = tf.tidy(() => model.model.predict(tf.tensor2d(sub, [sub.length / w, w])) as Tensor);
  await out.data();
  out.dispose();
  const defaultMs = performance.now() - t0;
  console.log(
    `  baseline: tfjs model.predict with its default batchSize 32, ${fmt(sub.length / w)} rows: ` +
      `${defaultMs.toFixed(0)} ms = ${fmt(sub.length / w / (defaultMs / 1000))} rows/s`,
  );
  await predictor.dispose();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
