/**
 * The Redis queue with real processes: a private redis-server (127.0.0.1, a
 * free port, no persistence) and `quantflow worker` children. One worker is
 * SIGKILLed in the middle of a job: its job is taken over by the other worker
 * after the lock expires, and every job ends up exactly once in the results,
 * which equal a local run's. Enqueueing the same sweep again does no work; a
 * SIGTERM lets a running job finish; a job that keeps failing is retried and
 * then reported. Skipped, saying so, when redis-server is not installed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/index.js';
import { parseGrid } from '../../src/sweep/grid.js';
import { jobId, planSweep } from '../../src/sweep/jobs.js';
import { openRedis, queueKeys, readLog, runJobsOnQueue } from '../../src/sweep/queue.js';
import { jobModelName } from '../../src/sweep/run-job.js';
import { runSweep, type SweepResult } from '../../src/sweep/sweep.js';
import {
  CLI,
  findRedisServer,
  REPO,
  type RedisServer,
  startRedis,
  stopChild,
  syntheticFiles,
  tempDir,
  waitFor,
} from './helpers.js';

const redisBinary = findRedisServer();
if (redisBinary === undefined) {
  console.warn(
    'skipping the queue tests: redis-server not found (install it, e.g. apt-get install -y redis-server, or set REDIS_SERVER)',
  );
}

// Jobs of about a second each, so a worker can be killed in the middle of one.
const GRID = {
  seed: 11,
  fixed: {
    trainWindow: 600,
    testWindow: 500,
    layers: [32, 16],
    epochs: 100,
    batchSize: 32,
    patience: 0,
    threshold: 0.1,
  },
};
const FAST = ['--lock-duration', '2000', '--stalled-interval', '1000'];

interface WorkerProcess {
  readonly child: ChildProcess;
  /** 'host:pid', as the worker logs itself. */
  readonly name: string;
  stderr(): string;
}

