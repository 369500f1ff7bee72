import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/core/errors.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { fakeModelFiles, tempDir } from './helpers.js';

async function twoVersions() {
  const root = path.join(tempDir(), 'reg');
  const registry = await ModelRegistry.open(root);
  await registry.register('m', fakeModelFiles(10_000));
  await registry.register('m', fakeModelFiles(10_000));
  return {
    root,
    registry,
    v1: path.join(root, 'models', 'm', 'v1'),
    index: path.join(root, 'models', 'm', 'index.json'),
  };
}

function flipByte(file: string, at = 100): void {
  const data = readFileSync(file);
  data[at] = (data[at] ?? 0) ^ 0xff;
  writeFileSync(file, data);
}

async function integrityError(p: Promise<unknown>): Promise<IntegrityError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IntegrityError);
  return err as IntegrityError;
}

describe('model registry: integrity at every load', () => {
  it('refuses a version whose weights were modified, naming the file', async () => {
    const { registry, v1 } = await twoVersions();
    flipByte(path.join(v1, 'weights.bin'));
    const err = await integrityError(registry.loadFiles('m'));
    expect(err.where.file).toBe(path.join(v1, 'weights.bin'));
    expect(err.message).toContain('sha256 differs from the manifest');
    // the other version is unaffected
    expect((await registry.loadFiles('m@v2')).version).toBe('v2');
  });

  it('refuses a modified manifest, even one made consistent with modified weights', async () => {
    const { registry, v1 } = await twoVersions();
    const manifestFile = path.join(v1, 'manifest.json');
    const weightsFile = path.join(v1, 'weights.bin');
    flipByte(weightsFile);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    const { createHash } = await import('node:crypto');
    manifest.files['weights.bin'].sha256 = createHash('sha256').update(readFileSync(weightsFile)).digest('hex');
    writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));

    const err = await integrityError(registry.loadFiles('m@v1'));
    expect(err.where.file).toBe(manifestFile);
    expect(err.message).toContain('manifest');
    await integrityError(registry.get('m')); // metadata reads are checked too
  });

  it('refuses missing, truncated and unlisted files', async () => {
    const { registry, v1 } = await twoVersions();
    writeFileSync(path.join(v1, 'extra.bin'), 'sneaky');
    expect((await integrityError(registry.loadFiles('m'))).where.file).toBe(path.join(v1, 'extra.bin'));
    rmSync(path.join(v1, 'extra.bin'));

    writeFileSync(path.join(v1, 'weights.bin'), readFileSync(path.join(v1, 'weights.bin')).subarray(0, 10));
    expect((await integrityError(registry.loadFiles('m'))).where.file).toBe(path.join(v1, 'weights.bin'));
    rmSync(path.join(v1, 'weights.bin'));
    expect((await integrityError(registry.loadFiles('m'))).where.file).toBe(path.join(v1, 'weights.bin'));
    rmSync(v1, { recursive: true });
    expect((await integrityError(registry.loadFiles('m'))).where.file).toBe(v1);
  });

  it('guards its own index: an edited or corrupted index.json is refused naming it', async () => {
    const { registry, index } = await twoVersions();
    const original = readFileSync(index, 'utf8');

    writeFileSync(index, original.replace('"active": "v1"', '"active": "v2"'));
    const edited = await integrityError(registry.loadFiles('m'));
    expect(edited.where.file).toBe(index);
    expect(edited.message).toContain('checksum does not match');

    writeFileSync(index, original.slice(0, original.length / 2));
    expect((await integrityError(registry.list())).where.file).toBe(index);

    writeFileSync(index, original);
    expect((await registry.loadFiles('m')).version).toBe('v1');
  });

  it('verify reports every version and does not stop at the first damaged one', async () => {
    const { registry, v1 } = await twoVersions();
    await registry.register('other', fakeModelFiles(100));
    expect((await registry.verify()).ok).toBe(true);

    flipByte(path.join(v1, 'weights.bin'));
    const report = await registry.verify();
    expect(report.ok).toBe(false);
    const m = report.models.find((x) => x.name === 'm')!;
    expect(m.versions.map((v) => [v.version, v.ok])).toEqual([
      ['v1', false],
      ['v2', true],
    ]);
    expect(m.versions[0]!.error).toContain(path.join(v1, 'weights.bin'));
    expect(report.models.find((x) => x.name === 'other')!.ok).toBe(true);
    expect((await registry.verify('other')).ok).toBe(true);
    await expect(registry.verify('missing')).rejects.toThrow(/no model 'missing'/);
  });

  it('never loads leftovers of interrupted saves; verify fails on an unlisted version and --fix removes it', async () => {
    const { root, registry } = await twoVersions();
    const modelDir = path.join(root, 'models', 'm');
    mkdirSync(path.join(modelDir, '.tmp-123-abc'));
    writeFileSync(path.join(modelDir, '.tmp-123-abc', 'weights.bin'), 'half');
    mkdirSync(path.join(modelDir, 'v3')); // renamed into place, index never updated
    writeFileSync(path.join(modelDir, 'v3', 'weights.bin'), 'whole but unlisted');

    expect((await registry.list())[0]!.versions.map((v) => v.version)).toEqual(['v1', 'v2']);
    await expect(registry.loadFiles('m@v3')).rejects.toThrow(/no such version/);
    const report = await registry.verify();
    expect(report.ok).toBe(false);
    expect(report.models[0]!.leftovers.map((l) => path.basename(l)).sort()).toEqual(['.tmp-123-abc', 'v3']);
    expect(report.models[0]!.problems).toEqual([expect.stringMatching(/^v3 on disk not listed in .*index\.json/)]);

    const fixed = await registry.verify(undefined, { fix: true });
    expect(fixed.removed).toHaveLength(2);
    const after = await registry.verify();
    expect(after.ok).toBe(true);
    expect(after.models[0]!.leftovers).toEqual([]);
    // the number of a never-listed (removed) directory is free again
    expect((await registry.register('m', fakeModelFiles(10))).version).toBe('v3');
  });

  it('never deletes version directories automatically when the index itself is gone; verify reports it', async () => {
    const { root, registry, index } = await twoVersions();
    rmSync(index);
    expect(await registry.list()).toEqual([]);
    const report = await registry.verify();
    expect(report.ok).toBe(false);
    expect(report.models[0]!.problems[0]).toContain(`${index}: index is missing; 2 version directories are on disk`);
    expect((await registry.verify(undefined, { fix: true })).removed).toEqual([]);
    expect((await registry.register('m', fakeModelFiles(10))).version).toBe('v3'); // numbers on disk are skipped
    expect(readdirSync(path.join(root, 'models', 'm')).sort()).toEqual(['index.json', 'v1', 'v2', 'v3']);
  });
});
