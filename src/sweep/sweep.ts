/**
 * A whole sweep: plan (files x grid x windows -> jobs), run the jobs on an
 * executor (sequential, local thread pool, or the Redis queue), reduce each
 * (file, parameter set) into a walk-forward run, rank the configurations.
 * The executor changes how fast it goes, never the results.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, QuantflowError } from '../core/errors.js';
import { parseGrid, type SweepGrid } from './grid.js';
import { planSweep, type SweepPlan, type SweepRunPlan } from './jobs.js';
import { defaultWorkers, JobPool, runJobsLocally } from './local-pool.js';
import { executeReduce, type JobOutcome } from './pool-worker.js';
import { parseRedisUrl, runJobsOnQueue } from './queue.js';
import type { RunResult } from './reduce.js';
import type { JobResult } from './run-job.js';
import { type ConfigSummary, rankConfigs } from './summary.js';

/**
 * Jobs and reduces on one pool: a run is reduced as soon as its last window is
 * trained, ahead of the remaining jobs, so the trading simulations overlap the
 * training instead of waiting for all of it. Jobs are handed out one per free
 * thread (plan order), so a ready reduce never queues behind every job.
 * Returns the runs in plan order; `onJob` is told of each job as it finishes.
 */
async function runOnPool(pool: JobPool, plan: SweepPlan, onJob: (o: JobOutcome) => void): Promise<RunResult[]> {
  const results = new Map<string, JobResult>();
  const waiting = new Map<string, number>(plan.runs.map((r) => [r.id, new Set(r.jobIds).size]));
  const runsOf = new Map<string, SweepRunPlan[]>();
  for (const run of plan.runs) {
    for (const id of new Set(run.jobIds)) {
      let list = runsOf.get(id);
      if (list === undefined) {
        list = [];
        runsOf.set(id, list);
      }
      list.push(run);
    }
  }
  const jobs = [...plan.jobs];
  const ready: SweepRunPlan[] = [];
  const reduced = new Map<string, RunResult>();
  let busy = 0;
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      failed = true;
      reject(err);
    };
    const pump = () => {
      if (failed) return;
      while (busy < pool.threads && (ready.length > 0 || jobs.length > 0)) {
        busy++;
        const run = ready.shift();
        if (run !== undefined) {
          pool.reduce(run, results).then((r) => {
            reduced.set(run.id, r);
            busy--;
            pump();
          }, fail);
          continue;
        }
        const job = jobs.shift()!;
        pool.run(job).then((o) => {
          results.set(o.result.jobId, o.result);
          onJob(o);
          for (const r of runsOf.get(job.id) ?? []) {
            const left = waiting.get(r.id)! - 1;
            waiting.set(r.id, left);
            if (left === 0) ready.push(r);
          }
          busy--;
          pump();
        }, fail);
      }
      if (busy === 0 && jobs.length === 0 && ready.length === 0) resolve();
    };
    pump();
  });
  return plan.runs.map((r) => reduced.get(r.id)!);
}

/** Reads and validates a grid file; errors name the file and the field. */
export function loadGridFile(file: string): SweepGrid {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the grid file: ${(err as Error).message}`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the grid file is not valid JSON: ${(err as Error).message}`, { file });
  }
  try {
    return parseGrid(json);
  } catch (err) {
    if (err instanceof QuantflowError) throw new ConfigError(err.message, { file: path.resolve(file) });
    throw err;
  }
}

export type SweepExecutor =
  | { readonly kind: 'sequential' }
  | { readonly kind: 'pool'; readonly workers?: number }
  | {
      readonly kind: 'queue';
      readonly url: string;
      readonly prefix?: string;
      readonly timeoutMs?: number;
      readonly attempts?: number;
      readonly backoffMs?: number;
    };

export interface SweepOptions {
  readonly files: readonly string[];
  readonly grid: SweepGrid;
  readonly executor: SweepExecutor;
  /** Registry root for the windows' models (local executors; queue workers take their own --registry). */
  readonly registry?: string;
  readonly dataDirs?: readonly string[];
  readonly onPlan?: (plan: SweepPlan) => void;
  /** Jobs done (cached ones included) of the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface JobRecord {
  readonly jobId: string;
  readonly symbol: string;
  readonly window: number;
  /** Seconds the job took where it ran (null for results found already stored). */
  readonly seconds: number | null;
  readonly worker: string | null;
  readonly model: string | null;
}

