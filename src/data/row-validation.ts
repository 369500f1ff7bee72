/**
 * One candle row, as text tokens from a CSV line or a JSON array, turned into
 * numbers and checked. A bad row becomes a `CandleRowError` naming file, line
 * and field; the caller throws it (strict) or counts and drops the row (repair).
 *
 * The good path allocates nothing: values land in the validator's fields.
 */
import { DataError, type ErrorLocation } from '../core/errors.js';
import { looksLikeIsoDate, parseIsoUtc } from './iso-timestamp.js';
import type { RepairReason, TimestampFormat } from './load-report.js';

/** The six values of a candle row, in the order ccxt's OHLCV arrays use. */
export const CANDLE_FIELDS = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
export type CandleField = (typeof CANDLE_FIELDS)[number];

export const TS = 0;
export const OPEN = 1;
export const HIGH = 2;
export const LOW = 3;
export const CLOSE = 4;
export const VOLUME = 5;

/** A bad candle row; `reason` says which check failed (the repair report counts by it). */
export class CandleRowError extends DataError {
  readonly reason: RepairReason;
  constructor(reason: RepairReason, message: string, where: ErrorLocation) {
    super(message, where);
    this.reason = reason;
  }
}

/** Numeric timestamps below this are seconds since the epoch (ms would be before 1973-03-03). */
export const SECONDS_THRESHOLD = 1e11;
/** The range `Date` can represent. */
const MAX_TIME_MS = 8.64e15;

export type TimestampUnit = 'ms' | 's';

const FORMAT_MS = 1;
const FORMAT_S = 2;
const FORMAT_ISO = 4;

/** `Number(text)` for a token, or NaN; '' and whitespace are NaN here, and so are 0x/0o/0b literals. */
function numberOf(token: string): number {
  const v = Number(token);
  if (v === 0 || Number.isNaN(v)) return slowNumberOf(token);
  if (token.length > 2 && token.charCodeAt(0) === 48) {
    const c = token.charCodeAt(1) | 32;
    if (c === 120 || c === 111 || c === 98) return Number.NaN;
  }
  return v;
}

function unquote(token: string): string {
  let t = token.trim();
  if (t.length >= 2 && t.charCodeAt(0) === 34 && t.charCodeAt(t.length - 1) === 34) t = t.slice(1, -1).trim();
  return t;
}

function slowNumberOf(token: string): number {
  const t = unquote(token);
  if (t.length === 0) return Number.NaN;
  if (t.length > 2 && t.charCodeAt(0) === 48) {
    const c = t.charCodeAt(1) | 32;
    if (c === 120 || c === 111 || c === 98) return Number.NaN;
  }
  return Number(t);
}

function shown(token: string): string {
  const t = token.length > 40 ? `${token.slice(0, 40)}...` : token;
  return `'${t}'`;
}

function isoOf(ts: number): string {
  return Math.abs(ts) <= MAX_TIME_MS ? new Date(ts).toISOString() : String(ts);
}

/** Which check finite candle values fail first, with the field index and the message. */
export interface CandleValueProblem {
  readonly reason: RepairReason;
  /** Index into CANDLE_FIELDS. */
  readonly field: number;
  readonly message: string;
}

/**
 * The checks every candle passes, from a file or an exchange feed: prices
 * > 0, volume >= 0, high >= low, high >= max(open, close), low <= min(open,
 * close). The values must already be finite. Undefined when they pass.
 */
export function candleValueProblem(
  o: number,
  h: number,
  l: number,
  c: number,
  v: number,
): CandleValueProblem | undefined {
  if (!(o > 0 && h > 0 && l > 0 && c > 0)) {
    const f = !(o > 0) ? OPEN : !(h > 0) ? HIGH : !(l > 0) ? LOW : CLOSE;
    const value = f === OPEN ? o : f === HIGH ? h : f === LOW ? l : c;
    return { reason: 'non-positive-price', field: f, message: `${CANDLE_FIELDS[f]} must be > 0, got ${value}` };
  }
  if (v < 0) return { reason: 'negative-volume', field: VOLUME, message: `volume must be >= 0, got ${v}` };
  if (h < l) return { reason: 'high-below-low', field: HIGH, message: `high ${h} is below low ${l}` };
  if (h < o || h < c) {
    return {
      reason: 'high-below-open-close',
      field: HIGH,
      message: `high ${h} is below max(open, close) = ${Math.max(o, c)}`,
    };
  }
  if (l > o || l > c) {
    return {
      reason: 'low-above-open-close',
      field: LOW,
      message: `low ${l} is above min(open, close) = ${Math.min(o, c)}`,
    };
  }
  return undefined;
}

export class RowValidator {
  timestamp = 0;
  open = 0;
  high = 0;
  low = 0;
  close = 0;
  volume = 0;

  private unit: TimestampUnit | undefined;
  private readonly unitForced: boolean;
  private formats = 0;

  /**
   * @param file named in every error
   * @param columnNames the file's columns in file order (for column-count errors)
   * @param unit force numeric timestamps to be read as ms or s; by default the first numeric timestamp decides
   */
  constructor(
    private readonly file: string,
    private readonly columnNames: readonly string[],
    unit?: TimestampUnit,
  ) {
    this.unit = unit;
    this.unitForced = unit !== undefined;
  }

  /** How the timestamps seen so far were written. */
  get timestampFormat(): TimestampFormat | undefined {
    switch (this.formats) {
      case 0:
        return undefined;
      case FORMAT_MS:
        return 'ms';
      case FORMAT_S:
        return 's';
      case FORMAT_ISO:
        return 'iso';
      default:
        return 'mixed';
    }
  }

