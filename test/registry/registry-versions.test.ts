import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ModelError } from '../../src/core/errors.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { bytesEqual, fakeModelDir, fakeModelFiles, tempDir } from './helpers.js';

describe('model registry: versions', () => {
  it('registers versions v1, v2, ... per name; lists and gets them with their metadata', async () => {
    const work = tempDir();
    const registry = await ModelRegistry.open(path.join(work, 'reg'));
    const a1 = await registry.register('btc-1h', fakeModelDir(work, 'a1', 1000, { validation: undefined }));
    const a2 = await registry.register('btc-1h', fakeModelFiles(2000, { kind: 'python' }));
    const b1 = await registry.register(
      'eth.4h_x',
      fakeModelFiles(100, { training: { ...fakeTraining(), symbol: 'ETH/USDT' } }),
    );

    expect([a1.ref, a2.ref, b1.ref]).toEqual(['btc-1h@v1', 'btc-1h@v2', 'eth.4h_x@v1']);
    expect(a1.active).toBe(true); // the first version of a name becomes active
    expect(a2.active).toBe(false); // later ones only when asked
    expect(a2.files).toBe(2);

    const list = await registry.list();
    expect(list.map((m) => m.name)).toEqual(['btc-1h', 'eth.4h_x']);
    const btc = list[0]!;
    expect(btc.active).toBe('v1');
    expect(btc.latest).toBe('v2');
    expect(btc.versions.map((v) => v.version)).toEqual(['v1', 'v2']);
    expect(btc.versions[0]!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(btc.metadata?.kind).toBe('tfjs');
    expect(btc.metadata?.validation).toBeNull();
    expect(list[1]!.metadata?.symbol).toBe('ETH/USDT');

    const details = await registry.get('btc-1h');
    expect(details.versions.map((v) => [v.version, v.meta.kind, v.active])).toEqual([
      ['v1', 'tfjs', true],
      ['v2', 'python', false],
    ]);
    expect(details.versions[1]!.meta.validation?.accuracy).toBe(0.55);
  });

  it('loads by name (active), @active, @latest, @vN and @N, returning verified bytes', async () => {
    const registry = await ModelRegistry.open(path.join(tempDir(), 'reg'));
    const v1 = fakeModelFiles(3000);
    const v2 = fakeModelFiles(3000);
    await registry.register('m', v1);
    await registry.register('m', v2);

    const active = await registry.loadFiles('m');
    expect(active.ref).toBe('m@v1');
    expect(bytesEqual(active.files.get('weights.bin'), v1.get('weights.bin'))).toBe(true);
    expect(active.files.has('manifest.json')).toBe(true);
    expect(active.meta.name).toBe('test-model');
    expect((await registry.loadFiles('m@active')).version).toBe('v1');
    expect((await registry.loadFiles('m@latest')).version).toBe('v2');
    const exact = await registry.loadFiles('m@2');
    expect(exact.ref).toBe('m@v2');
    expect(bytesEqual(exact.files.get('weights.bin'), v2.get('weights.bin'))).toBe(true);

    await expect(registry.loadFiles('m@v9')).rejects.toThrow(/no such version \(versions: v1, v2\)/);
    await expect(registry.loadFiles('nope')).rejects.toThrow(ModelError);
    await expect(registry.loadFiles('m@banana')).rejects.toThrow(ConfigError);
  });

  it('promote and rollback change what loadFiles(name) returns; rollback walks a history stack', async () => {
    const registry = await ModelRegistry.open(path.join(tempDir(), 'reg'));
    for (let i = 0; i < 3; i++) await registry.register('m', fakeModelFiles(64));
    expect((await registry.loadFiles('m')).version).toBe('v1');

    await registry.promote('m', 'v3');
    expect((await registry.loadFiles('m')).version).toBe('v3');
    await registry.promote('m', '2');
    expect((await registry.loadFiles('m')).version).toBe('v2');

    expect((await registry.rollback('m')).active).toBe('v3');
    expect((await registry.loadFiles('m')).version).toBe('v3');
    expect((await registry.rollback('m')).active).toBe('v1');
    await expect(registry.rollback('m')).rejects.toThrow(/no previously active version/);
    await expect(registry.promote('m', 'v7')).rejects.toThrow(/has no version v7/);

    // registering with activate promotes at once and can be rolled back
    const v4 = await registry.register('m', fakeModelFiles(64), { activate: true });
    expect(v4.active).toBe(true);
    expect((await registry.loadFiles('m')).version).toBe('v4');
    expect((await registry.rollback('m')).active).toBe('v1');
  });

  it('deletes versions and models with clear rules for the active version; numbers are not reused', async () => {
    const root = path.join(tempDir(), 'reg');
    const registry = await ModelRegistry.open(root);
    for (let i = 0; i < 3; i++) await registry.register('m', fakeModelFiles(64));
    await registry.promote('m', 'v2');

    await expect(registry.delete('m', 'v2')).rejects.toThrow(/is the active version/);
    await registry.delete('m', 'v3');
    expect((await registry.list())[0]!.versions.map((v) => v.version)).toEqual(['v1', 'v2']);
    expect(readdirSync(path.join(root, 'models', 'm')).sort()).toEqual(['index.json', 'v1', 'v2']);
    expect((await registry.register('m', fakeModelFiles(64))).version).toBe('v4');

    // forced deletion of the active version falls back to the previously active one
    await registry.delete('m', 'v2', { force: true });
    expect((await registry.loadFiles('m')).version).toBe('v1');

    await expect(registry.delete('m')).rejects.toThrow(/needs force/);
    await registry.delete('m', undefined, { force: true });
    expect(await registry.list()).toEqual([]);
    expect(readdirSync(path.join(root, 'models'))).toEqual([]);
    await expect(registry.loadFiles('m')).rejects.toThrow(/no model 'm'/);
  });

  it('validates model names and refuses models without a valid meta.json', async () => {
    const registry = await ModelRegistry.open(path.join(tempDir(), 'reg'));
    for (const bad of ['Upper', '-dash', '.hidden', 'a/b', 'a..b', '', 'x'.repeat(101)]) {
      await expect(registry.register(bad, fakeModelFiles(8))).rejects.toThrow(ConfigError);
    }
    await expect(registry.register('ok', new Map([['weights.bin', new Uint8Array(8)]]))).rejects.toThrow(
      /meta\.json: file is missing/,
    );
    const badMeta = new Map([['meta.json', new TextEncoder().encode('{"formatVersion":1,"kind":"pickle"}')]]);
    await expect(registry.register('ok', badMeta)).rejects.toThrow(/unknown model kind 'pickle'/);
    expect(await registry.list()).toEqual([]);
  });

  it('refuses to open a missing registry with create: false', async () => {
    await expect(ModelRegistry.open(path.join(tempDir(), 'none'), { create: false })).rejects.toThrow(
      /no model registry here/,
    );
  });

  it('serialises concurrent registers within one process', async () => {
    const registry = await ModelRegistry.open(path.join(tempDir(), 'reg'));
    const results = await Promise.all(Array.from({ length: 8 }, () => registry.register('m', fakeModelFiles(256))));
    expect(new Set(results.map((r) => r.version)).size).toBe(8);
    expect((await registry.list())[0]!.versions).toHaveLength(8);
  });
});

function fakeTraining() {
  return {
    symbol: 'BTC/USDT',
    timeframe: '4h',
    from: 0,
    to: 1,
    trainRows: 10,
    dataHash: '0'.repeat(64),
    seed: 1,
    options: {},
  };
}
