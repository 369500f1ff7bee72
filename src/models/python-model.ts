/**
 * Python models: fitting through a short-lived worker, and loading one behind
 * the `ScaledModel` interface backed by a persistent `PythonWorker`.
 *
 * A python model directory holds `weights.json` (whatever the script's `fit`
 * returned) and `meta.json` whose `python` field names the script (a plain
 * file name) and its sha256. Loading runs only a script found inside an
 * allow-listed directory, after realpath (symlinks cannot escape), whose bytes
 * match that sha256; the weights are JSON, so reading them runs no code.
 */
import { existsSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, DataError, IntegrityError, ModelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type ModelFiles, sha256Hex } from './model-files.js';
import type { ModelMeta } from './model-meta.js';
import { base64ToFloat32, float32ToBase64, PythonWorker } from './python-worker.js';
import type { ScaledModel } from './scaled-model.js';

const WORKER_MODULE = 'quantflow_worker.py';

/**
 * `src/models/python` of this package. Running from source (tsx) it sits next
 * to this file; running the build (`dist/src/models/`) the .py files are not
 * copied, so we walk up to the package root (the first directory with a
 * package.json) and use its `src/models/python`.
 */
function findBundledPythonDir(start: string): string {
  const beside = path.join(start, 'python');
  if (existsSync(path.join(beside, WORKER_MODULE))) return beside;
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'src', 'models', 'python');
    if (existsSync(path.join(candidate, WORKER_MODULE))) return candidate;
    if (existsSync(path.join(dir, 'package.json')) || path.dirname(dir) === dir) break;
  }
  return beside;
}

/** Absolute path of the bundled Python scripts (quantflow_worker.py and the examples). */
export const BUNDLED_PYTHON_DIR: string = findBundledPythonDir(path.dirname(fileURLToPath(import.meta.url)));

/** The bundled pure-Python example model (L2 logistic regression). */
export const EXAMPLE_PYTHON_SCRIPT = 'logistic_model.py';

/** The model file holding what the script's `fit` returned. */
export const PYTHON_WEIGHTS_FILE = 'weights.json';

/** Rows per `predict` request at most; bigger batches go in several requests (8 MiB of float32 each at most). */
const MAX_BATCH_VALUES = 2 * 1024 * 1024;

const SCRIPT_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.py$/;

function assertScriptName(script: string): void {
  if (!SCRIPT_NAME.test(script) || script.includes('..')) {
    throw new ConfigError(
      `python script '${script}' must be a plain file name ending in .py (letters, digits, '.', '_', '-'; no directories)`,
      { field: 'python.script' },
    );
  }
}

/** The `python` field of ModelMeta for a script: its file name and the sha256 of its bytes. */
export async function pythonScriptInfo(scriptPath: string): Promise<{ script: string; scriptSha256: string }> {
  const script = path.basename(scriptPath);
  assertScriptName(script);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(scriptPath);
  } catch (err) {
    throw new ConfigError(
      `cannot read python script (${(err as Error).message})`,
      { file: scriptPath },
      { cause: err },
    );
  }
  return { script, scriptSha256: sha256Hex(bytes) };
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The real path of `script` (a plain file name) in the first of `scriptDirs`
 * that has it. Throws ConfigError for a name with directories, a script in
 * none of the directories, or one whose real path (after symlinks) leaves the
 * directory it was found in.
 */
export async function resolvePythonScript(script: string, scriptDirs: readonly string[]): Promise<string> {
  assertScriptName(script);
  if (scriptDirs.length === 0) {
    throw new ConfigError(`python script '${script}' cannot be run: no python script directories are allowed`, {
      field: 'scriptDirs',
    });
  }
  const allowed = scriptDirs.map((d) => path.resolve(d));
  for (const dir of allowed) {
    let realDir: string;
    try {
      realDir = await realpath(dir);
    } catch {
      continue; // a missing allowed directory simply holds nothing
    }
    let realFile: string;
    try {
      realFile = await realpath(path.join(realDir, script));
    } catch {
      continue;
    }
    if (!isInside(realDir, realFile)) {
      throw new ConfigError(
        `python script '${script}' in ${dir} resolves to ${realFile}, outside the allowed directories (${allowed.join(', ')})`,
        { file: path.join(dir, script), field: 'python.script' },
      );
    }
    if (!(await stat(realFile)).isFile()) {
      throw new ConfigError(`python script '${script}' is not a regular file`, { file: realFile });
    }
    return realFile;
  }
  throw new ConfigError(`python script '${script}' was not found in the allowed directories (${allowed.join(', ')})`, {
    field: 'python.script',
  });
}

