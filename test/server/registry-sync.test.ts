/**
 * Two servers on one registry (as two workers, or two hosts on shared
 * storage): a promotion through one, or through the registry itself as the
 * CLI makes it, reaches the other within a bounded time, and both answer the
 * same version, which the answer names.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/index.js';
import {
  ADMIN_KEY,
  api,
  BOT_KEY,
  type ModelFixture,
  makeModelFixture,
  registerDir,
  row,
  startServer,
} from './helpers.js';

let fx: ModelFixture;
beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
});
afterAll(() => fx?.cleanup());

async function answering(url: string): Promise<string> {
  const res = await api(url, 'POST', '/api/ml/predict', {
    key: BOT_KEY,
    body: { model: 'alpha', features: row(fx, 2) },
  });
  expect(res.status, res.text).toBe(200);
  return res.json.model;
}

/** Polls until `url` answers `ref` for the bare name (at most 10 s). */
async function until(url: string, ref: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await answering(url)) === ref) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never answered ${ref}`);
}

describe('HTTP API: servers sharing a registry follow its active version', () => {
  it('a promotion through one server, then a rollback made with the CLI, reach the other', async () => {
    const registry = path.join(fx.root, 'shared-registry');
    const a = await startServer(fx, { registry, registryPollMs: 100 });
    const b = await startServer(fx, { registry, registryPollMs: 100 });
    try {
      expect((await registerDir(a.url, 'alpha', 'tf-a')).status).toBe(201);
      expect((await registerDir(a.url, 'alpha', 'tf-b')).status).toBe(201); // v2, not active
      expect(await answering(a.url)).toBe('alpha@v1');
      expect(await answering(b.url)).toBe('alpha@v1');

      const promoted = await api(a.url, 'POST', '/api/ml/models/alpha/promote', {
        key: ADMIN_KEY,
        body: { version: 'v2' },
      });
      expect(promoted.json.served).toBe('alpha@v2');
      expect(await answering(a.url)).toBe('alpha@v2');
      await until(b.url, 'alpha@v2');

      // `quantflow models rollback alpha` does exactly this: the registry, no server involved
      await (await ModelRegistry.open(registry, { create: false, env: {} })).rollback('alpha');
      await until(a.url, 'alpha@v1');
      await until(b.url, 'alpha@v1');
      expect(b.logs.some((l) => l.includes('active version changed in the registry'))).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a promoted version that cannot be loaded is reported once and the serving version goes on', async () => {
    const registry = path.join(fx.root, 'shared-registry-2');
    const a = await startServer(fx, { registry, registryPollMs: 100 });
    try {
      expect((await registerDir(a.url, 'alpha', 'tf-a')).status).toBe(201);
      const cli = await ModelRegistry.open(registry, { create: false, env: {} });
      await cli.register('alpha', path.join(fx.modelsDir, 'tf-b')); // v2, never loaded by the server
      const weights = path.join(registry, 'models', 'alpha', 'v2', 'weights.bin');
      const damaged = readFileSync(weights);
      damaged[0] = (damaged[0] ?? 0) ^ 0xff;
      writeFileSync(weights, damaged);
      await cli.promote('alpha', 'v2');
      for (let i = 0; i < 100 && !a.logs.some((l) => l.includes('cannot be served')); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300)); // a few more checks
      expect(a.logs.filter((l) => l.includes('cannot be served'))).toHaveLength(1);
      expect(a.logs.find((l) => l.includes('cannot be served'))).toContain('sha256 differs from the manifest');
      expect(await answering(a.url)).toBe('alpha@v1');
    } finally {
      await a.close();
    }
  });
});
