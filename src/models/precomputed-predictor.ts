/**
 * The batch path of `CandlePredictor`, for backtests: the model inputs of a
 * whole series come from the same streaming extractor the live predictor uses
 * (FeatureStream, lookback windows of float32 rows), the model answers them in
 * ONE `predictBatch` call, and the strategy then gets each candle's prediction
 * synchronously by (symbol, timestamp), so the engine's sync fast path holds.
 *
 * Several models may fill one source (walk-forward: one model per test
 * window); each candle keeps the prediction of the model that covered it.
 */
import { ConfigError, DataError, ModelError } from '../core/errors.js';
import type { CandlePredictor } from '../core/prediction.js';
import type { Candle, Prediction } from '../core/types.js';
import { assertSingleSymbol } from '../features/candle-checks.js';
import type { FeatureSchema } from '../features/feature-schema.js';
import { type ContextSeries, FeatureStream, streamSeries } from '../features/streaming-extractor.js';
import type { ModelMeta } from './model-meta.js';
import { assertPredictsDirection, predictionOf } from './prediction-of.js';
import type { Predictor } from './predictor.js';

/** Model inputs of every candle of one series: row i is the input at candle i's close. */
export interface SeriesInputs {
  readonly symbol: string;
  readonly schema: FeatureSchema;
  readonly lookback: number;
  /** Values per input row (features x lookback). */
  readonly width: number;
  /** Row-major, one row per candle; rows without a complete input hold zeros. */
  readonly values: Float32Array;
  /** 1 where the candle has a complete input: `lookback` consecutive feature rows (what RealtimePredictor predicts). */
  readonly valid: Uint8Array;
  /** Index of the first candle with a complete input (= candles.length when none has). */
  readonly first: number;
  /** The feature stream's EWMA volatility per candle, for predicted moves. */
  readonly volatility: Float64Array;
  readonly rows: number;
}

/** Inputs of every candle of `candles` (one symbol, time order), exactly as RealtimePredictor builds them. */
export function seriesInputs(
  candles: readonly Candle[],
  schema: FeatureSchema,
  lookback: number,
  context?: ContextSeries,
): SeriesInputs {
  if (!Number.isInteger(lookback) || lookback < 1) {
    throw new ConfigError(`lookback must be an integer >= 1, got ${lookback}`, { field: 'lookback' });
  }
  const stream = new FeatureStream(schema);
  const nf = stream.width;
  const n = candles.length;
  const rows = new Float32Array(n * nf);
  const volatility = new Float64Array(n);
  const valid = new Uint8Array(n);
  assertSingleSymbol(candles);
  const symbol = candles[0]?.symbol ?? '';
  let run = 0;
  streamSeries(stream, candles, rows, context, (i, ok) => {
    run = ok ? run + 1 : 0;
    valid[i] = run >= lookback ? 1 : 0;
    volatility[i] = stream.volatility;
  });
  const first = Math.max(0, valid.indexOf(1));
  const firstOrEnd = valid[first] === 1 ? first : n;
  if (lookback === 1) {
    return {
      symbol,
      schema: stream.schema,
      lookback,
      width: nf,
      values: rows,
      valid,
      first: firstOrEnd,
      volatility,
      rows: n,
    };
  }
  const width = nf * lookback;
  const values = new Float32Array(n * width);
  // Rows t-lookback+1 .. t are contiguous, oldest first.
  for (let t = 0; t < n; t++) {
    if (valid[t] === 1) values.set(rows.subarray((t - lookback + 1) * nf, (t + 1) * nf), t * width);
  }
  return { symbol, schema: stream.schema, lookback, width, values, valid, first: firstOrEnd, volatility, rows: n };
}

/** The input rows of the given candles, contiguous, for one batch call. */
export function gatherInputs(inputs: SeriesInputs, candles: readonly number[]): Float32Array {
  const w = inputs.width;
  const batch = new Float32Array(candles.length * w);
  for (let k = 0; k < candles.length; k++) {
    const i = candles[k]!;
    batch.set(inputs.values.subarray(i * w, (i + 1) * w), k * w);
  }
  return batch;
}