  /**
   * Checks one row. `tokens` holds the text of timestamp, open, high, low,
   * close, volume (in that order, whatever the file's column order);
   * `count` is how many columns the row had, `expected` how many it should have.
   * Returns undefined for a good row (values are then in this object's fields),
   * else the error, not thrown. `index` (row number) is added to the location for JSON.
   */
  check(
    tokens: readonly string[],
    count: number,
    expected: number,
    line: number,
    index?: number,
  ): CandleRowError | undefined {
    if (count !== expected) return this.columnCountError(count, expected, line, index);

    const ts = this.parseTimestamp(tokens[TS] as string, line, index);
    if (typeof ts !== 'number') return ts;
    const o = numberOf(tokens[OPEN] as string);
    const h = numberOf(tokens[HIGH] as string);
    const l = numberOf(tokens[LOW] as string);
    const c = numberOf(tokens[CLOSE] as string);
    const v = numberOf(tokens[VOLUME] as string);
    // NaN and the infinities all fail this; ordinary rows take one branch.
    if (!(Math.abs(o + h + l + c + v) < Number.POSITIVE_INFINITY)) {
      for (let f = OPEN; f <= VOLUME; f++) {
        const value = f === OPEN ? o : f === HIGH ? h : f === LOW ? l : f === CLOSE ? c : v;
        if (!Number.isFinite(value)) return this.numberError(tokens[f] as string, f, line, index);
      }
    }
    const bad = candleValueProblem(o, h, l, c, v);
    if (bad !== undefined) return this.error(bad.reason, bad.message, bad.field, line, index);
    this.timestamp = ts;
    this.open = o;
    this.high = h;
    this.low = l;
    this.close = c;
    this.volume = v;
    return undefined;
  }

  /** The error for a timestamp that does not come after the previous row's. */
  orderError(ts: number, previous: number, previousLine: number, line: number, index?: number): CandleRowError {
    if (ts === previous) {
      return this.error(
        'duplicate-timestamp',
        `duplicate timestamp ${isoOf(ts)} (same as line ${previousLine})`,
        TS,
        line,
        index,
      );
    }
    return this.error(
      'out-of-order',
      `out-of-order timestamp ${isoOf(ts)} is before ${isoOf(previous)} on line ${previousLine}`,
      TS,
      line,
      index,
    );
  }

  private parseTimestamp(token: string, line: number, index: number | undefined): number | CandleRowError {
    const first = token.charCodeAt(0);
    const text = first === 34 || first === 32 || first === 9 ? unquote(token) : token;
    if (looksLikeIsoDate(text)) {
      const ms = parseIsoUtc(text.trim());
      if (Number.isNaN(ms)) {
        return this.error('bad-timestamp', `${shown(text)} is not a valid ISO date or datetime`, TS, line, index);
      }
      this.formats |= FORMAT_ISO;
      return ms;
    }
    const v = numberOf(text);
    if (!Number.isFinite(v)) return this.numberError(token, TS, line, index);
    const seconds = Math.abs(v) < SECONDS_THRESHOLD;
    if (this.unit === undefined) this.unit = seconds ? 's' : 'ms';
    if (this.unit === 's') {
      if (!seconds && !this.unitForced) {
        return this.error(
          'bad-timestamp',
          `${text} looks like milliseconds, but earlier timestamps were seconds since the epoch`,
          TS,
          line,
          index,
        );
      }
      const ms = Math.round(v * 1000);
      if (Math.abs(ms) > MAX_TIME_MS) {
        return this.error('bad-timestamp', `${text} is out of the range of dates`, TS, line, index);
      }
      this.formats |= FORMAT_S;
      return ms;
    }
    if (seconds && this.formats !== 0 && !this.unitForced) {
      return this.error(
        'bad-timestamp',
        `${text} looks like seconds, but earlier timestamps were milliseconds since the epoch`,
        TS,
        line,
        index,
      );
    }
    if (Math.abs(v) > MAX_TIME_MS) {
      return this.error('bad-timestamp', `${text} is out of the range of dates`, TS, line, index);
    }
    this.formats |= FORMAT_MS;
    return v;
  }

  private numberError(token: string, field: number, line: number, index: number | undefined): CandleRowError {
    const t = unquote(token);
    if (t.length === 0) return this.error('empty', 'empty value', field, line, index);
    if (/^[+-]?(nan|inf|infinity)$/i.test(t) || Number(t) === Number.POSITIVE_INFINITY || Number(t) === -Infinity) {
      return this.error('not-finite', `${shown(t)} is not a finite number`, field, line, index);
    }
    return this.error('non-numeric', `not a number: ${shown(t)}`, field, line, index);
  }

  private columnCountError(count: number, expected: number, line: number, index: number | undefined): CandleRowError {
    const field = count < expected ? (this.columnNames[count] ?? `column ${count + 1}`) : `column ${expected + 1}`;
    const what = count < expected ? 'missing' : 'extra';
    return new CandleRowError(
      'column-count',
      `expected ${expected} columns, found ${count} (${what} '${field}')`,
      this.where(field, line, index),
    );
  }

  private error(
    reason: RepairReason,
    message: string,
    field: number,
    line: number,
    index: number | undefined,
  ): CandleRowError {
    return new CandleRowError(reason, message, this.where(CANDLE_FIELDS[field] as string, line, index));
  }

  private where(field: string, line: number, index: number | undefined): ErrorLocation {
    return index === undefined ? { file: this.file, line, field } : { file: this.file, line, index, field };
  }
}
