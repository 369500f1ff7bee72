/**
 * fitPythonModel / loadPythonModel with the bundled pure-Python logistic
 * regression and a real python3 (no mocks): accuracy, determinism, batch vs
 * single rows, persistence, crash recovery, the script allow-list (symlinks
 * included) and the script's sha256. Skipped when python3 is not on PATH.
 */
import { copyFileSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DataError, IntegrityError, ModelError } from '../../src/core/errors.js';
import {
  BUNDLED_PYTHON_DIR,
  EXAMPLE_PYTHON_SCRIPT,
  fitPythonModel,
  loadPythonModel,
  type PythonScaledModel,
  pythonScriptInfo,
} from '../../src/models/python-model.js';
import { PythonError } from '../../src/models/python-worker.js';
import {
  HAS_PYTHON,
  HAS_SKLEARN,
  processAlive,
  pythonMeta,
  separableData,
  TEST_MODEL_SOURCE,
  tempDir,
  writeScript,
} from './python-helpers.js';

const suite = HAS_PYTHON ? describe : describe.skip;
const EXAMPLE = path.join(BUNDLED_PYTHON_DIR, EXAMPLE_PYTHON_SCRIPT);
const COLS = 6;

function accuracy(p: Float32Array, y: Float32Array): number {
  let hits = 0;
  for (let i = 0; i < y.length; i++) if ((p[i]! > 0.5 ? 1 : 0) === y[i]) hits++;
  return hits / y.length;
}

describe('BUNDLED_PYTHON_DIR', () => {
  it('is the absolute src/models/python holding the worker module and the examples', () => {
    expect(path.isAbsolute(BUNDLED_PYTHON_DIR)).toBe(true);
    expect(BUNDLED_PYTHON_DIR.endsWith(path.join('src', 'models', 'python'))).toBe(true);
    for (const f of ['quantflow_worker.py', EXAMPLE_PYTHON_SCRIPT, 'sklearn_model.py']) {
      expect(existsSync(path.join(BUNDLED_PYTHON_DIR, f))).toBe(true);
    }
  });
});

