/**
 * Crash safety and concurrency across processes: a save killed with SIGKILL at
 * any point leaves the previous versions listed, active and loadable, and two
 * processes registering at once get distinct version numbers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/index.js';
import { fakeModelFiles, REPO_ROOT, tempDir } from './helpers.js';

const CHILD = path.join(REPO_ROOT, 'test', 'registry', 'fixtures', 'register-child.ts');
const BIG = 50 * 1024 * 1024;

interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  waitFor(prefix: string, timeoutMs?: number): Promise<string>;
}

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  let buffer = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters) w();
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    proc.on('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal, stderr });
    }),
  );
  return {
    proc,
    lines,
    exited,
    waitFor(prefix, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for '${prefix}'; stderr: ${stderr}`)),
          timeoutMs,
        );
        const check = () => {
          const line = lines.find((l) => l.startsWith(prefix));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(line);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`child exited before '${prefix}'; stderr: ${stderr}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
  };
}

async function registryWithV1() {
  const root = path.join(tempDir(), 'reg');
  const registry = await ModelRegistry.open(root);
  await registry.register('m', fakeModelFiles(1024));
  return { root, registry, modelDir: path.join(root, 'models', 'm') };
}

async function expectOnlyV1(registry: ModelRegistry): Promise<void> {
  const [listing] = await registry.list();
  expect(listing?.versions.map((v) => v.version)).toEqual(['v1']);
  expect(listing?.active).toBe('v1');
  const loaded = await registry.loadFiles('m');
  expect(loaded.version).toBe('v1');
  expect(loaded.files.get('weights.bin')?.byteLength).toBe(1024);
}

describe('model registry: crashes and concurrent writers', () => {
  it('a save killed after writing its files (before the rename) leaves v1 active and nothing half-listed', async () => {
    const { root, registry, modelDir } = await registryWithV1();
    const child = startChild([root, 'm', String(BIG), '1', 'files-written']);
    await child.waitFor('STAGE files-written m@v2');
    child.proc.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');

    expect(readdirSync(modelDir).some((e) => e.startsWith('.tmp-'))).toBe(true); // the killed save's temp dir
    expect(existsSync(path.join(root, 'locks', 'm.lock'))).toBe(true); // and its lock
    await expectOnlyV1(await ModelRegistry.open(root, { create: false }));
    await expect(registry.loadFiles('m@v2')).rejects.toThrow(/no such version/);
    expect((await registry.verify()).models[0]?.leftovers).toHaveLength(1);

    // the next writer breaks the dead process's lock at once and cleans up
    const started = Date.now();
    const next = await registry.register('m', fakeModelFiles(10));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(next.version).toBe('v2');
    expect(readdirSync(modelDir).sort()).toEqual(['index.json', 'v1', 'v2']);
  });

  it('a save killed after the rename but before the index update is not listed or loadable', async () => {
    const { root, registry, modelDir } = await registryWithV1();
    const child = startChild([root, 'm', String(1024 * 1024), '1', 'version-renamed']);
    await child.waitFor('STAGE version-renamed m@v2');
    child.proc.kill('SIGKILL');
    await child.exited;

    expect(existsSync(path.join(modelDir, 'v2', 'manifest.json'))).toBe(true); // complete on disk, never committed
    await expectOnlyV1(registry);
    await expect(registry.loadFiles('m@v2')).rejects.toThrow(/no such version/);
    await expect(registry.loadFiles('m@latest')).resolves.toMatchObject({ version: 'v1' });

    const next = await registry.register('m', fakeModelFiles(10));
    expect(next.version).toBe('v3'); // v2's number is not reused for different bytes
    expect(readdirSync(modelDir).sort()).toEqual(['index.json', 'v1', 'v2', 'v3']); // the orphan stays until --fix
    expect((await registry.verify('m', { fix: true })).removed).toEqual([path.join(modelDir, 'v2')]);
    expect(readdirSync(modelDir).sort()).toEqual(['index.json', 'v1', 'v3']);
  });

  it('a 50 MB save SIGKILLed mid-write leaves the previous version active and loadable', async () => {
    const { root, modelDir } = await registryWithV1();
    const child = startChild([root, 'm', String(BIG), '1']);
    // kill as soon as weights.bin appears in the save's temporary directory, i.e. while its 50 MB are written
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const tmp = readdirSync(modelDir).find((e) => e.startsWith('.tmp-'));
        if (tmp !== undefined && existsSync(path.join(modelDir, tmp, 'weights.bin'))) {
          child.proc.kill('SIGKILL');
          clearInterval(timer);
          resolve();
        } else if (child.proc.exitCode !== null) {
          clearInterval(timer);
          reject(new Error('child finished before it could be killed'));
        }
      }, 1);
    });
    expect((await child.exited).signal).toBe('SIGKILL');

    const registry = await ModelRegistry.open(root, { create: false });
    const [listing] = await registry.list();
    expect(listing?.active).toBe('v1');
    expect((await registry.loadFiles('m')).version).toBe('v1');
    // whatever point the kill hit, every listed version is complete and verifies
    const report = await registry.verify('m');
    expect(report.ok).toBe(true);
    expect(listing?.versions.length).toBeLessThanOrEqual(2);
    for (const v of listing?.versions ?? []) await registry.loadFiles(`m@${v.version}`);
  });

  it('two processes registering at once get distinct versions', async () => {
    const work = tempDir();
    const root = path.join(work, 'reg');
    const go = path.join(work, 'go');
    const children = [0, 1].map(() => startChild([root, 'm', String(256 * 1024), '10', '-', go]));
    await Promise.all(children.map((c) => c.waitFor('READY')));
    writeFileSync(go, ''); // release both at once
    const results = await Promise.all(children.map((c) => c.exited));
    for (const r of results) expect(r.code, r.stderr).toBe(0);

    const refs = children.flatMap((c) => c.lines.filter((l) => l.startsWith('REGISTERED ')).map((l) => l.slice(11)));
    expect(refs).toHaveLength(20);
    expect(new Set(refs).size).toBe(20);
    const registry = await ModelRegistry.open(root, { create: false });
    const [listing] = await registry.list();
    expect(listing?.versions.map((v) => v.version)).toEqual(Array.from({ length: 20 }, (_, i) => `v${i + 1}`));
    expect((await registry.verify()).ok).toBe(true);
  });
});
