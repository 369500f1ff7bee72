/**
 * `quantflow sweep`: walk-forward ML runs over data files x a parameter grid,
 * trained in parallel (local worker threads, or workers on other machines
 * through a Redis queue), ranked by an out-of-sample metric with its spread
 * across windows and symbols; writes results.json, results.csv, report.html.
 *
 *   quantflow sweep --data FILES... --grid PARAMS.json [--workers N | --sequential]
 *     [--queue redis://HOST:PORT [--prefix P] [--timeout S] [--attempts N]]
 *     [--registry DIR] [--data-dir DIR...] [--out DIR] [--top N]
 *
 * `quantflow worker`: takes sweep jobs from the queue until SIGTERM/SIGINT
 * (running jobs finish, or are handed back after --shutdown-timeout).
 *
 *   quantflow worker --queue redis://HOST:PORT [--concurrency N] [--registry DIR] [--data-dir DIR...] [--prefix P]
 */
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { defaultWorkers } from '../../sweep/local-pool.js';
import { DEFAULT_PREFIX } from '../../sweep/queue.js';
import { startQueueWorker } from '../../sweep/queue-worker.js';
import { renderSweepConsole, writeSweepReports } from '../../sweep/report.js';
import { loadGridFile, runSweep, type SweepExecutor } from '../../sweep/sweep.js';
import { action } from '../action.js';
import { createProgress, type Progress } from '../progress.js';

interface SweepCliOptions {
  data: string[];
  grid: string;
  workers?: number;
  sequential?: boolean;
  queue?: string;
  prefix: string;
  timeout?: number;
  attempts: number;
  registry?: string;
  dataDir?: string[];
  out: string;
  top: number;
}

interface WorkerCliOptions {
  queue: string;
  concurrency: number;
  registry?: string;
  dataDir?: string[];
  prefix: string;
  lockDuration: number;
  stalledInterval: number;
  shutdownTimeout: number;
}

function integerOption(name: string, min: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min) {
      throw new InvalidArgumentError(`--${name} expects an integer >= ${min}, got '${value}'`);
    }
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('sweep')
    .description(
      'walk-forward ML runs over data files x a parameter grid, in parallel; ranks configurations by out-of-sample results and their spread',
    )
    .requiredOption('--data <files...>', 'candle files (CSV or ccxt JSON), one symbol each')
    .requiredOption(
      '--grid <file>',
      'grid file (JSON): {"fixed": {...}, "grid": {"param": [values]}, "seed", "rankBy", "data"}',
    )
    .option(
      '--workers <n>',
      `worker threads of the local pool (default: cores, ${defaultWorkers()} here)`,
      integerOption('workers', 1),
    )
    .option('--sequential', 'run the jobs one after another in this thread (same results, slower)')
    .option(
      '--queue <url>',
      'enqueue the jobs on this Redis (redis://HOST:PORT) for `quantflow worker`s and gather the results',
    )
    .option('--prefix <prefix>', 'queue: Redis key prefix', DEFAULT_PREFIX)
    .option('--timeout <seconds>', 'queue: give up waiting after this long', integerOption('timeout', 1))
    .option('--attempts <n>', 'queue: tries per job before it fails', integerOption('attempts', 1), 3)
    .option('--registry <dir>', 'store every window model in this registry as sweep-<job id> (local runs)')
    .option('--data-dir <dirs...>', 'also look for the data files here, by content hash')
    .option('--out <dir>', 'output directory', path.join('reports', 'sweep'))
    .option('--top <n>', 'configurations printed', integerOption('top', 1), 15)
    .action(action(runSweepCommand));

  program
    .command('worker')
    .description('run sweep jobs from a Redis queue (any number of workers, on any machines) until SIGTERM')
    .requiredOption('--queue <url>', 'Redis of the queue (redis://HOST:PORT)')
    .option('--concurrency <n>', 'jobs at once, each on its own thread', integerOption('concurrency', 1), 1)
    .option('--registry <dir>', 'store every window model in this (shared) registry as sweep-<job id>')
    .option('--data-dir <dirs...>', 'look for data files here by content hash when their path differs on this machine')
    .option('--prefix <prefix>', 'Redis key prefix', DEFAULT_PREFIX)
    .option(
      '--lock-duration <ms>',
      "a job's lock lifetime: a dead worker's job is taken over after about this",
      integerOption('lock-duration', 500),
      30_000,
    )
    .option(
      '--stalled-interval <ms>',
      'how often stalled jobs are looked for',
      integerOption('stalled-interval', 200),
      30_000,
    )
    .option(
      '--shutdown-timeout <seconds>',
      'on SIGTERM, wait this long for running jobs, then hand them back to the queue',
      integerOption('shutdown-timeout', 0),
      60,
    )
    .action(action(runWorkerCommand));
}

