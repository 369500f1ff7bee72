// Entry of the pool's worker threads when QuantFlow runs from its TypeScript
// sources (tsx, vitest): Node 20 does not apply `--import tsx` to worker
// threads, so the TypeScript loader is registered here before the task loads.
// Built packages use pool-worker.js directly and never load this file.
import { register } from 'tsx/esm/api';

register();
const task = await import('./pool-worker.ts');
export default task.default;
