/**
 * The `gbdt` model kind: gradient-boosted trees fitted in a Python worker
 * (XGBoost or scikit-learn's HistGradientBoosting, `python/gbdt_model.py`),
 * exported there to ONNX with the onnx package (`python/onnx_trees.py`) and
 * served in Node by ONNX Runtime like any imported ONNX model. No Python
 * process is on the hot path and nothing is pickled: the model directory
 * holds model.onnx, plain data.
 *
 * Every fit checks itself: the worker returns the fitted library's own
 * predictions for the first training rows and the exported graph must give
 * the same to 1e-5, or the fit fails.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, ModelError } from '../core/errors.js';
import { sha256Hex } from './model-files.js';
import type { FitInput, FittedBackend, GbdtLibrary, GbdtOptions, KindOptions } from './model-kind.js';
import { ONNX_MODEL_FILE, type OnnxLoadOptions, openOnnxModel } from './onnx-model.js';
import { findPython } from './python-interpreter.js';
import { BUNDLED_PYTHON_DIR } from './python-model.js';
import { base64ToFloat32, float32ToBase64, PythonWorker } from './python-worker.js';

export const GBDT_SCRIPT = 'gbdt_model.py';

/** The exported graph must reproduce the fitted library's predictions to this. */
export const GBDT_PARITY_TOLERANCE = 1e-5;

export type { GbdtLibrary, GbdtOptions } from './model-kind.js';

const MODULES: Readonly<Record<GbdtLibrary, readonly string[]>> = {
  xgboost: ['numpy', 'onnx', 'xgboost'],
  sklearn: ['numpy', 'onnx', 'sklearn'],
};

function positive(value: number | undefined, field: string, integer: boolean, min = 0): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`gbdt ${field} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${value}`, {
      field: `gbdt.${field}`,
    });
  }
}

/** The fit parameters sent to the worker, checked. */
function fitParams(o: GbdtOptions): Record<string, unknown> {
  const library = o.library ?? 'xgboost';
  if (library !== 'xgboost' && library !== 'sklearn') {
    throw new ConfigError(`gbdt library must be xgboost or sklearn, got '${String(library)}'`, {
      field: 'gbdt.library',
    });
  }
  positive(o.trees, 'trees', true, 1);
  positive(o.depth, 'depth', true, 1);
  positive(o.learningRate, 'learningRate', false);
  positive(o.minChildWeight, 'minChildWeight', false);
  positive(o.l2, 'l2', false);
  positive(o.earlyStopping, 'earlyStopping', true);
  positive(o.threads, 'threads', true, 1);
  for (const k of ['subsample', 'colsample'] as const) {
    const v = o[k];
    if (v !== undefined && !(v > 0 && v <= 1)) {
      throw new ConfigError(`gbdt ${k} must be in (0, 1], got ${v}`, { field: `gbdt.${k}` });
    }
  }
  const { timeoutMs: _t, serve: _s, ...params } = o;
  return { ...params, library };
}

/** Fits a gbdt model in the worker, opens its ONNX export in Node and checks the two agree. */
export async function fitGbdt(input: FitInput, options: KindOptions): Promise<FittedBackend> {
  const gbdt = options.gbdt ?? {};
  const params = fitParams(gbdt);
  const library = params.library as GbdtLibrary;
  const interpreter = await findPython(MODULES[library], {
    ...(options.python?.python !== undefined ? { python: options.python.python } : {}),
  });
  const script = path.join(BUNDLED_PYTHON_DIR, GBDT_SCRIPT);
  input.logger.info('training gbdt model', {
    library,
    python: interpreter.executable,
    trainRows: input.train.rows,
    validationRows: input.validation?.rows ?? 0,
    cols: input.cols,
  });
  const worker = new PythonWorker({
    script,
    scriptSha256: sha256Hex(await readFile(script)),
    pythonPath: [BUNDLED_PYTHON_DIR],
    python: interpreter.python,
    requestTimeoutMs: gbdt.timeoutMs ?? 600_000,
    maxRestarts: 0,
    logger: input.logger,
  });
  const cols = input.cols;
  let reply: { weights?: { onnx?: unknown }; info?: Record<string, unknown> };
  const started = performance.now();
  try {
    reply = await worker.request('fit', {
      X: { f32: float32ToBase64(input.train.x), cols },
      y: { f32: float32ToBase64(input.train.y) },
      params: {
        ...params,
        target: input.target,
        seed: input.seed,
        ...(input.columns !== undefined ? { columns: input.columns } : {}),
        ...(input.validation !== undefined
          ? {
              validation: {
                X: { f32: float32ToBase64(input.validation.x), cols },
                y: { f32: float32ToBase64(input.validation.y) },
              },
            }
          : {}),
      },
    });
  } finally {
    await worker.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const info = reply.info ?? {};
  if (typeof reply.weights?.onnx !== 'string') {
    throw new ModelError(`'fit' of ${GBDT_SCRIPT} returned no ONNX model`, { file: script });
  }
  const bytes = new Uint8Array(Buffer.from(reply.weights.onnx, 'base64'));
  const columns = input.columns ?? Array.from({ length: cols }, (_, j) => `f${j}`);
  const model = await openOnnxModel(
    bytes,
    { columns, target: input.target },
    { ...gbdt.serve, where: ONNX_MODEL_FILE, logger: input.logger },
  );
  try {
    const check = info.check as { rows?: unknown; f32?: unknown } | undefined;
    const n = typeof check?.rows === 'number' ? check.rows : 0;
    if (n < 1 || typeof check?.f32 !== 'string') throw new ModelError(`${GBDT_SCRIPT} returned no parity check rows`);
    const expected = base64ToFloat32(check.f32);
    const actual = await model.predictScaled(input.train.x.subarray(0, n * cols));
    let worst = 0;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(actual[i]! - expected[i]!);
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    if (!(worst <= GBDT_PARITY_TOLERANCE)) {
      throw new ModelError(
        `the exported ONNX graph disagrees with ${library}: ${actual[at]} instead of ${expected[at]} on training row ${at}`,
        { file: ONNX_MODEL_FILE },
      );
    }
    const { check: _c, settings, trees, bestIteration, version } = info;
    return {
      model,
      files: new Map([[ONNX_MODEL_FILE, bytes]]),
      options: { gbdt: { ...(settings as object), library } },
      versions: {
        python: interpreter.version,
        [library]: String(version),
        onnx: String(info.onnx),
        [model.runtime.packageName]: model.runtime.version,
      },
      backend: model.backend,
      backendReason: `${library} ${String(version)} in ${interpreter.executable}, served from ONNX by ${model.runtime.packageName}`,
      info: { library, trees, bestIteration, seconds, parityMaxDiff: worst, parityRows: n, onnxBytes: bytes.length },
      samplesPerSecond: input.train.rows / Math.max(seconds, 1e-9),
      onnx: { output: model.output },
    };
  } catch (err) {
    await model.dispose();
    throw err;
  }
}
