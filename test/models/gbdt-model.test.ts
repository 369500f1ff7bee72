/**
 * The gbdt kind: gradient-boosted trees fitted by XGBoost or scikit-learn in
 * a Python worker, exported to ONNX, served in Node. Trained through the
 * shared seam (trainModel, the walk-forward backtest) on every target, loaded
 * back from its files with the same answers, reproducible from its seed, and
 * with clear errors when Python or its packages are missing. The Python
 * interpreter is found by probing: the `python3` first on PATH may lack the
 * packages /usr/bin/python3 has.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runWalkForward } from '../../backtest/ml-backtest.js';
import { loadModel } from '../../src/models/load-model.js';
import { sha256Hex } from '../../src/models/model-files.js';
import { ONNX_MODEL_FILE } from '../../src/models/onnx-model.js';
import { findPython } from '../../src/models/python-interpreter.js';
import { type TrainModelResult, trainModel } from '../../src/models/train.js';
import { maxDiff, plantedDataset, pythonWith } from './onnx-helpers.js';

const XGB = await pythonWith(['numpy', 'onnx', 'xgboost'], 'gbdt (XGBoost) tests');
const SKL = await pythonWith(['numpy', 'onnx', 'sklearn'], 'gbdt (scikit-learn) tests');
const { candles } = plantedDataset(3000, 9);
const QUICK = { trees: 80, earlyStopping: 10 } as const;

const open: TrainModelResult[] = [];
afterAll(async () => {
  for (const r of open) await r.predictor.dispose();
});
async function train(options: Partial<Parameters<typeof trainModel>[0]>): Promise<TrainModelResult> {
  const r = await trainModel({ candles, featureSet: 'relative', kind: 'gbdt', seed: 4, ...options });
  open.push(r);
  return r;
}

describe.skipIf(XGB === undefined)('gbdt with XGBoost', () => {
  it('trains a direction model that beats chance on the planted market, saved as model.onnx only', async () => {
    const r = await train({ gbdt: QUICK });
    expect(r.meta.kind).toBe('gbdt');
    expect([...r.files.keys()].sort()).toEqual([
      'calibration.json',
      'manifest.json',
      'meta.json',
      'model.onnx',
      'scaler.json',
    ]);
    expect(r.meta.onnx).toEqual({ output: 'probability' });
    expect(r.meta.versions.xgboost).toMatch(/^\d+\.\d+/);
    expect(r.meta.training.options.gbdt).toMatchObject({ library: 'xgboost', trees: 80, depth: 3 });
    expect(r.info.parityMaxDiff as number).toBeLessThan(1e-5);
    expect(r.info.trees as number).toBeLessThanOrEqual(80);
    expect(r.validation!.rocAuc!).toBeGreaterThan(0.55);
    expect(r.backendReason).toMatch(/^xgboost \S+ in \S+, served from ONNX by onnxruntime-(node|web)$/);
    // Loaded back from its files it answers the test rows exactly as after training.
    const loaded = await loadModel(r.files);
    try {
      const { ds } = plantedDataset(3000, 9);
      const tail = ds.features.subarray(ds.features.length - r.testPredictions!.length * ds.cols);
      expect(maxDiff(await loaded.predictBatch(tail), r.testPredictions!)).toBe(0);
    } finally {
      await loaded.dispose();
    }
  });

  it('gives byte-identical model files for the same seed', async () => {
    const a = await train({ gbdt: { trees: 20 }, calibration: 'none' });
    const b = await train({ gbdt: { trees: 20 }, calibration: 'none' });
    expect(sha256Hex(b.files.get(ONNX_MODEL_FILE)!)).toBe(sha256Hex(a.files.get(ONNX_MODEL_FILE)!));
  });

  it('fits the return and volatility targets next to their naive forecasts', async () => {
    for (const target of ['return', 'volatility'] as const) {
      const r = await train({ target, gbdt: QUICK });
      expect(r.meta.label.kind).toBe(target);
      expect(r.regression!.rows).toBeGreaterThan(100);
      expect(Number.isFinite(r.regression!.r2VsNaive)).toBe(true);
      if (target === 'volatility') expect(r.testPredictions!.every((v) => v > 0)).toBe(true);
    }
  });

  it('runs in the walk-forward backtest, one model per window', async () => {
    const run = await runWalkForward({ candles, kind: 'gbdt', trainWindow: 1200, testWindow: 600, benchmarks: false });
    // 3000 candles: two full test windows and a last, shorter one.
    expect(run.windows.length).toBe(3);
    expect(run.stats.count).toBeGreaterThan(1000);
    expect(run.windows.every((w) => w.modelId.startsWith(`wf-${w.index}@`))).toBe(true);
    expect(run.stats.accuracy).toBeGreaterThan(0.5);
  });

  it('refuses bad options and a Python without the packages, saying what to install', async () => {
    await expect(train({ gbdt: { trees: 0 } })).rejects.toThrow(
      "field 'gbdt.trees': gbdt trees must be an integer >= 1",
    );
    await expect(train({ gbdt: { library: 'lightgbm' as 'xgboost' } })).rejects.toThrow(
      "gbdt library must be xgboost or sklearn, got 'lightgbm'",
    );
    await expect(train({ python: { python: '/nonexistent/python3' } })).rejects.toThrow(
      /python interpreter '\/nonexistent\/python3' \(from the python option\) not found; install them \(Debian\/Ubuntu: apt-get install python3-numpy python3-onnx python3-xgboost\) or set QUANTFLOW_PYTHON/,
    );
  });
});

describe.skipIf(SKL === undefined)('gbdt with scikit-learn', () => {
  it('trains HistGradientBoosting with early stopping on the held-out rows', async () => {
    const r = await train({ gbdt: { ...QUICK, library: 'sklearn' } });
    expect(r.meta.versions.sklearn).toMatch(/^\d+\.\d+/);
    expect(r.info.parityMaxDiff as number).toBeLessThan(1e-5);
    expect(r.info.bestIteration as number).toBeLessThan(80);
    expect(r.validation!.rocAuc!).toBeGreaterThan(0.55);
  });
});

describe('finding the Python interpreter', () => {
  it('skips interpreters without the modules and says what each lacks when none has them', async () => {
    await expect(findPython(['json'], { env: {}, candidates: ['/nonexistent/python3'] })).rejects.toThrow(
      /^field 'python': no Python interpreter can import json \(\/nonexistent\/python3: not found\)/,
    );
    const any = await findPython(['json'], { env: {} }).catch(() => undefined);
    if (any === undefined) return; // no Python at all here
    const found = await findPython(['json'], { env: {}, candidates: ['/nonexistent/python3', any.python] });
    expect(found.python).toBe(any.python);
    expect(found.reason).toBe('first interpreter with json');
    await expect(findPython(['no_such_module_qf'], { env: { QUANTFLOW_PYTHON: any.python } })).rejects.toThrow(
      new RegExp(`python interpreter '${any.python}' \\(from QUANTFLOW_PYTHON\\) cannot import no_such_module_qf`),
    );
    await expect(findPython(['json'], { env: { QUANTFLOW_PYTHON: any.python } })).resolves.toMatchObject({
      reason: 'configured by QUANTFLOW_PYTHON',
    });
  });
});
