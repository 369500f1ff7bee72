/**
 * A piscina pool of worker threads running one task module: the sweep's jobs,
 * the walk-forward backtest's windows. From the TypeScript sources the
 * threads start through a small entry that registers tsx first; from the
 * built package they load the task's .js module directly. Threads get no
 * exec arguments: Node refuses per-process flags in workers, and they need none.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { ConfigError } from '../core/errors.js';

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** A pool of `threads` threads running the default export of `taskModule` (a file: URL or path, .ts or .js). */
export function createThreadPool<T, R>(taskModule: string, threads: number, idleTimeout = 60_000): Piscina<T, R> {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ConfigError(`workers must be an integer >= 1, got ${threads}`, { field: 'workers' });
  }
  const file = taskModule.startsWith('file:') ? fileURLToPath(taskModule) : taskModule;
  const fromSource = file.endsWith('.ts');
  return new Piscina<T, R>({
    filename: fromSource ? path.join(path.dirname(fileURLToPath(import.meta.url)), 'thread-entry-tsx.mjs') : file,
    ...(fromSource ? { workerData: { quantflowTask: pathToFileURL(file).href } } : {}),
    execArgv: [],
    minThreads: threads,
    maxThreads: threads,
    // Threads keep what they loaded (data, TensorFlow.js) between tasks.
    idleTimeout,
  });
}
