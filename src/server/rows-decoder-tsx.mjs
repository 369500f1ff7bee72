// Entry of the rows decoder's worker threads when QuantFlow runs from its
// TypeScript sources (tsx, vitest): Node 20 does not apply `--import tsx` to
// worker threads, so the TypeScript loader is registered here first.
// Built packages use rows-decoder-worker.js directly and never load this file.
import { register } from 'tsx/esm/api';

register();
const task = await import('./rows-decoder-worker.ts');
export default task.default;
