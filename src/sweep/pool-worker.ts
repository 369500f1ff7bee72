/**
 * The tasks of the local thread pool (piscina) and of the queue worker's
 * threads: one sweep job through `runSweepJob`, timed; or the reduce of one
 * walk-forward run (so a pool spreads the trading simulations too).
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { loadTf } from '../models/tf-backend.js';
import { loadDataRef } from './data-source.js';
import type { SweepJob, SweepRunPlan } from './jobs.js';
import { assembleRun, type RunResult } from './reduce.js';
import { type JobResult, type RunJobOptions, runSweepJob } from './run-job.js';

// A pool thread starts TensorFlow.js as soon as it starts, while the sweep is still being planned.
if (!isMainThread) loadTf().catch(() => {});

export type JobTaskOptions = Omit<RunJobOptions, 'onModel'>;

export type PoolTask =
  | { readonly kind: 'job'; readonly job: SweepJob; readonly options: JobTaskOptions }
  | {
      readonly kind: 'reduce';
      readonly run: SweepRunPlan;
      readonly results: readonly JobResult[];
      readonly dataDirs: readonly string[];
    };

export interface JobOutcome {
  readonly result: JobResult;
  /** Wall-clock seconds the job took (not part of the result: it differs run to run). */
  readonly seconds: number;
  /** Where the job ran, e.g. 'pid 123 thread 2'. */
  readonly worker: string;
  /** The registry entry of the window's model (with a registry). */
  readonly model?: { readonly ref: string; readonly existing: boolean };
}

/** Runs one job and times it; the one place executors call `runSweepJob` from. */
export async function executeJob(job: SweepJob, options: JobTaskOptions = {}): Promise<JobOutcome> {
  const t0 = performance.now();
  let model: JobOutcome['model'];
  const result = await runSweepJob(job, { ...options, onModel: (m) => (model = m) });
  return {
    result,
    seconds: (performance.now() - t0) / 1000,
    worker: `pid ${process.pid} thread ${threadId}`,
    ...(model !== undefined ? { model } : {}),
  };
}

/** Assembles one run from its windows' results (see reduce.ts). */
export async function executeReduce(
  run: SweepRunPlan,
  results: ReadonlyMap<string, JobResult>,
  dataDirs: readonly string[] = [],
): Promise<RunResult> {
  const candles = await loadDataRef(run.data, dataDirs);
  return assembleRun(run, results, candles);
}

export default function runTask(task: PoolTask): Promise<JobOutcome | RunResult> {
  if (task.kind === 'reduce') {
    return executeReduce(task.run, new Map(task.results.map((r) => [r.jobId, r])), task.dataDirs);
  }
  return executeJob(task.job, task.options);
}
