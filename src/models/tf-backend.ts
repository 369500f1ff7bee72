/**
 * Loads TensorFlow.js once per process and picks the fastest backend that works:
 *
 * 1. `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node` (native TensorFlow),
 *    when installed AND its native addon loads. Two failure modes are expected
 *    and fall through: the package is absent (MODULE_NOT_FOUND), or it is present
 *    but its `tfjs_binding.node` / libtensorflow is missing or cannot be opened.
 * 2. `@tensorflow/tfjs` on the WebAssembly backend. In Node the .wasm binaries are
 *    read from the installed `@tensorflow/tfjs-backend-wasm` package (resolved
 *    with createRequire; never fetched).
 * 3. `@tensorflow/tfjs` on the plain JavaScript cpu backend.
 *
 * `QUANTFLOW_TF_BACKEND=node|wasm|cpu` forces one; if the forced backend cannot
 * load, that is a ConfigError rather than a silent fallback.
 *
 * Every module of ours that runs TensorFlow.js takes it from `loadTf()`, so all
 * tensors live in one engine on one backend.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';

export type TfModule = typeof Tf;
export type TfBackendName = 'node' | 'wasm' | 'cpu';

export interface TfRuntime {
  readonly tf: TfModule;
  /** Which of our choices is active. */
  readonly backend: TfBackendName;
  /** TensorFlow.js's own name of the active backend ('tensorflow', 'wasm', 'cpu'). */
  readonly engineBackend: string;
  /** The package that provided `tf`. */
  readonly packageName: string;
  /** Why this backend was chosen, for logs and the CLI. */
  readonly reason: string;
  /** Library versions (tfjs and friends), recorded in model metadata. */
  readonly versions: Readonly<Record<string, string>>;
}

export const TF_BACKEND_ENV = 'QUANTFLOW_TF_BACKEND';

/** Imports a module by name; replaceable in tests to simulate an absent or broken package. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

export interface LoadTfOptions {
  logger?: Logger;
  /** Overrides the environment variable. */
  prefer?: TfBackendName;
  /** How modules are imported (default: dynamic import); tests pass one that simulates a broken package. */
  importer?: ModuleImporter;
  /** Where QUANTFLOW_TF_BACKEND is read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

let shared: Promise<TfRuntime> | undefined;

/**
 * The process-wide TensorFlow.js runtime. The first call chooses the backend
 * (and logs the choice and the reason once); later calls return the same one.
 */
export function loadTf(options: LoadTfOptions = {}): Promise<TfRuntime> {
  if (shared === undefined) {
    const logger = options.logger ?? silentLogger;
    shared = chooseTfBackend(options).then(
      (rt) => {
        logger.info('tensorflow.js backend chosen', {
          backend: rt.backend,
          package: rt.packageName,
          reason: rt.reason,
        });
        return rt;
      },
      (err: unknown) => {
        shared = undefined;
        throw err;
      },
    );
  }
  return shared;
}

function parseBackendName(value: string | undefined): TfBackendName | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'node' || v === 'wasm' || v === 'cpu') return v;
  throw new ConfigError(`${TF_BACKEND_ENV} must be one of node, wasm, cpu; got '${value}'`, { field: TF_BACKEND_ENV });
}

type NativeAttempt = { ok: true; tf: TfModule; packageName: string } | { ok: false; problem: string };

/** Why a native package did not load, in one phrase; `undefined` when the package is simply not installed. */
export function classifyNativeImportError(packageName: string, err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(packageName)) {
    return undefined;
  }
  if (/tfjs_binding\.node/.test(message))
    return `${packageName} is installed but its native addon tfjs_binding.node is missing`;
  if (code === 'ERR_DLOPEN_FAILED' || /libtensorflow|cannot open shared object/i.test(message)) {
    return `${packageName} is installed but its native library cannot be opened (${firstLine(message)})`;
  }
  return `${packageName} failed to load (${firstLine(message)})`;
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

async function tryNative(importer: ModuleImporter): Promise<NativeAttempt> {
  const problems: string[] = [];
  for (const packageName of NATIVE_PACKAGES) {
    try {
      const mod = (await importer(packageName)) as TfModule & { default?: TfModule };
      const tf = typeof mod.tensor === 'function' ? mod : (mod.default as TfModule);
      if (typeof tf?.tensor !== 'function') {
        problems.push(`${packageName} did not export TensorFlow.js`);
        continue;
      }
      await tf.ready();
      return { ok: true, tf, packageName };
    } catch (err) {
      const problem = classifyNativeImportError(packageName, err);
      if (problem !== undefined) problems.push(problem);
    }
  }
  return {
    ok: false,
    problem: problems.length > 0 ? problems.join('; ') : '@tensorflow/tfjs-node (native TensorFlow) is not installed',
  };
}

