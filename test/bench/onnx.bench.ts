/**
 * ONNX inference next to the TensorFlow.js fast path and the Python worker,
 * in one run. For each model: single-row latency p50/p99 of Predictor.predict
 * (input checks, scaling, the model) and rows/s of Predictor.predictBatch on
 * 100,000 rows (best of 3).
 * - MLP: the default 64-32-16 network trained with TensorFlow.js (typed-array
 *   fast path for single rows, tfjs for batches) and the same weights as an
 *   ONNX graph on onnxruntime-node and onnxruntime-web (WebAssembly).
 * - Trees: 200 XGBoost trees of depth 3 (the gbdt kind) as ONNX on both
 *   runtimes, and a booster of the same size answering through the Python
 *   worker (the request round trip on scaled rows: a lower bound for it).
 * Goals: ONNX single-row p99 < 100 µs, 100,000 rows < 0.2 s.
 * Run: npm run bench -- onnx
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { GBDT_SCRIPT } from '../../src/models/gbdt-model.js';
import { loadModel } from '../../src/models/load-model.js';
import { sha256Hex } from '../../src/models/model-files.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { importOnnxModel } from '../../src/models/onnx-import.js';
import type { OnnxBackendName } from '../../src/models/onnx-runtime.js';
import { findPython } from '../../src/models/python-interpreter.js';
import { BUNDLED_PYTHON_DIR } from '../../src/models/python-model.js';
import { float32ToBase64, PythonWorker } from '../../src/models/python-worker.js';
import type { TfjsScaledModel } from '../../src/models/tfjs-model.js';
import { trainModel } from '../../src/models/train.js';
import { latencies } from './latency.js';

const CANDLES = 25_000;
const SINGLE_CALLS = 20_000;
const PYTHON_SINGLE_CALLS = 3_000;
const BATCH_ROWS = 100_000;
const TREES = 200;
const HERE = path.dirname(fileURLToPath(import.meta.url));

interface Figures {
  readonly p50: number;
  readonly p99: number;
  /** Rows per second of the 100,000-row batch. */
  readonly rate: number;
  readonly batchMs: number;
}

