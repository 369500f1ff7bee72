/**
 * Train -> writeModelDirectory -> load in a NEW process -> identical
 * predictions; tampered files are refused before anything is parsed.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, ModelError } from '../../src/core/errors.js';
import { buildDataset } from '../../src/features/dataset.js';
import { SEED_SCHEMA } from '../../src/features/feature-sets.js';
import { loadModel, loadModelDirectory } from '../../src/models/load-model.js';
import {
  MANIFEST_FILE,
  type ModelFiles,
  readModelDirectory,
  withManifest,
  writeModelDirectory,
} from '../../src/models/model-files.js';
import { type TrainModelResult, trainModel } from '../../src/models/train.js';
import { syntheticCandles } from './helpers.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

let tmp: string;
let trained: TrainModelResult;
let modelDir: string;
let rows: Float32Array;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'qf-roundtrip-'));
  const candles = syntheticCandles('planted', 4000, 5);
  trained = await trainModel({
    candles,
    name: 'roundtrip',
    featureSet: 'relative',
    kind: 'tfjs',
    network: { epochs: 3 },
    seed: 3,
  });
  modelDir = path.join(tmp, 'model');
  await writeModelDirectory(modelDir, trained.files);
  const ds = buildDataset(candles, { horizon: 1, featureSet: 'relative' });
  // 40 rows through the fast path one by one, 600 through TensorFlow.js as a batch.
  rows = ds.features.slice(0, 600 * ds.cols);
});

afterAll(async () => {
  await trained?.predictor.dispose();
  await rm(tmp, { recursive: true, force: true });
});

async function tamper(name: string, edit: (bytes: Uint8Array) => Uint8Array): Promise<string> {
  const dir = path.join(tmp, `tampered-${name}-${Math.random().toString(36).slice(2)}`);
  await cp(modelDir, dir, { recursive: true });
  await writeFile(path.join(dir, name), edit(new Uint8Array(await readFile(path.join(dir, name)))));
  return dir;
}

describe('model round trip', () => {
  it('writes the TensorFlow.js layers format with meta, scaler and manifest', async () => {
    const files = await readModelDirectory(modelDir);
    expect([...files.keys()].sort()).toEqual([
      'calibration.json',
      'manifest.json',
      'meta.json',
      'model.json',
      'scaler.json',
      'weights.bin',
    ]);
    const modelJson = JSON.parse(new TextDecoder().decode(files.get('model.json')));
    expect(modelJson.format).toBe('layers-model');
    expect(modelJson.weightsManifest).toHaveLength(1);
    expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);
    const floats = modelJson.weightsManifest[0].weights.reduce(
      (s: number, w: { shape: number[] }) => s + w.shape.reduce((a, b) => a * b, 1),
      0,
    );
    expect(files.get('weights.bin')!.byteLength).toBe(floats * 4);
    const meta = JSON.parse(new TextDecoder().decode(files.get('meta.json')));
    expect(meta).toMatchObject({ formatVersion: 1, kind: 'tfjs', name: 'roundtrip', inputWidth: 21, scaler: 'zscore' });
    expect(meta.training.dataHash).toMatch(/^[0-9a-f]{64}$/);
    expect(meta.training.seed).toBe(3);
    expect(meta.versions.tfjs).toBe('4.22.0');
    expect(meta.validation.rows).toBeGreaterThan(0);
  });

  it('predicts identically after loading in a new process', async () => {
    const rowsFile = path.join(tmp, 'rows.f32');
    const single = rows.subarray(0, 40 * trained.predictor.inputWidth);
    await writeFile(rowsFile, new Uint8Array(single.buffer, single.byteOffset, single.byteLength));
    const batchFile = path.join(tmp, 'batch.f32');
    await writeFile(batchFile, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
    const child = path.join(here, 'fixtures', 'predict-child.ts');

    const a = JSON.parse(
      (await run(process.execPath, ['--import', 'tsx', child, modelDir, rowsFile], { cwd: repoRoot })).stdout,
    );
    const b = JSON.parse(
      (await run(process.execPath, ['--import', 'tsx', child, modelDir, batchFile], { cwd: repoRoot })).stdout,
    );

    const w = trained.predictor.inputWidth;
    const expectedSingle: number[] = [];
    for (let i = 0; i < 40; i++)
      expectedSingle.push(await trained.predictor.predict(single.subarray(i * w, (i + 1) * w)));
    expect(a.single).toEqual(expectedSingle);
    expect(b.batch).toEqual(Array.from(await trained.predictor.predictBatch(rows)));
    expect(a.modelVersion).toBe(trained.predictor.modelVersion);
    expect(a.modelVersion).toMatch(/^roundtrip@[0-9a-f]{12}$/);
  });

  it('refuses a modified weights.bin, naming the file', async () => {
    const dir = await tamper('weights.bin', (b) => {
      b[100] = b[100]! ^ 0x01;
      return b;
    });
    const err = await loadModelDirectory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain(path.join(dir, 'weights.bin'));
    expect((err as IntegrityError).message).toMatch(/sha256 differs/);
  });

  it('refuses a manifest whose checksum was edited, naming the file it no longer matches', async () => {
    const dir = await tamper(MANIFEST_FILE, (b) => {
      const m = JSON.parse(new TextDecoder().decode(b));
      const sha: string = m.files['weights.bin'].sha256;
      m.files['weights.bin'].sha256 = (sha[0] === '0' ? '1' : '0') + sha.slice(1);
      return new TextEncoder().encode(JSON.stringify(m));
    });
    const err = await loadModelDirectory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain('weights.bin');
  });

  it('refuses a manifest that is not JSON, naming manifest.json', async () => {
    const dir = await tamper(MANIFEST_FILE, (b) => b.subarray(0, b.length - 5));
    const err = await loadModelDirectory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain(path.join(dir, MANIFEST_FILE));
  });

  it('verifies in-memory files before parsing them', async () => {
    const files = new Map(trained.files);
    files.set('meta.json', new TextEncoder().encode('{ not json'));
    const err = await loadModel(files, { where: 'registry:roundtrip@v1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain('meta.json');
  });

  it('explains a malformed meta.json by file and field (when the manifest is consistent)', async () => {
    const meta = JSON.parse(new TextDecoder().decode(trained.files.get('meta.json')));
    meta.label.horizon = 0;
    const files: ModelFiles = withManifest(
      new Map(trained.files).set('meta.json', new TextEncoder().encode(JSON.stringify(meta))),
    );
    const err = await loadModel(files, { where: 'm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toBe(
      `${path.join('m', 'meta.json')}, field 'label.horizon': must be an integer >= 1`,
    );
  });

  it('refuses a model trained on another feature schema', async () => {
    const err = await loadModel(trained.files, { expectedSchema: SEED_SCHEMA }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toMatch(/feature schema mismatch: feature set 'seed' instead of 'relative'/);
  });
});