export interface SweepResult {
  readonly plan: SweepPlan;
  readonly runs: readonly RunResult[];
  readonly configs: readonly ConfigSummary[];
  /** One record per job id (where and how long, for the curious; not part of the results). */
  readonly jobs: readonly JobRecord[];
  readonly executor: string;
  readonly timings: { readonly planSeconds: number; readonly jobSeconds: number; readonly reduceSeconds: number };
}

function describeExecutor(e: SweepExecutor): string {
  if (e.kind === 'sequential') return 'sequential (this thread)';
  if (e.kind === 'pool') return `local pool of ${e.workers ?? defaultWorkers()} worker threads`;
  return `queue ${e.url}${e.prefix !== undefined ? ` (prefix ${e.prefix})` : ''}`;
}

export async function runSweep(options: SweepOptions): Promise<SweepResult> {
  const t0 = performance.now();
  const e = options.executor;
  if (e.kind === 'queue') parseRedisUrl(e.url); // a bad URL fails before any work
  const jobOptions = {
    ...(options.registry !== undefined ? { registry: options.registry } : {}),
    ...(options.dataDirs !== undefined ? { dataDirs: options.dataDirs } : {}),
  };
  // A local pool starts now, so its threads load while the sweep is planned; it runs the jobs, then the
  // reduce of each run, on the same threads (their data already loaded).
  const pool = e.kind === 'pool' ? new JobPool(e.workers ?? defaultWorkers(), jobOptions) : undefined;
  let plan: SweepPlan;
  try {
    plan = await planSweep(options.files, options.grid);
  } catch (err) {
    await pool?.destroy().catch(() => {});
    throw err;
  }
  options.onPlan?.(plan);
  const t1 = performance.now();
  const total = plan.jobs.length;
  let done = 0;
  options.onProgress?.(0, total);
  const results = new Map<string, JobResult>();
  const records = new Map<string, JobRecord>();
  const record = (r: JobResult, o: Partial<JobOutcome> | undefined) => {
    results.set(r.jobId, r);
    records.set(r.jobId, {
      jobId: r.jobId,
      symbol: r.symbol,
      window: r.window,
      seconds: o?.seconds ?? null,
      worker: o?.worker ?? null,
      model: o?.model?.ref ?? null,
    });
    options.onProgress?.(++done, total);
  };
  if (e.kind === 'queue') {
    await runJobsOnQueue(plan.jobs, {
      url: e.url,
      ...(e.prefix !== undefined ? { prefix: e.prefix } : {}),
      ...(e.timeoutMs !== undefined ? { timeoutMs: e.timeoutMs } : {}),
      ...(e.attempts !== undefined ? { attempts: e.attempts } : {}),
      ...(e.backoffMs !== undefined ? { backoffMs: e.backoffMs } : {}),
      onResult: (r, cached) => record(r, cached ? undefined : { worker: 'queue' }),
    });
  }
  let t2 = performance.now();
  let runs: RunResult[] = [];
  try {
    if (pool !== undefined) {
      let lastJob = performance.now();
      runs = await runOnPool(pool, plan, (o) => {
        record(o.result, o);
        lastJob = performance.now();
      });
      // Reduces overlap the training: what is left after the last job counts as reduce time.
      t2 = lastJob;
    } else {
      if (e.kind === 'sequential') {
        await runJobsLocally(plan.jobs, { sequential: true, ...jobOptions, onDone: (o) => record(o.result, o) });
      }
      t2 = performance.now();
      for (const run of plan.runs) runs.push(await executeReduce(run, results, options.dataDirs ?? []));
    }
  } catch (err) {
    await pool?.destroy().catch(() => {});
    throw err;
  }
  await pool?.close();
  const configs = rankConfigs(plan, runs);
  const t3 = performance.now();
  return {
    plan,
    runs,
    configs,
    jobs: plan.jobs.map((j) => records.get(j.id)!),
    executor: describeExecutor(e),
    timings: { planSeconds: (t1 - t0) / 1000, jobSeconds: (t2 - t1) / 1000, reduceSeconds: (t3 - t2) / 1000 },
  };
}
