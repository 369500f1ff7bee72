/**
 * Python models through the persistent worker: single-row round-trip latency
 * (p50/p99) against spawning a fresh python3 per prediction (the baseline), and
 * rows/s for 10,000-row batches (median batch time), with the matrix sent as base64 float32 (what
 * the model uses) or as a flat JSON list. Model: the bundled pure-Python
 * logistic regression; a "null" model that returns 0.5 per row isolates the
 * transport. Run: npx tsx test/bench/python.bench.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FeatureSchema } from '../../src/features/feature-schema.js';
import type { ModelMeta } from '../../src/models/model-meta.js';
import {
  BUNDLED_PYTHON_DIR,
  EXAMPLE_PYTHON_SCRIPT,
  fitPythonModel,
  loadPythonModel,
  type PythonScaledModel,
  pythonScriptInfo,
} from '../../src/models/python-model.js';
import { float32ToBase64, PythonWorker } from '../../src/models/python-worker.js';

const COLS = 32;
const TRAIN_ROWS = 2_000;
const SINGLE_WARMUP = 200;
const SINGLE_RUNS = 5_000;
const SPAWN_RUNS = 40;
const BATCH_ROWS = 10_000;
const BATCHES = 20;

function randomRows(rows: number, seed: number): Float32Array {
  const out = new Float32Array(rows * COLS);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
}

function labels(x: Float32Array): Float32Array {
  const y = new Float32Array(x.length / COLS);
  for (let i = 0; i < y.length; i++) {
    let z = 0;
    for (let j = 0; j < COLS; j++) z += x[i * COLS + j]! * ((j % 3) - 1);
    y[i] = z > 0 ? 1 : 0;
  }
  return y;
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function summary(ms: number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    mean: ms.reduce((a, b) => a + b, 0) / ms.length,
  };
}

const fmtMs = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);
const fmtRate = (n: number) => `${Math.round(n).toLocaleString('en-US')} rows/s`;

function meta(python: { script: string; scriptSha256: string }): ModelMeta {
  return {
    formatVersion: 1,
    kind: 'python',
    name: 'bench',
    createdAt: new Date(0).toISOString(),
    featureSchema: { name: 'seed', version: 1, features: [] } as unknown as FeatureSchema,
    lookback: 1,
    inputWidth: COLS,
    scaler: 'zscore',
    label: { kind: 'direction', horizon: 1, threshold: 0 },
    training: {
      symbol: 'X',
      timeframe: '1h',
      from: 0,
      to: 0,
      trainRows: TRAIN_ROWS,
      dataHash: '',
      seed: 1,
      options: {},
    },
    versions: {},
    python,
  };
}

/** The baseline: one fresh interpreter per prediction (start, import, load weights, predict one row, exit). */
async function spawnPerPrediction(python: string, weights: unknown, row: Float32Array): Promise<number> {
  const started = performance.now();
  const child = spawn(python, ['-u', path.join(BUNDLED_PYTHON_DIR, EXAMPLE_PYTHON_SCRIPT)], {
    env: { ...process.env, PYTHONPATH: BUNDLED_PYTHON_DIR, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
  });
  child.stdin.end(
    `${JSON.stringify({ id: 1, method: 'load', params: { weights } })}\n${JSON.stringify({
      id: 2,
      method: 'predict',
      params: { rows: { f32: float32ToBase64(row), cols: COLS } },
    })}\n`,
  );
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`baseline python exited with ${code}`))));
  });
  const elapsed = performance.now() - started;
  if (!out.includes('"id":2,"result"')) throw new Error(`baseline got no prediction: ${out.slice(0, 200)}`);
  return elapsed;
}

/** Median time per batch (robust to other work on the machine), after two warm-up batches. */
async function batchRate(send: () => Promise<unknown>): Promise<{ rate: number; ms: number }> {
  for (let i = 0; i < 2; i++) await send();
  const times: number[] = [];
  for (let i = 0; i < BATCHES; i++) {
    const t0 = performance.now();
    await send();
    times.push(performance.now() - t0);
  }
  const ms = summary(times).p50;
  return { rate: BATCH_ROWS / (ms / 1000), ms };
}

