/**
 * Append-only JSON-lines file: a crash-tolerant reader and a synchronous appender.
 *
 * Durability: `append` hands each batch of lines to the kernel with one
 * synchronous write before returning (no user-space buffer), so a process crash
 * loses nothing that was acknowledged. Power loss can still drop what the OS
 * has not written back; pass `fsync: true` to also fsync every write.
 */
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { DataError } from '../core/errors.js';

const CHUNK_BYTES = 1 << 20;
const NEWLINE = 0x0a;

export interface JsonLinesScan {
  /** Non-blank lines parsed and handed to the callback. */
  readonly lines: number;
  /**
   * Byte offset of an unparseable LAST line (a write torn by a crash), or null.
   * The caller decides whether to cut the file there.
   */
  readonly tornAt: number | null;
  /** The file ends with a complete record but no newline: write one before appending. */
  readonly needsNewline: boolean;
}

/**
 * Reads `file` line by line, calling `onValue` with each parsed line (1-based
 * line numbers). An unparseable line followed by another non-blank line is a
 * DataError naming file and line; an unparseable last line is reported as torn.
 * Errors thrown by `onValue` propagate unchanged.
 */
export function scanJsonLines(file: string, onValue: (value: unknown, line: number) => void): JsonLinesScan {
  const fd = openSync(file, 'r');
  let lines = 0;
  let lineNo = 0;
  let bad: { line: number; offset: number; message: string } | null = null;
  let lastComplete = true;

  // Newline bytes never occur inside a multi-byte UTF-8 sequence, so splitting bytes is safe.
  const handle = (data: Buffer, start: number, end: number, offset: number) => {
    lineNo++;
    const text = data.toString('utf8', start, end).trim();
    if (text.length === 0) return;
    if (bad !== null) throw new DataError(`malformed JSON line: ${bad.message}`, { file, line: bad.line });
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      bad = { line: lineNo, offset, message: (err as Error).message };
      return;
    }
    lines++;
    onValue(value, lineNo);
  };

  try {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let carry = Buffer.alloc(0);
    let carryOffset = 0; // file offset of carry[0], i.e. of data[0] below
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK_BYTES, carryOffset + carry.length);
      if (n === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(NEWLINE, start); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
        handle(data, start, nl, carryOffset + start);
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start)); // copy: `chunk` is reused by the next read
      carryOffset += start;
    }
    if (carry.length > 0) {
      lastComplete = carry.toString('utf8').trim().length === 0;
      handle(carry, 0, carry.length, carryOffset);
    }
  } finally {
    closeSync(fd);
  }
  const torn = bad as { offset: number } | null;
  return { lines, tornAt: torn?.offset ?? null, needsNewline: torn === null && !lastComplete };
}

/** Appends lines to a file, each batch with one synchronous write. */
export class JsonLinesAppender {
  private fd: number | null;

  constructor(
    readonly file: string,
    private readonly fsync = false,
  ) {
    this.fd = openSync(file, 'a');
  }

  /** Writes `lines` (without newlines), each followed by '\n'; returns when the kernel has them. */
  append(lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.appendRaw(`${lines.join('\n')}\n`);
  }

  /** Writes text as is (used to terminate a last line that lacks its newline). */
  appendRaw(text: string): void {
    if (this.fd === null) throw new Error(`${this.file} is closed`);
    const bytes = Buffer.from(text, 'utf8');
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
    if (this.fsync) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
