/**
 * Scores model predictions as their outcomes arrive. One tracker serves
 * backtest, paper, live and the HTTP API: feed it predictions (`record`) and
 * closed candles (`onCandle`), or outcomes directly (`resolve`,
 * `recordOutcome`), and read `stats`.
 *
 * With a file (`PredictionTracker.open`), every event is appended to a JSON
 * lines journal before the call returns (see jsonl-file.ts for durability) and
 * the whole history is replayed on open, so statistics, pending predictions and
 * drift state are the same after a restart. One process per file: two trackers
 * appending to the same file would interleave ids.
 */
import { mkdirSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { ConfigError, DataError, type ErrorLocation, QuantflowError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Candle } from '../core/types.js';
import { CandleSchedule } from './candle-schedule.js';
import { DriftMonitor } from './drift-monitor.js';
import {
  requireBinaryOutcome,
  requireFinite,
  requirePositive,
  requirePositiveInteger,
  requireProbability,
  requireString,
} from './field-checks.js';
import {
  type JournalRecord,
  type OutcomeRecord,
  type PredictionRecord,
  parseForecast,
  parseRecord,
  serializeRecord,
} from './journal-records.js';
import { JsonLinesAppender, scanJsonLines } from './jsonl-file.js';
import { StatsBook } from './stats-book.js';
import type {
  DriftEvent,
  DriftOptions,
  LoadReport,
  Outcome,
  OutcomeInput,
  PredictionInput,
  PredictionKey,
  StatsFilter,
  TrackedPrediction,
  TrackerEvents,
  TrackerStats,
} from './types.js';

export interface PredictionTrackerOptions {
  /** Emit `drift` / `driftRecovered` from the rolling accuracy; off when absent. */
  readonly drift?: DriftOptions;
  /** Also fsync every write (survives power loss, much slower). Default false. */
  readonly fsync?: boolean;
  /** Receives a warning when a torn last line is dropped on open. */
  readonly logger?: Logger;
}

const DEFAULT_THRESHOLD = 0.5;
const COUNT_FIELD = { prediction: 'predictions', outcome: 'outcomes', candle: 'candles' } as const;

/** The tracker's own, mutable view of a prediction; callers get it as a readonly TrackedPrediction. */
type Entry = { -readonly [K in keyof TrackedPrediction]: TrackedPrediction[K] } & {
  /** The symbol's running sum of squared log returns when it was recorded (volatility forecasts). */
  sumSq0?: number;
};

/**
 * What the tracker remembers of each symbol's candles: the last two closes
 * (the previous close gives a prediction its last move) and a running sum of
 * squared log returns from which a volatility forecast's outcome is read.
 */
interface SymbolMemory {
  lastTimestamp: number;
  lastClose: number;
  previousClose: number;
  sumSq: number;
  sumSqClose: number;
}

type Emission =
  | { readonly name: 'resolved'; readonly prediction: TrackedPrediction }
  | { readonly name: 'drift' | 'driftRecovered'; readonly event: DriftEvent };

export class PredictionTracker extends EventEmitter<TrackerEvents> {
  private journal: JsonLinesAppender | null = null;
  private journalFile: string | null = null;
  private report: LoadReport = { lines: 0, predictions: 0, outcomes: 0, candles: 0, tornLines: 0, repairedOutcomes: 0 };
  private readonly logger: Logger;
  private readonly fsync: boolean;
  private readonly drift: DriftMonitor | null;

  private nextId = 1;
  private readonly byId = new Map<number, Entry>();
  private readonly byKey = new Map<string, Entry>();
  private readonly schedules = new Map<string, CandleSchedule<Entry>>();
  /** Pending predictions per symbol that a candle can resolve (those with a price). */
  private readonly pendingBySymbol = new Map<string, number>();
  private readonly book = new StatsBook();
  private readonly memory = new Map<string, SymbolMemory>();
  private ignored = 0;

  private replaying = false;
  private emissions: Emission[] = [];
  private closed = false;
  private writeFailure: Error | null = null;

  /** An in-memory tracker (nothing persisted). Use `PredictionTracker.open` for a file-backed one. */
  constructor(options: PredictionTrackerOptions = {}) {
    super();
    this.logger = options.logger ?? silentLogger;
    this.fsync = options.fsync ?? false;
    this.drift = options.drift === undefined ? null : new DriftMonitor(options.drift);
  }

  /**
   * Opens (or creates) a JSONL journal and replays its whole history. A torn
   * last line is dropped from the file and counted in `loadReport.tornLines`;
   * any other malformed or inconsistent line is a DataError naming file and line.
   */
  static open(file: string, options: PredictionTrackerOptions = {}): PredictionTracker {
    const tracker = new PredictionTracker(options);
    tracker.load(path.resolve(file));
    return tracker;
  }

  /** The journal file, or null in memory. */
  get file(): string | null {
    return this.journalFile;
  }

  get loadReport(): LoadReport {
    return this.report;
  }

  /** Candles ignored because they were not later than the last counted candle of their symbol. */
  get ignoredCandles(): number {
    return this.ignored;
  }

  /** Number of predictions recorded. */
  get size(): number {
    return this.byId.size;
  }

  /**
   * Records a prediction made at the close of candle `timestamp`. Recording the
   * same (symbol, modelVersion, timestamp) again with the same values returns
   * the existing prediction; with other values it is a DataError.
   */
  record(input: PredictionInput): TrackedPrediction {
    this.assertWritable();
    const rec = this.predictionRecord(input, true);
    const key = naturalKey(rec);
    const existing = this.byKey.get(key);
    if (existing !== undefined) {
      if (sameValues(existing, rec)) return existing;
      throw new DataError('prediction already recorded for this candle and model version with other values', {
        symbol: rec.symbol,
        field: 'timestamp',
      });
    }
    const last = this.schedules.get(rec.symbol)?.lastTimestamp;
    if (last !== undefined && rec.timestamp < last) {
      throw new DataError(
        `prediction for candle ${rec.timestamp} arrives after candle ${last} was already counted; ` +
          'record predictions before feeding later candles',
        { symbol: rec.symbol, field: 'timestamp' },
      );
    }
    this.write([rec]);
    this.nextId++;
    return this.applyPrediction(rec, true, key);
  }

  /**
   * Records a prediction together with its known outcome (the older
   * `recordPrediction(prediction, actual)`). Horizon defaults to 1 and price is
   * optional. If the prediction is already recorded and pending, resolves it.
   */
  recordOutcome(input: OutcomeInput, actual: 0 | 1): TrackedPrediction {
    this.assertWritable();
    const rec = this.predictionRecord(input, false);
    const outcome = requireBinaryOutcome(actual, 'actual', { symbol: rec.symbol });
    const existing = this.byKey.get(naturalKey(rec));
    if (existing !== undefined) {
      if (existing.prediction !== rec.prediction) {
        throw new DataError('prediction already recorded for this candle and model version with another probability', {
          symbol: rec.symbol,
          field: 'prediction',
        });
      }
      return this.resolve(existing.id, outcome);
    }
    const out = explicitOutcome(rec.id, outcome);
    this.write([rec, out]);
    this.nextId++;
    const entry = this.applyPrediction(rec, false);
    this.applyOutcome(entry, out);
    this.flushEmissions();
    return entry;
  }

  /**
   * Gives the outcome of a recorded prediction, by id or by its natural key.
   * Resolving again with the same outcome returns it unchanged; with another
   * outcome it is a DataError.
   */
  resolve(ref: number | PredictionKey, actual: 0 | 1): TrackedPrediction {
    this.assertWritable();
    const outcome = requireBinaryOutcome(actual, 'actual', {});
    const entry = this.lookup(ref);
    if (entry === undefined) {
      throw new DataError(`no recorded prediction ${describeRef(ref)}`, {
        field: typeof ref === 'number' ? 'id' : 'key',
      });
    }
    if (entry.outcome !== null) {
      if (entry.outcome === outcome) return entry;
      throw new DataError(`prediction ${entry.id} is already resolved with outcome ${entry.outcome}`, {
        symbol: entry.symbol,
        field: 'actual',
      });
    }
    const out = explicitOutcome(entry.id, outcome);
    this.write([out]);
    this.applyOutcome(entry, out);
    this.flushEmissions();
    return entry;
  }

  /**
   * Counts a closed candle and resolves the predictions it decides: those made
   * `horizon` counted candles earlier. Outcome 1 if its close is above the
   * recorded price, 0 if below, 'flat' if equal. A candle not later than the
   * last one counted for its symbol is ignored. Returns the predictions resolved.
   */
  onCandle(candle: Candle): TrackedPrediction[] {
    this.assertWritable();
    const symbol = requireString(candle?.symbol, 'symbol', {});
    const where: ErrorLocation = { symbol };
    const timestamp = requireFinite(candle.timestamp, 'timestamp', where);
    const close = requirePositive(candle.close, 'close', where);
    const schedule = this.scheduleFor(symbol);
    if (!schedule.accepts(timestamp)) {
      this.ignored++;
      return [];
    }
    const hadPending = (this.pendingBySymbol.get(symbol) ?? 0) > 0;
    const memory = this.remember(symbol, timestamp, close);
    const due = schedule.advance(timestamp);
    const outcomes: JournalRecord[] = [];
    const entries: Entry[] = [];
    for (const entry of due) {
      if (entry.outcome !== null) continue; // resolved explicitly meanwhile
      entries.push(entry);
      outcomes.push(candleOutcome(entry, timestamp, close, memory));
    }
    // Outcomes before the candle line: a file cut between them never leaves a counted candle unresolved.
    if (hadPending) outcomes.push({ type: 'candle', symbol, timestamp, close });
    this.write(outcomes);
    outcomes.length = entries.length;
    for (let i = 0; i < entries.length; i++) this.applyOutcome(entries[i]!, outcomes[i] as OutcomeRecord);
    this.flushEmissions();
    return entries;
  }

  get(ref: number | PredictionKey): TrackedPrediction | undefined {
    return this.lookup(ref);
  }

  /** Statistics of the selection (all predictions, one symbol, one model version, or both). */
  stats(filter: StatsFilter = {}): TrackerStats {
    return this.book.stats(filter.symbol, filter.modelVersion, checkWindow(filter.window));
  }

  /** Statistics of each symbol or each model version. */
  statsBy(dimension: 'symbol' | 'modelVersion', options: { window?: number } = {}): Map<string, TrackerStats> {
    if (dimension !== 'symbol' && dimension !== 'modelVersion') {
      throw new ConfigError(`expected 'symbol' or 'modelVersion', got ${String(dimension)}`, { field: 'dimension' });
    }
    return this.book.statsBy(dimension, checkWindow(options.window));
  }

  /** Keys currently in drift (after replay too, when no event could be heard). */
  driftStatus(): DriftEvent[] {
    return this.drift?.drifting() ?? [];
  }

  /** Closes the journal. Statistics stay readable; recording is refused afterwards. */
  close(): void {
    this.closed = true;
    this.journal?.close();
    this.journal = null;
  }

  private load(file: string): void {
    mkdirSync(path.dirname(file), { recursive: true });
    const counts = { lines: 0, predictions: 0, outcomes: 0, candles: 0, tornLines: 0, repairedOutcomes: 0 };
    // Predictions a recorded candle resolved whose outcome line has not been seen (yet).
    const overdue = new Map<number, OutcomeRecord>();
    const repaired: string[] = [];
    let needsNewline = false;
    this.replaying = true;
    try {
      const scan = scanJsonLines(file, (value, line) => {
        const where: ErrorLocation = { file, line };
        const rec = parseRecord(value, where);
        counts[COUNT_FIELD[rec.type]]++;
        this.replay(rec, where, overdue);
      });
      counts.lines = scan.lines;
      needsNewline = scan.needsNewline;
      if (scan.tornAt !== null) {
        truncateSync(file, scan.tornAt);
        counts.tornLines = 1;
        this.logger.warn('prediction journal: dropped a torn last line', { file, offset: scan.tornAt });
      }
      // Normally empty: outcome lines are written before their candle line. A missing one is recomputed.
      for (const [id, out] of overdue) {
        this.applyOutcome(this.byId.get(id)!, out);
        repaired.push(serializeRecord(out));
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    } finally {
      this.replaying = false;
      this.emissions = [];
    }
    counts.repairedOutcomes = repaired.length;
    this.report = counts;
    this.journalFile = file;
    this.journal = new JsonLinesAppender(file, this.fsync);
    if (needsNewline) this.journal.appendRaw('\n');
    this.journal.append(repaired);
  }

  private replay(rec: JournalRecord, where: ErrorLocation, overdue: Map<number, OutcomeRecord>): void {
    switch (rec.type) {
      case 'prediction': {
        if (this.byId.has(rec.id)) throw new DataError(`duplicate prediction id ${rec.id}`, { ...where, field: 'id' });
        if (this.byKey.has(naturalKey(rec))) {
          throw new DataError('duplicate prediction for this symbol, model version and candle', {
            ...where,
            field: 'timestamp',
          });
        }
        this.nextId = Math.max(this.nextId, rec.id + 1);
        this.applyPrediction(rec, true);
        return;
      }
      case 'outcome': {
        const entry = this.byId.get(rec.id);
        if (entry === undefined)
          throw new DataError(`outcome for unknown prediction id ${rec.id}`, { ...where, field: 'id' });
        if (entry.outcome !== null) {
          throw new DataError(`second outcome for prediction id ${rec.id}`, { ...where, field: 'id' });
        }
        overdue.delete(rec.id);
        this.applyOutcome(entry, rec);
        return;
      }
      case 'candle': {
        const schedule = this.scheduleFor(rec.symbol);
        if (!schedule.accepts(rec.timestamp)) {
          throw new DataError('candle not later than the previous one of its symbol', { ...where, field: 'timestamp' });
        }
        const memory = this.remember(rec.symbol, rec.timestamp, rec.close);
        for (const entry of schedule.advance(rec.timestamp)) {
          if (entry.outcome === null) overdue.set(entry.id, candleOutcome(entry, rec.timestamp, rec.close, memory));
        }
        return;
      }
    }
  }

  /**
   * Validates an input and builds its record under the next id. Horizon and
   * price are required for `record`; for `recordOutcome` horizon defaults to 1
   * and price may be absent.
   */
  private predictionRecord(input: PredictionInput | OutcomeInput, forCandles: boolean): PredictionRecord {
    if (typeof input !== 'object' || input === null) throw new DataError('expected a prediction object');
    const symbol = requireString(input.symbol, 'symbol', {});
    const where: ErrorLocation = { symbol };
    const horizonGiven = forCandles || input.horizon !== undefined;
    const priceGiven = forCandles || input.price !== undefined;
    const timestamp = requireFinite(input.timestamp, 'timestamp', where);
    const given = input as PredictionInput;
    const forecast = forCandles && given.forecast !== undefined ? parseForecast(given.forecast, where) : null;
    const pureForecast = forecast !== null && input.prediction === undefined;
    // The previous close, when not given, is the one before the candle just fed for this symbol.
    const memory = this.memory.get(symbol);
    const previousPrice =
      given.previousPrice !== undefined
        ? requirePositive(given.previousPrice, 'previousPrice', where)
        : memory !== undefined && memory.lastTimestamp === timestamp && !Number.isNaN(memory.previousClose)
          ? memory.previousClose
          : null;
    return {
      type: 'prediction',
      id: this.nextId,
      symbol,
      modelVersion: requireString(input.modelVersion, 'modelVersion', where),
      timestamp,
      prediction: pureForecast ? null : requireProbability(input.prediction, 'prediction', where),
      horizon: horizonGiven ? requirePositiveInteger(input.horizon, 'horizon', where) : 1,
      price: priceGiven ? requirePositive(input.price, 'price', where) : null,
      threshold:
        input.threshold === undefined ? DEFAULT_THRESHOLD : requireProbability(input.threshold, 'threshold', where),
      previousPrice,
      forecast,
    };
  }

  /** Counts a candle in the symbol's memory (last closes, running sum of squared log returns). */
  private remember(symbol: string, timestamp: number, close: number): SymbolMemory {
    let m = this.memory.get(symbol);
    if (m === undefined) {
      m = { lastTimestamp: timestamp, lastClose: close, previousClose: Number.NaN, sumSq: 0, sumSqClose: close };
      this.memory.set(symbol, m);
      return m;
    }
    const r = Math.log(close / m.sumSqClose);
    m.sumSq += r * r;
    m.sumSqClose = close;
    m.previousClose = m.lastClose;
    m.lastClose = close;
    m.lastTimestamp = timestamp;
    return m;
  }

  private applyPrediction(rec: PredictionRecord, schedule: boolean, key = naturalKey(rec)): Entry {
    const entry: Entry = {
      id: rec.id,
      symbol: rec.symbol,
      modelVersion: rec.modelVersion,
      timestamp: rec.timestamp,
      prediction: rec.prediction,
      horizon: rec.horizon,
      price: rec.price,
      previousPrice: rec.previousPrice ?? null,
      threshold: rec.threshold,
      forecast: rec.forecast ?? null,
      actual: null,
      outcome: null,
      source: null,
      resolvedAt: null,
      closePrice: null,
    };
    if (entry.forecast?.target === 'volatility' && entry.price !== null) {
      // Returns from here on add up to the forecast's outcome; the first one starts from this price.
      const m = this.memory.get(entry.symbol);
      if (m === undefined) {
        this.memory.set(entry.symbol, {
          lastTimestamp: entry.timestamp,
          lastClose: entry.price,
          previousClose: Number.NaN,
          sumSq: 0,
          sumSqClose: entry.price,
        });
      } else m.sumSqClose = entry.price;
      entry.sumSq0 = this.memory.get(entry.symbol)!.sumSq;
    }
    this.byId.set(entry.id, entry);
    this.byKey.set(key, entry);
    this.book.recorded(entry);
    if (entry.price !== null) {
      this.pendingBySymbol.set(entry.symbol, (this.pendingBySymbol.get(entry.symbol) ?? 0) + 1);
      if (schedule) this.scheduleFor(entry.symbol).add(entry);
    }
    return entry;
  }

  private applyOutcome(entry: Entry, rec: OutcomeRecord): void {
    entry.outcome = rec.outcome;
    entry.source = rec.source;
    entry.resolvedAt = rec.resolvedAt;
    entry.closePrice = rec.closePrice;
    entry.actual = rec.actual ?? null;
    if (entry.price !== null) this.pendingBySymbol.set(entry.symbol, (this.pendingBySymbol.get(entry.symbol) ?? 1) - 1);
    this.book.resolved(entry);
    if (rec.outcome !== 'flat' && this.drift !== null && entry.prediction !== null) {
      const correct = entry.prediction > entry.threshold === (rec.outcome === 1);
      const crossing = this.drift.push(entry.modelVersion, entry.symbol, correct);
      if (crossing !== null && !this.replaying) {
        this.emissions.push({ name: crossing.kind === 'drift' ? 'drift' : 'driftRecovered', event: crossing.event });
      }
    }
    if (!this.replaying) this.emissions.push({ name: 'resolved', prediction: entry });
  }

  /** Events go out after the whole call's state is updated and persisted. */
  private flushEmissions(): void {
    const list = this.emissions;
    this.emissions = [];
    for (const e of list) {
      if (e.name === 'resolved') this.emit('resolved', e.prediction);
      else this.emit(e.name, e.event);
    }
  }

  /** Appends records to the journal; in memory there is nothing to write (and nothing is serialised). */
  private write(records: readonly JournalRecord[]): void {
    if (this.journal === null || records.length === 0) return;
    try {
      this.journal.append(records.map(serializeRecord));
    } catch (err) {
      this.writeFailure = err as Error;
      throw new QuantflowError(
        'TRACKER_WRITE_FAILED',
        `cannot append: ${(err as Error).message}`,
        {
          file: this.journalFile ?? undefined,
        },
        { cause: err },
      );
    }
  }

  private assertWritable(): void {
    if (this.closed) throw new QuantflowError('TRACKER_CLOSED', 'the prediction tracker is closed');
    if (this.writeFailure !== null) {
      throw new QuantflowError(
        'TRACKER_WRITE_FAILED',
        'an earlier write failed, memory and file may differ: reopen the tracker',
        { file: this.journalFile ?? undefined },
        { cause: this.writeFailure },
      );
    }
  }

  private scheduleFor(symbol: string): CandleSchedule<Entry> {
    let s = this.schedules.get(symbol);
    if (s === undefined) {
      s = new CandleSchedule<Entry>();
      this.schedules.set(symbol, s);
    }
    return s;
  }

  private lookup(ref: number | PredictionKey): Entry | undefined {
    if (typeof ref === 'number') return this.byId.get(ref);
    if (typeof ref !== 'object' || ref === null)
      throw new DataError('expected a prediction id or key', { field: 'id' });
    return this.byKey.get(naturalKey(ref));
  }
}

function naturalKey(p: PredictionKey): string {
  // Symbols and versions never contain NUL: a plain join is unambiguous and much cheaper than JSON.
  return `${p.symbol}\u0000${p.modelVersion}\u0000${p.timestamp}`;
}

function sameValues(a: Entry, b: PredictionRecord): boolean {
  return a.prediction === b.prediction && a.horizon === b.horizon && a.price === b.price && a.threshold === b.threshold;
}

function explicitOutcome(id: number, outcome: 0 | 1): OutcomeRecord {
  return { type: 'outcome', id, outcome, source: 'explicit', resolvedAt: null, closePrice: null };
}

function candleOutcome(entry: Entry, timestamp: number, close: number, memory: SymbolMemory): OutcomeRecord {
  // Entries in a schedule always have a price.
  const price = entry.price!;
  const outcome: Outcome = close > price ? 1 : close < price ? 0 : 'flat';
  const f = entry.forecast;
  const actual =
    f === null
      ? undefined
      : f.target === 'return'
        ? Math.log(close / price)
        : Math.sqrt(Math.max(0, memory.sumSq - (entry.sumSq0 ?? memory.sumSq)));
  return {
    type: 'outcome',
    id: entry.id,
    outcome,
    source: 'candle',
    resolvedAt: timestamp,
    closePrice: close,
    ...(actual !== undefined ? { actual } : {}),
  };
}

function describeRef(ref: number | PredictionKey): string {
  return typeof ref === 'number'
    ? `with id ${ref}`
    : `for ${JSON.stringify([ref.symbol, ref.modelVersion, ref.timestamp])}`;
}

function checkWindow(window: number | undefined): number | undefined {
  if (window === undefined) return undefined;
  if (!Number.isSafeInteger(window) || window <= 0) {
    throw new ConfigError(`expected a positive integer, got ${window}`, { field: 'window' });
  }
  return window;
}