/** Directory holding the .wasm binaries of the installed @tensorflow/tfjs-backend-wasm, with a trailing separator. */
export function wasmBinaryDirectory(): string {
  const require = createRequire(import.meta.url);
  // The package's "main" is dist/tf-backend-wasm.node.js, next to the .wasm files.
  const main = require.resolve('@tensorflow/tfjs-backend-wasm');
  return path.dirname(main) + path.sep;
}

async function tryWasm(
  tf: TfModule,
  importer: ModuleImporter,
): Promise<{ ok: true; version: string } | { ok: false; problem: string }> {
  try {
    const wasm = (await importer('@tensorflow/tfjs-backend-wasm')) as {
      setWasmPaths(prefix: string, usePlatformFetch?: boolean): void;
      version_wasm?: string;
    };
    wasm.setWasmPaths(wasmBinaryDirectory());
    if (!(await tf.setBackend('wasm'))) return { ok: false, problem: 'the wasm backend failed to initialise' };
    await tf.ready();
    // A tiny op proves the kernels run.
    const probe = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.scalar(1)).dataSync());
    if (probe[0] !== 2 || probe[1] !== 3) return { ok: false, problem: 'the wasm backend computed a wrong result' };
    return { ok: true, version: wasm.version_wasm ?? 'unknown' };
  } catch (err) {
    return {
      ok: false,
      problem: `the wasm backend failed to load (${firstLine((err as Error).message ?? String(err))})`,
    };
  }
}

function versionsOf(tf: TfModule, packageName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tf.version ?? {})) if (typeof v === 'string') out[k] = v;
  out.tfjsPackage = packageName;
  out.tfjsBackend = tf.getBackend();
  return out;
}

/**
 * Chooses and initialises a backend without caching; `loadTf()` is what the
 * rest of the code calls. Exported for tests of the fallback rules.
 */
export async function chooseTfBackend(options: LoadTfOptions = {}): Promise<TfRuntime> {
  const importer: ModuleImporter = options.importer ?? ((s) => import(s));
  const forced = options.prefer ?? parseBackendName((options.env ?? process.env)[TF_BACKEND_ENV]);
  const viaEnv = options.prefer === undefined && forced !== undefined ? ` (${TF_BACKEND_ENV}=${forced})` : '';

  let nativeProblem: string | undefined;
  if (forced === undefined || forced === 'node') {
    const native = await tryNative(importer);
    if (native.ok) {
      const tf = native.tf;
      return {
        tf,
        backend: 'node',
        engineBackend: tf.getBackend(),
        packageName: native.packageName,
        reason: forced === 'node' ? `requested${viaEnv}` : `${native.packageName} loaded: native TensorFlow is fastest`,
        versions: versionsOf(tf, native.packageName),
      };
    }
    if (forced === 'node') throw new ConfigError(`TensorFlow.js node backend requested${viaEnv} but ${native.problem}`);
    nativeProblem = native.problem;
  }

  const tf = (await importer('@tensorflow/tfjs')) as TfModule;
  const runtime = (backend: TfBackendName, reason: string, extra: Record<string, string> = {}): TfRuntime => ({
    tf,
    backend,
    engineBackend: tf.getBackend(),
    packageName: '@tensorflow/tfjs',
    reason,
    versions: { ...versionsOf(tf, '@tensorflow/tfjs'), ...extra },
  });

  let wasmProblem: string | undefined;
  if (forced === undefined || forced === 'wasm') {
    const wasm = await tryWasm(tf, importer);
    if (wasm.ok) {
      return runtime(
        'wasm',
        forced === 'wasm' ? `requested${viaEnv}` : `${nativeProblem}; wasm is the fastest pure-JS backend`,
        { 'tfjs-backend-wasm': wasm.version },
      );
    }
    if (forced === 'wasm') throw new ConfigError(`TensorFlow.js wasm backend requested${viaEnv} but ${wasm.problem}`);
    wasmProblem = wasm.problem;
  }

  if (!(await tf.setBackend('cpu'))) throw new ConfigError('TensorFlow.js cpu backend failed to initialise');
  await tf.ready();
  return runtime('cpu', forced === 'cpu' ? `requested${viaEnv}` : `${nativeProblem}; ${wasmProblem}`);
}
