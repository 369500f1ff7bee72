/**
 * Every kind of bad request gets its 4xx with `{error: {code, message, field}}`
 * and the server goes on serving (checked after each): malformed JSON, wrong
 * feature counts, NaN/null/strings, out-of-range numbers, oversized bodies and
 * batches, bad candles; a model that throws is a 5xx JSON, a model that hangs
 * a 504, and the process survives both.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_PYTHON_DIR } from '../../src/models/python-model.js';
import {
  api,
  BOT_KEY,
  expectHealthy,
  logisticVariant,
  type ModelFixture,
  makeModelFixture,
  ohlcv,
  registerDir,
  row,
  startServer,
  type TestServer,
  trainPythonModel,
} from './helpers.js';

let fx: ModelFixture;
let s: TestServer;

beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
  const scripts = path.join(fx.root, 'scripts');
  // A Python model that fails on batches of 3 rows and hangs on batches of 2.
  await trainPythonModel(
    fx,
    scripts,
    'unreliable_model.py',
    logisticVariant(
      [
        'import time',
        'if len(rows) == 3:',
        '    raise RuntimeError("cannot score batches of three")',
        'if len(rows) == 2:',
        '    time.sleep(5)',
        'return super().predict(rows)',
      ].join('\n'),
    ),
    'py-unreliable',
  );
  s = await startServer(fx, { pythonDirs: [scripts, BUNDLED_PYTHON_DIR], predictionTimeoutMs: 700 });
  expect((await registerDir(s.url, 'alpha', 'tf-a')).status).toBe(201);
  expect((await registerDir(s.url, 'shaky', 'py-unreliable', 'python')).status).toBe(201);
});

afterAll(async () => {
  await s?.close();
  fx?.cleanup();
});

async function predictRaw(raw: string | Uint8Array, headers: Record<string, string> = {}) {
  return api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, raw, headers });
}

async function expectError(
  res: Awaited<ReturnType<typeof api>>,
  status: number,
  code: string,
  field?: string | null,
): Promise<void> {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  expect(res.json.error.code).toBe(code);
  expect(typeof res.json.error.message).toBe('string');
  expect(res.json.error).toHaveProperty('field');
  if (field !== undefined) expect(res.json.error.field).toBe(field);
  await expectHealthy(s.url);
}

const predict = (body: unknown) => api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body });

describe('HTTP API: request validation', () => {
  it('refuses malformed JSON, empty bodies, other content types and non-object bodies', async () => {
    await expectError(await predictRaw('{"model": "alpha", "features": [1, 2'), 400, 'MALFORMED_JSON', null);
    await expectError(await predictRaw('{"a": NaN}'), 400, 'MALFORMED_JSON');
    await expectError(await predictRaw(''), 400, 'EMPTY_BODY');
    await expectError(await predictRaw('{"__proto__": {"x": 1}}'), 400, 'FORBIDDEN_KEY', '__proto__');
    await expectError(
      await predictRaw('{"rows": [[1], {"\\u005f_proto__": 1}]}'),
      400,
      'FORBIDDEN_KEY',
      'rows[1].__proto__',
    );
    await expectError(
      await predictRaw('{"constructor": {"prototype": {"x": 1}}}'),
      400,
      'FORBIDDEN_KEY',
      'constructor.prototype',
    );
    await expectError(await predictRaw('features=1', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectError(await predictRaw('[1, 2, 3]'), 400, 'INVALID_TYPE', null);
    await expectError(await predictRaw('null'), 400, 'INVALID_TYPE');
    await expectError(await predictRaw('"alpha"'), 400, 'INVALID_TYPE');
  });

  it('refuses unknown fields and anything but exactly one input', async () => {
    await expectError(await predict({ model: 'alpha', row: row(fx, 1) }), 400, 'UNKNOWN_FIELD', 'row');
    await expectError(await predict({ model: 'alpha' }), 400, 'INPUT_REQUIRED', 'features');
    await expectError(
      await predict({ model: 'alpha', features: row(fx, 1), rows: [row(fx, 1)] }),
      400,
      'AMBIGUOUS_INPUT',
    );
    await expectError(
      await predict({ model: 'alpha', features: row(fx, 1), symbol: 'X' }),
      400,
      'UNKNOWN_FIELD',
      'symbol',
    );
    await expectError(await predict({ model: 42, features: row(fx, 1) }), 400, 'INVALID_TYPE', 'model');
  });

  it('refuses a wrong number of features, naming the row', async () => {
    const short = await predict({ model: 'alpha', features: row(fx, 1).slice(1) });
    await expectError(short, 400, 'WRONG_FEATURE_COUNT', 'features');
    expect(short.json.error.message).toContain(`takes ${fx.width}`);
    const rows = [row(fx, 1), row(fx, 2), [...row(fx, 3), 0]];
    await expectError(await predict({ model: 'alpha', rows }), 400, 'WRONG_FEATURE_COUNT', 'rows[2]');
    await expectError(await predict({ model: 'alpha', features: [] }), 400, 'WRONG_FEATURE_COUNT', 'features');
  });

  it('refuses NaN, null, strings, booleans, objects and numbers beyond float32, naming the field', async () => {
    const withValue = (v: unknown, at = 7) => {
      const r: unknown[] = row(fx, 1);
      r[at] = v;
      return r;
    };
    await expectError(
      await predict({ model: 'alpha', features: withValue('NaN') }),
      400,
      'INVALID_TYPE',
      'features[7]',
    );
    await expectError(
      await predict({ model: 'alpha', features: withValue(null, 0) }),
      400,
      'INVALID_TYPE',
      'features[0]',
    );
    await expectError(
      await predict({ model: 'alpha', features: withValue('1.5') }),
      400,
      'INVALID_TYPE',
      'features[7]',
    );
    await expectError(await predict({ model: 'alpha', features: withValue(true) }), 400, 'INVALID_TYPE', 'features[7]');
    const rows = [row(fx, 1), row(fx, 2), row(fx, 3), withValue({ v: 1 })];
    const res = await predict({ model: 'alpha', rows });
    await expectError(res, 400, 'INVALID_TYPE', 'rows[3][7]');
    expect(res.json.error.message).toContain('rows[3][7] must be of type number');
    rows[3] = withValue('Infinity', 20);
    await expectError(await predict({ model: 'alpha', rows }), 400, 'INVALID_TYPE', 'rows[3][20]');
    await expectError(
      await predict({ model: 'alpha', features: withValue(1e39) }),
      400,
      'INVALID_FEATURE_VALUE',
      'features[7]',
    );
    // 1e400 is valid JSON that parses to Infinity, which is not a JSON number either.
    const text = JSON.stringify({ model: 'alpha', features: row(fx, 1) }).replace(/\[([^,]+),/, '[1e400,');
    await expectError(await predictRaw(text), 400, 'INVALID_TYPE', 'features[0]');
  });

  it('refuses a body over the size limit with 413', async () => {
    const big = JSON.stringify({ model: 'alpha', rows: Array.from({ length: 30_000 }, () => row(fx, 1)) });
    expect(big.length).toBeGreaterThan(s.server.limits.bodyLimit);
    const res = await predictRaw(big);
    await expectError(res, 413, 'BODY_TOO_LARGE', null);
    expect(res.json.error.message).toContain(String(s.server.limits.bodyLimit));
  });

  it('refuses a batch over the row limit with 413 naming the limit', async () => {
    const zeros = new Array<number>(fx.width).fill(0);
    const rows = Array.from({ length: s.server.limits.maxBatch + 1 }, () => zeros);
    const res = await predict({ model: 'alpha', rows });
    await expectError(res, 413, 'BATCH_TOO_LARGE', 'rows');
    expect(res.json.error.message).toContain(`limit of ${s.server.limits.maxBatch}`);
    const candles = await predict({
      model: 'alpha',
      candles: Array.from({ length: s.server.limits.maxBatch + 1 }, () => [1]),
    });
    await expectError(candles, 413, 'BATCH_TOO_LARGE', 'candles');
    await expectError(await predict({ model: 'alpha', rows: [] }), 400, 'INVALID_REQUEST', 'rows');
  });

  it('validates candles as the loader does, naming the candle and field', async () => {
    const good = fx.candles.slice(0, 60).map(ohlcv);
    const withCandle = (i: number, c: unknown) => {
      const out: unknown[] = good.slice();
      out[i] = c;
      return { model: 'alpha', candles: out };
    };
    const g = good[3]!;
    const negative = await predict(withCandle(3, [g[0], g[1], g[2], g[3], -1, g[5]]));
    await expectError(negative, 400, 'INVALID_CANDLE', 'candles[3].close');
    expect(negative.json.error.message).toContain('close must be > 0');
    await expectError(
      await predict(withCandle(4, [g[0], 'NaN', g[2], g[3], g[4], g[5]])),
      400,
      'INVALID_CANDLE',
      'candles[4].open',
    );
    const nullVolume = await predict(
      withCandle(5, { timestamp: g[0], open: g[1], high: g[2], low: g[3], close: g[4], volume: null }),
    );
    await expectError(nullVolume, 400, 'INVALID_CANDLE', 'candles[5].volume');
    await expectError(
      await predict(withCandle(6, [g[0], g[1], g[3]! * 0.5, g[3], g[4], g[5]])),
      400,
      'INVALID_CANDLE',
      'candles[6].high',
    );
    await expectError(await predict(withCandle(7, g.slice(0, 5))), 400, 'INVALID_CANDLE', 'candles[7].volume');
    const outOfOrder = await predict(withCandle(8, good[2]));
    await expectError(outOfOrder, 400, 'INVALID_CANDLE', 'candles[8].timestamp');
    expect(outOfOrder.json.error.message).toMatch(/candles\[7\]/);
    await expectError(
      await predict(withCandle(9, { ...Object.fromEntries([]), t: 1 })),
      400,
      'UNKNOWN_FIELD',
      'candles[9].t',
    );
    await expectError(await predict(withCandle(10, 42)), 400, 'INVALID_TYPE', 'candles[10]');
    const few = await predict({ model: 'alpha', candles: good.slice(0, 5) });
    await expectError(few, 400, 'NOT_ENOUGH_CANDLES', 'candles');
    expect(few.json.error.message).toMatch(/needs at least \d+ candles/);
    // ISO dates and numeric strings are read as the loader reads them.
    const iso = good.map((c) => [new Date(c[0]!).toISOString(), ...c.slice(1).map(String)]);
    const ok = await predict({ model: 'alpha', candles: iso });
    expect(ok.status, ok.text).toBe(200);
    const same = await predict({ model: 'alpha', candles: good });
    expect(ok.json.prediction).toBe(same.json.prediction);
  });

  it('answers 404 with JSON for unknown routes and methods', async () => {
    await expectError(await api(s.url, 'GET', '/api/ml/nothing'), 404, 'NOT_FOUND');
    await expectError(await api(s.url, 'GET', '/api/ml/predict', { key: BOT_KEY }), 404, 'NOT_FOUND');
    await expectError(await api(s.url, 'PUT', '/health'), 404, 'NOT_FOUND');
  });

  it('answers a throwing model with a 5xx JSON error and keeps serving', async () => {
    const three = [row(fx, 1), row(fx, 2), row(fx, 3)];
    const res = await predict({ model: 'shaky', rows: three });
    expect(res.status).toBe(500);
    expect(res.json.error.code).toBe('PREDICTION_FAILED');
    expect(res.json.error.message).toContain('cannot score batches of three');
    await expectHealthy(s.url);
    const ok = await predict({ model: 'shaky', rows: three.slice(0, 1) });
    expect(ok.status).toBe(200);
    const other = await predict({ model: 'alpha', rows: three });
    expect(other.status).toBe(200);
  });

  it('answers a model that does not answer in time with 504 and keeps serving', async () => {
    const started = performance.now();
    const res = await predict({ model: 'shaky', rows: [row(fx, 1), row(fx, 2)] });
    expect(res.status).toBe(504);
    expect(res.json.error.code).toBe('PREDICTION_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(3000);
    await expectHealthy(s.url);
    expect((await predict({ model: 'alpha', features: row(fx, 1) })).status).toBe(200);
    // The hung worker is killed and restarted; the model answers again.
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      status = (await predict({ model: 'shaky', features: row(fx, 4) })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
  });
});