export interface AddSeriesOptions {
  /** First candle index to predict (default: the first with a complete input). */
  readonly from?: number;
  /** One past the last candle index to predict (default: all). */
  readonly to?: number;
  /** Inputs already computed for these candles (see `seriesInputs`), to share them between models. */
  readonly inputs?: SeriesInputs;
  /** Name of the model in the predictions (default the predictor's modelVersion). */
  readonly modelVersion?: string;
}

export class PrecomputedPredictor implements CandlePredictor {
  readonly horizon: number;
  private readonly bySymbol = new Map<string, Map<number, Prediction>>();
  private lastSymbol: string | undefined;
  private lastMap: Map<number, Prediction> | undefined;
  private count = 0;
  private batches = 0;

  constructor(options: { horizon: number }) {
    const h = options.horizon;
    if (!Number.isInteger(h) || h < 1)
      throw new ConfigError(`horizon must be an integer >= 1, got ${h}`, { field: 'horizon' });
    this.horizon = h;
  }

  /** Predictions of every candle of every series by one model. */
  static async fromSeries(
    predictor: Predictor,
    series: readonly (readonly Candle[])[],
    options: Pick<AddSeriesOptions, 'modelVersion'> = {},
  ): Promise<PrecomputedPredictor> {
    const source = new PrecomputedPredictor({ horizon: predictor.meta.label.horizon });
    for (const candles of series) await source.addSeries(predictor, candles, options);
    return source;
  }

  /** The model behind a prediction source must predict direction (or a return); ModelError otherwise. */
  static assertUsable(meta: ModelMeta): void {
    assertPredictsDirection(meta);
  }

  /**
   * Predicts candles [from, to) of `candles` with `predictor` in one
   * `predictBatch` call and stores the predictions. Returns how many.
   */
  async addSeries(predictor: Predictor, candles: readonly Candle[], options: AddSeriesOptions = {}): Promise<number> {
    const meta = predictor.meta;
    assertPredictsDirection(meta);
    if (meta.label.horizon !== this.horizon) {
      throw new ModelError(`model horizon ${meta.label.horizon} differs from this source's ${this.horizon}`, {
        field: 'horizon',
      });
    }
    const inputs = options.inputs ?? seriesInputs(candles, meta.featureSchema, meta.lookback);
    if (inputs.rows !== candles.length || inputs.lookback !== meta.lookback || inputs.width !== predictor.inputWidth) {
      throw new ModelError(
        `inputs (${inputs.rows} rows of ${inputs.width}, lookback ${inputs.lookback}) do not fit the model ` +
          `(${predictor.inputWidth} values, lookback ${meta.lookback}) or the ${candles.length} candles`,
        { field: 'inputs' },
      );
    }
    if (candles.length > 0 && inputs.symbol !== (candles[0] as Candle).symbol) {
      throw new ConfigError(`inputs are of ${inputs.symbol}, candles of ${(candles[0] as Candle).symbol}`, {
        field: 'inputs',
      });
    }
    if (inputs.schema.name !== meta.featureSchema.name || inputs.schema.version !== meta.featureSchema.version) {
      throw new ModelError(
        `inputs use feature set ${inputs.schema.name} v${inputs.schema.version}, the model ${meta.featureSchema.name} v${meta.featureSchema.version}`,
        { field: 'featureSchema' },
      );
    }
    const from = Math.max(options.from ?? inputs.first, inputs.first);
    const to = Math.min(options.to ?? candles.length, candles.length);
    if (!(Number.isInteger(from) && Number.isInteger(to))) {
      throw new ConfigError(`candle range must be integers, got [${from}, ${to})`, { field: 'from' });
    }
    if (to <= from) return 0;
    const w = inputs.width;
    // Candles without a complete input (e.g. a stale context) get no prediction, as streaming.
    const rows: number[] = [];
    for (let i = from; i < to; i++) if (inputs.valid[i] === 1) rows.push(i);
    if (rows.length === 0) return 0;
    const batch = rows.length === to - from ? inputs.values.subarray(from * w, to * w) : gatherInputs(inputs, rows);
    const values = await predictor.predictBatch(batch);
    this.batches++;
    if (values.length !== rows.length) {
      throw new ModelError(`the model answered ${values.length} values for ${rows.length} rows`);
    }
    const version = options.modelVersion ?? predictor.modelVersion;
    const out: Prediction[] = rows.map((i, k) => {
      const c = candles[i] as Candle;
      return predictionOf(
        meta,
        predictor.calibration,
        c.symbol,
        values[k]!,
        version,
        c.timestamp,
        inputs.volatility[i]!,
      );
    });
    this.store(inputs.symbol, candles, rows, out);
    return rows.length;
  }

