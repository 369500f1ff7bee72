import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, IntegrityError } from '../../src/core/errors.js';
import { sha256Hex, withManifest } from '../../src/models/model-files.js';
import { encodeChecksummed } from '../../src/registry/checksummed-json.js';
import { ModelRegistry, parseRegistryKey } from '../../src/registry/index.js';
import { bytesEqual, fakeModelFiles, OTHER_KEY, TEST_KEY, tempDir } from './helpers.js';

const env = (key?: string) => (key === undefined ? {} : { QUANTFLOW_REGISTRY_KEY: key });

async function encryptedRegistry() {
  const root = path.join(tempDir(), 'reg');
  const registry = await ModelRegistry.open(root, { encrypt: true, env: env(TEST_KEY) });
  const files = fakeModelFiles(50_000);
  await registry.register('m', files);
  return { root, registry, files, v1: path.join(root, 'models', 'm', 'v1') };
}

describe('model registry: encryption at rest', () => {
  it('round-trips through AES-256-GCM and keeps only ciphertext on disk', async () => {
    const { root, files, v1 } = await encryptedRegistry();
    expect(readdirSync(v1).sort()).toEqual(['manifest.json.enc', 'meta.json.enc', 'weights.bin.enc']);

    const plainWeights = files.get('weights.bin')!;
    const stored = readFileSync(path.join(v1, 'weights.bin.enc'));
    expect(stored.subarray(0, 4).toString('ascii')).toBe('QFRE');
    expect(stored.length).toBe(plainWeights.length + 4 + 1 + 12 + 16);
    // no slice of the plaintext appears anywhere in the registry
    const needle = Buffer.from(plainWeights.subarray(1000, 1032));
    const metaNeedle = Buffer.from('BTC/USDT');
    for (const file of walk(root)) {
      const data = readFileSync(file);
      expect(data.includes(needle), file).toBe(false);
      expect(data.includes(metaNeedle), file).toBe(false);
    }

    const reopened = await ModelRegistry.open(root, { env: env(TEST_KEY) });
    expect(reopened.encrypted).toBe(true);
    const loaded = await reopened.loadFiles('m');
    expect(bytesEqual(loaded.files.get('weights.bin'), plainWeights)).toBe(true);
    expect(loaded.meta.training.symbol).toBe('BTC/USDT');
    expect((await reopened.list())[0]!.metadata?.symbol).toBe('BTC/USDT');
    expect((await reopened.verify()).ok).toBe(true);
  });

  it('accepts the key as base64 too', async () => {
    const { root } = await encryptedRegistry();
    const base64 = Buffer.from(TEST_KEY, 'hex').toString('base64');
    const registry = await ModelRegistry.open(root, { env: env(base64) });
    expect((await registry.loadFiles('m')).version).toBe('v1');
  });

  it('refuses to open with a wrong key, naming the settings file', async () => {
    const { root } = await encryptedRegistry();
    const err = await ModelRegistry.open(root, { env: env(OTHER_KEY) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).where.file).toBe(path.join(root, 'registry.json'));
    expect((err as ConfigError).message).toContain('not the key this registry was created with');
  });

  it('refuses modified ciphertext naming the file', async () => {
    const { root, v1 } = await encryptedRegistry();
    const file = path.join(v1, 'weights.bin.enc');
    const data = readFileSync(file);
    data[data.length - 1] = (data[data.length - 1] ?? 0) ^ 1;
    writeFileSync(file, data);
    const registry = await ModelRegistry.open(root, { env: env(TEST_KEY) });
    const err = await registry.loadFiles('m').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).where.file).toBe(file);
    expect((err as IntegrityError).message).toContain('authentication failed');
  });

  it('refuses ciphertext moved from another version (bound to model, version and file name)', async () => {
    const { root, registry, v1 } = await encryptedRegistry();
    await registry.register('m', fakeModelFiles(50_000));
    const v2 = path.join(root, 'models', 'm', 'v2');
    for (const f of ['manifest.json.enc', 'meta.json.enc', 'weights.bin.enc']) {
      writeFileSync(path.join(v1, f), readFileSync(path.join(v2, f)));
    }
    await expect(registry.loadFiles('m@v1')).rejects.toThrow(IntegrityError);
  });

  it('an encrypted registry refuses to open without its key; a key given for a plaintext registry is refused', async () => {
    const { root } = await encryptedRegistry();
    await expect(ModelRegistry.open(root, { env: {} })).rejects.toThrow(
      /registry is encrypted: set QUANTFLOW_REGISTRY_KEY/,
    );

    const plainRoot = path.join(tempDir(), 'plain');
    await (await ModelRegistry.open(plainRoot, { env: {} })).register('p', fakeModelFiles(10));
    await expect(ModelRegistry.open(plainRoot, { env: env(TEST_KEY) })).rejects.toThrow(
      /QUANTFLOW_REGISTRY_KEY\) but this registry is not encrypted/,
    );
    // nor does a key make a new registry plaintext by mistake (nothing is created)
    const fresh = path.join(tempDir(), 'fresh');
    await expect(ModelRegistry.open(fresh, { env: env(TEST_KEY) })).rejects.toThrow(/not encrypted/);
    expect(existsSync(path.join(fresh, 'registry.json'))).toBe(false);
  });

  it('refuses a plaintext version injected into an encrypted registry, even with a consistent index', async () => {
    const { root, registry } = await encryptedRegistry();
    // The forger writes a plaintext model as v2 and an index entry for it, checksum recomputed, made active.
    const v2 = path.join(root, 'models', 'm', 'v2');
    const plain = withManifest(fakeModelFiles(100));
    mkdirSync(v2);
    for (const [name, data] of plain) writeFileSync(path.join(v2, name), data);
    const indexFile = path.join(root, 'models', 'm', 'index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    index.versions.v2 = {
      createdAt: new Date().toISOString(),
      encrypted: false,
      manifestSha256: sha256Hex(plain.get('manifest.json')!),
      files: 2,
      bytes: 1,
    };
    index.nextVersion = 3;
    index.active = 'v2';
    index.history = ['v1'];
    writeFileSync(indexFile, encodeChecksummed(index));

    const err = await registry.loadFiles('m').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain('m@v2 is stored in plaintext in an encrypted registry');
    expect((err as IntegrityError).where.file).toBe(indexFile);
    await expect(registry.list()).rejects.toThrow(/plaintext in an encrypted registry/);
    const report = await registry.verify();
    expect(report.ok).toBe(false);
    expect(report.models[0]!.versions).toEqual([
      { version: 'v1', ok: true },
      { version: 'v2', ok: false, error: expect.stringContaining('plaintext in an encrypted registry') },
    ]);
    // without a key it does not even open
    await expect(ModelRegistry.open(root, { env: {} })).rejects.toThrow(/registry is encrypted/);
  });

  it('reads the key from a configurable variable, and is fixed at creation', async () => {
    const root = path.join(tempDir(), 'reg');
    await expect(ModelRegistry.open(root, { encrypt: true, env: {} })).rejects.toThrow(/no key given/);
    const registry = await ModelRegistry.open(root, { encrypt: true, keyEnv: 'MY_KEY', env: { MY_KEY: TEST_KEY } });
    await registry.register('m', fakeModelFiles(10));
    await expect(ModelRegistry.open(root, { encrypt: false })).rejects.toThrow(/created with encryption/);
    await expect(ModelRegistry.open(root, { keyEnv: 'MY_KEY', env: {} })).rejects.toThrow(/set MY_KEY/);
  });

  it('rejects malformed keys without echoing them', () => {
    for (const bad of ['abc', 'zz'.repeat(32), Buffer.alloc(16).toString('base64'), 'a1'.repeat(31)]) {
      let message = '';
      try {
        parseRegistryKey(bad, 'QUANTFLOW_REGISTRY_KEY');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message).toContain('QUANTFLOW_REGISTRY_KEY');
      expect(message).not.toContain(bad);
    }
    expect(parseRegistryKey(TEST_KEY, 'k')).toHaveLength(32);
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)],
  );
}
