/**
 * Runs sweep jobs on this machine: on a piscina pool of worker threads (one
 * per core by default; the TensorFlow.js wasm backend is single-threaded, so
 * threads are what spreads training over cores), or sequentially in this
 * thread. Both call the same `executeJob` -> `runSweepJob`, and a job's result
 * does not depend on where it ran.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { ConfigError } from '../core/errors.js';
import { createThreadPool, defaultThreads } from '../models/thread-pool.js';
import type { SweepJob, SweepRunPlan } from './jobs.js';
import { executeJob, type JobOutcome, type JobTaskOptions, type PoolTask } from './pool-worker.js';
import type { RunResult } from './reduce.js';
import type { JobResult } from './run-job.js';

export type JobRunOptions = JobTaskOptions;

export const defaultWorkers = defaultThreads;

/** The pool's task module, beside this file (.ts from the sources, .js in the package). */
function taskModule(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `pool-worker${path.extname(here)}`);
}

/** A pool of `threads` worker threads running sweep jobs. */
export class JobPool {
  private readonly pool: Piscina<PoolTask, JobOutcome | RunResult>;

  constructor(
    readonly threads: number,
    private readonly options: JobRunOptions = {},
  ) {
    this.pool = createThreadPool<PoolTask, JobOutcome | RunResult>(taskModule(), threads);
  }

  run(job: SweepJob): Promise<JobOutcome> {
    return this.pool.run({ kind: 'job', job, options: this.options }) as Promise<JobOutcome>;
  }

  /** Assembles a walk-forward run from its windows' results on a pool thread. */
  reduce(run: SweepRunPlan, results: ReadonlyMap<string, JobResult>): Promise<RunResult> {
    const own = run.jobIds.map((id) => results.get(id)).filter((r): r is JobResult => r !== undefined);
    return this.pool.run({
      kind: 'reduce',
      run,
      results: own,
      dataDirs: this.options.dataDirs ?? [],
    }) as Promise<RunResult>;
  }

  /** Waits for running jobs, then stops the threads. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Stops the threads now; running jobs fail. */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

export interface LocalRunOptions extends JobRunOptions {
  /** Worker threads (default: the machine's cores). */
  readonly workers?: number;
  /** Run in this thread, one job after another. */
  readonly sequential?: boolean;
  /** Called after each job, in completion order. */
  readonly onDone?: (outcome: JobOutcome) => void;
  /** Run on this pool (left open) instead of a new one. */
  readonly pool?: JobPool;
}

/** Runs every job (sequentially or on a pool) and returns the outcomes keyed by job id. */
export async function runJobsLocally(
  jobs: readonly SweepJob[],
  options: LocalRunOptions = {},
): Promise<Map<string, JobOutcome>> {
  const { workers, sequential, onDone, pool: given, ...jobOptions } = options;
  const out = new Map<string, JobOutcome>();
  if (sequential === true) {
    for (const job of jobs) {
      const outcome = await executeJob(job, jobOptions);
      out.set(job.id, outcome);
      onDone?.(outcome);
    }
    return out;
  }
  const pool = given ?? new JobPool(Math.min(workers ?? defaultWorkers(), Math.max(1, jobs.length)), jobOptions);
  try {
    await Promise.all(
      jobs.map(async (job) => {
        const outcome = await pool.run(job);
        out.set(job.id, outcome);
        onDone?.(outcome);
      }),
    );
  } catch (err) {
    if (given === undefined) await pool.destroy().catch(() => {});
    throw err;
  }
  if (given === undefined) await pool.close();
  return out;
}
