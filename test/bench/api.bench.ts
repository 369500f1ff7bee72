/**
 * HTTP API throughput and latency: `quantflow serve` runs as a child process
 * on 127.0.0.1 (JSON request logs at info level go to a file, as in
 * production) with a trained default model (the default 64-32-16 MLP,
 * answered by the typed-array fast path), and autocannon drives it from this
 * process for a bounded time per scenario with few connections. All in one
 * run, on the same machine (2 cores: the server's workers and the load
 * generator share them):
 *
 * - GET /health: the baseline (routing, hooks, logging, metrics; no model);
 * - POST /api/ml/predict with single rows, each row distinct (cache misses),
 *   the same with 100 rows repeated (answered from the LRU cache), and
 *   batches of 100 distinct rows: with 1 worker and with 2 workers
 *   (`--workers 2`, one port);
 * - /health latency while 8 connections send full default batches (2,000
 *   rows, about 0.9 MB each): goal p99 < 20 ms;
 * - the cost of TLS: single rows and batches over HTTPS (a certificate made by
 *   openssl here) against the same over HTTP;
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
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { trainModel } from '../../src/models/train.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { makeCertificate } from '../server/helpers.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KEY = 'bench-key-5c1e9a7f3b2d8e46';
const CONNECTIONS = 8;
const WARMUP_SECONDS = 2;
const DISTINCT_BODIES = 80_000;
const REPEATED_BODIES = 100;
const BATCH_ROWS = 100;
const BATCH_BODIES = 400;
/** The load under which /health is timed: full default batches (--max-batch 2,000). */
const BIG_BATCH_ROWS = 2_000;
const BIG_BATCH_BODIES = 24;
const HEALTH_PROBE_EVERY_MS = 10;

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

/** The sum of the series of each metric `names` names, from one scrape of /metrics. */
async function scrape(url: string, ...names: string[]): Promise<number[]> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
  const lines = (await res.text()).split('\n');
  return names.map((name) =>
    lines.filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0),
  );
}

async function counter(url: string, name: string): Promise<number> {
  return (await scrape(url, name))[0]!;
}

/** GET /health every few ms on one keep-alive connection until `until` settles; latencies in ms. */
async function probeHealth(url: string, until: Promise<unknown>): Promise<Float64Array> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: number[] = [];
  let done = false;
  void until.finally(() => {
    done = true;
  });
  while (!done) {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = request(`${url}/health`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    out.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, HEALTH_PROBE_EVERY_MS));
  }
  agent.destroy();
  return Float64Array.from(out).sort();
}

