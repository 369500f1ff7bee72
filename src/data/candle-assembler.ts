/**
 * Turns validated rows into Candles: enforces (strict) or repairs (repair
 * mode) timestamp order, settles the timeframe, tracks gaps and counts what
 * happened for the load report.
 *
 * Strict mode streams: a candle is emitted as soon as its row is read (after
 * the first INFER_ROWS rows when the timeframe must be inferred). Repair mode
 * keeps the rows as numbers in a typed array, sorts and de-duplicates them at
 * the end, then emits.
 */
import { ConfigError } from '../core/errors.js';
import type { Candle, Timeframe } from '../core/types.js';
import { DEFAULT_LARGEST_GAPS, GapTracker } from './gap-report.js';
import { type CandleLoadReport, emptyRepairCounts, type RepairCounts } from './load-report.js';
import type { RowSink } from './row-sink.js';
import { type CandleRowError, RowValidator, type TimestampUnit } from './row-validation.js';
import { mostCommonSpacing, timeframeForSpacing } from './timeframe-inference.js';

/** Candles looked at to infer a timeframe. */
export const INFER_ROWS = 200;
/** Repair messages kept as examples in the report. */
const MAX_EXAMPLES = 5;
const WIDTH = 6;

export interface AssemblerOptions {
  readonly file: string;
  readonly format: 'csv' | 'json';
  readonly symbol: string;
  readonly symbolSource: CandleLoadReport['symbolSource'];
  /** Undefined: infer from the data. */
  readonly timeframe: Timeframe | undefined;
  readonly timeframeSource: CandleLoadReport['timeframeSource'];
  readonly repair: boolean;
  readonly timestampUnit?: TimestampUnit;
  readonly largestGaps?: number;
  readonly emit: (candle: Candle) => void;
}

export class CandleAssembler implements RowSink {
  private validator: RowValidator | undefined;
  private expected = 0;
  private readonly withIndex: boolean;

  private previousTs = Number.NEGATIVE_INFINITY;
  private previousLine = 0;

  /** Rows held back: all of them in repair mode, the first few while inferring the timeframe. */
  private store = new Float64Array(WIDTH * 256);
  private stored = 0;
  /** Repair mode: 1 for a row that came after a later timestamp. */
  private late = new Uint8Array(256);
  private maxTs = Number.NEGATIVE_INFINITY;

  private timeframe: Timeframe | undefined;
  private timeframeSource: CandleLoadReport['timeframeSource'];
  private gaps: GapTracker | undefined;

  private kept = 0;
  private first: number | undefined;
  private last: number | undefined;
  private readonly repairs: RepairCounts = emptyRepairCounts();
  private readonly examples: string[] = [];
  private readonly notes: string[] = [];

  constructor(private readonly options: AssemblerOptions) {
    this.withIndex = options.format === 'json';
    this.timeframe = options.timeframe;
    this.timeframeSource = options.timeframeSource;
    if (options.timeframe !== undefined) this.gaps = new GapTracker(options.timeframe, this.largestGaps);
  }

  private get largestGaps(): number {
    return this.options.largestGaps ?? DEFAULT_LARGEST_GAPS;
  }

  columns(names: readonly string[]): void {
    this.validator = new RowValidator(this.options.file, names, this.options.timestampUnit);
    this.expected = names.length;
  }

  row(tokens: readonly string[], count: number, line: number, index: number): void {
    const v = this.validator as RowValidator;
    const bad = v.check(tokens, count, this.expected, line, this.withIndex ? index : undefined);
    if (bad !== undefined) {
      if (!this.options.repair) throw bad;
      this.drop(bad);
      return;
    }
    const ts = v.timestamp;
    if (this.options.repair) {
      const at = this.stored;
      this.keep(ts, v.open, v.high, v.low, v.close, v.volume);
      if (ts < this.maxTs) (this.late as Uint8Array)[at] = 1;
      else this.maxTs = ts;
      return;
    }
    if (ts <= this.previousTs) {
      throw v.orderError(ts, this.previousTs, this.previousLine, line, this.withIndex ? index : undefined);
    }
    this.previousTs = ts;
    this.previousLine = line;
    if (this.gaps !== undefined) {
      this.emit(ts, v.open, v.high, v.low, v.close, v.volume);
    } else {
      this.keep(ts, v.open, v.high, v.low, v.close, v.volume);
      if (this.stored >= INFER_ROWS) this.flush();
    }
  }

