// Entry of QuantFlow's worker threads when it runs from its TypeScript sources
// (tsx, vitest): Node 20 does not apply `--import tsx` to worker threads, so
// the TypeScript loader is registered here before the task module loads.
// Built packages point their pools at the task's .js module and never load this.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const task = await import(workerData.quantflowTask);
export default task.default;