const quantile = (sorted: Float64Array, q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

interface Serve {
  readonly url: string;
  stop(): Promise<void>;
}

/** `quantflow serve` as a child process with `args`; resolves once it listens. */
async function startServe(dir: string, name: string, args: readonly string[]): Promise<Serve> {
  const logFile = path.join(dir, `${name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(
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
      ...args,
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, QUANTFLOW_API_KEYS: `${KEY}:predict+read`, QUANTFLOW_REGISTRY_KEY: '' },
      stdio: ['ignore', out, out],
    },
  );
  let url: string | undefined;
  for (let i = 0; i < 1200 && url === undefined && child.exitCode === null; i++) {
    url = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
    if (url === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  if (url === undefined) {
    child.kill('SIGKILL');
    throw new Error(`the server did not start; log:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
  }
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (v: number) => `${v.toFixed(2)} ms`;

export async function run(secondsArg?: number): Promise<void> {
  const seconds = secondsArg ?? Number(process.argv[2] ?? 10);
  const dir = mkdtempSync(path.join(tmpdir(), 'qf-api-bench-'));
  const servers: Serve[] = [];
  try {
    // A realistic model: the default network on a synthetic market, registered as the default model.
    const candles = generateSyntheticCandles({ mode: 'regime', seed: 42, count: 12_000 });
    const trained = await trainModel({ candles, name: 'bench', network: { epochs: 3 }, seed: 1 });
    const registry = await ModelRegistry.open(path.join(dir, 'registry'), { env: {} });
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
    const bigBatches = Array.from({ length: BIG_BATCH_BODIES }, (_, b) =>
      JSON.stringify({ rows: Array.from({ length: BIG_BATCH_ROWS }, (_, k) => rowAt(b * BIG_BATCH_ROWS + k)) }),
    );
    makeCertificate(dir, 'server'); // server.crt and server.key, by openssl
    const cert = path.join(dir, 'server.crt');
    const key = path.join(dir, 'server.key');

    console.log('api bench');
    console.log(
      `  server: quantflow serve (child process), default model bench@v1 (${w} inputs, 64-32-16 MLP), ` +
        `request logs at info to a file; load: autocannon, ${CONNECTIONS} connections, ${seconds} s per scenario`,
    );
    /** One scenario's figures, and its throughput as a ratio to `vs` (a baseline of the same run). */
    const line = (label: string, m: Measured, vs?: readonly [Measured, string], extra = '') =>
      console.log(
        `  ${label.padEnd(44)} ${fmt(m.rps).padStart(7)} req/s  p50 ${ms(m.p50).padStart(9)}  p99 ${ms(m.p99).padStart(9)}` +
          (vs === undefined ? '' : `  (${(m.rps / vs[0].rps).toFixed(2)}x ${vs[1]})`) +
          (m.failures > 0 ? `  FAILURES: ${m.failures}` : '') +
          extra,
      );

    /** The same scenarios over HTTPS, right after the HTTP run they are compared with. */
    const measureTls = async (http: { single: Measured; batch: Measured; health: Measured }) => {
      const serve = await startServe(dir, 'https', ['--tls-cert', cert, '--tls-key', key]);
      servers.push(serve);
      console.log('  -- HTTPS (TLS 1.3, P-256 certificate), 1 worker --');
      await cycling(serve.url, distinct.slice(-5000), WARMUP_SECONDS);
      const health = await cannon({ url: `${serve.url}/health`, connections: CONNECTIONS, duration: seconds });
      const single = await cycling(serve.url, distinct.slice(0, -5000), seconds);
      const batch = await cycling(serve.url, batches, seconds);
      line('GET /health over TLS', health, [http.health, 'HTTP']);
      line('predict, single rows, all distinct, TLS', single, [http.single, 'HTTP']);
      line(`predict, batches of ${BATCH_ROWS} rows, TLS`, batch, [http.batch, 'HTTP']);
      await serve.stop();
      return { single, batch };
    };

    // --- 1 and 2 workers over HTTP ---
    const byWorkers = new Map<number, { single: Measured; batch: Measured; health: Measured }>();
    let healthUnderLoad: Float64Array | undefined;
    let healthIdle: Float64Array | undefined;
    let tlsFigures: { single: Measured; batch: Measured } | undefined;
    for (const workers of [1, 2]) {
      const serve = await startServe(dir, `http-${workers}`, ['--workers', String(workers)]);
      servers.push(serve);
      const url = serve.url;
      console.log(`  -- HTTP, ${workers} worker${workers > 1 ? 's' : ''} --`);
      await cycling(url, distinct.slice(-5000), WARMUP_SECONDS); // JIT warm-up (rows not used again)
      const health = await cannon({ url: `${url}/health`, connections: CONNECTIONS, duration: seconds });
      const hitsBefore = await counter(url, 'quantflow_prediction_cache_hits_total');
      const single = await cycling(url, distinct.slice(0, -5000), seconds);
      const hitsAfterDistinct = await counter(url, 'quantflow_prediction_cache_hits_total');
      const batch = await cycling(url, batches, seconds);
      byWorkers.set(workers, { single, batch, health });
      line('GET /health (baseline)', health);
      line(
        'predict, single rows, all distinct',
        single,
        [health, 'health'],
        `  cache hits: ${fmt(hitsAfterDistinct - hitsBefore)}`,
      );
      line(
        `predict, batches of ${BATCH_ROWS} rows`,
        batch,
        [health, 'health'],
        `  = ${fmt(batch.rps * BATCH_ROWS)} rows/s`,
      );
      if (workers === 1) {
        const before = await counter(url, 'quantflow_prediction_cache_hits_total');
        const cached = await cycling(url, repeated, seconds);
        const after = await counter(url, 'quantflow_prediction_cache_hits_total');
        line(
          'predict, single rows, 100 repeated',
          cached,
          [health, 'health'],
          `  cache hits: ${fmt(after - before)} of ${fmt(cached.requests)}`,
        );
        const pyHitsBefore = await counter(url, 'quantflow_prediction_cache_hits_total{model="logit@v1"}');
        const pySingle = await cycling(url, pyDistinct, seconds);
        const pyCached = await cycling(url, pyRepeated, seconds);
        const pyHits = (await counter(url, 'quantflow_prediction_cache_hits_total{model="logit@v1"}')) - pyHitsBefore;
        line('python model, single rows, all distinct', pySingle, [health, 'health']);
        line('python model, single rows, 100 repeated', pyCached, [health, 'health'], `  cache hits: ${fmt(pyHits)}`);
        console.log(
          `  cache (repeated vs distinct rows): TensorFlow.js fast path ${(cached.rps / single.rps).toFixed(2)}x req/s, ` +
            `Python worker ${(pyCached.rps / pySingle.rps).toFixed(2)}x req/s, p50 ${ms(pySingle.p50)} -> ${ms(pyCached.p50)}`,
        );
        healthIdle = await probeHealth(url, new Promise((r) => setTimeout(r, 2000)));
        await counter(url, 'quantflow_nodejs_eventloop_lag_max_seconds'); // a scrape resets the server's lag figures
        const load = cycling(url, bigBatches, seconds);
        healthUnderLoad = await probeHealth(url, load);
        const big = await load;
        const [lagP99, lagMax] = await scrape(
          url,
          'quantflow_nodejs_eventloop_lag_p99_seconds',
          'quantflow_nodejs_eventloop_lag_max_seconds',
        );
        line(
          `predict, batches of ${fmt(BIG_BATCH_ROWS)} rows (load)`,
          big,
          [health, 'health'],
          `  = ${fmt(big.rps * BIG_BATCH_ROWS)} rows/s`,
        );
        const p99 = quantile(healthUnderLoad, 0.99);
        console.log(
          `  GET /health during that load (one probe every ${HEALTH_PROBE_EVERY_MS} ms, ${fmt(healthUnderLoad.length)} probes): ` +
            `p50 ${ms(quantile(healthUnderLoad, 0.5))}, p99 ${ms(p99)}, max ${ms(healthUnderLoad.at(-1) ?? Number.NaN)}` +
            ` (idle: p50 ${ms(quantile(healthIdle, 0.5))}, p99 ${ms(quantile(healthIdle, 0.99))}); goal p99 < 20 ms: ${p99 < 20 ? 'met' : 'NOT met'}`,
        );
        console.log(
          `  the server's own event-loop delay during that load (prom-client): p99 ${ms(lagP99! * 1000)}, max ${ms(lagMax! * 1000)}`,
        );
      }
      await serve.stop();
      if (workers === 1) tlsFigures = await measureTls(byWorkers.get(1)!);
    }
    const one = byWorkers.get(1)!;
    const two = byWorkers.get(2)!;
    const tlsRun = tlsFigures!;
    console.log(
      `  2 workers vs 1: single rows ${(two.single.rps / one.single.rps).toFixed(2)}x req/s, ` +
        `batches of ${BATCH_ROWS} ${(two.batch.rps / one.batch.rps).toFixed(2)}x (2 cores, shared with the load generator)`,
    );

    console.log(
      `  cost of TLS (keep-alive connections, HTTPS / HTTP): single rows ${(tlsRun.single.rps / one.single.rps).toFixed(2)}x req/s, ` +
        `p99 ${ms(one.single.p99)} -> ${ms(tlsRun.single.p99)}; batches of ${BATCH_ROWS} ${(tlsRun.batch.rps / one.batch.rps).toFixed(2)}x req/s`,
    );
    const met = one.single.rps >= 5000 && one.single.p99 < 20;
    console.log(
      `  goal >= 5,000 single-row predictions/s with p99 < 20 ms (distinct rows, 1 worker): ${met ? 'met' : 'NOT met'} ` +
        `(${fmt(one.single.rps)}/s, p99 ${ms(one.single.p99)})`,
    );
  } finally {
    for (const s of servers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
