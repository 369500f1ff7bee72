/**
 * Every route's success path over real HTTP, with real models: register
 * (directory and registry sources, TensorFlow.js and Python), list, show,
 * promote, rollback, predict (features, rows, candles as objects and ccxt
 * arrays, every candle), cache hits, stats, health, metrics, deletes and the
 * default model.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDataset } from '../../src/features/dataset.js';
import type { Predictor } from '../../src/models/predictor.js';
import { loadPredictor } from '../../src/registry/index.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import {
  ADMIN_KEY,
  api,
  BOT_KEY,
  type ModelFixture,
  makeModelFixture,
  ohlcv,
  READ_KEY,
  registerDir,
  row,
  startServer,
  type TestServer,
} from './helpers.js';

let fx: ModelFixture;
let s: TestServer;
const direct: Predictor[] = [];

beforeAll(async () => {
  fx = await makeModelFixture();
  s = await startServer(fx);
});

afterAll(async () => {
  await s?.close();
  for (const p of direct) await p.dispose();
  fx?.cleanup();
});

describe('HTTP API: success paths', () => {
  it('answers /health without a key', async () => {
    const res = await api(s.url, 'GET', '/health');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'ok', auth: 'api-keys', defaultModel: null, models: { loaded: 0 } });
    expect(res.json.uptimeSeconds).toBeGreaterThanOrEqual(0);
  });

  it('registers TensorFlow.js model directories; the first version becomes active, later ones only when asked', async () => {
    const first = await registerDir(s.url, 'alpha', 'tf-a');
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ name: 'alpha', ref: 'alpha@v1', active: true, served: 'alpha@v1' });
    expect(first.json.metadata).toMatchObject({ kind: 'tfjs', inputWidth: fx.width, featureSet: 'relative' });

    const second = await registerDir(s.url, 'alpha', 'tf-b');
    expect(second.status).toBe(201);
    expect(second.json).toMatchObject({ ref: 'alpha@v2', active: false, previous: 'v1', served: 'alpha@v1' });
  });

  it('lists models and shows one with every version and its validation metrics', async () => {
    const list = await api(s.url, 'GET', '/api/ml/models', { key: READ_KEY });
    expect(list.status).toBe(200);
    const alpha = list.json.models.find((m: { name: string }) => m.name === 'alpha');
    expect(alpha).toMatchObject({ active: 'v1', latest: 'v2', served: 'alpha@v1' });
    expect(alpha.versions).toHaveLength(2);
    expect(alpha.metadata.validation.accuracy).toBeGreaterThan(0);

    const show = await api(s.url, 'GET', '/api/ml/models/alpha', { key: READ_KEY });
    expect(show.status).toBe(200);
    expect(show.json.versions.map((v: { version: string }) => v.version)).toEqual(['v1', 'v2']);
    expect(show.json.versions[0].meta.validation).toMatchObject({
      rows: expect.any(Number),
      accuracy: expect.any(Number),
    });
    expect(show.json.versions[1].meta.name).toBe('tf-b');
  });

  it('predicts one feature row exactly as the model does, and serves a repeated row from the cache', async () => {
    const p = await loadPredictor(s.server.registry, 'alpha@v1');
    direct.push(p);
    const features = row(fx, 100);
    const res = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', features } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      model: 'alpha@v1',
      target: 'direction',
      prediction: await p.predict(features),
      cached: false,
    });

    const again = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', features } });
    expect(again.json).toMatchObject({ model: 'alpha@v1', prediction: res.json.prediction, cached: true });

    const v2 = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha@v2', features } });
    expect(v2.status).toBe(200);
    expect(v2.json.model).toBe('alpha@v2');
    expect(v2.json.cached).toBe(false);
  });

  it('predicts a batch of rows', async () => {
    const rows = [0, 1, 2, 3, 4].map((i) => row(fx, 200 + i));
    const res = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', rows } });
    expect(res.status).toBe(200);
    expect(res.json.model).toBe('alpha@v1');
    expect(res.json.predictions).toHaveLength(5);
    const p = direct[0]!;
    const expected = await p.predictBatch(fx.rows.slice(200 * fx.width, 205 * fx.width));
    expect(res.json.predictions).toEqual(Array.from(expected));
  });

  it('predicts from raw candles (objects or ccxt arrays), for the last candle or for every candle', async () => {
    const window = fx.candles.slice(0, 80);
    const objects = window.map(({ timestamp, open, high, low, close, volume }) => ({
      timestamp,
      open,
      high,
      low,
      close,
      volume,
    }));
    const last = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'alpha', candles: objects },
    });
    expect(last.status).toBe(200);
    const ds = buildDataset(window, { horizon: 1, featureSet: 'relative' });
    // the dataset drops the last candle (no label); its features equal the server's for candle 78
    const ref = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'alpha', features: Array.from(ds.features.subarray((ds.rows - 1) * ds.cols, ds.rows * ds.cols)) },
    });
    const upTo79 = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'alpha', candles: window.slice(0, 79).map(ohlcv) },
    });
    expect(upTo79.json.prediction).toBeCloseTo(ref.json.prediction, 6);
    expect(last.json).toMatchObject({
      model: 'alpha@v1',
      symbol: 'SYN/USDT',
      timestamp: window[79]!.timestamp,
      count: 1,
    });

    const all = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'alpha', candles: window.map(ohlcv), all: true, symbol: 'SYN/USDT' },
    });
    expect(all.status).toBe(200);
    const firstReady = 80 - all.json.count;
    expect(all.json.series).toHaveLength(all.json.count);
    expect(all.json.series[0].timestamp).toBe(window[firstReady]!.timestamp);
    expect(all.json.series.at(-1).timestamp).toBe(window[79]!.timestamp);
    expect(all.json.series.at(-1).prediction).toBeCloseTo(last.json.prediction, 6);
    expect(all.json.prediction).toBe(all.json.series.at(-1).prediction);
  });

  it('records predictions made from candles and reports tracker statistics per symbol and model version', async () => {
    // Feed later candles: the earlier predictions resolve.
    const later = fx.candles.slice(0, 120).map(ohlcv);
    const res = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', candles: later } });
    expect(res.status).toBe(200);
    const stats = await api(s.url, 'GET', '/api/ml/stats', { key: READ_KEY });
    expect(stats.status).toBe(200);
    expect(stats.json.overall.count).toBeGreaterThan(1);
    expect(stats.json.overall.resolved).toBeGreaterThan(0);
    expect(stats.json.bySymbol['SYN/USDT'].count).toBe(stats.json.overall.count);
    expect(stats.json.byModel['alpha@v1'].count).toBeGreaterThan(0);
    const filtered = await api(s.url, 'GET', '/api/ml/stats?symbol=SYN%2FUSDT&model=alpha%40v1&window=5', {
      key: READ_KEY,
    });
    expect(filtered.status).toBe(200);
    expect(filtered.json.filter).toEqual({ symbol: 'SYN/USDT', model: 'alpha@v1', window: 5 });
    expect(filtered.json.overall.window).toBe(5);
  });

  it('promotes and rolls back; the bare name follows the active version', async () => {
    const promote = await api(s.url, 'POST', '/api/ml/models/alpha/promote', {
      key: ADMIN_KEY,
      body: { version: 'v2' },
    });
    expect(promote.status).toBe(200);
    expect(promote.json).toMatchObject({ name: 'alpha', previous: 'v1', active: 'v2', served: 'alpha@v2' });
    const p = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'alpha', features: row(fx, 5) },
    });
    expect(p.json.model).toBe('alpha@v2');

    const back = await api(s.url, 'POST', '/api/ml/models/alpha/rollback', { key: ADMIN_KEY });
    expect(back.status).toBe(200);
    expect(back.json).toMatchObject({ active: 'v1', served: 'alpha@v1' });
    const q = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'alpha', features: row(fx, 5) },
    });
    expect(q.json.model).toBe('alpha@v1');
  });

  it('registers from an existing registry entry (an alias) and a Python model directory', async () => {
    const alias = await api(s.url, 'POST', '/api/ml/models', {
      key: ADMIN_KEY,
      body: { name: 'beta', source: { type: 'registry', ref: 'alpha@v2' } },
    });
    expect(alias.status).toBe(201);
    expect(alias.json).toMatchObject({ ref: 'beta@v1', active: true });
    const features = row(fx, 7);
    const a = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha@v2', features } });
    const b = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'beta', features } });
    expect(b.json.prediction).toBe(a.json.prediction);

    const py = await registerDir(s.url, 'logit', 'py-a', 'python');
    expect(py.status).toBe(201);
    expect(py.json).toMatchObject({ ref: 'logit@v1', metadata: { kind: 'python' } });
    const pred = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'logit', features } });
    expect(pred.status).toBe(200);
    expect(pred.json.prediction).toBeGreaterThan(0);
    expect(pred.json.prediction).toBeLessThan(1);
    const batch = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'logit', rows: [features, row(fx, 8)] },
    });
    expect(batch.json.predictions[0]).toBeCloseTo(pred.json.prediction, 6);
  });

  it('exposes Prometheus metrics: requests and latency by route and status, predictions, cache hits, models', async () => {
    const res = await api(s.url, 'GET', '/metrics', { key: READ_KEY });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const samples = new Map<string, number>();
    for (const line of res.text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
      expect(m, `unparseable metrics line: ${line}`).not.toBeNull();
      samples.set(m![1]!, Number(m![2]));
    }
    expect(
      samples.get('quantflow_http_requests_total{method="POST",route="/api/ml/predict",status="200"}'),
    ).toBeGreaterThan(5);
    expect(
      samples.get('quantflow_http_request_duration_seconds_count{method="POST",route="/api/ml/predict",status="200"}'),
    ).toBeGreaterThan(5);
    expect(samples.get('quantflow_predictions_total{model="alpha@v1",input="features"}')).toBeGreaterThanOrEqual(2);
    expect(samples.get('quantflow_predictions_total{model="alpha@v1",input="rows"}')).toBe(5);
    expect(samples.get('quantflow_prediction_cache_hits_total{model="alpha@v1"}')).toBeGreaterThanOrEqual(1);
    expect(samples.get('quantflow_prediction_cache_misses_total{model="alpha@v1"}')).toBeGreaterThanOrEqual(1);
    expect(samples.get('quantflow_models_loaded')).toBeGreaterThanOrEqual(3);
    expect(samples.get('quantflow_model_loaded{model="alpha@v1",kind="tfjs",active="true"}')).toBe(1);
  });

  it('deletes versions and models (the active ones only with force)', async () => {
    const del = await api(s.url, 'DELETE', '/api/ml/models/alpha/versions/v2', { key: ADMIN_KEY });
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ deleted: 'alpha@v2', active: 'v1' });
    const gone = await api(s.url, 'POST', '/api/ml/predict', {
      key: BOT_KEY,
      body: { model: 'alpha@v2', features: row(fx, 1) },
    });
    expect(gone.status).toBe(404);
    expect(gone.json.error.code).toBe('VERSION_NOT_FOUND');

    const refused = await api(s.url, 'DELETE', '/api/ml/models/beta', { key: ADMIN_KEY });
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe('ACTIVE_VERSION');
    const forced = await api(s.url, 'DELETE', '/api/ml/models/beta?force=true', { key: ADMIN_KEY });
    expect(forced.status).toBe(200);
    expect(forced.json).toEqual({ deleted: 'beta', versions: ['v1'] });
    const show = await api(s.url, 'GET', '/api/ml/models/beta', { key: READ_KEY });
    expect(show.status).toBe(404);
    expect(show.json.error).toMatchObject({ code: 'MODEL_NOT_FOUND', field: 'name' });
  });

  it('answers predictions without a model name with the default model, and keeps a tracker file', async () => {
    const trackerFile = path.join(fx.root, 'predictions.jsonl');
    const other = await startServer(fx, {
      registry: s.server.registry.root,
      defaultModel: 'alpha',
      tracker: trackerFile,
    });
    try {
      const fromCandles = await api(other.url, 'POST', '/api/ml/predict', {
        key: BOT_KEY,
        body: { candles: fx.candles.slice(0, 70).map(ohlcv), all: true, symbol: 'ETH/USDT' },
      });
      expect(fromCandles.status).toBe(200);
      expect(fromCandles.json.tracked).toBe(fromCandles.json.count);
      const health = await api(other.url, 'GET', '/health');
      expect(health.json).toMatchObject({ defaultModel: 'alpha@v1', models: { loaded: 1, refs: ['alpha@v1'] } });
      const res = await api(other.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { features: row(fx, 3) } });
      expect(res.status).toBe(200);
      expect(res.json.model).toBe('alpha@v1');
      const noDefault = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { features: row(fx, 3) } });
      expect(noDefault.status).toBe(400);
      expect(noDefault.json.error).toMatchObject({ code: 'MODEL_REQUIRED', field: 'model' });
      const refuse = await api(other.url, 'DELETE', '/api/ml/models/alpha?force=true', { key: ADMIN_KEY });
      expect(refuse.status).toBe(409);
      expect(refuse.json.error.code).toBe('DEFAULT_MODEL');
    } finally {
      await other.close();
    }
    const reopened = PredictionTracker.open(trackerFile);
    expect(reopened.stats({ symbol: 'ETH/USDT', modelVersion: 'alpha@v1' }).count).toBeGreaterThan(30);
    expect(reopened.stats({ symbol: 'ETH/USDT' }).resolved).toBeGreaterThan(30);
    reopened.close();
  });
});
