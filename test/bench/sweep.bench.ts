/**
 * Speed of `quantflow sweep`: the same sweep over the shared BTC/USDT and
 * ETH/USDT 1h files (a small grid: 2 horizons x 2 networks x 2 thresholds,
 * walk-forward windows of 4000/2000 rows over the last 20,000 candles of each) run
 * sequentially in one thread, then on the local pool (one worker thread per
 * core). Prints both times, the ratio (goal >= 1.8x on 2 cores) and checks
 * the results are identical (best of 2 passes each). Then the queue: two `quantflow worker` processes
 * against a private redis-server on 127.0.0.1, jobs per second (skipped,
 * saying so, when redis-server is absent).
 * The machine is shared: the load average is printed before and after.
 * Run: npx tsx test/bench/sweep.bench.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseGrid } from '../../src/sweep/grid.js';
import { defaultWorkers } from '../../src/sweep/local-pool.js';
import { runSweep, type SweepResult } from '../../src/sweep/sweep.js';
import { sharedDataFile } from '../helpers/shared-data.js';
import { CLI, findRedisServer, REPO, startRedis, stopChild, waitFor } from '../sweep/helpers.js';

const FILES = ['binance_BTC-USDT_1h.csv', 'binance_ETH-USDT_1h.csv'];
const GRID = {
  seed: 42,
  data: { lastCandles: 20_000 },
  fixed: { trainWindow: 4000, testWindow: 2000, epochs: 30, batchSize: 256, patience: 0 },
  grid: {
    horizon: [1, 4],
    layers: [
      [32, 16],
      [64, 32],
    ],
    threshold: [0.2, 0.4],
  },
};
const GOAL = 1.8;
const PASSES = 2;

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

const same = (a: SweepResult, b: SweepResult) =>
  JSON.stringify({ runs: a.runs, configs: a.configs }) === JSON.stringify({ runs: b.runs, configs: b.configs });

const wall = (r: SweepResult) => r.timings.planSeconds + r.timings.jobSeconds + r.timings.reduceSeconds;

async function queueThroughput(files: string[], local: SweepResult): Promise<void> {
  const binary = findRedisServer();
  if (binary === undefined) {
    console.log('  queue: skipped (redis-server not found; apt-get install -y redis-server)');
    return;
  }
  const redis = await startRedis(binary);
  const workers: ChildProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', CLI, 'worker', '--queue', redis.url, '--prefix', 'bench'],
        {
          cwd: REPO,
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, CI: '1' },
        },
      );
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      workers.push(child);
      await waitFor('worker ready', 60_000, () => (out.includes(' ready:') ? true : undefined));
    }
    const t0 = performance.now();
    const queued = await runSweep({
      files,
      grid: parseGrid(GRID),
      executor: { kind: 'queue', url: redis.url, prefix: 'bench', timeoutMs: 600_000 },
    });
    const seconds = (performance.now() - t0) / 1000;
    const jobs = queued.plan.jobs.length;
    console.log(
      `  queue, 2 worker processes (concurrency 1 each) on ${redis.url}: ${jobs} jobs in ${queued.timings.jobSeconds.toFixed(1)} s = ` +
        `${(jobs / queued.timings.jobSeconds).toFixed(2)} jobs/s (whole sweep ${seconds.toFixed(1)} s); ` +
        `local pool: ${(jobs / local.timings.jobSeconds).toFixed(2)} jobs/s; results identical to the local run: ${same(queued, local) ? 'yes' : 'NO'}`,
    );
  } finally {
    await Promise.all(workers.map((w) => stopChild(w, 10_000)));
    await redis.stop();
  }
}

export async function run(): Promise<void> {
  const files = FILES.map(sharedDataFile);
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    console.log(`sweep bench skipped: ${missing.join(', ')} not found (shared market data absent)`);
    return;
  }
  const grid = parseGrid(GRID);
  const workers = defaultWorkers();
  console.log(
    `sweep: ${FILES.join(' + ')} (last ${GRID.data.lastCandles.toLocaleString('en-US')} candles each), ` +
      `grid ${JSON.stringify(GRID.grid)}, ${JSON.stringify(GRID.fixed)}; ${availableParallelism()} cores; load average ${load()}`,
  );
  // Best of PASSES, alternating, so a burst of load from elsewhere on the shared machine hits both alike.
  let sequential: SweepResult | undefined;
  let pooled: SweepResult | undefined;
  for (let pass = 0; pass < PASSES; pass++) {
    const s = await runSweep({ files, grid, executor: { kind: 'sequential' } });
    if (sequential === undefined || wall(s) < wall(sequential)) sequential = s;
    const p = await runSweep({ files, grid, executor: { kind: 'pool', workers } });
    if (pooled === undefined || wall(p) < wall(pooled)) pooled = p;
    console.log(
      `  pass ${pass + 1}: sequential ${wall(s).toFixed(1)} s, pool ${wall(p).toFixed(1)} s (load average ${load()})`,
    );
  }
  if (sequential === undefined || pooled === undefined) return;
  const jobs = sequential.plan.jobs.length;
  const ratio = wall(sequential) / wall(pooled);
  console.log(
    `  ${jobs} training jobs (${sequential.runs.length} walk-forward runs, ${sequential.runs.reduce((n, r) => n + r.windows.length, 0)} windows)`,
  );
  console.log(
    `  sequential (one thread): ${wall(sequential).toFixed(1)} s (jobs ${sequential.timings.jobSeconds.toFixed(1)} s, reduce ${sequential.timings.reduceSeconds.toFixed(1)} s)`,
  );
  console.log(
    `  local pool (${workers} worker threads): ${wall(pooled).toFixed(1)} s (jobs ${pooled.timings.jobSeconds.toFixed(1)} s, reduce ${pooled.timings.reduceSeconds.toFixed(1)} s)`,
  );
  console.log(
    `  speed-up of the pool: ${ratio.toFixed(2)}x whole sweep, ${(sequential.timings.jobSeconds / pooled.timings.jobSeconds).toFixed(2)}x jobs only ` +
      `(goal >= ${GOAL}x on 2 cores: ${ratio >= GOAL ? 'met' : 'NOT met'}); results identical: ${same(sequential, pooled) ? 'yes' : 'NO'}`,
  );
  await queueThroughput(files, pooled);
  console.log(`  load average after: ${load()}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
