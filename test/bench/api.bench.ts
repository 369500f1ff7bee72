/**
 * HTTP API throughput and latency: `quantflow serve` runs as a child process
 * on 127.0.0.1 (its own core; JSON request logs at info level go to a file, as
 * in production) with a trained default model (the default 64-32-16 MLP,
 * answered by the typed-array fast path), and autocannon drives it from this
 * process for a bounded time per scenario with few connections (2 cores: one
 * for the server, one for the load):
 *
 * - GET /health: the baseline (routing, hooks, logging, metrics; no model);
 * - POST /api/ml/predict with single rows, each row distinct (cache misses);
 * - the same with 100 rows repeated (answered from the LRU cache);
 * - POST /api/ml/predict with batches of 100 distinct rows;
 * - the bundled Python model with single rows, distinct then repeated: there
 *   the cache saves a round trip to the worker process.
 *
 * Latency is measured per response at sub-millisecond resolution (autocannon's
 * own histogram keeps whole milliseconds). Goal: >= 5,000 single-row
 * predictions/s with p99 < 20 ms. Never fails on speed.
 * Run: npx tsx test/bench/api.bench.ts [seconds per scenario, default 10]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { trainModel } from '../../src/models/train.js';
import { ModelRegistry } from '../../src/registry/index.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KEY = 'bench-key-5c1e9a7f3b2d8e46';
const CONNECTIONS = 8;
const WARMUP_SECONDS = 2;
const DISTINCT_BODIES = 80_000;
const REPEATED_BODIES = 100;
const BATCH_ROWS = 100;
const BATCH_BODIES = 400;

// autocannon ships no types: the part of its API used here.
interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: CannonRequest) => CannonRequest;
}
interface CannonOptions {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: CannonRequest[];
}
interface CannonResult {
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
interface CannonInstance {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: 'done', fn: (result: CannonResult) => void): void;
}
type Autocannon = (opts: CannonOptions, cb: (err: Error | null, result: CannonResult) => void) => CannonInstance;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

interface Measured {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
  readonly failures: number;
}

function cannon(opts: CannonOptions): Promise<Measured> {
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let n = 0;
    const instance = autocannon(opts, (err, result) => {
      if (err) return reject(err);
      const sorted = latencies.subarray(0, n).sort();
      const at = (q: number) => (n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.floor(q * n))]!);
      resolve({
        rps: result.requests.total / result.duration,
        p50: at(0.5),
        p99: at(0.99),
        requests: result.requests.total,
        failures: result.non2xx + result.errors + result.timeouts,
      });
    });
    instance.on('response', (_client, _status, _bytes, ms) => {
      if (n === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[n++] = ms;
    });
  });
}

/** Cycles through prepared bodies, one per request. */
function cycling(url: string, bodies: readonly string[], seconds: number): Promise<Measured> {
  let i = 0;
  return cannon({
    url: `${url}/api/ml/predict`,
    connections: CONNECTIONS,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    requests: [
      {
        setupRequest: (req) => {
          req.body = bodies[i++ % bodies.length]!;
          return req;
        },
      },
    ],
  });
}

