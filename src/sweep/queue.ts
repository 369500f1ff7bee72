/**
 * Sweep jobs across machines: a BullMQ queue on Redis.
 *
 * - The coordinator (`quantflow sweep --queue redis://...`) adds the jobs with
 *   their content id as BullMQ job id (adding the same job again is a no-op),
 *   then waits for their results and gathers them.
 * - Workers (`quantflow worker --queue ...`, any number, anywhere) run them
 *   (see queue-worker.ts) and store each result in one Redis hash keyed by job
 *   id with HSETNX: the first completion of a job is kept, a later one (a job
 *   re-run after its worker was presumed dead) is ignored. Every start and
 *   store is also appended to a log stream, to see who ran what.
 * - Results stay in Redis: planning the same sweep again reuses them.
 *
 * Keys (prefix default 'quantflow'): BullMQ's `<prefix>:sweep:*`, results
 * `<prefix>:sweep-results` (hash), log `<prefix>:sweep-log` (stream).
 */
import { hostname } from 'node:os';
import { type ConnectionOptions, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ConfigError, DataError } from '../core/errors.js';
import type { SweepJob } from './jobs.js';
import { type JobResult, RESULT_FORMAT } from './run-job.js';

export const QUEUE_NAME = 'sweep';
export const DEFAULT_PREFIX = 'quantflow';

export interface QueueTarget {
  /** redis://HOST:PORT[/db] */
  readonly url: string;
  /** Key prefix (default 'quantflow'): separate sweeps, users or code versions on one Redis. */
  readonly prefix?: string;
}

export interface QueueKeys {
  readonly prefix: string;
  readonly results: string;
  readonly log: string;
}

export function queueKeys(prefix = DEFAULT_PREFIX): QueueKeys {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) {
    throw new ConfigError(`prefix may hold letters, digits, '.', '_' and '-', got '${prefix}'`, { field: 'prefix' });
  }
  return { prefix, results: `${prefix}:sweep-results`, log: `${prefix}:sweep-log` };
}

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
}

/** The address in a `redis://[user:password@]HOST[:PORT][/db]` URL; a bad URL is a ConfigError. */
export function parseRedisUrl(url: string): RedisAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`not a redis URL: '${url}' (expected redis://HOST:PORT)`, { field: 'queue' });
  }
  if (u.protocol !== 'redis:') {
    throw new ConfigError(`only redis:// URLs are supported, got '${u.protocol}//'`, { field: 'queue' });
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(`bad database number in '${url}'`, { field: 'queue' });
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
    db,
  };
}

/** BullMQ connection options for `url` (workers block on Redis, so no per-request retry limit). */
export function connectionOptions(url: string): ConnectionOptions {
  return { ...parseRedisUrl(url), maxRetriesPerRequest: null };
}

/** A connected client for our own keys; fails fast (no endless retries) when Redis cannot be reached. */
export async function openRedis(url: string, timeoutMs = 5000): Promise<Redis> {
  let connected = false;
  const client = new Redis({
    ...parseRedisUrl(url),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    // Before the first connection: fail at once. After it: reconnect after a dropped connection.
    retryStrategy: (times) => (connected ? Math.min(100 * 2 ** Math.min(times, 6), 3000) : null),
  });
  client.on('error', () => {}); // surfaced by the failing command instead
  try {
    await client.connect();
    await client.ping();
    connected = true;
  } catch (err) {
    client.disconnect();
    throw new ConfigError(`cannot reach Redis at ${url}: ${(err as Error).message}`, { field: 'queue' });
  }
  return client;
}

/** Who is working: 'host:pid'. */
export function workerName(): string {
  return `${hostname()}:${process.pid}`;
}

const STORE_RESULT = `
local stored = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
local event = 'duplicate'
if stored == 1 then event = 'stored' end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'event', event, 'job', ARGV[1], 'worker', ARGV[3], 'attempt', ARGV[4])
return stored
`;

/** Stores a result under its job id unless one is there; true when this call stored it. */
export async function storeResult(
  client: Redis,
  keys: QueueKeys,
  result: JobResult,
  worker: string,
  attempt: number,
): Promise<boolean> {
  const stored = await client.eval(
    STORE_RESULT,
    2,
    keys.results,
    keys.log,
    result.jobId,
    JSON.stringify(result),
    worker,
    attempt,
  );
  return stored === 1;
}

/** Appends an event to the log stream. */
export async function logEvent(client: Redis, keys: QueueKeys, fields: Record<string, string | number>): Promise<void> {
  await client.xadd(keys.log, 'MAXLEN', '~', 100000, '*', ...Object.entries(fields).flat());
}

export interface LogEntry {
  readonly id: string;
  readonly event: string;
  readonly job: string;
  readonly worker: string;
  readonly attempt: string;
}