suite(`python models with a real python3${HAS_PYTHON ? '' : ' (skipped: python3 not on PATH)'}`, () => {
  const train = separableData(600, COLS, 11);
  const test = separableData(400, COLS, 12);
  let fitted: Awaited<ReturnType<typeof fitPythonModel>>;
  let model: PythonScaledModel;
  let tmp: ReturnType<typeof tempDir>;

  const load = async (dirs: readonly string[] = [BUNDLED_PYTHON_DIR], script = EXAMPLE) =>
    loadPythonModel(fitted.files, pythonMeta(await pythonScriptInfo(script), COLS), { scriptDirs: dirs });

  beforeAll(async () => {
    tmp = tempDir('pymodel');
    fitted = await fitPythonModel({ script: EXAMPLE, trainX: train.X, trainY: train.Y, cols: COLS });
    model = (await load()) as PythonScaledModel;
  });
  afterAll(async () => {
    await model?.dispose();
    tmp.cleanup();
  });

  it('fits a separable dataset: high accuracy in and out of sample', async () => {
    expect([...fitted.files.keys()]).toEqual(['weights.json']);
    expect(fitted.info).toMatchObject({
      algorithm: 'logistic-regression-newton',
      converged: true,
      rows: 600,
      cols: COLS,
      script: EXAMPLE_PYTHON_SCRIPT,
    });
    expect(fitted.info.trainAccuracy).toBeGreaterThan(0.97);
    expect(fitted.info.scriptSha256).toBe((await pythonScriptInfo(EXAMPLE)).scriptSha256);
    expect(accuracy(await model.predictScaled(test.X), test.Y)).toBeGreaterThan(0.95);
  });

  it('is deterministic: the same data and params give the same weights, byte for byte', async () => {
    const again = await fitPythonModel({ script: EXAMPLE, trainX: train.X, trainY: train.Y, cols: COLS });
    expect(Buffer.from(again.files.get('weights.json')!).equals(Buffer.from(fitted.files.get('weights.json')!))).toBe(
      true,
    );
    const stronger = await fitPythonModel({
      script: EXAMPLE,
      trainX: train.X,
      trainY: train.Y,
      cols: COLS,
      params: { l2: 1 },
    });
    expect(JSON.parse(Buffer.from(stronger.files.get('weights.json')!).toString()).l2).toBe(1);
  });

  it('predicts single rows and batches alike, matching the weights computed in Node', async () => {
    const weights = JSON.parse(Buffer.from(fitted.files.get('weights.json')!).toString()) as {
      coef: number[];
      intercept: number;
    };
    const batch = await model.predictScaled(test.X);
    expect(batch).toHaveLength(400);
    for (const i of [0, 1, 57, 399]) {
      const row = test.X.subarray(i * COLS, (i + 1) * COLS);
      const [single] = await model.predictScaled(row);
      expect(single).toBe(batch[i]);
      const z = weights.coef.reduce((acc, w, j) => acc + w * row[j]!, weights.intercept);
      expect(single).toBeCloseTo(1 / (1 + Math.exp(-z)), 6);
    }
    expect(await model.predictScaled(new Float32Array(0))).toHaveLength(0);
    await expect(model.predictScaled(new Float32Array(COLS + 1))).rejects.toThrow(DataError);
  });

  it('answers 1,000 sequential predictions from one persistent process', async () => {
    const pid = model.worker.pid;
    expect(pid).toBeGreaterThan(0);
    const row = test.X.subarray(0, COLS);
    for (let i = 0; i < 1_000; i++) await model.predictScaled(row);
    expect(model.worker.pid).toBe(pid);
  });

  it('survives python being killed: the next prediction uses a new process with the weights reloaded', async () => {
    const m = (await load()) as PythonScaledModel;
    try {
      const before = await m.predictScaled(test.X);
      const pid = m.worker.pid!;
      // 400,000 rows keep Python busy long enough for the kill to land mid-request.
      const big = new Float32Array(test.X.length * 1_000);
      for (let k = 0; k < 1_000; k++) big.set(test.X, k * test.X.length);
      const inFlight = m.predictScaled(big).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
      process.kill(pid, 'SIGKILL');
      const err = (await inFlight) as Error;
      expect(err).toBeInstanceOf(ModelError);
      expect(err.message).toMatch(new RegExp(`pid ${pid}\\) was killed by signal SIGKILL while request 'predict'`));
      expect(await m.predictScaled(test.X)).toEqual(before);
      expect(m.worker.pid).not.toBe(pid);
    } finally {
      await m.dispose();
    }
  });

  it('disposes idempotently, leaving no child process', async () => {
    const m = (await load()) as PythonScaledModel;
    const pid = m.worker.pid!;
    expect(processAlive(pid)).toBe(true);
    await m.dispose();
    await m.dispose();
    expect(processAlive(pid)).toBe(false);
    await expect(m.predictScaled(test.X.subarray(0, COLS))).rejects.toThrow(/closed/);
  });

  it('refuses a script outside the allowed directories, naming it and the directories', async () => {
    const outside = tempDir('pyoutside');
    try {
      const err = await load([outside.dir]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(`'${EXAMPLE_PYTHON_SCRIPT}' was not found in the allowed directories`);
      expect((err as Error).message).toContain(outside.dir);
      const meta = pythonMeta({ script: '../python/logistic_model.py', scriptSha256: 'x' }, COLS);
      await expect(loadPythonModel(fitted.files, meta, { scriptDirs: [BUNDLED_PYTHON_DIR] })).rejects.toThrow(
        /must be a plain file name/,
      );
      await expect(loadPythonModel(fitted.files, meta, { scriptDirs: [] })).rejects.toThrow(ConfigError);
    } finally {
      outside.cleanup();
    }
  });

  it('refuses a symlink in an allowed directory that escapes it', async () => {
    const allowed = tempDir('pyallowed');
    try {
      symlinkSync(EXAMPLE, path.join(allowed.dir, EXAMPLE_PYTHON_SCRIPT));
      const err = await load([allowed.dir]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/resolves to .*logistic_model\.py, outside the allowed directories/);
    } finally {
      allowed.cleanup();
    }
  });

  it('refuses a tampered script whose sha256 differs from the meta', async () => {
    const allowed = tempDir('pytamper');
    try {
      const copy = path.join(allowed.dir, EXAMPLE_PYTHON_SCRIPT);
      copyFileSync(EXAMPLE, copy);
      const meta = pythonMeta(await pythonScriptInfo(copy), COLS);
      writeFileSync(copy, `${readFileSync(copy, 'utf8')}\nimport os  # swapped\n`);
      const err = await loadPythonModel(fitted.files, meta, { scriptDirs: [allowed.dir] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(
        /python script 'logistic_model\.py' has sha256 [0-9a-f]{64} but the model/,
      );
      expect((err as Error).message).toContain(copy);
    } finally {
      allowed.cleanup();
    }
  });

  it('reports unusable models and bad input clearly', async () => {
    const info = await pythonScriptInfo(EXAMPLE);
    const tfjsMeta = { ...pythonMeta(info, COLS), kind: 'tfjs' as const };
    await expect(loadPythonModel(fitted.files, tfjsMeta, { scriptDirs: [BUNDLED_PYTHON_DIR] })).rejects.toThrow(
      /is not a python model/,
    );
    await expect(
      loadPythonModel(new Map(), pythonMeta(info, COLS), { scriptDirs: [BUNDLED_PYTHON_DIR] }),
    ).rejects.toThrow(/has no weights\.json/);
    const wrongWidth = await loadPythonModel(fitted.files, pythonMeta(info, COLS + 1), {
      scriptDirs: [BUNDLED_PYTHON_DIR],
    }).catch((e: unknown) => e);
    expect(wrongWidth).toBeInstanceOf(PythonError);
    expect((wrongWidth as Error).message).toMatch(/weights expect 6 values per row but the model meta says 7/);
    const garbage = new Map([['weights.json', new TextEncoder().encode('{"format":"other"}')]]);
    await expect(
      loadPythonModel(garbage, pythonMeta(info, COLS), { scriptDirs: [BUNDLED_PYTHON_DIR] }),
    ).rejects.toThrow(/python ValueError in 'load': weights are not in the quantflow-logistic-v1 format/);
    await expect(
      fitPythonModel({ script: EXAMPLE, trainX: new Float32Array(5), trainY: new Float32Array(2), cols: 3 }),
    ).rejects.toThrow(DataError);
    await expect(
      fitPythonModel({ script: EXAMPLE, trainX: new Float32Array(2), trainY: Float32Array.of(0, 2), cols: 1 }),
    ).rejects.toThrow(/label 2 is not 0 or 1/);
    await expect(
      fitPythonModel({ script: 'logistic_model.py', trainX: train.X, trainY: train.Y, cols: COLS }),
    ).rejects.toThrow(/absolute path/);
  });

  it('rejects probabilities outside [0, 1] from a script', async () => {
    const source = TEST_MODEL_SOURCE.replace('min(1.0, max(0.0, self.scale * row[0]))', 'self.scale * row[0]');
    const script = writeScript(tmp.dir, 'unbounded_model.py', source);
    const files = new Map([['weights.json', new TextEncoder().encode('{"scale": 2, "width": 2}')]]);
    const m = await loadPythonModel(files, pythonMeta(await pythonScriptInfo(script), 2), { scriptDirs: [tmp.dir] });
    try {
      expect(Array.from(await m.predictScaled(Float32Array.of(0.25, 0)))).toEqual([0.5]);
      await expect(m.predictScaled(Float32Array.of(0.25, 0, 0.75, 0))).rejects.toThrow(
        /index 1.*returned 1\.5, not a probability/,
      );
    } finally {
      await m.dispose();
    }
  });
});

const sklearnSuite = HAS_SKLEARN ? describe : describe.skip;

sklearnSuite(`sklearn_model.py${HAS_SKLEARN ? '' : ' (skipped: scikit-learn is not importable by python3)'}`, () => {
  it('fits and predicts through the same protocol', async () => {
    const script = path.join(BUNDLED_PYTHON_DIR, 'sklearn_model.py');
    const { X, Y } = separableData(500, COLS, 3);
    const fit = await fitPythonModel({ script, trainX: X, trainY: Y, cols: COLS, params: { C: 10 } });
    expect(fit.info.trainAccuracy).toBeGreaterThan(0.95);
    const m = await loadPythonModel(fit.files, pythonMeta(await pythonScriptInfo(script), COLS), {
      scriptDirs: [BUNDLED_PYTHON_DIR],
    });
    try {
      const held = separableData(300, COLS, 4);
      expect(accuracy(await m.predictScaled(held.X), held.Y)).toBeGreaterThan(0.93);
    } finally {
      await m.dispose();
    }
  });
});