export async function run(): Promise<void> {
  const which = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  if (which.status !== 0) {
    console.log('python bench skipped: python3 is not on PATH');
    return;
  }
  // The interpreter itself, so the baseline is not charged for a version-manager shim (pyenv here).
  const python = which.stdout.trim();
  const script = path.join(BUNDLED_PYTHON_DIR, EXAMPLE_PYTHON_SCRIPT);
  const trainX = randomRows(TRAIN_ROWS, 1);
  const fitted = await fitPythonModel({ script, trainX, trainY: labels(trainX), cols: COLS, python });
  const weights = JSON.parse(Buffer.from(fitted.files.get('weights.json')!).toString()) as unknown;
  const model = (await loadPythonModel(fitted.files, meta(await pythonScriptInfo(script)), {
    scriptDirs: [BUNDLED_PYTHON_DIR],
    python,
  })) as PythonScaledModel;
  const tmp = mkdtempSync(path.join(tmpdir(), 'quantflow-pybench-'));
  try {
    const rows = randomRows(BATCH_ROWS, 2);
    const pid = model.worker.pid;

    for (let i = 0; i < SINGLE_WARMUP; i++) await model.predictScaled(rows.subarray(0, COLS));
    const single: number[] = [];
    for (let i = 0; i < SINGLE_RUNS; i++) {
      const row = rows.subarray((i % BATCH_ROWS) * COLS, (i % BATCH_ROWS) * COLS + COLS);
      const t0 = performance.now();
      await model.predictScaled(row);
      single.push(performance.now() - t0);
    }
    if (model.worker.pid !== pid) throw new Error('the worker restarted during the bench');
    const persistent = summary(single);

    const spawned: number[] = [];
    await spawnPerPrediction(python, weights, rows.subarray(0, COLS)); // warm the OS file cache
    for (let i = 0; i < SPAWN_RUNS; i++)
      spawned.push(await spawnPerPrediction(python, weights, rows.subarray(0, COLS)));
    const baseline = summary(spawned);

    const viaModel = await batchRate(() => model.predictScaled(rows));
    const f32 = { f32: float32ToBase64(rows), cols: COLS };
    const flat = { values: Array.from(rows), cols: COLS };
    const logisticF32 = await batchRate(() => model.worker.request('predict', { rows: f32 }));
    const logisticJson = await batchRate(() => model.worker.request('predict', { rows: flat, output: 'values' }));

    const nullScript = path.join(tmp, 'null_model.py');
    writeFileSync(
      nullScript,
      [
        'from quantflow_worker import serve',
        'class Null:',
        '    input_format = "arrays"',
        '    def predict(self, rows):',
        '        return [0.5] * len(rows)',
        'serve(Null)',
      ].join('\n'),
    );
    const nullWorker = new PythonWorker({ script: nullScript, python, pythonPath: [BUNDLED_PYTHON_DIR] });
    let nullF32: { rate: number; ms: number };
    let nullJson: { rate: number; ms: number };
    try {
      nullF32 = await batchRate(() => nullWorker.request('predict', { rows: f32 }));
      nullJson = await batchRate(() => nullWorker.request('predict', { rows: flat, output: 'values' }));
    } finally {
      await nullWorker.close();
    }

    const ratio = baseline.p50 / persistent.p50;
    console.log('python worker bench');
    console.log(`  interpreter: ${python}; model: ${EXAMPLE_PYTHON_SCRIPT}, ${COLS} inputs per row`);
    console.log(
      `  single row, persistent worker (${SINGLE_RUNS.toLocaleString('en-US')} sequential): p50 ${fmtMs(persistent.p50)}, p99 ${fmtMs(persistent.p99)}, mean ${fmtMs(persistent.mean)}`,
    );
    console.log(
      `  baseline: fresh python3 per prediction (${SPAWN_RUNS} runs): p50 ${fmtMs(baseline.p50)}, p99 ${fmtMs(baseline.p99)}`,
    );
    console.log(`  ratio baseline/persistent (p50): ${ratio.toFixed(0)}x`);
    console.log(
      `  ${BATCH_ROWS.toLocaleString('en-US')}-row batches, predictScaled (base64 float32): ${fmtRate(viaModel.rate)} (${viaModel.ms.toFixed(1)} ms/batch)`,
    );
    console.log(
      `    logistic model, rows as base64 float32: ${fmtRate(logisticF32.rate)} (${logisticF32.ms.toFixed(1)} ms/batch)`,
    );
    console.log(
      `    logistic model, rows as flat JSON list: ${fmtRate(logisticJson.rate)} (${logisticJson.ms.toFixed(1)} ms/batch)`,
    );
    console.log(
      `    transport only (null model), base64 float32: ${fmtRate(nullF32.rate)} (${nullF32.ms.toFixed(1)} ms/batch)`,
    );
    console.log(
      `    transport only (null model), flat JSON list: ${fmtRate(nullJson.rate)} (${nullJson.ms.toFixed(1)} ms/batch)`,
    );
  } finally {
    await model.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