/** The whole log stream, oldest first. */
export async function readLog(client: Redis, keys: QueueKeys): Promise<LogEntry[]> {
  const entries = await client.xrange(keys.log, '-', '+');
  return entries.map(([id, flat]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
    return { id, event: f.event ?? '', job: f.job ?? '', worker: f.worker ?? '', attempt: f.attempt ?? '' };
  });
}

function parseResult(text: string, id: string): JobResult {
  const r = JSON.parse(text) as JobResult;
  if (r.format !== RESULT_FORMAT || r.jobId !== id)
    throw new DataError(`stored result of job ${id} is not one`, { field: id });
  return r;
}

/** Stored results of `ids` (absent ones left out). */
export async function fetchResults(
  client: Redis,
  keys: QueueKeys,
  ids: readonly string[],
): Promise<Map<string, JobResult>> {
  const out = new Map<string, JobResult>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const values = await client.hmget(keys.results, ...chunk);
    values.forEach((v, k) => {
      if (v !== null) out.set(chunk[k]!, parseResult(v, chunk[k]!));
    });
  }
  return out;
}

export interface QueueRunOptions extends QueueTarget {
  /** Tries per job before it counts as failed (default 3). */
  readonly attempts?: number;
  /** First retry delay in ms, doubled each time (default 2000). */
  readonly backoffMs?: number;
  /** How often results are polled (default 500 ms). */
  readonly pollMs?: number;
  /** Give up after this long (default: wait as long as it takes). */
  readonly timeoutMs?: number;
  /** Called once per job as its result arrives (cached results first). */
  readonly onResult?: (result: JobResult, cached: boolean) => void;
  /** Told how many jobs were enqueued and how many were already done. */
  readonly onEnqueued?: (info: { readonly enqueued: number; readonly cached: number }) => void;
}

/** Enqueues the jobs without results and waits for all results. */
export async function runJobsOnQueue(
  jobs: readonly SweepJob[],
  options: QueueRunOptions,
): Promise<Map<string, JobResult>> {
  const keys = queueKeys(options.prefix);
  const client = await openRedis(options.url);
  const queue = new Queue(QUEUE_NAME, { connection: connectionOptions(options.url), prefix: keys.prefix });
  try {
    const ids = jobs.map((j) => j.id);
    const results = await fetchResults(client, keys, ids);
    for (const r of results.values()) options.onResult?.(r, true);
    const missing = jobs.filter((j) => !results.has(j.id));
    // A job id left in a finished state by an earlier sweep (failed, or completed without a stored result)
    // would make the add a no-op: clear it so the job runs again.
    for (const job of missing) {
      const old = await queue.getJob(job.id);
      if (old === undefined || old === null) continue;
      const state = await old.getState();
      if (state === 'failed' || state === 'completed') await old.remove();
    }
    const attempts = options.attempts ?? 3;
    const backoff = options.backoffMs ?? 2000;
    for (let i = 0; i < missing.length; i += 200) {
      await queue.addBulk(
        missing.slice(i, i + 200).map((job) => ({
          name: `${job.data.symbol} w${job.window}`,
          data: job,
          opts: { jobId: job.id, attempts, backoff: { type: 'exponential', delay: backoff }, removeOnFail: false },
        })),
      );
    }
    options.onEnqueued?.({ enqueued: missing.length, cached: results.size });

    const deadline = options.timeoutMs !== undefined ? Date.now() + options.timeoutMs : Number.POSITIVE_INFINITY;
    let outstanding = missing.map((j) => j.id);
    let lastFailureCheck = 0;
    while (outstanding.length > 0) {
      const got = await fetchResults(client, keys, outstanding);
      for (const [id, r] of got) {
        results.set(id, r);
        options.onResult?.(r, false);
      }
      outstanding = outstanding.filter((id) => !got.has(id));
      if (outstanding.length === 0) break;
      if (Date.now() - lastFailureCheck > 2000) {
        lastFailureCheck = Date.now();
        const waiting = new Set(outstanding);
        const failed = (await queue.getJobs(['failed'])).filter((j) => j?.id !== undefined && waiting.has(j.id));
        const first = failed[0];
        if (first !== undefined) {
          throw new DataError(
            `${failed.length} job(s) failed after ${attempts} attempts; first: ${first.name} (${first.id}): ${first.failedReason}`,
            { field: 'queue' },
          );
        }
      }
      if (Date.now() > deadline) {
        throw new DataError(
          `timed out with ${outstanding.length} of ${jobs.length} jobs unfinished (are workers running?)`,
          {
            field: 'queue',
          },
        );
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
    return results;
  } finally {
    await queue.close().catch(() => {});
    await client.quit().catch(() => {});
  }
}
