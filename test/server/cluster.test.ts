/**
 * `quantflow serve --workers 2` as an operator runs it: two worker processes
 * behind one port on 127.0.0.1. After `quantflow models promote` (another
 * process, no server involved) both workers answer the new version, each
 * answer naming it; /metrics sums both workers; SIGHUP replaces the workers
 * one at a time while the port keeps answering; SIGTERM stops everything.
 * About 12 s: five server processes start under tsx.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/index.js';
import { freshApi, type ModelFixture, makeModelFixture, row } from './helpers.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KEY = 'cluster-test-key-3f9a1c7e5b2d';
const CLI = ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts')];

let fx: ModelFixture;
beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
});
afterAll(() => fx?.cleanup());

/** Predicts once; returns [the worker that answered, the model version it named]. */
async function predictOnce(url: string): Promise<[string, string]> {
  const predicted = await freshApi(url, '/api/ml/predict', { key: KEY, body: { features: row(fx, 3) } });
  expect(predicted.status, predicted.text).toBe(200);
  return [predicted.headers.get('x-quantflow-instance') ?? '?', predicted.json.model];
}

function quantflow(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, QUANTFLOW_REGISTRY_KEY: '' } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

describe('quantflow serve --workers 2', () => {
  it('both workers answer the version promoted with the CLI; metrics summed; rolling restart; SIGTERM stops all', async () => {
    const registry = path.join(fx.root, 'cluster-registry');
    const reg = await ModelRegistry.open(registry, { env: {} });
    await reg.register('alpha', path.join(fx.modelsDir, 'tf-a')); // v1, active
    await reg.register('alpha', path.join(fx.modelsDir, 'tf-b')); // v2
    let child: ChildProcess | undefined;
    try {
      child = spawn(
        process.execPath,
        [
          ...CLI,
          'serve',
          '--workers',
          '2',
          '--port',
          '0',
          '--registry',
          registry,
          '--registry-poll',
          '200',
          '--log-level',
          'warn',
        ],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, QUANTFLOW_API_KEYS: `${KEY}:admin`, QUANTFLOW_REGISTRY_KEY: '' },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr!.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no cluster after 60 s:\n${stderr}`)), 60_000);
        child!.stderr!.on('data', (d: string) => {
          stderr += d;
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+) \(2 workers\)/.exec(stderr);
          if (m !== null) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child!.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
      });

      // Connections alternate between the workers: both answer, both with v1.
      const workers = new Set<string>();
      for (let i = 0; i < 40 && workers.size < 2; i++) {
        const [who, model] = await predictOnce(url);
        workers.add(who);
        expect(model).toBe('alpha@v1');
      }
      expect([...workers].sort()).toEqual(['worker 1', 'worker 2']);

      const promoted = await quantflow(['models', 'promote', 'alpha', 'v2', '--registry', registry]);
      expect(promoted.code, promoted.stderr).toBe(0);
      // Within a bounded time (poll interval + load) every worker answers v2 ...
      const onV2 = new Set<string>();
      for (let i = 0; i < 200 && onV2.size < 2; i++) {
        const [who, model] = await predictOnce(url);
        if (model === 'alpha@v2') onV2.add(who);
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect([...onV2].sort()).toEqual(['worker 1', 'worker 2']);
      // ... and from then on no answer names v1, whichever worker gives it.
      const after = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const [who, model] = await predictOnce(url);
        expect(model).toBe('alpha@v2');
        after.add(who);
      }
      expect(after.size).toBe(2);

      const metrics = await freshApi(url, '/metrics', { key: KEY });
      expect(metrics.status).toBe(200);
      const loaded = /quantflow_model_loaded\{model="alpha@v2",kind="tfjs",active="true"\} (\d+)/.exec(metrics.text);
      expect(loaded?.[1]).toBe('2'); // one per worker, summed by the primary
      const health = await freshApi(url, '/health');
      expect(health.json.models.refs).toContain('alpha@v2');

      // SIGHUP: a rolling restart, one worker at a time; the port answers throughout.
      child.kill('SIGHUP');
      const instances = new Set<string>();
      let failures = 0;
      for (let i = 0; i < 500 && !(instances.has('worker 3') && instances.has('worker 4')); i++) {
        const res = await freshApi(url, '/health').catch(() => undefined);
        if (res?.status === 200) instances.add(res.headers.get('x-quantflow-instance') ?? '?');
        else failures++;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(failures).toBe(0);
      expect(instances.has('worker 3') && instances.has('worker 4')).toBe(true);
      await new Promise((r) => setTimeout(r, 500)); // the old workers finish and exit
      for (let i = 0; i < 4; i++) {
        const [who, model] = await predictOnce(url);
        expect(['worker 3', 'worker 4']).toContain(who);
        expect(model).toBe('alpha@v2');
      }

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      child = undefined;
    } finally {
      if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