async function bestOf3(fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

async function measure(
  single: (i: number) => Promise<unknown>,
  batch: () => Promise<unknown>,
  calls = SINGLE_CALLS,
): Promise<Figures> {
  const { p50, p99 } = await latencies(calls, single);
  const batchMs = await bestOf3(batch);
  return { p50, p99, rate: BATCH_ROWS / (batchMs / 1000), batchMs };
}

const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`.padStart(10);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function line(name: string, f: Figures, baseline?: Figures): string {
  const vs =
    baseline === undefined || baseline === f
      ? '(baseline)'
      : `p50 ${(baseline.p50 / f.p50).toFixed(1)}x, batch ${(f.rate / baseline.rate).toFixed(1)}x the baseline`;
  return (
    `  ${name.padEnd(44)} p50 ${us(f.p50)}  p99 ${us(f.p99)}  batch ${f.batchMs.toFixed(0).padStart(6)} ms ` +
    `= ${fmt(f.rate).padStart(11)} rows/s  ${vs}`
  );
}

function goals(name: string, f: Figures): string {
  const p99 = f.p99 * 1000 < 100 ? 'met' : 'NOT met';
  const batch = f.batchMs < 200 ? 'met' : 'NOT met';
  return `  ${name}: single-row p99 < 100 µs ${p99}; 100,000 rows < 0.2 s ${batch}`;
}

export async function run(): Promise<void> {
  console.log('onnx bench');
  let python: Awaited<ReturnType<typeof findPython>>;
  try {
    python = await findPython(['numpy', 'onnx', 'xgboost']);
  } catch (err) {
    console.log(`  skipped: the ONNX models are built in Python (${(err as Error).message})`);
    return;
  }
  console.log(
    `  ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(2)}; producer ${python.executable}`,
  );
  const candles = generateSyntheticCandles({ mode: 'regime', seed: 42, count: CANDLES });
  const ds = buildDataset(candles, { horizon: 1 });
  const w = ds.cols;
  const row = (i: number) => ds.features.subarray((i % ds.rows) * w, ((i % ds.rows) + 1) * w);
  const batch = new Float32Array(BATCH_ROWS * w);
  for (let i = 0; i < BATCH_ROWS; i++) batch.set(row(i), i * w);
  const training = { from: candles[0]!.timestamp, to: candles.at(-1)!.timestamp, rows: ds.rows };
  const tmp = mkdtempSync(path.join(tmpdir(), 'qf-onnx-bench-'));
  const open: ModelPredictor[] = [];
  const load = async (files: Parameters<typeof loadModel>[0], backend: OnnxBackendName) => {
    const p = await loadModel(files, { onnx: { backend } });
    open.push(p);
    return p;
  };
  const predictorFigures = (p: ModelPredictor) =>
    measure(
      (i) => p.predict(row(i)),
      () => p.predictBatch(batch),
    );
  try {
    // The MLP: TensorFlow.js, and its weights as ONNX.
    const tf = await trainModel({
      candles,
      kind: 'tfjs',
      network: { epochs: 2, earlyStopping: false },
      seed: 1,
      calibration: 'none',
    });
    open.push(tf.predictor);
    const layers = (tf.predictor.model as TfjsScaledModel).model.getWeights();
    const dense = [];
    for (let k = 0; k < layers.length; k += 2) {
      dense.push({
        kernel: Array.from(layers[k]!.dataSync()),
        shape: layers[k]!.shape,
        bias: Array.from(layers[k + 1]!.dataSync()),
      });
    }
    writeFileSync(path.join(tmp, 'mlp.json'), JSON.stringify({ columns: ds.featureNames, layers: dense }));
    execFileSync(python.python, [
      path.join(HERE, 'fixtures', 'dense_onnx.py'),
      path.join(tmp, 'mlp.json'),
      path.join(tmp, 'mlp.onnx'),
    ]);
    const mlp = await importOnnxModel({
      onnx: readFileSync(path.join(tmp, 'mlp.onnx')),
      file: path.join(tmp, 'mlp.onnx'),
      features: 'relative',
      scaler: tf.predictor.scaler.toJSON(),
      name: 'mlp-onnx',
      training,
    });
    const tfBatch = await tf.predictor.predictBatch(batch.subarray(0, 10_000 * w));

    const figures: Record<string, Figures> = {};
    figures.tfjs = await predictorFigures(tf.predictor);
    for (const backend of ['node', 'wasm'] as const) {
      const p = await load(mlp.files, backend);
      const out = await p.predictBatch(batch.subarray(0, 10_000 * w));
      let diff = 0;
      for (let i = 0; i < out.length; i++) diff = Math.max(diff, Math.abs(out[i]! - tfBatch[i]!));
      console.log(
        `  MLP as ONNX on ${backend}: largest difference from TensorFlow.js on 10,000 rows ${diff.toExponential(1)}`,
      );
      figures[`mlp-${backend}`] = await predictorFigures(p);
    }

    // The trees: the gbdt kind as ONNX, and a booster of the same size in the Python worker.
    const trees = await trainModel({
      candles,
      kind: 'gbdt',
      gbdt: { trees: TREES, earlyStopping: 0 },
      seed: 1,
      calibration: 'none',
    });
    await trees.predictor.dispose();
    for (const backend of ['node', 'wasm'] as const)
      figures[`trees-${backend}`] = await predictorFigures(await load(trees.files, backend));
    const script = path.join(BUNDLED_PYTHON_DIR, GBDT_SCRIPT);
    const worker = new PythonWorker({
      script,
      scriptSha256: sha256Hex(await readFile(script)),
      pythonPath: [BUNDLED_PYTHON_DIR],
      python: python.python,
      requestTimeoutMs: 300_000,
    });
    try {
      const scaled = trees.predictor.scaler.transform(ds.features, new Float32Array(ds.features.length));
      await worker.request('fit', {
        X: { f32: float32ToBase64(scaled), cols: w },
        y: { f32: float32ToBase64(ds.labels) },
        params: { trees: TREES, earlyStopping: 0, seed: 1, checkRows: 1 },
      });
      const scaledBatch = trees.predictor.scaler.transform(batch, new Float32Array(batch.length));
      const send = (rows: Float32Array) => worker.request('predict', { rows: { f32: float32ToBase64(rows), cols: w } });
      figures.python = await measure(
        (i) => send(scaled.subarray((i % ds.rows) * w, ((i % ds.rows) + 1) * w)),
        () => send(scaledBatch),
        PYTHON_SINGLE_CALLS,
      );
    } finally {
      await worker.close();
    }

    console.log(`  MLP ${ds.cols}-64-32-16-1 (Predictor.predict / predictBatch of ${fmt(BATCH_ROWS)} rows):`);
    console.log(line('TensorFlow.js (fast path; tfjs for batches)', figures.tfjs!, figures.tfjs));
    console.log(line('ONNX, onnxruntime-node', figures['mlp-node']!, figures.tfjs));
    console.log(line('ONNX, onnxruntime-web (WebAssembly)', figures['mlp-wasm']!, figures.tfjs));
    console.log(`  ${TREES} XGBoost trees of depth 3 (gbdt kind):`);
    console.log(line('Python worker (xgboost, request round trip)', figures.python!, figures.python));
    console.log(line('ONNX, onnxruntime-node', figures['trees-node']!, figures.python));
    console.log(line('ONNX, onnxruntime-web (WebAssembly)', figures['trees-wasm']!, figures.python));
    console.log('  goals:');
    for (const [k, name] of [
      ['mlp-node', 'MLP on onnxruntime-node'],
      ['mlp-wasm', 'MLP on onnxruntime-web'],
      ['trees-node', 'trees on onnxruntime-node'],
      ['trees-wasm', 'trees on onnxruntime-web'],
    ] as const) {
      console.log(goals(name, figures[k]!));
    }
  } finally {
    for (const p of open) await p.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
