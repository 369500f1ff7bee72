/**
 * A queue worker: takes sweep jobs from the BullMQ queue and runs them on a
 * pool of `concurrency` worker threads (so the event loop stays free to renew
 * job locks while models train), storing each result under its job id.
 *
 * Failure handling is BullMQ's: a job that throws is retried (attempts with
 * exponential back-off, set by the coordinator); a worker that dies mid-job
 * stops renewing its lock, and after `lockDuration` another worker's stalled
 * check puts the job back in the queue, where any worker picks it up.
 *
 * `close()` is the graceful stop (SIGTERM): no new jobs, running ones finish;
 * after `timeoutMs` the running jobs are released (moved back to waiting) for
 * other workers instead.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { describeError } from '../core/errors.js';
import type { SweepJob } from './jobs.js';
import { verifyJob } from './jobs.js';
import { JobPool, type JobRunOptions } from './local-pool.js';
import {
  connectionOptions,
  logEvent,
  openRedis,
  QUEUE_NAME,
  type QueueKeys,
  type QueueTarget,
  queueKeys,
  storeResult,
  workerName,
} from './queue.js';

export interface QueueWorkerOptions extends QueueTarget, JobRunOptions {
  /** Jobs run at once, each on its own thread (default 1). */
  readonly concurrency?: number;
  /** How long a job's lock lives without renewal (default 30 s): a dead worker's job is retaken after about this. */
  readonly lockDuration?: number;
  /** How often stalled jobs are looked for (default 30 s). */
  readonly stalledInterval?: number;
  /** Times a job may stall before it fails (default 2). */
  readonly maxStalledCount?: number;
  /** One line per event (started, done, failed, stopping). */
  readonly log?: (line: string) => void;
}

export interface WorkerSummary {
  readonly completed: number;
  readonly failed: number;
  readonly stored: number;
  readonly duplicates: number;
}

export interface QueueWorkerHandle {
  readonly name: string;
  /** Stops taking jobs; waits for running ones up to `timeoutMs`, then releases them to other workers. */
  close(timeoutMs?: number): Promise<WorkerSummary>;
  summary(): WorkerSummary;
}

interface Active {
  readonly job: Job<SweepJob>;
  readonly token: string | undefined;
}

export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorkerHandle> {
  const keys: QueueKeys = queueKeys(options.prefix);
  const name = workerName();
  const log = options.log ?? (() => {});
  const concurrency = options.concurrency ?? 1;
  const client = await openRedis(options.url);
  const pool = new JobPool(concurrency, {
    ...(options.registry !== undefined ? { registry: options.registry } : {}),
    ...(options.dataDirs !== undefined ? { dataDirs: options.dataDirs } : {}),
  });
  const active = new Map<string, Active>();
  const counts = { completed: 0, failed: 0, stored: 0, duplicates: 0 };

  const processor = async (job: Job<SweepJob>, token?: string) => {
    const data = job.data;
    try {
      verifyJob(data);
    } catch (err) {
      throw new UnrecoverableError(describeError(err));
    }
    const key = job.id ?? data.id;
    active.set(key, { job, token });
    try {
      await logEvent(client, keys, { event: 'started', job: data.id, worker: name, attempt: job.attemptsStarted });
      log(
        `start ${data.id.slice(0, 12)} ${data.data.symbol} window ${data.window}/${data.windows} (attempt ${job.attemptsStarted})`,
      );
      const outcome = await pool.run(data);
      const stored = await storeResult(client, keys, outcome.result, name, job.attemptsStarted);
      if (stored) counts.stored++;
      else counts.duplicates++;
      log(
        `done  ${data.id.slice(0, 12)} in ${outcome.seconds.toFixed(1)} s${stored ? '' : ' (result already stored by another run: ignored)'}` +
          (outcome.model !== undefined
            ? ` model ${outcome.model.ref}${outcome.model.existing ? ' (already registered)' : ''}`
            : ''),
      );
      return { stored, seconds: outcome.seconds, worker: name };
    } finally {
      active.delete(key);
    }
  };

  const worker = new Worker<SweepJob>(QUEUE_NAME, processor, {
    connection: connectionOptions(options.url),
    prefix: keys.prefix,
    concurrency,
    lockDuration: options.lockDuration ?? 30_000,
    stalledInterval: options.stalledInterval ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 2,
  });
  worker.on('completed', () => {
    counts.completed++;
  });
  worker.on('failed', (job, err) => {
    counts.failed++;
    log(`fail  ${job?.id?.slice(0, 12) ?? '?'}: ${describeError(err)}`);
  });
  worker.on('error', (err) => log(`error ${describeError(err)}`));
  await worker.waitUntilReady();

  let closing: Promise<WorkerSummary> | undefined;
  return {
    name,
    summary: () => ({ ...counts }),
    close(timeoutMs = 60_000) {
      closing ??= (async () => {
        log(`stopping: ${active.size} job(s) running, no new ones taken`);
        const graceful = worker.close().then(() => true);
        const timer = new Promise<false>((r) => setTimeout(() => r(false), timeoutMs).unref());
        const finished = await Promise.race([graceful, timer]);
        if (!finished) {
          for (const { job, token } of active.values()) {
            log(`release ${job.id?.slice(0, 12)} back to the queue`);
            await job.moveToWait(token).catch((err: unknown) => log(`release failed: ${describeError(err)}`));
          }
          await worker.close(true).catch(() => {});
          await pool.destroy().catch(() => {});
        } else {
          await pool.close();
        }
        await client.quit().catch(() => {});
        return { ...counts };
      })();
      return closing;
    },
  };
}
