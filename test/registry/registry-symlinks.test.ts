/**
 * Symbolic links that lead out of the registry are refused wherever they sit
 * (a version directory, a model directory, a single file), by loads, metadata
 * reads, listings and verify alike: the same containment rule as the HTTP
 * API's registration route (src/registry/contained-path.ts).
 */
import { cpSync, renameSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/core/errors.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { fakeModelFiles, tempDir } from './helpers.js';

async function registryWith(name: string) {
  const root = path.join(tempDir(), 'reg');
  const registry = await ModelRegistry.open(root, { env: {} });
  await registry.register(name, fakeModelFiles(1000));
  return { root, registry, modelDir: path.join(root, 'models', name) };
}

async function refusedAsEscape(p: Promise<unknown>, file: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IntegrityError);
  expect((err as IntegrityError).message).toContain('leads outside the registry');
  expect((err as IntegrityError).where.file).toBe(file);
}

describe('model registry: symbolic links out of the registry', () => {
  it('refuses a version directory that is a link to a copy outside', async () => {
    const { registry, modelDir } = await registryWith('m');
    const outside = path.join(tempDir(), 'v1-copy');
    cpSync(path.join(modelDir, 'v1'), outside, { recursive: true });
    renameSync(path.join(modelDir, 'v1'), path.join(tempDir(), 'gone'));
    symlinkSync(outside, path.join(modelDir, 'v1'));

    await refusedAsEscape(registry.loadFiles('m'), path.join(modelDir, 'v1'));
    await expect(registry.list()).rejects.toThrow(/leads outside the registry/);
    const report = await registry.verify();
    expect(report.ok).toBe(false);
    expect(report.models[0]!.versions[0]!.error).toContain('leads outside the registry');
  });

  it('refuses a model directory linked in from another registry, and verify reports it', async () => {
    const other = await registryWith('foreign');
    const { root, registry } = await registryWith('m');
    const link = path.join(root, 'models', 'foreign');
    symlinkSync(other.modelDir, link);

    await refusedAsEscape(registry.loadFiles('foreign'), link);
    await refusedAsEscape(registry.readIndex('foreign'), link);
    const report = await registry.verify();
    expect(report.ok).toBe(false);
    const foreign = report.models.find((m) => m.name === 'foreign');
    expect(foreign?.problems[0]).toContain('leads outside the registry');
    expect(report.models.find((m) => m.name === 'm')?.ok).toBe(true);
  });

  it('refuses a single model file linked to a copy outside', async () => {
    const { registry, modelDir } = await registryWith('m');
    const weights = path.join(modelDir, 'v1', 'weights.bin');
    const outside = path.join(tempDir(), 'weights.bin');
    cpSync(weights, outside);
    renameSync(weights, path.join(tempDir(), 'gone.bin'));
    symlinkSync(outside, weights);
    await refusedAsEscape(registry.loadFiles('m'), weights);
  });

  it('follows links that stay inside the registry', async () => {
    const { root } = await registryWith('m');
    const realRoot = path.join(path.dirname(root), 'real');
    renameSync(root, realRoot);
    symlinkSync(realRoot, root); // the registry root itself may be a link
    const registry = await ModelRegistry.open(root, { env: {} });
    // and a version may be a link to another version's directory of the same registry
    symlinkSync(path.join(realRoot, 'models', 'm', 'v1'), path.join(realRoot, 'models', 'm', 'v1-alias'));
    expect((await registry.loadFiles('m')).version).toBe('v1');
    expect((await registry.verify()).ok).toBe(true);
  });
});
