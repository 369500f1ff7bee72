/**
 * A real TensorFlow.js model through the (encrypted) registry: train, register,
 * loadPredictor, and get the trained model's exact predictions under the
 * registry's version name.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import type { Predictor } from '../../src/models/predictor.js';
import { type TrainModelResult, trainModel } from '../../src/models/train.js';
import { loadPredictor, ModelRegistry } from '../../src/registry/index.js';
import { TEST_KEY, tempDir } from './helpers.js';

const open: Predictor[] = [];
afterAll(async () => {
  for (const p of open) await p.dispose();
});

describe('model registry: predictors', () => {
  it('serves a trained TensorFlow.js model from an encrypted registry with identical predictions', async () => {
    const candles = generateSyntheticCandles({ mode: 'planted', count: 1500, seed: 7 });
    const trained: TrainModelResult = await trainModel({
      candles,
      name: 'reg-test',
      kind: 'tfjs',
      network: { epochs: 2 },
      seed: 3,
    });
    open.push(trained.predictor);

    const registry = await ModelRegistry.open(path.join(tempDir(), 'reg'), { encrypt: true, key: TEST_KEY });
    await registry.register('btc-1h', trained.files);
    const predictor = await loadPredictor(registry, 'btc-1h');
    open.push(predictor);

    expect(predictor.modelVersion).toBe('btc-1h@v1');
    expect(predictor.meta.validation?.accuracy).toBe(trained.meta.validation?.accuracy);
    const ds = buildDataset(candles, { horizon: 1 });
    const rows = ds.features.slice(0, 50 * ds.cols);
    expect(Array.from(await predictor.predictBatch(rows))).toEqual(
      Array.from(await trained.predictor.predictBatch(rows)),
    );
  });
});
