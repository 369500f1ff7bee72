/**
 * Raw candles in a predict request -> the model's input rows.
 *
 * Candles come as objects `{timestamp, open, high, low, close, volume}` or as
 * ccxt arrays `[timestamp, open, high, low, close, volume]`. Each is checked by
 * the candle loader's own RowValidator (numbers or numeric strings, ms/s/ISO
 * timestamps, finite positive prices, high/low consistent, volume >= 0), in
 * strictly increasing time as the loader demands, and refusals name the
 * candle and field: `candles[4].close`. The streaming feature extractor then
 * computes the model's features, exactly as in training and live trading.
 * Both run in slices (slices.ts), yielding to other requests in between.
 */
import type { Candle } from '../core/types.js';
import { CANDLE_FIELDS, type CandleRowError, RowValidator } from '../data/row-validation.js';
import { FeatureStream } from '../features/streaming-extractor.js';
import type { ModelMeta } from '../models/model-meta.js';
import { ApiError } from './api-errors.js';
import { inSlices } from './slices.js';

const SOURCE = 'candles';
/** Candles validated, and candles streamed through the features, per turn of the event loop. */
const PARSE_SLICE = 1000;
const FEATURE_SLICE = 2000;
const WIDTH = CANDLE_FIELDS.length;
const OBJECT_FIELDS = new Set<string>(CANDLE_FIELDS);

/** The text token the row validator reads for one JSON value (null and absent are empty, as in the loader). */
function tokenOf(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  return JSON.stringify(value) ?? '';
}

function candleError(err: CandleRowError, index: number): ApiError {
  const line = index + 1;
  const field = err.where.field ?? 'candle';
  const prefix = `${SOURCE}:${line}, index ${index}, field '${field}': `;
  const raw = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  // The validator speaks of file lines; here line n is candles[n - 1].
  const message = raw.replace(/\bline (\d+)\b/g, (_m, n: string) => `candles[${Number(n) - 1}]`);
  const name = `candles[${index}].${field}`;
  return new ApiError(400, 'INVALID_CANDLE', `${name}: ${message}`, name);
}

/** Validates the request's candles into Candles of `symbol` (all-or-nothing). */
export async function parseCandles(items: readonly unknown[], symbol: string, timeframe: string): Promise<Candle[]> {
  const validator = new RowValidator(SOURCE, CANDLE_FIELDS);
  const tokens = ['', '', '', '', '', ''];
  const out: Candle[] = new Array(items.length);
  let previous = Number.NEGATIVE_INFINITY;
  let previousLine = 0;
  await inSlices(items.length, PARSE_SLICE, (from, to) => {
    for (let i = from; i < to; i++) parseOne(i);
  });
  return out;

  function parseOne(i: number): void {
    const item = items[i];
    let count: number = WIDTH;
    if (Array.isArray(item)) {
      count = item.length;
      for (let f = 0; f < WIDTH; f++) tokens[f] = f < count ? tokenOf(item[f]) : '';
    } else if (typeof item === 'object' && item !== null) {
      const o = item as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        if (!OBJECT_FIELDS.has(key)) {
          throw new ApiError(
            400,
            'UNKNOWN_FIELD',
            `candles[${i}] has an unknown field '${key}' (expected ${CANDLE_FIELDS.join(', ')})`,
            `candles[${i}].${key}`,
          );
        }
      }
      for (let f = 0; f < WIDTH; f++) tokens[f] = tokenOf(o[CANDLE_FIELDS[f]!]);
    } else {
      throw new ApiError(
        400,
        'INVALID_CANDLE',
        `candles[${i}] must be an object {${CANDLE_FIELDS.join(', ')}} or an array [${CANDLE_FIELDS.join(', ')}]`,
        `candles[${i}]`,
      );
    }
    const line = i + 1;
    const bad = validator.check(tokens, count, WIDTH, line, i);
    if (bad !== undefined) throw candleError(bad, i);
    const ts = validator.timestamp;
    if (ts <= previous) throw candleError(validator.orderError(ts, previous, previousLine, line, i), i);
    previous = ts;
    previousLine = line;
    out[i] = {
      timestamp: ts,
      open: validator.open,
      high: validator.high,
      low: validator.low,
      close: validator.close,
      volume: validator.volume,
      symbol,
      timeframe,
    };
  }
}

/** Candles a model needs before its first input row: the feature warm-up plus its lookback. */
export function candlesNeeded(meta: ModelMeta): number {
  return new FeatureStream(meta.featureSchema).warmup + meta.lookback;
}

export interface CandleInputs {
  /** Row-major input rows, `count * width` values, oldest first. */
  readonly rows: Float64Array;
  readonly count: number;
  /** Index into the candles of each row's (last) candle. */
  readonly candleIndex: Int32Array;
  /** EWMA volatility per candle at each row's candle: the scale of its forecasts. */
  readonly volatility: Float64Array;
}

/**
 * Streams `candles` through the model's feature set and builds its input rows
 * (`lookback` feature rows concatenated, oldest first, as in training): one
 * per candle from the first complete one (`all`), or only the last candle's.
 */
export async function candleInputs(
  candles: readonly Candle[],
  meta: ModelMeta,
  all: boolean,
  modelRef: string,
): Promise<CandleInputs> {
  const stream = new FeatureStream(meta.featureSchema);
  const context = stream.contextSymbols();
  if (context.length > 0) {
    throw new ApiError(
      400,
      'CONTEXT_NOT_SUPPORTED',
      `model ${modelRef} takes features of other symbols (${context.join(', ')}), which one series of candles cannot give: send its feature rows (features or rows)`,
      'candles',
    );
  }
  const nf = stream.width;
  const lookback = meta.lookback;
  const width = nf * lookback;
  const needed = stream.warmup + lookback;
  if (candles.length < needed) {
    throw new ApiError(
      400,
      'NOT_ENOUGH_CANDLES',
      `model ${modelRef} needs at least ${needed} candles (feature warm-up ${stream.warmup} + lookback ${lookback}), got ${candles.length}`,
      'candles',
    );
  }
  const count = all ? candles.length - needed + 1 : 1;
  const rows = new Float64Array(count * width);
  const candleIndex = new Int32Array(count);
  const volatility = new Float64Array(count);
  const window = new Float64Array(width);
  let filled = 0;
  let k = 0;
  const last = candles.length - 1;
  await inSlices(candles.length, FEATURE_SLICE, (from, to) => {
    for (let i = from; i < to; i++) {
      const row = stream.update(candles[i]!);
      if (row === undefined) continue;
      if (lookback > 1) window.copyWithin(0, nf);
      window.set(row, width - nf);
      if (++filled < lookback) continue;
      if (all || i === last) {
        rows.set(window, k * width);
        volatility[k] = stream.volatility;
        candleIndex[k++] = i;
      }
    }
  });
  return { rows, count: k, candleIndex, volatility };
}
