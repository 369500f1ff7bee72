/**
 * Safe registration over real HTTP: model paths only inside the models
 * directory or the registry ('..', absolute escapes and symlink escapes are
 * refused), Python scripts only from allow-listed directories and unchanged,
 * files verified before anything loads, and a version that fails to load
 * (on register, promote or first use) never replaces the one serving.
 */
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_FILE, withManifest, writeModelDirectory } from '../../src/models/model-files.js';
import { BUNDLED_PYTHON_DIR } from '../../src/models/python-model.js';
import {
  ADMIN_KEY,
  api,
  BOT_KEY,
  expectHealthy,
  logisticVariant,
  type ModelFixture,
  makeModelFixture,
  READ_KEY,
  registerDir,
  row,
  startServer,
  type TestServer,
  trainPythonModel,
} from './helpers.js';

let fx: ModelFixture;
let s: TestServer;
let outside: string;
let scripts: string;

beforeAll(async () => {
  fx = await makeModelFixture();
  // A valid model outside the models directory, and links into it.
  outside = path.join(fx.root, 'outside');
  cpSync(path.join(fx.modelsDir, 'tf-a'), path.join(outside, 'tf-a'), { recursive: true });
  symlinkSync(path.join(outside, 'tf-a'), path.join(fx.modelsDir, 'escape'));
  symlinkSync(outside, path.join(fx.modelsDir, 'outside-link'));
  symlinkSync(path.join(fx.modelsDir, 'tf-b'), path.join(fx.modelsDir, 'inside-link'));
  // A model directory whose weights are a link to a file outside.
  const linked = path.join(fx.modelsDir, 'linked-file');
  cpSync(path.join(fx.modelsDir, 'tf-a'), linked, { recursive: true });
  cpSync(path.join(linked, 'weights.bin'), path.join(outside, 'weights.bin'));
  rmSync(path.join(linked, 'weights.bin'));
  symlinkSync(path.join(outside, 'weights.bin'), path.join(linked, 'weights.bin'));
  // A Python model whose script lives outside the allow-list.
  scripts = path.join(fx.root, 'scripts');
  await trainPythonModel(fx, scripts, 'custom_model.py', logisticVariant('return super().predict(rows)'), 'py-custom');
  s = await startServer(fx);
  const first = await registerDir(s.url, 'alpha', 'tf-a');
  expect(first.status).toBe(201);
});

afterAll(async () => {
  await s?.close();
  fx?.cleanup();
});

async function expectRefused(pathValue: string, status: number, code: string): Promise<void> {
  const res = await api(s.url, 'POST', '/api/ml/models', {
    key: ADMIN_KEY,
    body: { name: 'intruder', source: { type: 'tfjs', path: pathValue } },
  });
  expect(res.status, `${pathValue}: ${res.text}`).toBe(status);
  expect(res.json.error).toMatchObject({ code, field: 'source.path' });
  await expectHealthy(s.url);
}

async function activeOf(name: string): Promise<string | null> {
  const res = await api(s.url, 'GET', `/api/ml/models/${name}`, { key: READ_KEY });
  return res.status === 404 ? null : (res.json.active as string | null);
}

describe('HTTP API: model paths', () => {
  it("refuses '..' anywhere in a path", async () => {
    await expectRefused('../outside/tf-a', 400, 'PATH_NOT_ALLOWED');
    await expectRefused('tf-b/../tf-a', 400, 'PATH_NOT_ALLOWED');
    await expectRefused('..', 400, 'PATH_NOT_ALLOWED');
    await expectRefused('tf-a\\..\\..\\outside', 400, 'PATH_NOT_ALLOWED');
    await expectRefused(`${fx.modelsDir}/../outside/tf-a`, 400, 'PATH_NOT_ALLOWED');
  });

  it('refuses absolute paths outside the models directory and the registry, without saying whether they exist', async () => {
    await expectRefused(path.join(outside, 'tf-a'), 400, 'PATH_NOT_ALLOWED');
    await expectRefused('/etc', 400, 'PATH_NOT_ALLOWED');
    await expectRefused('/no/such/dir', 400, 'PATH_NOT_ALLOWED');
    await expectRefused(fx.modelsDir, 400, 'PATH_NOT_ALLOWED'); // the root itself is not a model
    await expectRefused('no-such-model', 404, 'SOURCE_NOT_FOUND');
  });

  it('refuses symlink escapes (the directory, a parent, or a file inside)', async () => {
    await expectRefused('escape', 400, 'PATH_NOT_ALLOWED');
    await expectRefused('outside-link/tf-a', 400, 'PATH_NOT_ALLOWED');
    await expectRefused(path.join(fx.modelsDir, 'escape'), 400, 'PATH_NOT_ALLOWED');
    await expectRefused('linked-file', 400, 'INVALID_MODEL_DIRECTORY');
    expect(await activeOf('intruder')).toBeNull();
  });

  it('accepts absolute paths inside the models directory and links that stay inside', async () => {
    const abs = await registerDir(s.url, 'gamma', path.join(fx.modelsDir, 'tf-b'));
    expect(abs.status).toBe(201);
    const link = await registerDir(s.url, 'gamma', 'inside-link');
    expect(link.status).toBe(201);
    expect(link.json.ref).toBe('gamma@v2');
  });
});

