/**
 * Big `rows` batches decoded off the event loop. Parsing a 1 MB body and
 * turning 2,000 x 21 JSON numbers into a Float32Array takes the main thread
 * several milliseconds and leaves megabytes of garbage for its collector; on
 * a worker thread it costs the main thread two copies outside its heap: the
 * body's bytes to the thread and the Float32Array back.
 *
 * `decodeRowsBody` does only the well-formed case: a JSON object whose `rows`
 * is 1 to maxBatch arrays of one width (at most MAX_FEATURES), every value a
 * finite float32-range number. Any other body (candles, a malformed batch) is
 * answered 'other' and parsed again on the main thread, for the request
 * schema and the route to accept or refuse with their usual messages, so
 * there is one set of rules and of error messages.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ApiErrorBody } from './api-errors.js';
import { ApiError } from './api-errors.js';
import { FLOAT32_MAX } from './feature-rows.js';
import { parseJsonBody } from './json-body.js';

/** Longest feature row accepted by the request schema (a bound, not a model's width). */
export const MAX_FEATURES = 4096;

/** Where a decoded batch rides on the request body: a symbol key, invisible to the schema and to JSON. */
export const DECODED_ROWS = Symbol('decoded rows');

export interface DecodedRows {
  /** Row-major, count x width. */
  readonly data: Float32Array;
  readonly count: number;
  readonly width: number;
}

export type DecodeResult =
  | { readonly kind: 'rows'; readonly rest: Record<string, unknown>; readonly rows: DecodedRows }
  | { readonly kind: 'other' }
  | { readonly kind: 'refused'; readonly status: number; readonly error: ApiErrorBody };

/** Parses a UTF-8 body; a well-formed rows batch comes back as a Float32Array. */
export function decodeRowsBody(bytes: Uint8Array, maxBatch: number): DecodeResult {
  let body: unknown;
  try {
    body = parseJsonBody(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    if (err instanceof ApiError) return { kind: 'refused', status: err.status, error: err.body() };
    throw err;
  }
  const rows = (body as { rows?: unknown } | null)?.rows;
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !Array.isArray(rows)) {
    return { kind: 'other' };
  }
  const count = rows.length;
  const first = rows[0];
  if (count === 0 || count > maxBatch || !Array.isArray(first) || first.length > MAX_FEATURES) {
    return { kind: 'other' };
  }
  const width = first.length;
  const data = new Float32Array(count * width);
  for (let i = 0; i < count; i++) {
    const row = rows[i];
    if (!Array.isArray(row) || row.length !== width) return { kind: 'other' };
    const base = i * width;
    for (let j = 0; j < width; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !(v <= FLOAT32_MAX && v >= -FLOAT32_MAX)) return { kind: 'other' };
      data[base + j] = v;
    }
  }
  const { rows: _rows, ...rest } = body as Record<string, unknown>;
  return { kind: 'rows', rest, rows: { data, count, width } };
}

/**
 * The worker file. From TypeScript sources (tsx, vitest) a plain-JS entry
 * registers tsx in the thread first (as the sweep pool does).
 */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), here.endsWith('.ts') ? 'rows-decoder-tsx.mjs' : 'rows-decoder-worker.js');
}

/** A small pool of decoder threads, started on first use. */
export class RowsDecoder {
  private pool: Piscina<{ bytes: Uint8Array; maxBatch: number }, DecodeResult> | undefined;

  constructor(private readonly maxBatch: number) {}

  /** Decodes `bytes` on a thread (they are copied there: off the heap, and the caller may still need them). */
  decode(bytes: Buffer): Promise<DecodeResult> {
    this.pool ??= new Piscina({
      filename: workerEntry(),
      execArgv: [],
      minThreads: 1,
      maxThreads: Math.max(1, availableParallelism() - 1),
      idleTimeout: 60_000,
    });
    return this.pool.run({ bytes, maxBatch: this.maxBatch });
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }
}
