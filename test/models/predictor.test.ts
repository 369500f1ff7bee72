/**
 * The Predictor interface: a TensorFlow.js model and a Python model answer
 * through it alike; bad rows get clear DataErrors; the LRU cache counts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import type { Candle } from '../../src/core/types.js';
import { buildDataset, type Dataset } from '../../src/features/dataset.js';
import { loadModel, loadModelDirectory } from '../../src/models/load-model.js';
import { writeModelDirectory } from '../../src/models/model-files.js';
import { ModelPredictor } from '../../src/models/model-predictor.js';
import type { Predictor } from '../../src/models/predictor.js';
import type { ScaledModel } from '../../src/models/scaled-model.js';
import { type TrainModelResult, trainModel } from '../../src/models/train.js';
import { syntheticCandles } from './helpers.js';

const HAS_PYTHON =
  spawnSync('python3', ['-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)']).status === 0;

let candles: Candle[];
let ds: Dataset;
let tfjs: TrainModelResult;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'qf-predictor-'));
  candles = syntheticCandles('planted', 4000, 8);
  ds = buildDataset(candles, { horizon: 1, featureSet: 'relative' });
  tfjs = await trainModel({ candles, name: 'tf', featureSet: 'relative', kind: 'tfjs', network: { epochs: 3 } });
});

afterAll(async () => {
  await tfjs?.predictor.dispose();
  await rm(tmp, { recursive: true, force: true });
});

function row(i: number): Float32Array {
  return ds.features.slice(i * ds.cols, (i + 1) * ds.cols);
}

describe('Predictor', () => {
  it('gives a clear DataError for a row of the wrong length', async () => {
    const p = tfjs.predictor;
    expect(p.inputWidth).toBe(21);
    const err = await p.predict(row(0).subarray(0, 20)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).message).toBe("field 'row': expected 21 values, got 20");
    expect((err as DataError).where).toEqual({ field: 'row' });
    await expect(p.predictBatch(new Float32Array(43))).rejects.toThrow(/expected a multiple of 21 values/);
  });

  it('names the index and feature of a NaN or infinite value', async () => {
    const p = tfjs.predictor;
    const bad = Array.from(row(0));
    bad[3] = Number.NaN;
    const err = await p.predict(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).message).toBe("index 3, field 'row': feature 'close_vs_sma_10' is NaN");
    bad[3] = 0;
    bad[20] = Number.POSITIVE_INFINITY;
    await expect(p.predict(bad)).rejects.toThrow("index 20, field 'row': feature 'month_cos' is Infinity");
    const batch = ds.features.slice(0, 5 * 21);
    batch[2 * 21 + 7] = Number.NaN;
    await expect(p.predictBatch(batch)).rejects.toThrow("feature 'rsi_14_unit' is NaN in row 2");
  });

  it('caches repeated inputs per model version and counts hits and misses', async () => {
    const p = await loadModel(tfjs.files, { cache: 2 });
    try {
      expect(p.cacheStats()).toEqual({ enabled: true, hits: 0, misses: 0, size: 0, capacity: 2 });
      const a = await p.predict(row(1));
      expect(await p.predict(Array.from(row(1)))).toBe(a);
      await p.predict(row(2));
      await p.predict(row(3)); // evicts row 1
      await p.predict(row(1));
      expect(p.cacheStats()).toEqual({ enabled: true, hits: 1, misses: 4, size: 2, capacity: 2 });
      expect(tfjs.predictor.cacheStats()).toMatchObject({ enabled: false, hits: 0, misses: 0 });
    } finally {
      await p.dispose();
    }
  });

  it.skipIf(!HAS_PYTHON)('serves a Python model and a TensorFlow.js model through the same interface', async () => {
    const python = await trainModel({ candles, name: 'py', featureSet: 'relative', kind: 'python' });
    try {
      expect(python.meta.kind).toBe('python');
      expect(python.meta.python?.script).toBe('logistic_model.py');
      expect(python.validation!.rows).toBe(tfjs.validation!.rows);
      await writeModelDirectory(path.join(tmp, 'py'), python.files);
      await writeModelDirectory(path.join(tmp, 'tf'), tfjs.files);

      const predictors: Predictor[] = [
        await loadModelDirectory(path.join(tmp, 'py')),
        await loadModelDirectory(path.join(tmp, 'tf')),
      ];
      try {
        const rows = ds.features.slice(0, 300 * ds.cols);
        for (const [p, trained] of [
          [predictors[0]!, python],
          [predictors[1]!, tfjs],
        ] as const) {
          expect(p.inputWidth).toBe(21);
          const single = await p.predict(row(0));
          expect(single).toBeGreaterThanOrEqual(0);
          expect(single).toBeLessThanOrEqual(1);
          const batch = await p.predictBatch(rows);
          expect(batch).toHaveLength(300);
          expect(batch[0]).toBeCloseTo(single, 6);
          expect(Array.from(batch)).toEqual(Array.from(await trained.predictor.predictBatch(rows)));
          await expect(p.predict(row(0).subarray(1))).rejects.toThrow("field 'row': expected 21 values, got 20");
        }
        expect(predictors[0]!.modelVersion).toMatch(/^py@/);
        expect(predictors[1]!.modelVersion).toMatch(/^tf@/);
      } finally {
        for (const p of predictors) await p.dispose();
      }
    } finally {
      await python.predictor.dispose();
    }
  });

  it('refuses a batch answer that is not a probability, naming the row', async () => {
    const p = tfjs.predictor as ModelPredictor;
    const broken: ScaledModel = {
      inputWidth: p.inputWidth,
      predictScaled: async (rows) =>
        Float32Array.from({ length: rows.length / p.inputWidth }, (_, i) => (i === 2 ? Number.NaN : 0.5)),
      dispose: async () => {},
    };
    const wrapped = new ModelPredictor(broken, p.scaler, p.meta);
    const rows = ds.features.slice(0, 4 * ds.cols);
    await expect(wrapped.predictBatch(rows)).rejects.toThrow(/index 2.*answered NaN for row 2, not a probability/);
  });
});
