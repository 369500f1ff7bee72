/**
 * The truncation property for every model family: a model's prediction at
 * candle T is the same whether or not the candles after T exist (and the
 * features behind it too), on the default feature set. The families that
 * need Python run where its packages are (CI installs them).
 */
import { describe, expect, it } from 'vitest';
import { generateSyntheticCandles } from '../../src/data/index.js';
import type { ModelKind } from '../../src/models/model-meta.js';
import { analyzeModelLeaks } from '../../src/models/prediction-leak-analysis.js';
import { trainModel } from '../../src/models/train.js';
import { pythonWith } from './onnx-helpers.js';

const candles = generateSyntheticCandles({ mode: 'planted', count: 2600, seed: 13 });
const GBDT = await pythonWith(['numpy', 'onnx', 'xgboost'], 'gbdt truncation test');

const KINDS: readonly { kind: ModelKind; options?: Record<string, unknown>; skip?: boolean }[] = [
  { kind: 'logistic' },
  { kind: 'tfjs', options: { network: { layers: [8], epochs: 2, earlyStopping: false } } },
  { kind: 'python' },
  { kind: 'gbdt', options: { gbdt: { trees: 20 } }, skip: GBDT === undefined },
];

describe('truncation: no model family looks ahead', () => {
  for (const { kind, options, skip } of KINDS) {
    it.skipIf(skip === true)(`${kind} on the core feature set`, async () => {
      const trained = await trainModel({ candles, kind, seed: 2, ...options });
      try {
        const report = await analyzeModelLeaks({
          candles,
          predictor: trained.predictor,
          samples: 30,
          maxHistory: 700,
          fullHistorySamples: 3,
        });
        expect(report.features?.lookAhead).toEqual([]);
        expect(report.predictions.lookAhead).toEqual([]);
        expect(report.predictions.features[0]!.lookAheadMaxDiff).toBe(0);
      } finally {
        await trained.predictor.dispose();
      }
    });
  }
});
