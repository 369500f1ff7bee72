/**
 * ONNX Runtime for Node, chosen the way tf-backend.ts chooses TensorFlow.js:
 *
 * 1. `onnxruntime-node` (an optional dependency; its npm tarball ships the
 *    CPU binaries) when it is installed AND its native addon loads;
 * 2. `onnxruntime-web` on its WebAssembly backend: no native code, the .wasm
 *    files read from the installed package, one thread.
 *
 * `QUANTFLOW_ONNX_BACKEND=node|wasm` (or the `prefer` option) forces one; if
 * it cannot load that is a ConfigError, not a silent fallback. Both can run
 * in one process (the benchmark compares them), each loaded once.
 *
 * Device: 'cpu' (default) or 'cuda' (`QUANTFLOW_ONNX_DEVICE=cuda` or the
 * `device` option). The CUDA execution provider exists only in
 * onnxruntime-node and only once its libraries are installed, which its
 * install script downloads from NuGet when asked to
 * (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node`, on a machine
 * with CUDA 12 and cuDNN 9). It is opt-in: a CUDA session that cannot start is
 * a ConfigError, never quietly replaced by the CPU. The provider a session
 * runs on is logged.
 */
import type * as Ort from 'onnxruntime-web';
import { ConfigError, ModelError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { ModuleImporter } from './tf-backend.js';

export type { ModuleImporter };

/** The part of the onnxruntime-common API both packages export. */
export type OrtModule = Pick<typeof Ort, 'InferenceSession' | 'Tensor' | 'env'>;
export type OnnxSession = Ort.InferenceSession;
export type OnnxBackendName = 'node' | 'wasm';
export type OnnxDevice = 'cpu' | 'cuda';

export const ONNX_BACKEND_ENV = 'QUANTFLOW_ONNX_BACKEND';
export const ONNX_DEVICE_ENV = 'QUANTFLOW_ONNX_DEVICE';

export interface OnnxRuntime {
  readonly ort: OrtModule;
  readonly backend: OnnxBackendName;
  /** The package that provided `ort`. */
  readonly packageName: 'onnxruntime-node' | 'onnxruntime-web';
  readonly version: string;
  /** Why this backend was chosen, for logs. */
  readonly reason: string;
}

export interface LoadOnnxOptions {
  logger?: Logger;
  /** Overrides the environment variable. */
  prefer?: OnnxBackendName;
  importer?: ModuleImporter;
  /** Where the environment variables are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface OnnxSessionOptions {
  /** Default: QUANTFLOW_ONNX_DEVICE, else 'cpu'. */
  device?: OnnxDevice;
  /** Intra-op threads of the native backend (default: ONNX Runtime's, one per core). */
  threads?: number;
  /** Where the model came from, for error messages. */
  where?: string;
  logger?: Logger;
  env?: Readonly<Record<string, string | undefined>>;
}

function parseChoice<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim().toLowerCase() as T;
  if (allowed.includes(v)) return v;
  throw new ConfigError(`${name} must be one of ${allowed.join(', ')}; got '${value}'`, { field: name });
}

/** The device asked for by `device`, else QUANTFLOW_ONNX_DEVICE, else 'cpu'. */
export function onnxDevice(
  device?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): OnnxDevice {
  return (
    parseChoice<OnnxDevice>('device', device, ['cpu', 'cuda']) ??
    parseChoice<OnnxDevice>(ONNX_DEVICE_ENV, env[ONNX_DEVICE_ENV], ['cpu', 'cuda']) ??
    'cpu'
  );
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

function asOrt(mod: unknown): OrtModule | undefined {
  const m = mod as (OrtModule & { default?: OrtModule }) | null;
  const ort = typeof m?.InferenceSession?.create === 'function' ? m : m?.default;
  return typeof ort?.InferenceSession?.create === 'function' ? ort : undefined;
}

/** Why onnxruntime-node did not load, in one phrase; undefined when it is simply not installed. */
export function classifyNativeImportError(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes('onnxruntime-node')) {
    return undefined;
  }
  if (code === 'ERR_DLOPEN_FAILED' || /onnxruntime_binding\.node|libonnxruntime|shared object/i.test(message)) {
    return `onnxruntime-node is installed but its native addon cannot be loaded (${firstLine(message)})`;
  }
  return `onnxruntime-node failed to load (${firstLine(message)})`;
}