async function counter(url: string, name: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
  let total = 0;
  for (const line of (await res.text()).split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (v: number) => `${v.toFixed(2)} ms`;

export async function run(secondsArg?: number): Promise<void> {
  const seconds = secondsArg ?? Number(process.argv[2] ?? 10);
  const dir = mkdtempSync(path.join(tmpdir(), 'qf-api-bench-'));
  const logFile = path.join(dir, 'server.log');
  let child: ReturnType<typeof spawn> | undefined;
  try {
    // A realistic model: the default network on a synthetic market, registered as the default model.
    const candles = generateSyntheticCandles({ mode: 'regime', seed: 42, count: 12_000 });
    const trained = await trainModel({ candles, name: 'bench', network: { epochs: 3 }, seed: 1 });
    const registry = await ModelRegistry.open(path.join(dir, 'registry'));
    await registry.register('bench', trained.files);
    await trained.predictor.dispose();
    // The bundled Python logistic regression: each uncached prediction is a round trip to its worker.
    const logit = await trainModel({ candles, name: 'logit', kind: 'python', seed: 1 });
    await registry.register('logit', logit.files);
    await logit.predictor.dispose();
    const ds = buildDataset(candles, { horizon: 1 });
    const w = ds.cols;
    const rowAt = (i: number) => {
      const r = Array.from(ds.features.subarray((i % ds.rows) * w, ((i % ds.rows) + 1) * w));
      r[0]! += Math.floor(i / ds.rows) * 1e-6; // past the dataset's end: still distinct
      return r;
    };
    const distinct = Array.from({ length: DISTINCT_BODIES }, (_, i) => JSON.stringify({ features: rowAt(i) }));
    const repeated = distinct.slice(0, REPEATED_BODIES);
    const pyDistinct = Array.from({ length: DISTINCT_BODIES / 4 }, (_, i) =>
      JSON.stringify({ model: 'logit', features: rowAt(i) }),
    );
    const pyRepeated = pyDistinct.slice(0, REPEATED_BODIES);
    const batches = Array.from({ length: BATCH_BODIES }, (_, b) =>
      JSON.stringify({ rows: Array.from({ length: BATCH_ROWS }, (_, k) => rowAt(b * BATCH_ROWS + k)) }),
    );

    const out = openSync(logFile, 'a');
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(REPO_ROOT, 'src/cli/main.ts'),
        'serve',
        '--port',
        '0',
        '--registry',
        path.join(dir, 'registry'),
        '--default-model',
        'bench',
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, QUANTFLOW_API_KEYS: `${KEY}:predict+read` },
        stdio: ['ignore', out, out],
      },
    );
    let url: string | undefined;
    for (let i = 0; i < 600 && url === undefined; i++) {
      url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
      if (url === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    if (url === undefined) throw new Error(`the server did not start; log:\n${readFileSync(logFile, 'utf8')}`);

    console.log('api bench');
    console.log(
      `  server: quantflow serve (child process), default model bench@v1 (${w} inputs, 64-32-16 MLP), ` +
        `request logs at info to a file; load: autocannon, ${CONNECTIONS} connections, ${seconds} s per scenario`,
    );
    await cycling(url, distinct.slice(-5000), WARMUP_SECONDS); // JIT warm-up (rows not used again)

    const health = await cannon({ url: `${url}/health`, connections: CONNECTIONS, duration: seconds });
    const hitsBefore = await counter(url, 'quantflow_prediction_cache_hits_total');
    const single = await cycling(url, distinct.slice(0, -5000), seconds);
    const hitsAfterDistinct = await counter(url, 'quantflow_prediction_cache_hits_total');
    const cached = await cycling(url, repeated, seconds);
    const hitsAfterRepeated = await counter(url, 'quantflow_prediction_cache_hits_total');
    const batch = await cycling(url, batches, seconds);
    const pyHitsBefore = await counter(url, 'quantflow_prediction_cache_hits_total{model="logit@v1"}');
    const pySingle = await cycling(url, pyDistinct, seconds);
    const pyCached = await cycling(url, pyRepeated, seconds);
    const pyHits = (await counter(url, 'quantflow_prediction_cache_hits_total{model="logit@v1"}')) - pyHitsBefore;

    const line = (label: string, m: Measured, extra = '') =>
      console.log(
        `  ${label.padEnd(38)} ${fmt(m.rps).padStart(7)} req/s  p50 ${ms(m.p50).padStart(9)}  p99 ${ms(m.p99).padStart(9)}` +
          `  (${(m.rps / health.rps).toFixed(2)}x health)${m.failures > 0 ? `  FAILURES: ${m.failures}` : ''}${extra}`,
      );
    line('GET /health (baseline)', health);
    line('predict, single rows, all distinct', single, `  cache hits: ${fmt(hitsAfterDistinct - hitsBefore)}`);
    line(
      'predict, single rows, 100 repeated',
      cached,
      `  cache hits: ${fmt(hitsAfterRepeated - hitsAfterDistinct)} of ${fmt(cached.requests)}`,
    );
    line(`predict, batches of ${BATCH_ROWS} rows`, batch, `  = ${fmt(batch.rps * BATCH_ROWS)} rows/s`);
    line('python model, single rows, all distinct', pySingle);
    line('python model, single rows, 100 repeated', pyCached, `  cache hits: ${fmt(pyHits)}`);
    const met = single.rps >= 5000 && single.p99 < 20;
    console.log(
      `  goal >= 5,000 single-row predictions/s with p99 < 20 ms (distinct rows): ${met ? 'met' : 'NOT met'} ` +
        `(${fmt(single.rps)}/s, p99 ${ms(single.p99)})`,
    );
    console.log(
      `  cache (repeated vs distinct rows): TensorFlow.js fast path ${(cached.rps / single.rps).toFixed(2)}x req/s, ` +
        `Python worker ${(pyCached.rps / pySingle.rps).toFixed(2)}x req/s, p50 ${ms(pySingle.p50)} -> ${ms(pyCached.p50)}`,
    );
  } finally {
    if (child !== undefined && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
