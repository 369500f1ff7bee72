import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, IntegrityError } from '../../src/core/errors.js';
import { sha256Hex } from '../../src/models/model-files.js';
import { encodeChecksummed } from '../../src/registry/checksummed-json.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { generateSigningKeys } from '../../src/registry/registry-signing.js';
import { fakeModelFiles, tempDir } from './helpers.js';

const keys = generateSigningKeys();
const writer = { QUANTFLOW_REGISTRY_SIGNING_KEY: keys.signingKey };
const reader = { QUANTFLOW_REGISTRY_VERIFY_KEY: keys.verifyKey };

/**
 * The forger's edit: scramble weights.bin, then fix everything an unkeyed
 * check could catch: its sha256 and size in the manifest, the manifest's
 * sha256 in index.json and the index's own checksum.
 */
function forge(root: string, model: string, version: string): void {
  const dir = path.join(root, 'models', model, version);
  const weights = randomBytes(readFileSync(path.join(dir, 'weights.bin')).length);
  writeFileSync(path.join(dir, 'weights.bin'), weights);
  const manifestFile = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  manifest.files['weights.bin'] = { sha256: sha256Hex(weights), bytes: weights.length };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(manifestFile, manifestBytes);
  const indexFile = path.join(root, 'models', model, 'index.json');
  const index = JSON.parse(readFileSync(indexFile, 'utf8'));
  index.versions[version].manifestSha256 = sha256Hex(manifestBytes);
  writeFileSync(indexFile, encodeChecksummed(index));
}

async function signedRegistry() {
  const root = path.join(tempDir(), 'reg');
  const registry = await ModelRegistry.open(root, { sign: true, env: writer });
  const files = fakeModelFiles(5000);
  await registry.register('m', files);
  await registry.register('m', fakeModelFiles(5000));
  return { root, files };
}

describe('model registry: keyed integrity (Ed25519 signatures)', () => {
  it("refuses the forger's edit that every unkeyed checksum accepts", async () => {
    // Unsigned: the edit passes every check there is, which is why servers warn about unsigned registries.
    const plainRoot = path.join(tempDir(), 'plain');
    const plain = await ModelRegistry.open(plainRoot, { env: {} });
    await plain.register('m', fakeModelFiles(5000));
    forge(plainRoot, 'm', 'v1');
    expect((await plain.verify()).ok).toBe(true);

    const { root, files } = await signedRegistry();
    const registry = await ModelRegistry.open(root, { env: reader }); // a server: the public key only
    expect(registry.signed).toBe(true);
    expect(Buffer.from((await registry.loadFiles('m@v1')).files.get('weights.bin')!)).toEqual(
      Buffer.from(files.get('weights.bin')!),
    );
    forge(root, 'm', 'v1');
    const err = await registry.loadFiles('m@v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain('signature of m@v1 does not verify');
    expect((err as IntegrityError).where.file).toBe(path.join(root, 'models', 'm', 'index.json'));
    await expect(registry.get('m')).rejects.toThrow(/signature of m@v1/); // metadata reads too
    const report = await registry.verify();
    expect(report.ok).toBe(false);
    expect(report.models[0]!.versions.map((v) => [v.version, v.ok])).toEqual([
      ['v1', false],
      ['v2', true],
    ]);
    expect((await registry.loadFiles('m@v2')).version).toBe('v2');
  });

  it('refuses an unsigned entry added to a signed registry, and a signature moved to another version', async () => {
    const { root } = await signedRegistry();
    const indexFile = path.join(root, 'models', 'm', 'index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    const v1Signature = index.versions.v1.signature;
    index.versions.v2.signature = v1Signature;
    writeFileSync(indexFile, encodeChecksummed(index));
    const registry = await ModelRegistry.open(root, { env: reader });
    await expect(registry.loadFiles('m@v2')).rejects.toThrow(/signature of m@v2 does not verify/);
    delete index.versions.v2.signature;
    writeFileSync(indexFile, encodeChecksummed(index));
    await expect(registry.loadFiles('m@v2')).rejects.toThrow(/m@v2 is not signed/);
  });

  it('opens only with its public key; writing needs the signing key; keys the registry does not use are refused', async () => {
    const { root } = await signedRegistry();
    await expect(ModelRegistry.open(root, { env: {} })).rejects.toThrow(
      /registry is signed: set QUANTFLOW_REGISTRY_VERIFY_KEY/,
    );
    const other = generateSigningKeys();
    await expect(ModelRegistry.open(root, { env: { QUANTFLOW_REGISTRY_VERIFY_KEY: other.verifyKey } })).rejects.toThrow(
      /not the key this registry is signed with/,
    );
    await expect(
      ModelRegistry.open(root, {
        env: { QUANTFLOW_REGISTRY_SIGNING_KEY: keys.signingKey, QUANTFLOW_REGISTRY_VERIFY_KEY: other.verifyKey },
      }),
    ).rejects.toThrow(/not the two halves of one key pair/);

    const readOnly = await ModelRegistry.open(root, { env: reader });
    const refused = await readOnly.register('m', fakeModelFiles(10)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).message).toContain('set QUANTFLOW_REGISTRY_SIGNING_KEY to register');
    await expect(ModelRegistry.open(root, { sign: false, env: reader })).rejects.toThrow(/created with signing/);

    const plainRoot = path.join(tempDir(), 'plain');
    await (await ModelRegistry.open(plainRoot, { env: {} })).register('p', fakeModelFiles(10));
    await expect(ModelRegistry.open(plainRoot, { env: reader })).rejects.toThrow(/this registry is not signed/);
    await expect(ModelRegistry.open(path.join(tempDir(), 'new'), { sign: true, env: reader })).rejects.toThrow(
      /signing requested but no signing key/,
    );
  });

  it('signs encrypted registries too', async () => {
    const root = path.join(tempDir(), 'reg');
    const env = { ...writer, QUANTFLOW_REGISTRY_KEY: 'c3'.repeat(32) };
    const registry = await ModelRegistry.open(root, { sign: true, encrypt: true, env });
    const v = await registry.register('m', fakeModelFiles(100));
    expect(v).toMatchObject({ encrypted: true, ref: 'm@v1' });
    expect(v).not.toHaveProperty('signature');
    const index = JSON.parse(readFileSync(path.join(root, 'models', 'm', 'index.json'), 'utf8'));
    expect(index.versions.v1.signature).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    const verify = await (await ModelRegistry.open(root, { env })).verify();
    expect(verify).toMatchObject({ ok: true, signed: true, encrypted: true });
  });
});