  /** Emits whatever is held back and returns the report. */
  finish(rowsRead: number): CandleLoadReport {
    if (this.options.repair) this.sortAndDeduplicate();
    this.flush();
    const v = this.validator;
    const format = v?.timestampFormat;
    if (format === 's') this.notes.push('timestamps were seconds since the epoch; converted to milliseconds');
    if (this.options.symbolSource === 'base-name') {
      this.notes.push(`symbol '${this.options.symbol}' taken from the file's base name; pass a symbol to set it`);
    }
    return {
      file: this.options.file,
      format: this.options.format,
      symbol: this.options.symbol,
      symbolSource: this.options.symbolSource,
      timeframe: this.timeframe ?? 'unknown',
      timeframeSource: this.timeframe === undefined ? 'none' : this.timeframeSource,
      timestampFormat: format,
      rowsRead,
      candlesKept: this.kept,
      firstTimestamp: this.first,
      lastTimestamp: this.last,
      repairMode: this.options.repair,
      repairs: this.repairs,
      repairExamples: this.examples,
      gaps: this.gaps?.report() ?? { timeframeMs: 0, count: 0, missingBars: 0, largest: [] },
      notes: this.notes,
    };
  }

  private drop(bad: CandleRowError): void {
    this.repairs[bad.reason]++;
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(bad.message);
  }

  private keep(ts: number, o: number, h: number, l: number, c: number, v: number): void {
    let store = this.store;
    const at = this.stored * WIDTH;
    if (at + WIDTH > store.length) {
      const grown = new Float64Array(store.length * 2);
      grown.set(store);
      this.store = store = grown;
      if (this.options.repair) {
        const late = new Uint8Array(this.late.length * 2);
        late.set(this.late);
        this.late = late;
      }
    }
    store[at] = ts;
    store[at + 1] = o;
    store[at + 2] = h;
    store[at + 3] = l;
    store[at + 4] = c;
    store[at + 5] = v;
    this.stored++;
  }

  /** Settles the timeframe if needed, then emits the held-back rows in order. */
  private flush(): void {
    const n = this.stored;
    if (n === 0) return;
    const store = this.store;
    if (this.gaps === undefined) {
      const times = new Float64Array(Math.min(n, INFER_ROWS));
      for (let i = 0; i < times.length; i++) times[i] = store[i * WIDTH] as number;
      const spacing = mostCommonSpacing(times, times.length);
      if (spacing === undefined) {
        throw new ConfigError(`cannot infer the timeframe of ${this.options.file} from a single candle; pass one`, {
          file: this.options.file,
          field: 'timeframe',
        });
      }
      const timeframe = timeframeForSpacing(spacing);
      this.timeframe = timeframe;
      this.timeframeSource = 'inferred';
      this.gaps = new GapTracker(timeframe, this.largestGaps);
      this.notes.push(
        `timeframe ${timeframe} inferred from the most common spacing of the first ${times.length} candles`,
      );
    }
    for (let i = 0; i < n; i++) {
      const at = i * WIDTH;
      this.emit(
        store[at] as number,
        store[at + 1] as number,
        store[at + 2] as number,
        store[at + 3] as number,
        store[at + 4] as number,
        store[at + 5] as number,
      );
    }
    this.stored = 0;
    if (this.store.length > WIDTH * 4096) this.store = new Float64Array(WIDTH * 256);
  }

  /** Repair mode: stable sort by timestamp, keep the first of equal timestamps; compacts the store in place. */
  private sortAndDeduplicate(): void {
    const n = this.stored;
    const src = this.store;
    const late = this.late;
    let order: Uint32Array | undefined;
    let moved = 0;
    for (let i = 0; i < n; i++) moved += late[i] as number;
    this.repairs['out-of-order'] = moved;
    if (moved > 0) {
      order = new Uint32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      order.sort((a, b) => (src[a * WIDTH] as number) - (src[b * WIDTH] as number) || a - b);
    }
    const out = new Float64Array(n * WIDTH);
    let kept = 0;
    let previous = Number.NaN;
    for (let k = 0; k < n; k++) {
      const i = order === undefined ? k : (order[k] as number);
      const at = i * WIDTH;
      const ts = src[at] as number;
      if (ts === previous) {
        this.repairs['duplicate-timestamp']++;
        // Dropped as a duplicate, so not also counted as moved.
        if (late[i] === 1) this.repairs['out-of-order']--;
        continue;
      }
      previous = ts;
      out.set(src.subarray(at, at + WIDTH), kept * WIDTH);
      kept++;
    }
    this.store = out;
    this.stored = kept;
  }

  private emit(ts: number, open: number, high: number, low: number, close: number, volume: number): void {
    const candle: Candle = {
      timestamp: ts,
      open,
      high,
      low,
      close,
      volume,
      symbol: this.options.symbol,
      timeframe: this.timeframe as Timeframe,
    };
    (this.gaps as GapTracker).observe(ts);
    if (this.first === undefined) this.first = ts;
    this.last = ts;
    this.kept++;
    this.options.emit(candle);
  }
}