  /**
   * Stores predictions computed elsewhere (e.g. by a sweep job) as those of
   * candles [from, from + predictions.length) of `candles` (null: that candle
   * has none), exactly as `addSeries` stores a model's answers. Returns how many.
   */
  addPredictions(
    candles: readonly Candle[],
    predictions: readonly (Omit<Prediction, 'symbol' | 'timestamp' | 'modelVersion' | 'confidence'> | null)[],
    options: { readonly from: number; readonly modelVersion: string },
  ): number {
    const { from } = options;
    const to = from + predictions.length;
    if (!(Number.isInteger(from) && from >= 0 && to <= candles.length)) {
      throw new ConfigError(`candle range [${from}, ${to}) is outside the ${candles.length} candles`, {
        field: 'from',
      });
    }
    if (to === from) return 0;
    const symbol = (candles[from] as Candle).symbol;
    const rows: number[] = [];
    const out: Prediction[] = [];
    for (let i = from; i < to; i++) {
      const c = candles[i] as Candle;
      if (c.symbol !== symbol) {
        throw new DataError(`series mixes symbols ${symbol} and ${c.symbol}`, { symbol, index: i, field: 'symbol' });
      }
      const p = predictions[i - from];
      if (p === null || p === undefined) continue;
      rows.push(i);
      out.push({
        ...p,
        symbol,
        timestamp: c.timestamp,
        modelVersion: options.modelVersion,
        confidence: Math.abs(p.prediction - 0.5) * 2,
      });
    }
    this.store(symbol, candles, rows, out);
    return rows.length;
  }

  private store(symbol: string, candles: readonly Candle[], rows: readonly number[], predictions: Prediction[]): void {
    let map = this.bySymbol.get(symbol);
    if (map === undefined) {
      map = new Map();
      this.bySymbol.set(symbol, map);
      this.lastSymbol = undefined;
      this.lastMap = undefined;
    }
    rows.forEach((i, k) => {
      const c = candles[i] as Candle;
      const prediction = predictions[k]!;
      const p = prediction.prediction;
      if (!(p >= 0 && p <= 1)) {
        throw new ModelError(`the model answered ${p}, not a probability in [0, 1]`, { symbol: c.symbol, index: i });
      }
      if (!map.has(c.timestamp)) this.count++;
      map.set(c.timestamp, prediction);
    });
  }

  /** The candle's precomputed prediction, synchronously (undefined when it has none). */
  onCandle(candle: Candle): Prediction | undefined {
    let map: Map<number, Prediction> | undefined;
    if (candle.symbol === this.lastSymbol) map = this.lastMap;
    else {
      map = this.bySymbol.get(candle.symbol);
      this.lastSymbol = candle.symbol;
      this.lastMap = map;
    }
    return map?.get(candle.timestamp);
  }

  get(symbol: string, timestamp: number): Prediction | undefined {
    return this.bySymbol.get(symbol)?.get(timestamp);
  }

  /** Predictions held. */
  get size(): number {
    return this.count;
  }

  /** `predictBatch` calls made. */
  get batchCalls(): number {
    return this.batches;
  }

  /** Every prediction (of one symbol, or all), in time order per symbol. */
  predictions(symbol?: string): Prediction[] {
    const maps = symbol === undefined ? [...this.bySymbol.values()] : [this.bySymbol.get(symbol) ?? new Map()];
    const out: Prediction[] = [];
    for (const m of maps) out.push(...[...m.values()].sort((a, b) => a.timestamp - b.timestamp));
    return out;
  }
}
