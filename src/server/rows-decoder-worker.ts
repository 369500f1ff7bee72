/** The task of the rows decoder's worker threads (rows-decoder.ts). */
import { type DecodeResult, decodeRowsBody } from './rows-decoder.js';

export default function decode(task: { bytes: Uint8Array; maxBatch: number }): DecodeResult {
  return decodeRowsBody(task.bytes, task.maxBatch);
}