function finiteIndex(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/**
 * Fits a Python model: starts `script` (with quantflow_worker importable),
 * sends the training rows (already scaled) as float32, and returns the
 * weights as model files plus the script's info (with rows, cols, seconds,
 * python version and the script's sha256 added). The worker is stopped after.
 */
export async function fitPythonModel(opts: {
  script: string;
  trainX: Float32Array;
  trainY: Float32Array;
  cols: number;
  params?: Record<string, unknown>;
  timeoutMs?: number;
  python?: string;
}): Promise<{ files: Map<string, Uint8Array>; info: Record<string, unknown> }> {
  const { script, trainX, trainY, cols } = opts;
  if (!path.isAbsolute(script)) {
    throw new ConfigError(`python script must be an absolute path, got '${script}'`, { field: 'script' });
  }
  if (!Number.isInteger(cols) || cols <= 0) {
    throw new ConfigError(`cols must be a positive integer, got ${cols}`, { field: 'cols' });
  }
  const rows = trainY.length;
  if (rows === 0) throw new DataError('no training rows', { field: 'trainY' });
  if (trainX.length !== rows * cols) {
    throw new DataError(`trainX has ${trainX.length} values; expected ${rows} rows x ${cols} cols = ${rows * cols}`, {
      field: 'trainX',
    });
  }
  const badX = finiteIndex(trainX);
  if (badX !== -1) throw new DataError(`trainX has a non-finite value`, { field: 'trainX', index: badX });
  for (let i = 0; i < rows; i++) {
    if (trainY[i] !== 0 && trainY[i] !== 1) {
      throw new DataError(`label ${trainY[i]} is not 0 or 1`, { field: 'trainY', index: i });
    }
  }
  const { script: name, scriptSha256 } = await pythonScriptInfo(script);
  const worker = new PythonWorker({
    script,
    scriptSha256,
    pythonPath: [BUNDLED_PYTHON_DIR],
    requestTimeoutMs: opts.timeoutMs ?? 600_000,
    maxRestarts: 0,
    ...(opts.python === undefined ? {} : { python: opts.python }),
  });
  try {
    const started = performance.now();
    const ping = await worker.ping(60_000);
    const result = await worker.request<unknown>('fit', {
      X: { f32: float32ToBase64(trainX), cols },
      y: { f32: float32ToBase64(trainY) },
      params: opts.params ?? {},
    });
    const seconds = (performance.now() - started) / 1000;
    const reply = result as { weights?: unknown; info?: unknown } | null;
    if (reply === null || typeof reply !== 'object' || reply.weights === undefined || reply.weights === null) {
      throw new ModelError(`'fit' of ${name} returned no weights`, { file: script });
    }
    const info = typeof reply.info === 'object' && reply.info !== null ? (reply.info as Record<string, unknown>) : {};
    const weights = new TextEncoder().encode(`${JSON.stringify(reply.weights)}\n`);
    return {
      files: new Map([[PYTHON_WEIGHTS_FILE, weights]]),
      info: { ...info, rows, cols, seconds, python: ping.python, script: name, scriptSha256 },
    };
  } finally {
    await worker.close();
  }
}

/** A Python model served by one persistent worker. */
export class PythonScaledModel implements ScaledModel {
  readonly inputWidth: number;
  /** The worker answering (pid, stats); owned by this model. */
  readonly worker: PythonWorker;

  constructor(worker: PythonWorker, inputWidth: number) {
    this.worker = worker;
    this.inputWidth = inputWidth;
  }

  async predictScaled(rows: Float32Array): Promise<Float32Array> {
    const width = this.inputWidth;
    if (rows.length % width !== 0) {
      throw new DataError(`expected a multiple of ${width} values (rows of ${width}), got ${rows.length}`, {
        field: 'rows',
      });
    }
    const n = rows.length / width;
    const out = new Float32Array(n);
    const chunk = Math.max(1, Math.floor(MAX_BATCH_VALUES / width));
    for (let start = 0; start < n; start += chunk) {
      const end = Math.min(n, start + chunk);
      const reply = await this.worker.request<{ n?: unknown; f32?: unknown }>('predict', {
        rows: { f32: float32ToBase64(rows.subarray(start * width, end * width)), cols: width },
      });
      const probabilities =
        reply !== null && typeof reply === 'object' && typeof reply.f32 === 'string'
          ? base64ToFloat32(reply.f32)
          : undefined;
      if (probabilities === undefined || probabilities.length !== end - start) {
        throw new ModelError(
          `python 'predict' returned ${probabilities?.length ?? 'no'} probabilities for ${end - start} rows`,
          { file: this.worker.script },
        );
      }
      for (let i = 0; i < probabilities.length; i++) {
        const p = probabilities[i]!;
        if (!(p >= 0 && p <= 1)) {
          throw new ModelError(`python 'predict' returned ${p}, not a probability in [0, 1]`, {
            file: this.worker.script,
            index: start + i,
          });
        }
      }
      out.set(probabilities, start);
    }
    return out;
  }

  dispose(): Promise<void> {
    return this.worker.close();
  }
}

/**
 * Loads a python model: checks the script against the allow-list and its
 * sha256, starts one worker, sends `load` with the weights (replayed after any
 * restart) and returns it as a ScaledModel. `dispose()` stops the worker.
 */
export async function loadPythonModel(
  files: ModelFiles,
  meta: Pick<ModelMeta, 'kind' | 'name' | 'inputWidth' | 'python'>,
  options: { scriptDirs: readonly string[]; python?: string; requestTimeoutMs?: number; logger?: Logger },
): Promise<ScaledModel> {
  if (meta.kind !== 'python' || meta.python === undefined) {
    throw new ModelError(`model '${meta.name}' is not a python model (kind '${meta.kind}', no 'python' field)`, {
      field: 'python',
    });
  }
  const { script, scriptSha256 } = meta.python;
  const scriptPath = await resolvePythonScript(script, options.scriptDirs);
  const actual = sha256Hex(await readFile(scriptPath));
  if (actual !== scriptSha256) {
    throw new IntegrityError(
      `python script '${script}' has sha256 ${actual} but the model was trained with ${scriptSha256}: the script was changed or swapped`,
      { file: scriptPath },
    );
  }
  const weightsBytes = files.get(PYTHON_WEIGHTS_FILE);
  if (weightsBytes === undefined) {
    throw new ModelError(`python model '${meta.name}' has no ${PYTHON_WEIGHTS_FILE}`, { file: PYTHON_WEIGHTS_FILE });
  }
  let weights: unknown;
  try {
    weights = JSON.parse(new TextDecoder().decode(weightsBytes));
  } catch (err) {
    throw new ModelError(
      `${PYTHON_WEIGHTS_FILE} is not valid JSON (${(err as Error).message})`,
      { file: PYTHON_WEIGHTS_FILE },
      { cause: err },
    );
  }
  const worker = new PythonWorker({
    script: scriptPath,
    scriptSha256,
    pythonPath: [BUNDLED_PYTHON_DIR],
    ...(options.python === undefined ? {} : { python: options.python }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  try {
    await worker.requestAndReplay('load', { weights, inputWidth: meta.inputWidth });
  } catch (err) {
    await worker.close();
    throw err;
  }
  return new PythonScaledModel(worker, meta.inputWidth);
}