async function runSweepCommand(opts: SweepCliOptions): Promise<void> {
  if (opts.queue !== undefined && (opts.workers !== undefined || opts.sequential === true)) {
    throw new ConfigError(
      '--workers and --sequential are for local runs; with --queue the workers are `quantflow worker`s',
      {
        field: 'queue',
      },
    );
  }
  if (opts.queue !== undefined && opts.registry !== undefined) {
    throw new ConfigError('with --queue, give --registry to each `quantflow worker` (they train the models)', {
      field: 'registry',
    });
  }
  if (opts.workers !== undefined && opts.sequential === true) {
    throw new ConfigError('give either --workers N or --sequential', { field: 'workers' });
  }
  const grid = loadGridFile(opts.grid);
  const executor: SweepExecutor =
    opts.queue !== undefined
      ? {
          kind: 'queue',
          url: opts.queue,
          prefix: opts.prefix,
          attempts: opts.attempts,
          ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
        }
      : opts.sequential === true
        ? { kind: 'sequential' }
        : { kind: 'pool', workers: opts.workers ?? defaultWorkers() };
  let progress: Progress | undefined;
  let result: Awaited<ReturnType<typeof runSweep>>;
  try {
    result = await runSweep({
      files: opts.data,
      grid,
      executor,
      ...(opts.registry !== undefined ? { registry: path.resolve(opts.registry) } : {}),
      ...(opts.dataDir !== undefined ? { dataDirs: opts.dataDir.map((d) => path.resolve(d)) } : {}),
      onPlan: (plan) => {
        process.stderr.write(
          `planned ${plan.jobs.length} training jobs for ${plan.runs.length} runs (${grid.paramSets.length} configurations x ${plan.data.length} files)\n`,
        );
        progress = createProgress('sweep jobs', plan.jobs.length);
      },
      onProgress: (done) => progress?.update(done),
    });
  } finally {
    progress?.stop();
  }
  const written = writeSweepReports(result, opts.out);
  process.stdout.write(`${renderSweepConsole(result, opts.top)}\n`);
  process.stdout.write(`wrote ${written.json}, ${written.csv} and ${written.html}\n`);
}

async function runWorkerCommand(opts: WorkerCliOptions): Promise<void> {
  const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const handle = await startQueueWorker({
    url: opts.queue,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDuration,
    stalledInterval: opts.stalledInterval,
    ...(opts.registry !== undefined ? { registry: path.resolve(opts.registry) } : {}),
    ...(opts.dataDir !== undefined ? { dataDirs: opts.dataDir.map((d) => path.resolve(d)) } : {}),
    log: say,
  });
  process.stdout.write(
    `worker ${handle.name} ready: queue ${opts.queue} (prefix ${opts.prefix}), concurrency ${opts.concurrency}` +
      `${opts.registry !== undefined ? `, registry ${path.resolve(opts.registry)}` : ''}\n`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        say(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      say(`${signal}: finishing running jobs (up to ${opts.shutdownTimeout} s), then exiting`);
      handle.close(opts.shutdownTimeout * 1000).then(
        (s) => {
          say(`stopped: ${s.completed} completed, ${s.failed} failed, ${s.duplicates} duplicate results ignored`);
          resolve();
        },
        (err: unknown) => {
          say(`stop failed: ${String(err)}`);
          resolve();
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
