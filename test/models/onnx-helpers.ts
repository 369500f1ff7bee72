/**
 * Shared by the ONNX and gbdt tests: the Python interpreter that has what a
 * producer needs (or a clear skip message), running the fixture scripts, the
 * gbdt worker as a producer, and a small dataset of the synthetic market.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset, type Dataset } from '../../src/features/dataset.js';
import { GBDT_SCRIPT } from '../../src/models/gbdt-model.js';
import { sha256Hex } from '../../src/models/model-files.js';
import { findPython, type PythonInterpreter } from '../../src/models/python-interpreter.js';
import { BUNDLED_PYTHON_DIR } from '../../src/models/python-model.js';
import { base64ToFloat32, float32ToBase64, PythonWorker } from '../../src/models/python-worker.js';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The interpreter that imports `modules`, or undefined after printing why the tests that need it skip. */
export async function pythonWith(modules: readonly string[], what: string): Promise<PythonInterpreter | undefined> {
  try {
    return await findPython(modules);
  } catch (err) {
    console.warn(`${what} skipped: ${(err as Error).message}`);
    return undefined;
  }
}

/** Runs a fixture script; its stdout (throws with stderr when it fails). */
export function runFixture(py: PythonInterpreter, script: string, args: readonly string[]): string {
  return execFileSync(py.python, [path.join(FIXTURES, script), ...args], { encoding: 'utf8', timeout: 120_000 });
}

/** A small feature dataset of the planted synthetic market (it has a signal to learn). */
export function plantedDataset(
  count = 2500,
  seed = 5,
): { candles: ReturnType<typeof generateSyntheticCandles>; ds: Dataset } {
  const candles = generateSyntheticCandles({ mode: 'planted', count, seed });
  return { candles, ds: buildDataset(candles, { horizon: 1, featureSet: 'relative' }) };
}

/** The gbdt worker as a producer: fit, the ONNX bytes it exports, and the fitted library's own predictions. */
export async function gbdtProducer(py: PythonInterpreter) {
  const script = path.join(BUNDLED_PYTHON_DIR, GBDT_SCRIPT);
  const worker = new PythonWorker({
    script,
    scriptSha256: sha256Hex(await readFile(script)),
    pythonPath: [BUNDLED_PYTHON_DIR],
    python: py.python,
    requestTimeoutMs: 120_000,
  });
  return {
    async fit(x: Float32Array, y: Float32Array, cols: number, params: Record<string, unknown>): Promise<Uint8Array> {
      const reply = await worker.request<{ weights: { onnx: string } }>('fit', {
        X: { f32: float32ToBase64(x), cols },
        y: { f32: float32ToBase64(y) },
        params,
      });
      return new Uint8Array(Buffer.from(reply.weights.onnx, 'base64'));
    },
    async predict(x: Float32Array, cols: number): Promise<Float32Array> {
      const reply = await worker.request<{ f32: string }>('predict', { rows: { f32: float32ToBase64(x), cols } });
      return base64ToFloat32(reply.f32);
    },
    close: () => worker.close(),
  };
}

/** Largest |a[i] - b[i]|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
