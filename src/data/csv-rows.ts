/**
 * Incremental CSV reader for candle files: feed it text chunks as they come
 * off the disk; it finds the header, maps the columns and hands each data row
 * to a RowSink. Never holds more than one chunk plus a partial line.
 *
 * Header: names matched case-insensitively, in any order, extra columns
 * ignored; `date`, `time` and `datetime` are accepted for `timestamp`. The
 * delimiter is whatever the header uses: ',', ';' or a tab. Fields may be
 * double-quoted (no embedded delimiters or newlines: candle data has none).
 */
import { DataError } from '../core/errors.js';
import type { RowSink } from './row-sink.js';
import { CANDLE_FIELDS } from './row-validation.js';

const TIMESTAMP_ALIASES = ['timestamp', 'datetime', 'date', 'time'];

function headerName(raw: string): string {
  let t = raw.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1).trim();
  return t.toLowerCase();
}

function isBlank(data: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = data.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

export class CsvRowReader {
  private carry = '';
  private line = 0;
  private rows = 0;
  private started = false;
  private delimiter = ',';
  /** Role (index into CANDLE_FIELDS) of each file column, -1 for ignored columns. */
  private roles: Int8Array = new Int8Array(0);
  private readonly tokens: string[] = ['', '', '', '', '', ''];

  constructor(
    private readonly file: string,
    private readonly sink: RowSink,
  ) {}

  /** Data rows seen so far (header and blank lines excluded). */
  get rowsRead(): number {
    return this.rows;
  }

  push(text: string): void {
    let data = this.carry.length > 0 ? this.carry + text : text;
    if (!this.started && this.line === 0 && data.charCodeAt(0) === 0xfeff) data = data.slice(1);
    let start = 0;
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl === -1) break;
      this.handleLine(data, start, nl);
      start = nl + 1;
    }
    this.carry = start === 0 ? data : data.slice(start);
  }

  end(): void {
    if (this.carry.length > 0) {
      const data = this.carry;
      this.carry = '';
      this.handleLine(data, 0, data.length);
    }
    if (!this.started) {
      throw new DataError('empty file: no header line (expected timestamp,open,high,low,close,volume)', {
        file: this.file,
        line: 1,
        field: 'header',
      });
    }
  }

  private handleLine(data: string, start: number, lineEnd: number): void {
    this.line++;
    let end = lineEnd;
    if (end > start && data.charCodeAt(end - 1) === 13) end--;
    if (end === start) return;
    const first = data.charCodeAt(start);
    if ((first === 32 || first === 9) && isBlank(data, start, end)) return;
    if (!this.started) {
      this.readHeader(data.slice(start, end));
      return;
    }

    const roles = this.roles;
    const nRoles = roles.length;
    const tokens = this.tokens;
    const delimiter = this.delimiter;
    let col = 0;
    let pos = start;
    for (;;) {
      let cut = data.indexOf(delimiter, pos);
      if (cut === -1 || cut > end) cut = end;
      const role = col < nRoles ? (roles[col] as number) : -1;
      if (role >= 0) tokens[role] = data.slice(pos, cut);
      col++;
      if (cut >= end) break;
      pos = cut + 1;
    }
    this.sink.row(tokens, col, this.line, this.rows++);
  }

  private readHeader(text: string): void {
    const delimiter = text.includes(',') ? ',' : text.includes(';') ? ';' : text.includes('\t') ? '\t' : ',';
    const names = text.split(delimiter).map(headerName);
    const where = (field: string) => ({ file: this.file, line: this.line, field });

    const roles = new Int8Array(names.length).fill(-1);
    let found = 0;
    for (let role = 1; role < CANDLE_FIELDS.length; role++) {
      const col = names.indexOf(CANDLE_FIELDS[role] as string);
      if (col >= 0) {
        roles[col] = role;
        found++;
      }
    }
    const hasCombined = names.includes('timestamp') || names.includes('datetime');
    if (!hasCombined && names.includes('date') && names.includes('time')) {
      throw new DataError(
        "header has separate 'date' and 'time' columns; combine them into one 'timestamp' column",
        where('time'),
      );
    }
    const tsCol = TIMESTAMP_ALIASES.map((alias) => names.indexOf(alias)).find((col) => col >= 0);
    if (tsCol !== undefined) {
      roles[tsCol] = 0;
      found++;
    }
    if (found === 0) {
      const shown = text.length > 60 ? `${text.slice(0, 60)}...` : text;
      throw new DataError(
        `missing header: the first line must name the columns timestamp,open,high,low,close,volume; found '${shown}'`,
        where('header'),
      );
    }
    const missing = CANDLE_FIELDS.filter((_, role) => !roles.includes(role));
    if (missing.length > 0) {
      throw new DataError(
        `header has no '${missing[0]}' column (found: ${names.join(',')}; ` +
          'expected timestamp (or date/time), open, high, low, close, volume)',
        where(missing[0] as string),
      );
    }
    this.delimiter = delimiter;
    this.roles = roles;
    this.started = true;
    this.sink.columns(names);
  }
}
