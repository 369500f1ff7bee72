/**
 * Incremental reader for ccxt's OHLCV JSON shape, `[[ts, o, h, l, c, v], ...]`
 * (freqtrade's JSON candle files use it too). Feed it text chunks; it hands
 * each inner array to a RowSink as text tokens, so numbers keep their exact
 * decimal text until the row validator reads them. Values may be numbers,
 * numeric strings, ISO date strings (timestamp) or null (reported as empty).
 *
 * Only this shape is accepted: anything else is a DataError naming the line.
 */
import { DataError } from '../core/errors.js';
import type { RowSink } from './row-sink.js';
import { CANDLE_FIELDS } from './row-validation.js';

/** Parser states. */
const State = {
  Start: 0,
  OuterFirst: 1,
  OuterNext: 2,
  OuterAfterRow: 3,
  RowFirst: 4,
  RowNext: 5,
  RowAfterValue: 6,
  InString: 7,
  InBare: 8,
  Done: 9,
} as const;

const LBRACKET = 91;
const RBRACKET = 93;
const COMMA = 44;
const QUOTE = 34;
const BACKSLASH = 92;
const NEWLINE = 10;

function isSpace(c: number): boolean {
  return c === 32 || c === NEWLINE || c === 13 || c === 9;
}

export class JsonRowReader {
  private state: number = State.Start;
  private line = 1;
  private rows = 0;
  private rowLine = 1;
  private count = 0;
  /** Text of a value cut by a chunk boundary. */
  private partial = '';
  private escaped = false;
  private readonly tokens: string[] = ['', '', '', '', '', ''];

  constructor(
    private readonly file: string,
    private readonly sink: RowSink,
  ) {
    sink.columns(CANDLE_FIELDS);
  }

  get rowsRead(): number {
    return this.rows;
  }

  push(text: string): void {
    const n = text.length;
    let i = 0;
    if (this.state === State.Start && this.line === 1 && text.charCodeAt(0) === 0xfeff) i = 1;
    while (i < n) {
      const c = text.charCodeAt(i);
      switch (this.state) {
        case State.InString: {
          let j = i;
          while (j < n) {
            const d = text.charCodeAt(j);
            if (this.escaped) this.escaped = false;
            else if (d === BACKSLASH) this.escaped = true;
            else if (d === QUOTE) break;
            else if (d === NEWLINE) this.line++;
            j++;
          }
          this.partial += text.slice(i, j);
          if (j === n) return;
          this.value(this.partial);
          this.partial = '';
          i = j + 1;
          continue;
        }
        case State.InBare: {
          let j = i;
          while (j < n) {
            const d = text.charCodeAt(j);
            if (d === COMMA || d === RBRACKET || isSpace(d)) break;
            j++;
          }
          const piece = text.slice(i, j);
          if (j === n) {
            this.partial += piece;
            return;
          }
          const token = this.partial.length > 0 ? this.partial + piece : piece;
          this.partial = '';
          this.bare(token);
          i = j;
          continue;
        }
        default:
          break;
      }
      if (isSpace(c)) {
        if (c === NEWLINE) this.line++;
        i++;
        continue;
      }
      switch (this.state) {
        case State.Start:
          if (c !== LBRACKET) this.fail('expected a JSON array of [timestamp, open, high, low, close, volume] rows');
          this.state = State.OuterFirst;
          break;
        case State.OuterFirst:
        case State.OuterNext:
          if (c === LBRACKET) {
            this.rowLine = this.line;
            this.count = 0;
            this.state = State.RowFirst;
          } else if (c === RBRACKET && this.state === State.OuterFirst) {
            this.state = State.Done;
          } else {
            this.fail('expected a [timestamp, open, high, low, close, volume] array');
          }
          break;
        case State.OuterAfterRow:
          if (c === COMMA) this.state = State.OuterNext;
          else if (c === RBRACKET) this.state = State.Done;
          else this.fail("expected ',' or ']' after a row");
          break;
        case State.RowFirst:
        case State.RowNext:
          if (c === QUOTE) {
            this.state = State.InString;
          } else if (c === RBRACKET && this.state === State.RowFirst) {
            this.endRow();
          } else if (c === LBRACKET || c === 123 /* { */ || c === COMMA || c === RBRACKET) {
            this.fail('a row must be a flat array of 6 values: [timestamp, open, high, low, close, volume]');
          } else {
            this.state = State.InBare;
            continue;
          }
          break;
        case State.RowAfterValue:
          if (c === COMMA) this.state = State.RowNext;
          else if (c === RBRACKET) this.endRow();
          else this.fail("expected ',' or ']' after a value");
          break;
        case State.Done:
          this.fail('unexpected text after the closing ]');
          break;
      }
      i++;
    }
  }

  end(): void {
    if (this.state === State.InBare && this.partial.length > 0) {
      this.bare(this.partial);
      this.partial = '';
    }
    if (this.state === State.Start) this.fail('empty file: expected a JSON array of OHLCV rows');
    if (this.state !== State.Done) this.fail('the file ends inside the JSON array (truncated?)');
  }

  private bare(token: string): void {
    // null is an absent value; true/false and other words reach the validator as non-numeric text.
    this.value(token === 'null' ? '' : token);
  }

  private value(token: string): void {
    if (this.count < 6) this.tokens[this.count] = token;
    this.count++;
    this.state = State.RowAfterValue;
  }

  private endRow(): void {
    this.state = State.OuterAfterRow;
    this.sink.row(this.tokens, this.count, this.rowLine, this.rows++);
  }

  private fail(message: string): never {
    throw new DataError(message, { file: this.file, line: this.line, index: this.rows });
  }
}
