/**
 * Predictions as candles close, for strategies in every mode.
 *
 * `CandlePredictor` is all a strategy sees of a model: a closed candle in, a
 * `Prediction` (or nothing during warm-up) out. Two implementations:
 *
 * - `RealtimePredictor` (here): streaming, for paper and live trading (and any
 *   replay). Per symbol it keeps a bounded buffer of recent candles, a
 *   `FeatureStream` updated as each candle closes (O(1) per candle), and a ring
 *   of the last `lookback` feature rows (the model's meta says how many). Once
 *   warm-up is over, each closed candle gives one `predict` call. Ticks update
 *   the forming candle; with `intrabar: true` they also give a provisional
 *   prediction, computed on a clone of the feature stream so the closed-candle
 *   state is never touched. Symbols are independent of each other.
 * - `PrecomputedPredictor` (precomputed-predictor.ts): for backtests, every
 *   feature row of a series from the same streaming extractor and ONE
 *   `predictBatch` call, then answers synchronously by (symbol, timestamp), so
 *   the engine's synchronous fast path applies.
 *
 * A prediction's `timestamp` is the open time of the candle it was made on
 * (the forming candle's, intrabar), never the wall clock.
 */
import { ConfigError, DataError, ModelError } from '../core/errors.js';
import type { CandlePredictor } from '../core/prediction.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Prediction, Tick } from '../core/types.js';
import { FeatureStream } from '../features/streaming-extractor.js';
import { assertPredictsDirection, predictionOf } from './prediction-of.js';
import type { Predictor } from './predictor.js';

export type { CandlePredictor } from '../core/prediction.js';

export interface RealtimePredictorOptions {
  /** Recent closed candles kept per symbol (default 100), for inspection; features never need more. */
  readonly bufferSize?: number;
  /** Also predict on ticks, from the forming candle (default false: predictions on candle close only). */
  readonly intrabar?: boolean;
  /** Name of the model in predictions (default the predictor's modelVersion). */
  readonly modelVersion?: string;
}

export const DEFAULT_CANDLE_BUFFER = 100;

/** The candle being formed from ticks; ticks carry no volume, so it takes the last closed candle's volume. */
interface FormingCandle {
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

interface SymbolState {
  readonly stream: FeatureStream;
  /** Ring of the last `bufferSize` closed candles. */
  readonly candles: Candle[];
  candleHead: number;
  /** Ring of the last `lookback` feature rows, float32 as the batch path stores them. */
  readonly rows: Float32Array;
  rowsSeen: number;
  last: Candle | undefined;
  timeframe: string;
  timeframeMs: number;
  forming: FormingCandle | undefined;
}

export class RealtimePredictor implements CandlePredictor {
  readonly predictor: Predictor;
  readonly modelVersion: string;
  readonly horizon: number;
  readonly lookback: number;
  /** Features per row. */
  readonly width: number;
  /** Closed candles of a symbol before its first prediction: the feature warm-up plus lookback - 1. */
  readonly warmupCandles: number;
  readonly bufferSize: number;
  readonly intrabar: boolean;
  private readonly states = new Map<string, SymbolState>();
  /** Schema of the model, resolved once (FeatureStream checks it against the built-in set). */
  private readonly probe: FeatureStream;
  /** Symbols whose candles are the feature set's context: they feed every symbol's features and get no prediction. */
  private readonly context: ReadonlySet<string>;

  constructor(predictor: Predictor, options: RealtimePredictorOptions = {}) {
    if (predictor === undefined || predictor === null || typeof predictor.predict !== 'function') {
      throw new ConfigError('a Predictor is required', { field: 'predictor' });
    }
    const meta = predictor.meta;
    assertPredictsDirection(meta);
    this.probe = new FeatureStream(meta.featureSchema);
    this.context = new Set(this.probe.contextSymbols());
    this.predictor = predictor;
    this.modelVersion = options.modelVersion ?? predictor.modelVersion;
    this.horizon = meta.label.horizon;
    this.lookback = meta.lookback;
    this.width = this.probe.width;
    if (predictor.inputWidth !== this.width * this.lookback) {
      throw new ModelError(
        `model takes ${predictor.inputWidth} inputs but ${this.width} features x lookback ${this.lookback} give ${this.width * this.lookback}`,
        { field: 'inputWidth' },
      );
    }
    this.warmupCandles = this.probe.warmup + this.lookback;
    const size = options.bufferSize ?? DEFAULT_CANDLE_BUFFER;
    if (!Number.isInteger(size) || size < 1) {
      throw new ConfigError(`bufferSize must be an integer >= 1, got ${size}`, { field: 'bufferSize' });
    }
    this.bufferSize = size;
    this.intrabar = options.intrabar ?? false;
  }

  /**
   * A closed candle: updates the symbol's features and, once warm, predicts.
   * A context symbol's candle feeds every symbol's context and is not predicted.
   */
  onCandle(candle: Candle): Promise<Prediction | undefined> | undefined {
    if (this.context.has(candle.symbol)) {
      for (const s of this.states.values()) s.stream.updateContext(candle);
      return undefined;
    }
    const { state: s, valid } = this.ingest(candle);
    if (!valid || s.rowsSeen < this.lookback) return undefined;
    return this.predictInput(candle.symbol, this.closedInput(s, 0), candle.timestamp, s.stream.volatility);
  }

