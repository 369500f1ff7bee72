/**
 * Property-based fuzzing of the two routes that take rich bodies: random JSON
 * values, near-miss predict and register bodies (right shapes, wrong values,
 * extreme numbers, hostile paths) and random bytes go to /api/ml/predict and
 * /api/ml/models with keys that pass authentication. Only 2xx and 4xx may come
 * back, and the server must stay up. Bounded: 300 runs or 20 s.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_KEY,
  api,
  BOT_KEY,
  expectHealthy,
  type ModelFixture,
  makeModelFixture,
  registerDir,
  startServer,
  type TestServer,
} from './helpers.js';

let fx: ModelFixture;
let s: TestServer;

beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
  s = await startServer(fx, { maxBatch: 200, bodyLimit: 64 * 1024 });
  expect((await registerDir(s.url, 'alpha', 'tf-a')).status).toBe(201);
});

afterAll(async () => {
  await s?.close();
  fx?.cleanup();
});

const number = fc.oneof(
  fc.double(), // includes NaN and infinities (JSON.stringify writes null)
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.integer(),
  fc.constantFrom(0, -0, 1e38, -3.4e38, 3.5e38, 1e-45, Number.MAX_VALUE, Number.MIN_VALUE),
);
const value = fc.oneof(number, fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean(), fc.constant('NaN'));
const featureRow = (width: number) =>
  fc.oneof(fc.array(number, { minLength: width, maxLength: width }), fc.array(value, { maxLength: width + 2 }));
const candle = fc.oneof(
  fc.array(value, { maxLength: 7 }),
  fc.tuple(fc.integer({ min: 1_500_000_000_000, max: 1_800_000_000_000 }), number, number, number, number, number),
  fc.record(
    { timestamp: value, open: value, high: value, low: value, close: value, volume: value },
    { requiredKeys: [] },
  ),
  value,
);
const modelRef = fc.oneof(
  fc.constantFrom('alpha', 'alpha@v1', 'alpha@latest', 'alpha@active', 'alpha@v0', 'nobody', '', '@', '../x', 'ALPHA'),
  fc.string({ maxLength: 20 }),
);

function predictBody(width: number) {
  const anything = fc.record(
    {
      model: modelRef,
      features: featureRow(width),
      rows: fc.array(featureRow(width), { maxLength: 4 }),
      candles: fc.array(candle, { maxLength: 60 }),
      all: fc.oneof(fc.boolean(), value),
      symbol: fc.oneof(fc.string({ maxLength: 12 }), value),
      timeframe: fc.oneof(fc.constantFrom('1h', '5m', 'x'), value),
    },
    { requiredKeys: [] },
  );
  // Well-formed requests with extreme numbers: these reach the model itself.
  const mostlyFinite = fc.oneof(
    { weight: 40, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
    { weight: 1, arbitrary: number },
  );
  const row = fc.array(mostlyFinite, { minLength: width, maxLength: width });
  const nearlyValid = fc.oneof(
    fc.record({ model: fc.constant('alpha'), features: row }),
    fc.record({ model: fc.constant('alpha'), rows: fc.array(row, { minLength: 1, maxLength: 3 }) }),
  );
  return fc.oneof(anything, nearlyValid);
}

const hostilePath = fc.oneof(
  fc.constantFrom(
    '../tf-a',
    '/etc',
    '/',
    '.',
    '',
    'tf-a/..',
    '..\\..',
    '/tmp',
    'tf-a/../../..',
    'tf-a\u0000',
    'no-such',
    'tf-a/model.json',
  ),
  fc.string({ maxLength: 30 }),
);
const registerBody = fc.record(
  {
    name: fc.oneof(
      fc.constantFrom('fuzz', 'alpha', '..', 'A', '-x', 'a'.repeat(101)),
      fc.string({ maxLength: 12 }),
      value,
    ),
    source: fc.oneof(
      fc.record(
        {
          type: fc.oneof(fc.constantFrom('tfjs', 'python', 'registry', 'onnx'), value),
          path: fc.oneof(hostilePath, value),
          ref: fc.oneof(modelRef, value),
        },
        { requiredKeys: [] },
      ),
      value,
    ),
    activate: fc.oneof(fc.boolean(), value),
  },
  { requiredKeys: [] },
);

type Payload = { kind: 'json'; text: string } | { kind: 'bytes'; bytes: Uint8Array; contentType: string };

const payload = (structured: fc.Arbitrary<unknown>): fc.Arbitrary<Payload> =>
  fc.oneof(
    { weight: 3, arbitrary: structured.map((v) => ({ kind: 'json' as const, text: JSON.stringify(v) ?? 'null' })) },
    {
      weight: 2,
      arbitrary: fc
        .jsonValue({ maxDepth: 4 })
        .map((v) => ({ kind: 'json' as const, text: JSON.stringify(v) ?? 'null' })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('bytes' as const),
        bytes: fc.uint8Array({ maxLength: 256 }),
        contentType: fc.constantFrom(
          'application/json',
          'application/octet-stream',
          'text/plain',
          'application/x-www-form-urlencoded',
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .string({ maxLength: 64 })
        .map((t) => ({ kind: 'json' as const, text: `{"model":"alpha","features":[${t}` })),
    },
  );

async function send(route: string, key: string, p: Payload): Promise<number> {
  const res =
    p.kind === 'json'
      ? await api(s.url, 'POST', route, { key, raw: p.text })
      : await api(s.url, 'POST', route, { key, raw: p.bytes, headers: { 'content-type': p.contentType } });
  if (res.status >= 400) {
    // every refusal is a JSON error
    expect(res.json?.error?.code, res.text).toEqual(expect.any(String));
  }
  return res.status;
}

describe('HTTP API: fuzzing', () => {
  it('answers random JSON and bytes on /api/ml/predict and /api/ml/models with 2xx or 4xx only', async () => {
    const statuses = new Map<number, number>();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        payload(predictBody(fx.width)),
        payload(registerBody),
        async (predictPayload, registerPayload) => {
          runs++;
          for (const status of [
            await send('/api/ml/predict', BOT_KEY, predictPayload),
            await send('/api/ml/models', ADMIN_KEY, registerPayload),
          ]) {
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            expect(status >= 200 && status < 500, `status ${status}`).toBe(true);
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300), interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false },
    );
    expect(runs).toBeGreaterThan(50);
    // the fuzzer reached both refusals and real predictions
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    const seen = JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]));
    expect(statuses.get(400) ?? 0, seen).toBeGreaterThan(0);
    expect(statuses.get(415) ?? 0, seen).toBeGreaterThan(0);
    console.log(`fuzz: ${runs} runs, statuses ${seen}`);
    await expectHealthy(s.url);
    const still = await api(s.url, 'GET', '/api/ml/models/alpha', { key: ADMIN_KEY });
    expect(still.json.active).toBe('v1');
  });
});
