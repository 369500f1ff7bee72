/**
 * Streaming feature extraction: one candle in, one feature row out, O(1) work
 * and no allocation per candle. Nothing is returned until the set's warm-up is
 * over and every feature of the row is defined, so a model never sees a NaN.
 *
 * A configured set with context symbols (feature-config.ts) also takes their
 * candles (`updateContext`); they inform the rows of later base candles only.
 */
import { ConfigError, DataError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { checkCandle } from './candle-checks.js';
import { ConfigFeatureState } from './config-stream.js';
import { DEFAULT_VOLATILITY_SPAN, EwmaVolatility } from './ewma-volatility.js';
import { type FeatureSchema, featureNames, schemaWarmup } from './feature-schema.js';
import {
  FEATURE_WRITERS,
  type FeatureBuffer,
  type FeatureSetSpec,
  type FeatureWriter,
  isFixedFeatureSet,
  resolveFeatureSchema,
} from './feature-sets.js';
import { IndicatorState } from './indicator-state.js';

/** Feature state of one symbol. */
export class FeatureStream {
  readonly schema: FeatureSchema;
  /** Number of features per row. */
  readonly width: number;
  /** Candles consumed before the first row is returned. */
  readonly warmup: number;
  /** Fixed sets: the formulas of the set and their indicator state. */
  private readonly writer: FeatureWriter | undefined;
  private state: IndicatorState | undefined;
  /** Configured sets. */
  private configured: ConfigFeatureState | undefined;
  private vol: EwmaVolatility;
  private readonly row: Float64Array;
  private candles = 0;
  private last = Number.NEGATIVE_INFINITY;

  constructor(featureSet?: FeatureSetSpec) {
    this.schema = resolveFeatureSchema(featureSet);
    this.width = this.schema.features.length;
    this.warmup = schemaWarmup(this.schema);
    this.row = new Float64Array(this.width);
    if (isFixedFeatureSet(this.schema.name)) {
      this.writer = FEATURE_WRITERS[this.schema.name];
      this.state = new IndicatorState();
      this.vol = new EwmaVolatility(DEFAULT_VOLATILITY_SPAN);
    } else {
      this.configured = new ConfigFeatureState(this.schema.config!);
      this.vol = this.configured.volatilityEstimate;
    }
  }

  /** EWMA volatility per candle (of one-candle log returns) after the last candle; NaN during its warm-up. */
  get volatility(): number {
    return this.vol.value();
  }

  /** EMA span of `volatility`. */
  get volatilitySpan(): number {
    return this.vol.span;
  }

  /** Symbols whose candles this set takes as context (`updateContext`). */
  contextSymbols(): string[] {
    return this.configured?.contextSymbols() ?? [];
  }

  /** A candle of a context symbol, in time order per symbol; it informs later base candles' rows. */
  updateContext(candle: Candle): void {
    if (this.configured === undefined || !this.configured.isContext(candle.symbol)) {
      throw new DataError(`${candle.symbol} is not a context symbol of feature set ${this.schema.name}`, {
        symbol: candle.symbol,
        field: 'symbol',
      });
    }
    this.configured.updateContext(candle);
  }

  get featureNames(): string[] {
    return featureNames(this.schema);
  }

  /** Candles consumed since creation or reset. */
  get count(): number {
    return this.candles;
  }

  get lastTimestamp(): number {
    return this.last;
  }

  /** True once the warm-up is over (update() returns rows whose features are all defined). */
  get ready(): boolean {
    return this.candles > this.warmup;
  }

  /**
   * Consumes a candle (throws DataError and leaves the state untouched if it is
   * invalid or not after the previous one) and returns its feature row, or
   * undefined during warm-up or when a feature is undefined (e.g. a context
   * too stale); `out` may then hold a partial row. With `out`, the row is
   * written at `offset` and `out` is returned; without, an internal buffer is
   * returned that the next update overwrites: copy it to keep it.
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
    checkCandle(candle, this.last, this.candles);
    this.candles++;
    this.last = candle.timestamp;
    if (this.configured !== undefined) {
      this.configured.update(candle);
      if (this.candles <= this.warmup) return undefined;
      this.configured.write(target, offset);
      for (let j = offset; j < offset + this.width; j++) if (!Number.isFinite(target[j]!)) return undefined;
      return target;
    }
    const snapshot = this.state!.update(candle.timestamp, candle.close, candle.volume);
    this.vol.update(candle.close);
    if (this.candles <= this.warmup) return undefined;
    this.writer!(snapshot, target, offset);
    return target;
  }

  reset(): void {
    this.candles = 0;
    this.last = Number.NEGATIVE_INFINITY;
    if (this.configured !== undefined) {
      this.configured = new ConfigFeatureState(this.schema.config!);
      this.vol = this.configured.volatilityEstimate;
    } else {
      this.state!.reset();
      this.vol.reset();
    }
  }

  /** An independent copy: feeding one does not affect the other. */
  clone(): FeatureStream {
    const c = new FeatureStream(this.schema);
    c.candles = this.candles;
    c.last = this.last;
    if (this.configured !== undefined) {
      c.configured = this.configured.clone();
      c.vol = c.configured.volatilityEstimate;
    } else {
      c.state = this.state!.clone();
      c.vol = this.vol.clone();
    }
    return c;
  }
}

/** Feature streams for many symbols, created on a symbol's first candle. */
export class StreamingFeatureExtractor {
  readonly schema: FeatureSchema;
  private readonly streams = new Map<string, FeatureStream>();

  private readonly context: ReadonlySet<string>;

  constructor(featureSet?: FeatureSetSpec) {
    this.schema = resolveFeatureSchema(featureSet);
    this.context = new Set(this.schema.config?.context?.symbols ?? []);
  }

  get width(): number {
    return this.schema.features.length;
  }

  get featureNames(): string[] {
    return featureNames(this.schema);
  }

  /**
   * See FeatureStream#update; state is kept per `candle.symbol`. A candle of a
   * context symbol goes to every stream's context and gives no row itself.
   */
  update<T extends FeatureBuffer>(candle: Candle, out: T, offset?: number): T | undefined;
  update(candle: Candle): Float64Array | undefined;
  update(candle: Candle, out?: FeatureBuffer, offset = 0): FeatureBuffer | undefined {
    if (this.context.has(candle.symbol)) {
      for (const s of this.streams.values()) s.updateContext(candle);
      return undefined;
    }
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

/** Candles of context symbols, each in time order, keyed by symbol. */
export type ContextSeries = ReadonlyMap<string, readonly Candle[]>;

/**
 * Feeds a whole series (one symbol, time order) through `stream`, each
 * context symbol's candles pushed in before the base candle of the same or a
 * later time (their order does not matter: a context candle informs only
 * base candles opening after it closed). Calls `onCandle(i)` after candle i,
 * with `valid` whether it gave a row (written at `out[i * width]`).
 */
export function streamSeries(
  stream: FeatureStream,
  candles: readonly Candle[],
  out: FeatureBuffer,
  context: ContextSeries = new Map(),
  onCandle?: (i: number, valid: boolean) => void,
): void {
  const wanted = stream.contextSymbols();
  for (const symbol of context.keys()) {
    if (!wanted.includes(symbol)) {
      throw new ConfigError(`${symbol} was given as context but the feature set takes ${wanted.join(', ') || 'none'}`, {
        field: 'context',
      });
    }
  }
  const missing = wanted.filter((s) => !context.has(s));
  if (missing.length > 0) {
    throw new ConfigError(`the feature set needs the candles of context symbol(s) ${missing.join(', ')}`, {
      field: 'context',
    });
  }
  const series = wanted.map((s) => context.get(s)!);
  const next = series.map(() => 0);
  const w = stream.width;
  for (let i = 0; i < candles.length; i++) {
    const c = candles[i]!;
    for (let k = 0; k < series.length; k++) {
      const s = series[k]!;
      while (next[k]! < s.length && s[next[k]!]!.timestamp <= c.timestamp) stream.updateContext(s[next[k]!++]!);
    }
    const valid = stream.update(c, out, i * w) !== undefined;
    onCandle?.(i, valid);
  }
}