  /**
   * A tick: updates the forming candle of its symbol (the one opening after the
   * last closed candle). With `intrabar`, predicts from a clone of the feature
   * stream fed the forming candle; the closed-candle state is left untouched.
   * Ticks before the symbol's first closed candle, or for an already closed
   * candle, are ignored.
   */
  onTick(tick: Tick): Promise<Prediction | undefined> | undefined {
    const s = this.states.get(tick.symbol);
    if (s === undefined || s.last === undefined) return undefined;
    const price = tick.last;
    if (!(Number.isFinite(price) && price > 0) || !Number.isFinite(tick.timestamp)) {
      throw new DataError(`tick needs a finite timestamp and a last price > 0, got ${price} at ${tick.timestamp}`, {
        symbol: tick.symbol,
        field: 'last',
      });
    }
    const nextOpen = s.last.timestamp + s.timeframeMs;
    if (tick.timestamp < nextOpen) return undefined;
    const open = nextOpen + Math.floor((tick.timestamp - nextOpen) / s.timeframeMs) * s.timeframeMs;
    let f = s.forming;
    if (f === undefined || f.timestamp !== open) {
      f = { timestamp: open, open: price, high: price, low: price, close: price, volume: s.last.volume };
      s.forming = f;
    } else {
      if (price > f.high) f.high = price;
      if (price < f.low) f.low = price;
      f.close = price;
    }
    if (!this.intrabar || s.rowsSeen < this.lookback - 1) return undefined;
    const clone = s.stream.clone();
    const row = clone.update(this.formingCandle(tick.symbol) as Candle);
    if (row === undefined) return undefined;
    const input = this.closedInput(s, 1);
    input.set(row, (this.lookback - 1) * this.width);
    return this.predictInput(tick.symbol, input, open, clone.volatility);
  }

  /** Feeds history (closed candles, in time order) without predicting. */
  warmUp(candles: Iterable<Candle>): void {
    for (const candle of candles) {
      if (this.context.has(candle.symbol)) for (const s of this.states.values()) s.stream.updateContext(candle);
      else this.ingest(candle);
    }
  }

  /** True when the symbol's next closed candle gives a prediction. */
  ready(symbol: string): boolean {
    const s = this.states.get(symbol);
    return s !== undefined && s.rowsSeen + 1 >= this.lookback && s.stream.count + 1 > this.probe.warmup;
  }

  /** Closed candles seen for the symbol since creation or reset. */
  candleCount(symbol: string): number {
    return this.states.get(symbol)?.stream.count ?? 0;
  }

  /** The last (up to `bufferSize`) closed candles of a symbol, oldest first. */
  recentCandles(symbol: string): Candle[] {
    const s = this.states.get(symbol);
    if (s === undefined) return [];
    const buf = s.candles;
    if (buf.length < this.bufferSize) return buf.slice();
    return [...buf.slice(s.candleHead), ...buf.slice(0, s.candleHead)];
  }

  /** The candle being formed from ticks, or undefined. */
  formingCandle(symbol: string): Candle | undefined {
    const s = this.states.get(symbol);
    const f = s?.forming;
    if (s === undefined || f === undefined) return undefined;
    return { symbol, timeframe: s.timeframe, ...f };
  }

  symbols(): string[] {
    return [...this.states.keys()];
  }

  /** Forgets one symbol, or every symbol. */
  reset(symbol?: string): void {
    if (symbol === undefined) this.states.clear();
    else this.states.delete(symbol);
  }

  private ingest(candle: Candle): { state: SymbolState; valid: boolean } {
    let s = this.states.get(candle.symbol);
    if (s === undefined) {
      s = {
        stream: new FeatureStream(this.probe.schema),
        candles: [],
        candleHead: 0,
        rows: new Float32Array(this.lookback * this.width),
        rowsSeen: 0,
        last: undefined,
        timeframe: '',
        timeframeMs: 0,
        forming: undefined,
      };
      this.states.set(candle.symbol, s);
    }
    // Throws DataError (state untouched) on a bad or out-of-order candle.
    const row = s.stream.update(candle);
    if (candle.timeframe !== s.timeframe) {
      s.timeframeMs = timeframeToMs(candle.timeframe);
      s.timeframe = candle.timeframe;
    }
    if (s.candles.length < this.bufferSize) s.candles.push(candle);
    else {
      s.candles[s.candleHead] = candle;
      s.candleHead = s.candleHead + 1 === this.bufferSize ? 0 : s.candleHead + 1;
    }
    s.last = candle;
    if (s.forming !== undefined && s.forming.timestamp <= candle.timestamp) s.forming = undefined;
    if (row !== undefined) {
      s.rows.set(row, (s.rowsSeen % this.lookback) * this.width);
      s.rowsSeen++;
    } else if (s.stream.ready) {
      // A row missing after the warm-up (a stale context) breaks the run of `lookback` rows.
      s.rowsSeen = 0;
    }
    return { state: s, valid: row !== undefined };
  }

  /**
   * A fresh model input of the last `lookback - skip` closed rows, oldest
   * first, at the start of the input (the caller fills the last `skip` rows).
   */
  private closedInput(s: SymbolState, skip: number): Float32Array {
    const { lookback, width } = this;
    const input = new Float32Array(lookback * width);
    const take = lookback - skip;
    for (let k = 0; k < take; k++) {
      // Row rowsSeen - take + k, oldest first.
      const slot = (s.rowsSeen - take + k) % lookback;
      input.set(s.rows.subarray(slot * width, (slot + 1) * width), k * width);
    }
    return input;
  }

  private async predictInput(
    symbol: string,
    input: Float32Array,
    timestamp: number,
    volatility: number,
  ): Promise<Prediction> {
    const value = await this.predictor.predict(input);
    const p = this.predictor;
    return predictionOf(p.meta, p.calibration, symbol, value, this.modelVersion, timestamp, volatility);
  }
}
