/**
 * The candles of a sweep job, found by path or by content hash, and loaded at
 * most once per process (thread): every job names its data file by path AND
 * sha256 of the file's bytes, so a worker on another machine can keep the data
 * elsewhere (`--data-dir`), and a file that changed since the sweep was planned
 * is refused instead of silently giving other results.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DataError } from '../core/errors.js';
import type { Candle, Timeframe } from '../core/types.js';
import { loadCandles } from '../data/index.js';
import type { DataSelection } from './grid.js';

/** A data file as jobs name it. */
export interface DataRef {
  /** Absolute path on the machine that planned the sweep (a hint: the hash decides). */
  readonly file: string;
  /** sha256 of the file's bytes. */
  readonly sha256: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly select: DataSelection;
}

/** sha256 of a file's bytes, streamed. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hashes of files seen, keyed by path, size and mtime (a changed file is hashed again). */
const hashes = new Map<string, string>();

async function cachedSha256(file: string): Promise<string> {
  const st = statSync(file);
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  let h = hashes.get(key);
  if (h === undefined) {
    h = await fileSha256(file);
    hashes.set(key, h);
  }
  return h;
}

/**
 * The path of the file with `ref.sha256`: `ref.file` when it is there with that
 * content, else a file of the same name, then any file, in `dataDirs`.
 */
export async function locateData(
  ref: Pick<DataRef, 'file' | 'sha256'>,
  dataDirs: readonly string[] = [],
): Promise<string> {
  if (existsSync(ref.file) && (await cachedSha256(ref.file)) === ref.sha256) return ref.file;
  const base = path.basename(ref.file);
  const candidates: string[] = [];
  for (const dir of dataDirs) {
    const named = path.join(dir, base);
    if (existsSync(named)) candidates.push(named);
  }
  for (const dir of dataDirs) {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries.sort()) {
      const f = path.join(dir, e);
      if (!candidates.includes(f)) candidates.push(f);
    }
  }
  for (const f of candidates) {
    try {
      if (statSync(f).isFile() && (await cachedSha256(f)) === ref.sha256) return f;
    } catch {
      // unreadable: not it
    }
  }
  const why = existsSync(ref.file) ? 'its content changed since the sweep was planned' : 'it is not there';
  throw new DataError(
    `data file with sha256 ${ref.sha256.slice(0, 12)}… not found: ${why}` +
      (dataDirs.length > 0 ? ` and no file in ${dataDirs.join(', ')} has that content` : ' (give --data-dir DIR)'),
    { file: ref.file },
  );
}

/** Candles [from, to] by open time, then the last `lastCandles` of them. */
export function selectCandles(candles: readonly Candle[], select: DataSelection): Candle[] {
  let lo = 0;
  let hi = candles.length;
  if (select.from !== null) while (lo < hi && candles[lo]!.timestamp < select.from) lo++;
  if (select.to !== null) while (hi > lo && candles[hi - 1]!.timestamp > select.to) hi--;
  if (select.lastCandles !== null) lo = Math.max(lo, hi - select.lastCandles);
  return candles.slice(lo, hi);
}

const loaded = new Map<string, Promise<Candle[]>>();

function selectionKey(ref: DataRef): string {
  return `${ref.sha256}|${ref.symbol}|${ref.timeframe}|${ref.select.from}|${ref.select.to}|${ref.select.lastCandles}`;
}

/** The selected candles of `ref`, loaded once per process (thread) and shared by its jobs. */
export function loadDataRef(ref: DataRef, dataDirs: readonly string[] = []): Promise<Candle[]> {
  const key = selectionKey(ref);
  let p = loaded.get(key);
  if (p === undefined) {
    p = (async () => {
      const file = await locateData(ref, dataDirs);
      const { candles } = await loadCandles(file, { symbol: ref.symbol, timeframe: ref.timeframe as Timeframe });
      const selected = selectCandles(candles, ref.select);
      if (selected.length === 0) throw new DataError('no candles left after the data selection', { file });
      return selected;
    })();
    p.catch(() => loaded.delete(key));
    loaded.set(key, p);
  }
  return p;
}

/** Puts candles already loaded (and selected) for `ref` into this process's cache. */
export function rememberData(ref: DataRef, selected: Candle[]): void {
  loaded.set(selectionKey(ref), Promise.resolve(selected));
}

/** Per-process memo of derived values (datasets, model inputs), keyed by a string. */
export class Memo<T> {
  private readonly values = new Map<string, T>();
  constructor(private readonly max: number) {}

  get(key: string, make: () => T): T {
    let v = this.values.get(key);
    if (v === undefined) {
      v = make();
      if (this.values.size >= this.max) {
        const oldest = this.values.keys().next().value as string;
        this.values.delete(oldest);
      }
      this.values.set(key, v);
    }
    return v;
  }

  static key(ref: DataRef, ...parts: readonly unknown[]): string {
    return `${selectionKey(ref)}|${parts.map((p) => JSON.stringify(p)).join('|')}`;
  }
}
