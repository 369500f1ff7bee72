/**
 * Backend selection: both ways tfjs-node can fail (absent package; present but
 * without its native tfjs_binding.node) fall through to wasm; the environment
 * override is honoured or refused clearly. Runs in its own process (vitest
 * forks per file), so switching backends here affects no other test file.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import {
  chooseTfBackend,
  classifyNativeImportError,
  loadTf,
  type ModuleImporter,
  wasmBinaryDirectory,
} from '../../src/models/tf-backend.js';

const notFound = (name: string) =>
  Object.assign(new Error(`Cannot find package '${name}' imported from /work/main/src/models/tf-backend.ts`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
const missingBinding = new Error(
  'The Node.js native addon module (tfjs_binding.node) can not be found at path: ' +
    '/app/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node. \n' +
    "Please run command 'npm rebuild @tensorflow/tfjs-node build-addon-from-source' to rebuild the native addon module.",
);

/** Imports for real, except the native packages, which fail as given. */
function importer(native: Record<string, Error>): ModuleImporter {
  return async (specifier) => {
    const failure = native[specifier];
    if (failure !== undefined) throw failure;
    return import(specifier);
  };
}

describe('TensorFlow.js backend selection', () => {
  it('logs the chosen backend and the reason once', async () => {
    const lines: Array<[string, Record<string, unknown> | undefined]> = [];
    const logger: Logger = {
      debug() {},
      info: (m, f) => void lines.push([m, f]),
      warn() {},
      error() {},
    };
    const a = await loadTf({ logger });
    const b = await loadTf({ logger });
    expect(b).toBe(a);
    expect(lines).toHaveLength(1);
    expect(lines[0]![1]).toMatchObject({ backend: a.backend, reason: a.reason });
    // Here tfjs-node cannot be installed: the pure-JS package on wasm it is.
    expect(a.backend).toBe(process.env.QUANTFLOW_TF_BACKEND ?? 'wasm');
    expect(a.tf.getBackend()).toBe(a.backend);
  });

  it('tells "not installed" apart from "installed but its native addon is missing"', () => {
    expect(classifyNativeImportError('@tensorflow/tfjs-node', notFound('@tensorflow/tfjs-node'))).toBeUndefined();
    expect(
      classifyNativeImportError(
        '@tensorflow/tfjs-node',
        Object.assign(new Error("Cannot find module '@tensorflow/tfjs-node'"), { code: 'MODULE_NOT_FOUND' }),
      ),
    ).toBeUndefined();
    expect(classifyNativeImportError('@tensorflow/tfjs-node', missingBinding)).toBe(
      '@tensorflow/tfjs-node is installed but its native addon tfjs_binding.node is missing',
    );
    const dlopen = Object.assign(
      new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory'),
      {
        code: 'ERR_DLOPEN_FAILED',
      },
    );
    expect(classifyNativeImportError('@tensorflow/tfjs-node', dlopen)).toMatch(/native library cannot be opened/);
  });

  it('falls back to wasm when tfjs-node is installed without tfjs_binding.node', async () => {
    const rt = await chooseTfBackend({
      env: {},
      importer: importer({
        '@tensorflow/tfjs-node-gpu': notFound('@tensorflow/tfjs-node-gpu'),
        '@tensorflow/tfjs-node': missingBinding,
      }),
    });
    expect(rt.backend).toBe('wasm');
    expect(rt.reason).toContain('tfjs_binding.node is missing');
    expect(rt.versions['tfjs-backend-wasm']).toBe('4.22.0');
  });

  it('falls back to wasm when tfjs-node is not installed at all', async () => {
    const rt = await chooseTfBackend({ env: {} });
    expect(rt.backend).toBe('wasm');
    expect(rt.reason).toMatch(/tfjs-node .*not installed/);
  });

  it('finds the .wasm binaries in the installed package (no network)', () => {
    const dir = wasmBinaryDirectory();
    expect(dir.endsWith(path.sep)).toBe(true);
    expect(existsSync(path.join(dir, 'tfjs-backend-wasm.wasm'))).toBe(true);
  });

  it('honours QUANTFLOW_TF_BACKEND and refuses what it cannot do', async () => {
    await expect(chooseTfBackend({ env: { QUANTFLOW_TF_BACKEND: 'gpu' } })).rejects.toThrow(
      "QUANTFLOW_TF_BACKEND must be one of node, wasm, cpu; got 'gpu'",
    );
    const node = await chooseTfBackend({ env: { QUANTFLOW_TF_BACKEND: 'node' } }).catch((e: unknown) => e);
    expect(node).toBeInstanceOf(ConfigError);
    expect((node as Error).message).toMatch(/node backend requested \(QUANTFLOW_TF_BACKEND=node\) but .*not installed/);
    const cpu = await chooseTfBackend({ env: { QUANTFLOW_TF_BACKEND: 'cpu' } });
    expect(cpu.backend).toBe('cpu');
    expect(cpu.tf.getBackend()).toBe('cpu');
    expect(cpu.reason).toBe('requested (QUANTFLOW_TF_BACKEND=cpu)');
    const wasm = await chooseTfBackend({ prefer: 'wasm' });
    expect(wasm.tf.getBackend()).toBe('wasm');
  });
});
