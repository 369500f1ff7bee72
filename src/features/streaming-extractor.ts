/**
 * Streaming feature extraction: one candle in, one feature row out, O(1) work
 * and no allocation per candle. Nothing is returned until every feature of the
 * set is defined, so a model never sees a warm-up NaN.
 */
import { ConfigError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { checkCandle } from './candle-checks.js';
import { DEFAULT_VOLATILITY_SPAN, EwmaVolatility } from './ewma-volatility.js';
import { type FeatureSchema, type FeatureSetName, featureNames, schemaWarmup } from './feature-schema.js';
import { FEATURE_WRITERS, type FeatureBuffer, type FeatureWriter, resolveFeatureSchema } from './feature-sets.js';
import { IndicatorState } from './indicator-state.js';

/** Feature state of one symbol. */
export class FeatureStream {
  readonly schema: FeatureSchema;
  /** Number of features per row. */
  readonly width: number;
  /** Candles consumed before the first row is returned. */
  readonly warmup: number;
  private readonly writer: FeatureWriter;
  private readonly row: Float64Array;
  private state: IndicatorState;
  private vol: EwmaVolatility;

  constructor(featureSet?: FeatureSetName | FeatureSchema) {
    this.schema = resolveFeatureSchema(featureSet);
    this.width = this.schema.features.length;
    this.warmup = schemaWarmup(this.schema);
    this.writer = FEATURE_WRITERS[this.schema.name];
    this.row = new Float64Array(this.width);
    this.state = new IndicatorState();
    this.vol = new EwmaVolatility(DEFAULT_VOLATILITY_SPAN);
  }

  /** EWMA volatility per candle (of one-candle log returns) after the last candle; NaN during its warm-up. */
  get volatility(): number {
    return this.vol.value();
  }

  get featureNames(): string[] {
    return featureNames(this.schema);
  }

  /** Candles consumed since creation or reset. */
  get count(): number {
    return this.state.count;
  }

  get lastTimestamp(): number {
    return this.state.lastTimestamp;
  }

  /** True once update() returns rows. */
  get ready(): boolean {
    return this.state.count > this.warmup;
  }

  /**
   * Consumes a candle (throws DataError and leaves the state untouched if it is
   * invalid or not after the previous one) and returns its feature row, or
   * undefined during warm-up. With `out`, the row is written at `offset` and
   * `out` is returned; without, an internal buffer is returned that the next
   * update overwrites: copy it to keep it.
   */
  update<T extends FeatureBuffer>(candle: Candle, out: T, offset?: number): T | undefined;
  update(candle: Candle): Float64Array | undefined;
  update(candle: Candle, out?: FeatureBuffer, offset = 0): FeatureBuffer | undefined {
    const target = out ?? this.row;
    if (offset < 0 || offset + this.width > target.length) {
      throw new ConfigError(`feature buffer of length ${target.length} cannot hold ${this.width} values at ${offset}`, {
        field: 'out',
      });
    }
    checkCandle(candle, this.state.lastTimestamp, this.state.count);
    const snapshot = this.state.update(candle.timestamp, candle.close, candle.volume);
    this.vol.update(candle.close);
    if (this.state.count <= this.warmup) return undefined;
    this.writer(snapshot, target, offset);
    return target;
  }

  reset(): void {
    this.state.reset();
    this.vol.reset();
  }

  /** An independent copy: feeding one does not affect the other. */
  clone(): FeatureStream {
    const c = new FeatureStream(this.schema);
    c.state = this.state.clone();
    c.vol = this.vol.clone();
    return c;
  }
}

/** Feature streams for many symbols, created on a symbol's first candle. */
export class StreamingFeatureExtractor {
  readonly schema: FeatureSchema;
  private readonly streams = new Map<string, FeatureStream>();

  constructor(featureSet?: FeatureSetName | FeatureSchema) {
    this.schema = resolveFeatureSchema(featureSet);
  }

  get width(): number {
    return this.schema.features.length;
  }

  get featureNames(): string[] {
    return featureNames(this.schema);
  }

  /** See FeatureStream#update; state is kept per `candle.symbol`. */
  update<T extends FeatureBuffer>(candle: Candle, out: T, offset?: number): T | undefined;
  update(candle: Candle): Float64Array | undefined;
  update(candle: Candle, out?: FeatureBuffer, offset = 0): FeatureBuffer | undefined {
    let stream = this.streams.get(candle.symbol);
    if (stream === undefined) {
      stream = new FeatureStream(this.schema);
      this.streams.set(candle.symbol, stream);
    }
    return out === undefined ? stream.update(candle) : stream.update(candle, out, offset);
  }

  stream(symbol: string): FeatureStream | undefined {
    return this.streams.get(symbol);
  }

  symbols(): string[] {
    return [...this.streams.keys()];
  }

  /** Forgets one symbol's state, or every symbol's. */
  reset(symbol?: string): void {
    if (symbol === undefined) this.streams.clear();
    else this.streams.delete(symbol);
  }

  clone(): StreamingFeatureExtractor {
    const c = new StreamingFeatureExtractor(this.schema);
    for (const [symbol, stream] of this.streams) c.streams.set(symbol, stream.clone());
    return c;
  }
}
