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
import type { FeatureSchema } from '../features/feature-schema.js';
import { FeatureStream } from '../features/streaming-extractor.js';
import type { Predictor } from './predictor.js';
import { toPrediction } from './realtime-predictor.js';

/** Model inputs of every candle of one series: row i is the input at candle i's close. */
export interface SeriesInputs {
  readonly symbol: string;
  readonly schema: FeatureSchema;
  readonly lookback: number;
  /** Values per input row (features x lookback). */
  readonly width: number;
  /** Row-major, one row per candle; rows before `first` are warm-up and hold zeros. */
  readonly values: Float32Array;
  /** Index of the first candle with a complete input (= candles.length when too short). */
  readonly first: number;
  readonly rows: number;
}

/** Inputs of every candle of `candles` (one symbol, time order), exactly as RealtimePredictor builds them. */
export function seriesInputs(candles: readonly Candle[], schema: FeatureSchema, lookback: number): SeriesInputs {
  if (!Number.isInteger(lookback) || lookback < 1) {
    throw new ConfigError(`lookback must be an integer >= 1, got ${lookback}`, { field: 'lookback' });
  }
  const stream = new FeatureStream(schema);
  const nf = stream.width;
  const n = candles.length;
  const rows = new Float32Array(n * nf);
  const symbol = candles[0]?.symbol ?? '';
  for (let i = 0; i < n; i++) {
    const c = candles[i] as Candle;
    if (c.symbol !== symbol) {
      throw new DataError(`series mixes symbols ${symbol} and ${c.symbol}`, { symbol, index: i, field: 'symbol' });
    }
    stream.update(c, rows, i * nf);
  }
  const first = Math.min(n, stream.warmup + lookback - 1);
  if (lookback === 1) return { symbol, schema: stream.schema, lookback, width: nf, values: rows, first, rows: n };
  const width = nf * lookback;
  const values = new Float32Array(n * width);
  // Rows t-lookback+1 .. t are contiguous, oldest first.
  for (let t = first; t < n; t++) values.set(rows.subarray((t - lookback + 1) * nf, (t + 1) * nf), t * width);
  return { symbol, schema: stream.schema, lookback, width, values, first, rows: n };
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

  /**
   * Predicts candles [from, to) of `candles` with `predictor` in one
   * `predictBatch` call and stores the predictions. Returns how many.
   */
  async addSeries(predictor: Predictor, candles: readonly Candle[], options: AddSeriesOptions = {}): Promise<number> {
    const meta = predictor.meta;
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
    const probabilities = await predictor.predictBatch(inputs.values.subarray(from * w, to * w));
    this.batches++;
    if (probabilities.length !== to - from) {
      throw new ModelError(`the model answered ${probabilities.length} probabilities for ${to - from} rows`);
    }
    this.store(inputs.symbol, candles, from, probabilities, options.modelVersion ?? predictor.modelVersion);
    return to - from;
  }

  /**
   * Stores probabilities computed elsewhere (e.g. by a sweep job) as the
   * predictions of candles [from, from + probabilities.length) of `candles`,
   * exactly as `addSeries` stores a model's answers. Returns how many.
   */
  addProbabilities(
    candles: readonly Candle[],
    probabilities: ArrayLike<number>,
    options: { readonly from: number; readonly modelVersion: string },
  ): number {
    const { from } = options;
    const to = from + probabilities.length;
    if (!(Number.isInteger(from) && from >= 0 && to <= candles.length)) {
      throw new ConfigError(`candle range [${from}, ${to}) is outside the ${candles.length} candles`, {
        field: 'from',
      });
    }
    if (to === from) return 0;
    const symbol = (candles[from] as Candle).symbol;
    for (let i = from + 1; i < to; i++) {
      const c = candles[i] as Candle;
      if (c.symbol !== symbol) {
        throw new DataError(`series mixes symbols ${symbol} and ${c.symbol}`, { symbol, index: i, field: 'symbol' });
      }
    }
    this.store(symbol, candles, from, probabilities, options.modelVersion);
    return to - from;
  }

  private store(
    symbol: string,
    candles: readonly Candle[],
    from: number,
    probabilities: ArrayLike<number>,
    modelVersion: string,
  ): void {
    let map = this.bySymbol.get(symbol);
    if (map === undefined) {
      map = new Map();
      this.bySymbol.set(symbol, map);
      this.lastSymbol = undefined;
      this.lastMap = undefined;
    }
    for (let k = 0; k < probabilities.length; k++) {
      const i = from + k;
      const c = candles[i] as Candle;
      const p = probabilities[k] as number;
      if (!(p >= 0 && p <= 1)) {
        throw new ModelError(`the model answered ${p}, not a probability in [0, 1]`, { symbol: c.symbol, index: i });
      }
      if (!map.has(c.timestamp)) this.count++;
      map.set(c.timestamp, toPrediction(c.symbol, p, modelVersion, c.timestamp));
    }
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
