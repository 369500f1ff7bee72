/**
 * Return, volatility and context models over real HTTP: from candles, a return
 * model answers P(up) with its expected return and forecast, a volatility
 * model its forecast next to the naive EWMA one (both exactly as the
 * walk-forward path converts them), the tracker records their forecasts, and
 * a model with context symbols is refused for candles with a clear error.
 */

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { writeModelDirectory } from '../../src/models/model-files.js';
import { seriesInputs } from '../../src/models/precomputed-predictor.js';
import { trainModel } from '../../src/models/train.js';
import { predictRange } from '../../src/models/walk-forward-windows.js';
import {
  ADMIN_KEY,
  api,
  BOT_KEY,
  type ModelFixture,
  makeModelFixture,
  ohlcv,
  READ_KEY,
  registerDir,
  startServer,
  type TestServer,
} from './helpers.js';

const candles = generateSyntheticCandles({ count: 1500, seed: 5 });
let fx: ModelFixture;
let s: TestServer;
const trained: Record<string, Awaited<ReturnType<typeof trainModel>>> = {};

beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
  for (const target of ['return', 'volatility'] as const) {
    trained[target] = await trainModel({ candles, target, name: `m-${target}`, seed: 1 });
    await writeModelDirectory(path.join(fx.modelsDir, `m-${target}`), trained[target]!.files);
  }
  trained.context = await trainModel({
    candles,
    context: new Map([['BTC/USDT', generateSyntheticCandles({ count: 1500, seed: 6, symbol: 'BTC/USDT' })]]),
    featureSet: { returns: { lags: 2 }, context: { symbols: ['BTC/USDT'], lags: 1 } },
    name: 'm-context',
    seed: 1,
  });
  await writeModelDirectory(path.join(fx.modelsDir, 'm-context'), trained.context!.files);
  s = await startServer(fx);
  for (const name of ['return', 'volatility', 'context']) {
    const r = await registerDir(s.url, name, `m-${name}`, 'logistic');
    expect(r.status, JSON.stringify(r.json)).toBe(201);
  }
});

afterAll(async () => {
  await s?.close();
  for (const t of Object.values(trained)) await t.predictor.dispose();
  fx?.cleanup();
});

describe('forecast models over HTTP', () => {
  it('a return model answers P(up), its expected return and forecast from candles, as the backtest path does', async () => {
    const res = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'return', candles: candles.slice(0, 1000).map(ohlcv), all: true },
    });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.target).toBe('return');
    const p = trained.return!.predictor;
    const ref = await predictRange(
      p,
      { candles, inputs: seriesInputs(candles, p.meta.featureSchema, 1) },
      999,
      1000,
      'x',
    );
    const expected = ref.predictions[0]!;
    expect(res.json.prediction).toBeCloseTo(expected.prediction, 6);
    expect(res.json.expectedReturn).toBeCloseTo(expected.expectedReturn!, 9);
    expect(res.json.forecast).toEqual({ value: expect.any(Number), naive: 0 });
    expect(res.json.forecast.value).toBeCloseTo(ref.forecasts[0]!, 9);
    expect(res.json.prediction).toBeGreaterThan(0);
    expect(res.json.prediction).toBeLessThan(1);
    expect(res.json.series.at(-1)).toMatchObject({ prediction: res.json.prediction });
  });

  it('a volatility model answers its forecast next to the naive one; the tracker scores the forecasts', async () => {
    const res = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'volatility', candles: candles.slice(0, 1100).map(ohlcv), all: true },
    });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.target).toBe('volatility');
    expect(res.json.forecast.value).toBe(res.json.prediction);
    expect(res.json.forecast.naive).toBeGreaterThan(0);
    expect(res.json.prediction).toBeGreaterThan(0);
    // Later candles resolve the recorded forecasts.
    await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'volatility', candles: candles.slice(0, 1200).map(ohlcv) },
    });
    const stats = await api(s.url, 'GET', '/api/ml/stats?model=volatility%40v1', { key: READ_KEY });
    expect(stats.status).toBe(200);
    const f = stats.json.overall.forecasts.volatility;
    expect(f.resolved).toBeGreaterThan(50);
    expect(f.qlike).toEqual(expect.any(Number));
    expect(f.naiveQlike).toEqual(expect.any(Number));
  });

  it('refuses candles for a model with context symbols, naming them; its feature rows still work', async () => {
    const res = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'context', candles: candles.slice(0, 500).map(ohlcv) },
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'CONTEXT_NOT_SUPPORTED', field: 'candles' });
    expect(res.json.error.message).toMatch(/BTC\/USDT.*feature rows/);
    const width = trained.context!.predictor.inputWidth;
    const row = await api(s.url, 'POST', '/api/ml/predict', {
      key: ADMIN_KEY,
      body: { model: 'context', features: new Array(width).fill(0.1) },
    });
    expect(row.status, JSON.stringify(row.json)).toBe(200);
    expect(row.json.target).toBe('direction');
  });
});
