/** Parameter sweeps of walk-forward ML runs: job model, executors (thread pool, Redis queue), reduce, reports. */
export * from './data-source.js';
export * from './grid.js';
export * from './jobs.js';
export * from './local-pool.js';
export { executeJob, executeReduce, type JobOutcome, type PoolTask } from './pool-worker.js';
export * from './queue.js';
export * from './queue-worker.js';
export * from './reduce.js';
export * from './report.js';
export * from './run-job.js';
export * from './summary.js';
export * from './sweep.js';
