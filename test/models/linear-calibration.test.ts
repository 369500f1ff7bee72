/**
 * The TypeScript numerics against scikit-learn, run live (skipped with a
 * message only where scikit-learn is absent; CI installs it): the regularised
 * logistic regression and ridge regression give scikit-learn's coefficients,
 * isotonic calibration its predictions. Then calibration's own rules: Platt
 * never reorders predictions and stays near the identity on little evidence,
 * calibration.json is checked field by field, and a calibrated model answers
 * calibrated probabilities on every path. Regression calibration shrinks weak
 * return forecasts toward zero and unbiases volatility forecasts; training
 * labels are robust to crash candles and flat candles.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/core/random.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { toModelSpace } from '../../src/features/targets.js';
import {
  calibrate,
  calibrateRegression,
  fitIsotonic,
  fitPlatt,
  fitResidual,
  parseCalibration,
} from '../../src/models/calibration.js';
import { fitLogistic, fitRidge } from '../../src/models/linear-model.js';
import { loadModel } from '../../src/models/load-model.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { trainModel } from '../../src/models/train.js';
import { pythonWith } from './onnx-helpers.js';

const SKL = await pythonWith(['numpy', 'sklearn'], 'scikit-learn reference tests');
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'sklearn_reference.py');

/** A seeded logistic problem: 600 rows of 5 z-scored-like features with a known signal. */
function problem() {
  const rng = createRng(11);
  const n = 600;
  const cols = 5;
  const x = new Float32Array(n * cols);
  const y = new Float32Array(n);
  const ridgeY = new Float32Array(n);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  for (let i = 0; i < n; i++) {
    let z = 0.2;
    for (let j = 0; j < cols; j++) {
      const v = gauss();
      x[i * cols + j] = v;
      z += [0.8, -0.5, 0.3, 0, 0.1][j]! * v;
    }
    y[i] = rng() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    ridgeY[i] = z + 0.5 * gauss();
  }
  return { x, y, ridgeY, n, cols };
}

describe.skipIf(SKL === undefined)('linear models and isotonic calibration equal scikit-learn', () => {
  const p = problem();
  const l2 = 0.05;
  const rng = createRng(3);
  const raw = Array.from({ length: 400 }, () => rng());
  const outcomes = raw.map((r) => (rng() < 0.3 + 0.4 * r ? 1 : 0));
  const grid = Array.from({ length: 101 }, (_, i) => i / 100);
  const rows = Array.from({ length: p.n }, (_, i) => Array.from(p.x.subarray(i * p.cols, (i + 1) * p.cols)));
  const reference = JSON.parse(
    execFileSync(SKL!.python, [FIXTURE], {
      input: JSON.stringify({ x: rows, y: Array.from(p.y), ridge_y: Array.from(p.ridgeY), l2, raw, outcomes, grid }),
      encoding: 'utf8',
      timeout: 60_000,
    }),
  ) as {
    logistic: { weights: number[]; intercept: number };
    ridge: { weights: number[]; intercept: number };
    isotonic: number[];
  };

  it('logistic regression: the same weights and intercept to 1e-6', () => {
    const { json } = fitLogistic(p.x, p.y, p.n, p.cols, { l2 });
    for (const [j, w] of json.weights.entries()) expect(w).toBeCloseTo(reference.logistic.weights[j]!, 6);
    expect(json.intercept).toBeCloseTo(reference.logistic.intercept, 6);
  });

  it('ridge regression: the same weights and intercept to 1e-6', () => {
    const { json } = fitRidge(p.x, p.ridgeY, p.n, p.cols, { l2 });
    for (const [j, w] of json.weights.entries()) expect(w).toBeCloseTo(reference.ridge.weights[j]!, 6);
    expect(json.intercept).toBeCloseTo(reference.ridge.intercept, 6);
  });

  it('isotonic calibration: the same predictions at every point of a grid, to 1e-12', () => {
    const c = fitIsotonic(raw, outcomes);
    for (const [i, g] of grid.entries()) expect(Math.abs(calibrate(c, g) - reference.isotonic[i]!)).toBeLessThan(1e-12);
  });
});