/** Chooses and imports a backend without caching; `loadOnnxRuntime` is what the rest of the code calls. */
export async function chooseOnnxBackend(options: LoadOnnxOptions = {}): Promise<OnnxRuntime> {
  const importer: ModuleImporter = options.importer ?? ((s) => import(s));
  const forced =
    options.prefer ??
    parseChoice<OnnxBackendName>(ONNX_BACKEND_ENV, (options.env ?? process.env)[ONNX_BACKEND_ENV], ['node', 'wasm']);
  const via = options.prefer === undefined && forced !== undefined ? ` (${ONNX_BACKEND_ENV}=${forced})` : '';

  let nativeProblem = 'onnxruntime-node (native ONNX Runtime) is not installed';
  if (forced !== 'wasm') {
    try {
      const ort = asOrt(await importer('onnxruntime-node'));
      if (ort === undefined) throw new Error('it does not export the onnxruntime API');
      // Its native log would repeat on stderr what every failure already says in its exception.
      ort.env.logLevel = 'fatal';
      return {
        ort,
        backend: 'node',
        packageName: 'onnxruntime-node',
        version: ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown',
        reason: forced === 'node' ? `requested${via}` : 'onnxruntime-node loaded: native ONNX Runtime is fastest',
      };
    } catch (err) {
      nativeProblem = classifyNativeImportError(err) ?? nativeProblem;
      if (forced === 'node') throw new ConfigError(`ONNX Runtime node backend requested${via} but ${nativeProblem}`);
    }
  }
  let ort: OrtModule | undefined;
  try {
    ort = asOrt(await importer('onnxruntime-web'));
  } catch (err) {
    throw new ConfigError(
      `${forced === 'wasm' ? `ONNX Runtime wasm backend requested${via}` : nativeProblem} and onnxruntime-web ` +
        `failed to load (${firstLine((err as Error).message ?? String(err))})`,
      {},
      { cause: err },
    );
  }
  if (ort === undefined) throw new ConfigError('onnxruntime-web does not export the onnxruntime API');
  // Threads of the WebAssembly backend are worker threads; one keeps single-row latency low and runs everywhere.
  ort.env.wasm.numThreads = 1;
  return {
    ort,
    backend: 'wasm',
    packageName: 'onnxruntime-web',
    version: ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown',
    reason: forced === 'wasm' ? `requested${via}` : `${nativeProblem}; onnxruntime-web runs it on WebAssembly`,
  };
}

const runtimes = new Map<string, Promise<OnnxRuntime>>();

/**
 * The process-wide ONNX Runtime for a choice (`prefer`, else the environment,
 * else the automatic one). The first call of each choice imports it and logs
 * the backend and the reason once.
 */
export function loadOnnxRuntime(options: LoadOnnxOptions = {}): Promise<OnnxRuntime> {
  const key = options.prefer ?? (options.env ?? process.env)[ONNX_BACKEND_ENV]?.trim().toLowerCase() ?? '';
  let rt = runtimes.get(key);
  if (rt === undefined) {
    const logger = options.logger ?? silentLogger;
    rt = chooseOnnxBackend(options).then(
      (r) => {
        logger.info('onnx runtime backend chosen', { backend: r.backend, package: r.packageName, reason: r.reason });
        return r;
      },
      (err: unknown) => {
        runtimes.delete(key);
        throw err;
      },
    );
    runtimes.set(key, rt);
  }
  return rt;
}

const CUDA_HINT =
  'the CUDA execution provider is not installed: onnxruntime-node downloads it from NuGet only when asked ' +
  '(ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node, on a machine with CUDA 12 and cuDNN 9); ' +
  'use device cpu otherwise';

/**
 * A session for ONNX bytes on the runtime's backend and the requested
 * device; logs the execution provider it runs on.
 */
export async function createOnnxSession(
  rt: OnnxRuntime,
  bytes: Uint8Array,
  options: OnnxSessionOptions = {},
): Promise<{ session: OnnxSession; provider: string }> {
  const device = onnxDevice(options.device, options.env);
  if (device === 'cuda' && rt.backend !== 'node') {
    throw new ConfigError(
      `device cuda needs onnxruntime-node; the ${rt.backend} backend (${rt.reason}) runs on the CPU only`,
      { field: 'device' },
    );
  }
  const provider = device === 'cuda' ? 'cuda' : rt.backend === 'node' ? 'cpu' : 'wasm';
  const threads = options.threads;
  let session: OnnxSession;
  try {
    session = await rt.ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4,
      ...(threads !== undefined && rt.backend === 'node' ? { intraOpNumThreads: threads } : {}),
    });
  } catch (err) {
    const message = firstLine((err as Error).message ?? String(err));
    if (device === 'cuda') {
      throw new ConfigError(`cannot start an ONNX Runtime CUDA session (${message}): ${CUDA_HINT}`, {
        field: 'device',
        ...(options.where !== undefined ? { file: options.where } : {}),
      });
    }
    throw new ModelError(
      `ONNX Runtime (${rt.packageName}) cannot load the model: ${message}`,
      options.where !== undefined ? { file: options.where } : {},
      { cause: err },
    );
  }
  (options.logger ?? silentLogger).info('onnx session', {
    backend: rt.backend,
    package: rt.packageName,
    provider,
    ...(threads !== undefined ? { threads } : {}),
  });
  return { session, provider };
}
