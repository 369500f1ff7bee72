/**
 * Candles out, as `timestamp,open,high,low,close,volume` CSV with ms
 * timestamps and numbers as the shortest decimal that reads back to the same
 * double (never in exponent notation), so a written file loads back identical.
 *
 * `writeCandlesCsv` replaces a file atomically (temp file + rename);
 * `appendCandlesCsv` extends one (the download cache's path), checking that
 * the new candles continue the file's timestamps.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { DataError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { CANDLE_FIELDS } from './row-validation.js';

export const CANDLE_CSV_HEADER = CANDLE_FIELDS.join(',');
const ROWS_PER_WRITE = 4096;
const TAIL_BYTES = 4096;

/** Shortest round-trip decimal of `x` written out in full (1e-8 -> '0.00000001'). */
export function formatCsvNumber(x: number): string {
  const s = String(x);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const negative = s.charCodeAt(0) === 45;
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exponent = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const point = (dot < 0 ? mantissa.length : dot) + exponent;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${out}` : out;
}

function checkWritable(candle: Candle, previous: number, index: number, file: string): void {
  const { timestamp, open, high, low, close, volume } = candle;
  if (
    !Number.isFinite(timestamp) ||
    !Number.isFinite(open) ||
    !Number.isFinite(high) ||
    !Number.isFinite(low) ||
    !Number.isFinite(close) ||
    !Number.isFinite(volume)
  ) {
    const field = CANDLE_FIELDS.find((f) => !Number.isFinite(candle[f]));
    throw new DataError(`cannot write a non-finite value: ${field === undefined ? '?' : candle[field]}`, {
      file,
      index,
      ...(field === undefined ? {} : { field }),
    });
  }
  if (timestamp <= previous) {
    throw new DataError(
      `timestamps must increase: ${new Date(timestamp).toISOString()} does not come after ${new Date(previous).toISOString()}`,
      { file, index, field: 'timestamp' },
    );
  }
}

async function writeRows(handle: FileHandle, candles: readonly Candle[], previous: number, file: string) {
  let buffer = '';
  let last = previous;
  for (let i = 0; i < candles.length; i++) {
    const c = candles[i] as Candle;
    checkWritable(c, last, i, file);
    last = c.timestamp;
    buffer += `${formatCsvNumber(c.timestamp)},${formatCsvNumber(c.open)},${formatCsvNumber(c.high)},${formatCsvNumber(
      c.low,
    )},${formatCsvNumber(c.close)},${formatCsvNumber(c.volume)}\n`;
    if ((i + 1) % ROWS_PER_WRITE === 0) {
      await handle.write(buffer);
      buffer = '';
    }
  }
  if (buffer.length > 0) await handle.write(buffer);
}

/** Writes `candles` (ascending timestamps, finite values) to `file`, replacing it atomically. */
export async function writeCandlesCsv(file: string, candles: readonly Candle[]): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'w');
    await handle.write(`${CANDLE_CSV_HEADER}\n`);
    await writeRows(handle, candles, Number.NEGATIVE_INFINITY, file);
    await handle.close();
    handle = undefined;
    await rename(temp, file);
  } catch (err) {
    await handle?.close().catch(() => {});
    await rm(temp, { force: true });
    throw err;
  }
}

export interface AppendOptions {
  /**
   * What to do with candles at or before the file's last timestamp:
   * 'error' (default) throws a DataError, 'skip' leaves them out.
   */
  readonly onOverlap?: 'error' | 'skip';
}

interface FileEnds {
  readonly size: number;
  readonly header: string;
  readonly lastTimestamp: number | undefined;
  readonly endsWithNewline: boolean;
}

async function readEnds(handle: FileHandle, file: string): Promise<FileEnds> {
  const { size } = await handle.stat();
  if (size === 0) return { size, header: '', lastTimestamp: undefined, endsWithNewline: true };
  const head = Buffer.alloc(Math.min(size, 256));
  await handle.read(head, 0, head.length, 0);
  const headText = head.toString('utf8').replace(/^\uFEFF/, '');
  const header = headText.split('\n', 1)[0]?.trim() ?? '';
  const tail = Buffer.alloc(Math.min(size, TAIL_BYTES));
  await handle.read(tail, 0, tail.length, size - tail.length);
  const tailText = tail.toString('utf8');
  const lines = tailText.split('\n').map((l) => l.trim());
  // The last non-blank line; if the tail window holds only part of it, the timestamp is still its start.
  let lastLine: string | undefined;
  for (let i = lines.length - 1; i >= 0; i--) {
    if ((lines[i] as string).length > 0 && (i > 0 || tail.length === size)) {
      lastLine = lines[i];
      break;
    }
  }
  let lastTimestamp: number | undefined;
  if (lastLine !== undefined && lastLine.toLowerCase() !== header.toLowerCase()) {
    lastTimestamp = Number(lastLine.slice(0, lastLine.indexOf(',')));
    if (!Number.isFinite(lastTimestamp)) {
      throw new DataError(`cannot append: the last row does not start with a ms timestamp: '${lastLine}'`, { file });
    }
  }
  return { size, header, lastTimestamp, endsWithNewline: tailText.endsWith('\n') };
}

/**
 * Appends `candles` to a CSV written by writeCandlesCsv (or creates it with a
 * header). The file must have the canonical header and the candles must come
 * after its last timestamp (see `onOverlap`). Returns how many were appended.
 */
export async function appendCandlesCsv(
  file: string,
  candles: readonly Candle[],
  options: AppendOptions = {},
): Promise<{ appended: number; skipped: number }> {
  const handle = await open(file, 'a+');
  try {
    const ends = await readEnds(handle, file);
    if (ends.size > 0 && ends.header.toLowerCase() !== CANDLE_CSV_HEADER) {
      throw new DataError(`cannot append: header is '${ends.header}', expected '${CANDLE_CSV_HEADER}'`, {
        file,
        line: 1,
        field: 'header',
      });
    }
    let from = 0;
    const last = ends.lastTimestamp ?? Number.NEGATIVE_INFINITY;
    while (from < candles.length && (candles[from] as Candle).timestamp <= last) from++;
    if (from > 0 && options.onOverlap !== 'skip') {
      const first = (candles[0] as Candle).timestamp;
      throw new DataError(
        `cannot append: candle ${new Date(first).toISOString()} is not after the file's last candle ${new Date(last).toISOString()}`,
        { file, index: 0, field: 'timestamp' },
      );
    }
    const rest = from === 0 ? candles : candles.slice(from);
    let prefix = '';
    if (ends.size === 0) prefix = `${CANDLE_CSV_HEADER}\n`;
    else if (!ends.endsWithNewline) prefix = '\n';
    if (prefix.length > 0 && (rest.length > 0 || ends.size === 0)) await handle.write(prefix);
    await writeRows(handle, rest, last, file);
    return { appended: rest.length, skipped: from };
  } finally {
    await handle.close();
  }
}