describe('calibration rules', () => {
  it('Platt never reorders predictions (a >= 0), even when the slice says the model is inverted', () => {
    const raw = Array.from({ length: 500 }, (_, i) => 0.3 + (0.4 * i) / 499);
    const inverted = raw.map((r) => (r < 0.5 ? 1 : 0));
    const c = fitPlatt(raw, inverted);
    expect(c.method === 'platt' && c.a >= 0).toBe(true);
    for (let i = 1; i < raw.length; i++)
      expect(calibrate(c, raw[i]!)).toBeGreaterThanOrEqual(calibrate(c, raw[i - 1]!));
  });

  it('Platt stays near the identity on a few noisy rows and moves on strong evidence', () => {
    const rng = createRng(5);
    const few = Array.from({ length: 40 }, () => 0.45 + 0.1 * rng());
    const fewY = few.map(() => (rng() < 0.5 ? 1 : 0));
    const c = fitPlatt(few, fewY);
    if (c.method !== 'platt') throw new Error('not platt');
    expect(Math.abs(c.a - 1)).toBeLessThan(0.5);
    // Overconfident raw probabilities of a coin flip, on many rows: pulled toward 0.5.
    const many = Array.from({ length: 20_000 }, () => rng());
    const coin = many.map(() => (rng() < 0.5 ? 1 : 0));
    const pulled = fitPlatt(many, coin);
    expect(Math.abs(calibrate(pulled, 0.9) - 0.5)).toBeLessThan(0.05);
  });

  it('return forecasts: a slope in [0, 1] that shrinks noise toward zero and never amplifies', () => {
    const rng = createRng(9);
    const raw = Array.from({ length: 800 }, () => rng() - 0.5);
    // Outcomes unrelated to the forecasts: the slope goes to (about) zero.
    const noise = raw.map(() => rng() - 0.5);
    const c = fitResidual('return', raw, noise, noise);
    if (c.method !== 'residual') throw new Error('not residual');
    expect(c.slope).toBeGreaterThanOrEqual(0);
    expect(c.slope).toBeLessThan(0.15);
    expect(c.offset).toBe(0);
    // Outcomes three times the forecasts: the slope stops at 1.
    const strong = raw.map((r) => 3 * r);
    const s = fitResidual('return', raw, strong, strong);
    expect(s.method === 'residual' && s.slope).toBe(1);
    expect(calibrateRegression(s, 0.2)).toBeCloseTo(0.2, 12);
    // Inverted forecasts are not turned around: slope 0, the naive forecast.
    const inverted = fitResidual(
      'return',
      raw,
      strong.map((v) => -v),
      strong.map((v) => -v),
    );
    expect(inverted.method === 'residual' && inverted.slope).toBe(0);
  });

  it('volatility forecasts: the offset makes the variance forecasts unbiased (QLIKE-optimal)', () => {
    const rng = createRng(3);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    const sigma = Array.from({ length: 20_000 }, () => 0.01 * Math.exp(0.5 * gauss()));
    const outcomes = sigma.map((s) => Math.abs(s * gauss()));
    // A model fitted on log |r| forecasts about ln(sigma) - 0.635 (E ln|z|): too low.
    const raw = sigma.map((s) => Math.log(s) - 0.635);
    const c = fitResidual(
      'volatility',
      raw,
      outcomes.map((v) => Math.log(v)),
      outcomes,
    );
    if (c.method !== 'residual') throw new Error('not residual');
    expect(c.slope).toBe(1);
    expect(c.offset).toBeCloseTo(0.635, 1);
    const forecasts = raw.map((r) => Math.exp(calibrateRegression(c, r)));
    const ratio = outcomes.reduce((a, v, i) => a + v ** 2 / forecasts[i]! ** 2, 0) / outcomes.length;
    expect(ratio).toBeCloseTo(1, 6);
  });

  it('training labels: returns clipped at 4 naive scales, volatilities floored at 0.3 of one', () => {
    expect(toModelSpace('return', 0.5, 0.01)).toBeCloseTo(0.04, 12);
    expect(toModelSpace('return', -0.5, 0.01)).toBeCloseTo(-0.04, 12);
    expect(toModelSpace('return', 0.012, 0.01)).toBe(0.012);
    expect(toModelSpace('volatility', 0, 0.01)).toBeCloseTo(Math.log(0.003), 12);
    expect(toModelSpace('volatility', 0.02, 0.01)).toBeCloseTo(Math.log(0.02), 12);
  });

  it('calibration.json is checked field by field', () => {
    const file = '/m/calibration.json';
    expect(() => parseCalibration({ format: 'x' }, file)).toThrow(/not a quantflow calibration/);
    const base = { format: 'quantflow-calibration', version: 1, rows: 10 };
    expect(() => parseCalibration({ ...base, calibration: { method: 'platt', a: 'x', b: 0 } }, file)).toThrow(
      /calibration\.a.*must be a finite number/,
    );
    expect(() =>
      parseCalibration({ ...base, calibration: { method: 'isotonic', x: [0, 1], y: [0.6, 0.4] } }, file),
    ).toThrow(/calibration\.y\[1\].*must not decrease/);
    expect(() => parseCalibration({ ...base, calibration: { method: 'magic' } }, file)).toThrow(/unknown method/);
    expect(() =>
      parseCalibration({ ...base, calibration: { method: 'residual', sigma: 1, slope: 'x', offset: 0 } }, file),
    ).toThrow(/calibration\.slope.*must be a finite number/);
    // Files written before the slope and offset read as the identity.
    expect(parseCalibration({ ...base, calibration: { method: 'residual', sigma: 0.5 } }, file)).toEqual({
      method: 'residual',
      sigma: 0.5,
      slope: 1,
      offset: 0,
    });
  });

  it('a calibrated model answers calibrated probabilities in batch and streaming, and refuses a missing file', async () => {
    const candles = generateSyntheticCandles({ mode: 'planted', count: 3000, seed: 4, strength: 0.5 });
    const trained = await trainModel({ candles, featureSet: 'relative', calibration: 'isotonic', seed: 1 });
    try {
      expect(trained.meta.calibration).toMatchObject({ method: 'isotonic' });
      const p = trained.predictor;
      const width = p.inputWidth;
      const rows = new Float32Array(50 * width);
      const stream = new RealtimePredictor(p);
      const streamed: number[] = [];
      for (const c of candles.slice(0, 600)) {
        const out = await stream.onCandle(c);
        if (out !== undefined) streamed.push(out.prediction);
      }
      // Streaming answers are calibrated: they take isotonic's values (a step function: few distinct values).
      expect(new Set(streamed.map((v) => v.toFixed(9))).size).toBeLessThan(streamed.length / 2);
      const raw = await p.predictBatchRaw(rows);
      const calibrated = await p.predictBatch(rows);
      for (const [i, r] of raw.entries()) expect(calibrated[i]).toBeCloseTo(p.calibrate(r), 6);
      const files = new Map(trained.files);
      files.delete('calibration.json');
      await expect(loadModel(files)).rejects.toThrow(/calibration\.json.*file is missing|manifest/);
    } finally {
      await trained.predictor.dispose();
    }
  });
});