describe('HTTP API: what gets loaded', () => {
  it('refuses a Python model whose script is not in an allow-listed directory, and one whose script changed', async () => {
    const res = await registerDir(s.url, 'custom', 'py-custom', 'python');
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe('SCRIPT_NOT_ALLOWED');
    expect(res.json.error.message).toContain('custom_model.py');
    expect(await activeOf('custom')).toBeNull();

    // Allowed once its directory is on the list (which replaces the default)...
    const allowed = await startServer(fx, { pythonDirs: [scripts, BUNDLED_PYTHON_DIR] });
    try {
      const ok = await registerDir(allowed.url, 'custom', 'py-custom', 'python');
      expect(ok.status, ok.text).toBe(201);
      const pred = await api(allowed.url, 'POST', '/api/ml/predict', {
        key: BOT_KEY,
        body: { model: 'custom', features: row(fx, 4) },
      });
      expect(pred.status).toBe(200);
      // ...but not once the script's bytes differ from the ones it was trained with.
      writeFileSync(
        path.join(scripts, 'custom_model.py'),
        `${readFileSync(path.join(scripts, 'custom_model.py'))}\n# changed\n`,
      );
      const changed = await registerDir(allowed.url, 'custom2', 'py-custom', 'python');
      expect(changed.status).toBe(422);
      expect(changed.json.error.code).toBe('INTEGRITY_FAILED');
    } finally {
      await allowed.close();
    }
  });

  it('verifies files against the manifest before loading, and requires a manifest', async () => {
    const tampered = path.join(fx.modelsDir, 'tampered');
    cpSync(path.join(fx.modelsDir, 'tf-a'), tampered, { recursive: true });
    const scaler = JSON.parse(readFileSync(path.join(tampered, 'scaler.json'), 'utf8'));
    scaler.kind = scaler.kind === 'zscore' ? 'minmax' : 'zscore';
    writeFileSync(path.join(tampered, 'scaler.json'), JSON.stringify(scaler));
    const res = await registerDir(s.url, 'tampered', 'tampered');
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe('INTEGRITY_FAILED');

    const bare = path.join(fx.modelsDir, 'no-manifest');
    cpSync(path.join(fx.modelsDir, 'tf-a'), bare, { recursive: true });
    rmSync(path.join(bare, MANIFEST_FILE));
    const noManifest = await registerDir(s.url, 'bare', 'no-manifest');
    expect(noManifest.status).toBe(422);
    expect(noManifest.json.error.code).toBe('MANIFEST_REQUIRED');

    const kind = await registerDir(s.url, 'kind', 'tf-a', 'python');
    expect(kind.status).toBe(422);
    expect(kind.json.error.code).toBe('KIND_MISMATCH');
    expect(await activeOf('tampered')).toBeNull();
  });

  it('keeps the active model serving when a new version fails to load, and leaves no trace of it', async () => {
    // Consistent files (a fresh manifest) whose weights are cut short: only loading can tell.
    const files = new Map(fx.files['tf-a']);
    const weights = files.get('weights.bin')!;
    files.set('weights.bin', weights.subarray(0, weights.byteLength - 64));
    files.delete(MANIFEST_FILE);
    await writeModelDirectory(path.join(fx.modelsDir, 'broken'), withManifest(files));

    const features = row(fx, 9);
    const before = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', features } });
    expect(before.json.model).toBe('alpha@v1');

    const res = await registerDir(s.url, 'alpha', 'broken', 'tfjs', true);
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe('MODEL_LOAD_FAILED');
    expect(res.json.error.message).toContain('cannot load alpha@v');

    const after = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', features } });
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ model: 'alpha@v1', prediction: before.json.prediction });
    const show = await api(s.url, 'GET', '/api/ml/models/alpha', { key: READ_KEY });
    expect(show.json.active).toBe('v1');
    expect(show.json.versions.map((v: { version: string }) => v.version)).toEqual(['v1']);

    // A brand-new name that fails to load leaves no model behind either.
    const fresh = await registerDir(s.url, 'delta', 'broken');
    expect(fresh.status).toBe(422);
    expect(await activeOf('delta')).toBeNull();
    await expectHealthy(s.url);
  });

  it('keeps the active model when promoting (or first using) a version that fails to load or to verify', async () => {
    const files = new Map(fx.files['tf-b']);
    const weights = files.get('weights.bin')!;
    files.set('weights.bin', weights.subarray(0, 128));
    files.delete(MANIFEST_FILE);
    // Registered behind the server's back, straight into its registry.
    const bad = await s.server.registry.register('alpha', withManifest(files));
    const features = row(fx, 11);

    const promote = await api(s.url, 'POST', '/api/ml/models/alpha/promote', {
      key: ADMIN_KEY,
      body: { version: bad.version },
    });
    expect(promote.status).toBe(422);
    expect(promote.json.error).toMatchObject({ code: 'MODEL_LOAD_FAILED', field: 'version' });
    expect(await activeOf('alpha')).toBe('v1');
    const still = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', features } });
    expect(still.json.model).toBe('alpha@v1');

    const direct = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: bad.ref, features } });
    expect(direct.status).toBe(422);
    expect(direct.json.error.code).toBe('MODEL_LOAD_FAILED');

    // A good version whose stored file is then modified on disk: the registry's checks refuse it.
    const good = await s.server.registry.register('alpha', fx.files['tf-b']);
    const stored = path.join(s.server.registry.layout.versionDir('alpha', good.version), 'scaler.json');
    writeFileSync(stored, `${readFileSync(stored, 'utf8')} `);
    const tampered = await api(s.url, 'POST', '/api/ml/models/alpha/promote', {
      key: ADMIN_KEY,
      body: { version: good.version },
    });
    expect(tampered.status).toBe(422);
    expect(tampered.json.error.message).toMatch(/sha256|manifest/);
    expect(await activeOf('alpha')).toBe('v1');
    const after = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', features } });
    expect(after.json).toMatchObject({ model: 'alpha@v1', prediction: still.json.prediction });
  });

  it('swaps the active version under load without failing a request (the old one is disposed when idle)', async () => {
    // No spare versions kept: every swap retires the previous model while requests still use it.
    const t = await startServer(fx, { maxLoadedVersions: 0 });
    try {
      expect((await registerDir(t.url, 'swing', 'py-a', 'python')).status).toBe(201);
      expect((await registerDir(t.url, 'swing', 'py-a', 'python')).status).toBe(201);
      const features = row(fx, 12);
      let stop = false;
      const seen = new Map<string, number>();
      const load = Array.from({ length: 6 }, async () => {
        while (!stop) {
          const res = await api(t.url, 'POST', '/api/ml/predict', {
            key: BOT_KEY,
            body: { model: 'swing', rows: [features, features] },
          });
          expect(res.status, res.text).toBe(200);
          seen.set(res.json.model, (seen.get(res.json.model) ?? 0) + 1);
        }
      });
      const retired: number[] = [];
      for (let i = 0; i < 6; i++) {
        const before = t.server.pool.activeModel('swing')!;
        const retire = before.retire.bind(before);
        before.retire = () => {
          retired.push(before.inFlight); // requests still using it when it is taken out of service
          return retire();
        };
        const version = i % 2 === 0 ? 'v2' : 'v1';
        const res = await api(t.url, 'POST', '/api/ml/models/swing/promote', { key: ADMIN_KEY, body: { version } });
        expect(res.status, res.text).toBe(200);
        expect(before.retired).toBe(true);
        await new Promise((r) => setTimeout(r, 40));
      }
      stop = true;
      await Promise.all(load);
      expect([...seen.keys()].sort()).toEqual(['swing@v1', 'swing@v2']);
      expect(t.server.pool.loaded().map((m) => m.ref)).toEqual(['swing@v1']);
      expect(retired).toHaveLength(6);
      expect(
        retired.some((n) => n > 0),
        `in flight at retirement: ${retired}`,
      ).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('answers 404 for unknown models and versions and 400 for malformed references', async () => {
    const body = (model: string) => ({ key: BOT_KEY, body: { model, features: row(fx, 1) } });
    const unknown = await api(s.url, 'POST', '/api/ml/predict', body('nobody'));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'MODEL_NOT_FOUND', field: 'model' });
    const version = await api(s.url, 'POST', '/api/ml/predict', body('alpha@v99'));
    expect(version.status).toBe(404);
    expect(version.json.error.code).toBe('VERSION_NOT_FOUND');
    const malformed = await api(s.url, 'POST', '/api/ml/predict', body('../alpha'));
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe('INVALID_MODEL_REF');
    const promote = await api(s.url, 'POST', '/api/ml/models/alpha/promote', {
      key: ADMIN_KEY,
      body: { version: 'v99' },
    });
    expect(promote.status).toBe(404);
    const badName = await api(s.url, 'GET', '/api/ml/models/..', { key: READ_KEY });
    expect([400, 404]).toContain(badName.status);
    await expectHealthy(s.url);
  });
});

describe('HTTP API: registry sources', () => {
  it('registers from an existing entry only when it exists', async () => {
    const missing = await api(s.url, 'POST', '/api/ml/models', {
      key: ADMIN_KEY,
      body: { name: 'copy', source: { type: 'registry', ref: 'nobody@v1' } },
    });
    expect(missing.status).toBe(404);
    const both = await api(s.url, 'POST', '/api/ml/models', {
      key: ADMIN_KEY,
      body: { name: 'copy', source: { type: 'registry', ref: 'alpha', path: 'tf-a' } },
    });
    expect(both.status).toBe(400);
    expect(both.json.error.code).toBe('INVALID_SOURCE');
    const ok = await api(s.url, 'POST', '/api/ml/models', {
      key: ADMIN_KEY,
      body: { name: 'copy', source: { type: 'registry', ref: 'alpha' } },
    });
    expect(ok.status).toBe(201);
    expect(ok.json.ref).toBe('copy@v1');
  });
});