describe.skipIf(redisBinary === undefined)('sweep on the Redis queue', () => {
  const tmp = tempDir('qf-sweep-queue-');
  let redis: RedisServer;
  let client: Redis;
  let files: string[];
  const workers: WorkerProcess[] = [];

  async function startWorker(prefix: string, extra: string[] = []): Promise<WorkerProcess> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'worker', '--queue', redis.url, '--prefix', prefix, ...FAST, ...extra],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CI: '1' },
      },
    );
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const name = await waitFor('worker ready', 30_000, () => {
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}: ${err}`);
      return /worker (\S+) ready/.exec(out)?.[1];
    });
    const w = { child, name, stderr: () => err };
    workers.push(w);
    return w;
  }

  const exited = (child: ChildProcess, ms: number) =>
    waitFor('worker exit', ms, () =>
      child.exitCode !== null || child.signalCode !== null ? (child.exitCode ?? child.signalCode) : undefined,
    );

  beforeAll(async () => {
    redis = await startRedis(redisBinary!);
    client = await openRedis(redis.url);
    files = await syntheticFiles(tmp);
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => stopChild(w.child, 3000)));
    await client?.quit().catch(() => {});
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  let queued: SweepResult;

  it('survives a worker killed mid-job: every job completes exactly once, as in a local run', async () => {
    const prefix = 'kill';
    const keys = queueKeys(prefix);
    const registry = path.join(tmp, 'registry');
    const [a, b] = [
      await startWorker(prefix, ['--registry', registry]),
      await startWorker(prefix, ['--registry', registry]),
    ];
    const sweep = runSweep({
      files,
      grid: parseGrid(GRID),
      executor: { kind: 'queue', url: redis.url, prefix, timeoutMs: 60_000 },
    });
    // Kill worker A as soon as it has started a job (each takes about a second).
    const killed = await waitFor(
      'a job started by worker A',
      30_000,
      async () => (await readLog(client, keys)).find((e) => e.event === 'started' && e.worker === a!.name)?.job,
      20,
    );
    a!.child.kill('SIGKILL');
    queued = await sweep;

    const ids = queued.plan.jobs.map((j) => j.id).sort();
    expect(ids.length).toBe(6);
    // The results hold one record per job id, no more, no less.
    const stored = await client.hkeys(keys.results);
    expect(stored.sort()).toEqual(ids);
    const log = await readLog(client, keys);
    for (const id of ids) {
      expect(log.filter((e) => e.job === id && e.event === 'stored')).toHaveLength(1);
    }
    // The killed job never finished on A; B started it again and stored it.
    const killedEvents = log.filter((e) => e.job === killed);
    expect(killedEvents.map((e) => `${e.event}@${e.worker}`)).toEqual([
      `started@${a!.name}`,
      `started@${b!.name}`,
      `stored@${b!.name}`,
    ]);
    expect(log.filter((e) => e.worker === a!.name && e.event !== 'started')).toEqual([]);
    // Each window model is in the shared registry once, under its job id.
    const models = await ModelRegistry.open(registry, { create: false });
    expect((await models.names()).sort()).toEqual(ids.map(jobModelName).sort());
    for (const id of ids) expect((await models.get(jobModelName(id))).versions.map((v) => v.version)).toEqual(['v1']);

    // The same results as the same sweep on the local pool.
    const local = await runSweep({ files, grid: parseGrid(GRID), executor: { kind: 'pool', workers: 2 } });
    expect(queued.runs).toStrictEqual(local.runs);
    expect(queued.configs).toStrictEqual(local.configs);
  });

  it('does no work when the same sweep is enqueued again, and stops a worker gracefully on SIGTERM', async () => {
    const prefix = 'kill';
    let info: { enqueued: number; cached: number } | undefined;
    const startsBefore = (await readLog(client, queueKeys(prefix))).filter((e) => e.event === 'started').length;
    const plan = await planSweep(files, parseGrid(GRID));
    const results = await runJobsOnQueue(plan.jobs, {
      url: redis.url,
      prefix,
      timeoutMs: 10_000,
      onEnqueued: (i) => (info = i),
    });
    expect(info).toEqual({ enqueued: 0, cached: 6 });
    expect(results.size).toBe(6);
    const log = await readLog(client, queueKeys(prefix));
    expect(log.filter((e) => e.event === 'started')).toHaveLength(startsBefore); // no job ran again
    const b = workers[1]!;
    b.child.kill('SIGTERM');
    expect(await exited(b.child, 15_000)).toBe(0);
    expect(b.stderr()).toMatch(/SIGTERM: finishing running jobs/);
    expect(b.stderr()).toMatch(/stopped: \d+ completed, 0 failed/);
  });

  it('lets the running job finish on SIGTERM before the worker exits', async () => {
    const prefix = 'term';
    const keys = queueKeys(prefix);
    const c = await startWorker(prefix);
    const plan = await planSweep([files[0]!], parseGrid({ ...GRID, seed: 12 }));
    const run = runJobsOnQueue(plan.jobs, { url: redis.url, prefix, timeoutMs: 60_000 });
    const started = await waitFor(
      'a job started by worker C',
      30_000,
      async () => (await readLog(client, keys)).find((e) => e.event === 'started')?.job,
      20,
    );
    c.child.kill('SIGTERM');
    expect(await exited(c.child, 30_000)).toBe(0);
    const log = await readLog(client, keys);
    expect(log.filter((e) => e.job === started).map((e) => e.event)).toEqual(['started', 'stored']);
    expect(log.filter((e) => e.event === 'started')).toHaveLength(1); // took no new job after the signal
    // Another worker finishes the rest.
    await startWorker(prefix);
    const results = await run;
    expect(results.size).toBe(plan.jobs.length);
  });

  it('retries a failing job, then reports it with the reason', async () => {
    const prefix = 'fail';
    await startWorker(prefix);
    const plan = await planSweep([files[0]!], parseGrid(GRID));
    const { id: _id, ...content } = plan.jobs[0]!;
    const broken = { ...content, data: { ...content.data, file: `${tmp}/gone.csv`, sha256: 'f'.repeat(64) } };
    const job = { ...broken, id: jobId(broken) };
    await expect(
      runJobsOnQueue([job], { url: redis.url, prefix, attempts: 2, backoffMs: 100, timeoutMs: 30_000 }),
    ).rejects.toThrow(/1 job\(s\) failed after 2 attempts.*data file with sha256 ffffffffffff… not found/);
  });
});
