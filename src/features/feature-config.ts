/**
 * A declarative feature configuration: which blocks of features to compute,
 * with which periods, on which higher timeframes and from which other symbols.
 * It is saved inside the model's feature schema, so a model names exactly the
 * features it was trained on and every path (training, backtest, paper/live,
 * the API) rebuilds the same extractor from it.
 *
 * Every feature is scale-free (returns scaled by the current volatility,
 * ratios, positions), so one model can be trained on several symbols and
 * applied to another. Every block updates in O(1) per candle.
 *
 * The blocks, in the order their columns appear:
 * - `returns`: the log returns of the last `lags` candles, each divided by the
 *   current EWMA volatility;
 * - `momentum`: ln(close / close w candles ago) / (volatility * sqrt(w)) per window;
 * - `volatility`: ln(EWMA volatility), and per window ln(rolling sd of returns / EWMA volatility);
 * - `atr`: Wilder's average true range / close per period;
 * - `candle`: range relative to its EMA, body and wicks as shares of the range,
 *   the opening gap scaled by the volatility;
 * - `volume`: z-score of ln(1 + volume) over a rolling window;
 * - `indicators`: the classic indicators of the `relative` set (SMA/EMA ratios, RSI, MACD, Bollinger);
 * - `calendar`: hour and weekday of the candle's open time as sin/cos (UTC);
 * - `higherTimeframes`: for each timeframe, bars aggregated from this stream
 *   using only bars that have closed: their last `lags` returns, the move since
 *   the last closed bar, and the close's position in that bar's range;
 * - `context`: for each other symbol, its last `lags` returns (scaled by its
 *   own volatility) using only its candles that closed by this candle's open,
 *   and how many candles stale that context is.
 */
import { ConfigError } from '../core/errors.js';
import { timeframeToMs } from '../core/timeframe.js';
import { DEFAULT_VOLATILITY_SPAN } from './ewma-volatility.js';

export interface FeatureConfig {
  /** EWMA span (candles) of the volatility that scales returns (default 32). */
  readonly volatilitySpan?: number;
  /** Base timeframe of the candles; required with higherTimeframes (train and backtest fill it from the data). */
  readonly timeframe?: string;
  readonly returns?: { readonly lags: number };
  readonly momentum?: { readonly windows: readonly number[] };
  readonly volatility?: { readonly windows: readonly number[] };
  readonly atr?: { readonly periods: readonly number[] };
  /** Span of the EMA the range is compared with. */
  readonly candle?: { readonly rangeSpan: number };
  readonly volume?: { readonly window: number };
  readonly indicators?: boolean;
  readonly calendar?: boolean;
  readonly higherTimeframes?: { readonly timeframes: readonly string[]; readonly lags: number };
  /**
   * Other symbols whose candles inform this one's features. Context candles
   * are used once they have closed by the open of this symbol's candle (one
   * candle behind), so their arrival order never matters; a row whose newest
   * usable context candle is more than `maxStaleness` candles older than that
   * (default 2) is not produced: no prediction until the context catches up.
   */
  readonly context?: { readonly symbols: readonly string[]; readonly lags: number; readonly maxStaleness?: number };
}

/** The configuration the `core` feature set stands for. */
export const CORE_FEATURE_CONFIG: FeatureConfig = {
  volatilitySpan: DEFAULT_VOLATILITY_SPAN,
  returns: { lags: 8 },
  momentum: { windows: [3, 6, 12, 24, 48] },
  volatility: { windows: [6, 24, 96] },
  candle: { rangeSpan: 24 },
  volume: { window: 48 },
  calendar: true,
};

/** Changes of a value smaller than this count as converged (the leak analysis uses the same tolerance). */
export const CONVERGENCE_TOLERANCE = 1e-9;

/**
 * Candles until an EMA of smoothing `alpha` forgets its start to a tenth of
 * CONVERGENCE_TOLERANCE: features derived from it (square roots, ratios) can
 * amplify the remainder a little and must still converge to the tolerance.
 */
export function convergenceCandles(alpha: number): number {
  return Math.ceil(Math.log(CONVERGENCE_TOLERANCE / 10) / Math.log(1 - alpha));
}

const MAX_PERIOD = 10_000;

function fail(field: string, message: string): never {
  throw new ConfigError(message, { field: `features.${field}` });
}

function int(v: unknown, field: string, min = 1, max = MAX_PERIOD): number {
  if (!(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) {
    fail(field, `${field} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v as number;
}

function intList(v: unknown, field: string, min = 1): number[] {
  if (!Array.isArray(v) || v.length === 0) fail(field, `${field} must be a non-empty list of integers`);
  const out = (v as unknown[]).map((x, i) => int(x, `${field}[${i}]`, min));
  if (new Set(out).size !== out.length) fail(field, `${field} repeats a value: ${out.join(', ')}`);
  return out;
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, `${field} must be an object`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(`${field}.${k}`, `unknown key '${k}' in ${field} (expected ${allowed.join(', ')})`);
  }
}

const BLOCK_KEYS = [
  'volatilitySpan',
  'timeframe',
  'returns',
  'momentum',
  'volatility',
  'atr',
  'candle',
  'volume',
  'indicators',
  'calendar',
  'higherTimeframes',
  'context',
] as const;

/**
 * Checks an unknown value (a JSON file, a saved schema) and returns it as a
 * FeatureConfig; every problem is a ConfigError naming the key, e.g.
 * `features.momentum.windows[2]`.
 */
export function parseFeatureConfig(value: unknown): FeatureConfig {
  const c = obj(value, 'config');
  onlyKeys(c, BLOCK_KEYS, 'config');
  const out: Record<string, unknown> = {};
  out.volatilitySpan =
    c.volatilitySpan === undefined ? DEFAULT_VOLATILITY_SPAN : int(c.volatilitySpan, 'volatilitySpan', 2);
  if (c.timeframe !== undefined) {
    if (typeof c.timeframe !== 'string') fail('timeframe', 'timeframe must be a string such as 1h');
    timeframeToMs(c.timeframe);
    out.timeframe = c.timeframe;
  }
  if (c.returns !== undefined) {
    const b = obj(c.returns, 'returns');
    onlyKeys(b, ['lags'], 'returns');
    out.returns = { lags: int(b.lags, 'returns.lags', 1, 200) };
  }
  if (c.momentum !== undefined) {
    const b = obj(c.momentum, 'momentum');
    onlyKeys(b, ['windows'], 'momentum');
    out.momentum = { windows: intList(b.windows, 'momentum.windows', 2) };
  }
  if (c.volatility !== undefined) {
    const b = obj(c.volatility, 'volatility');
    onlyKeys(b, ['windows'], 'volatility');
    out.volatility = { windows: intList(b.windows, 'volatility.windows', 2) };
  }
  if (c.atr !== undefined) {
    const b = obj(c.atr, 'atr');
    onlyKeys(b, ['periods'], 'atr');
    out.atr = { periods: intList(b.periods, 'atr.periods', 1) };
  }
  if (c.candle !== undefined) {
    const b = obj(c.candle, 'candle');
    onlyKeys(b, ['rangeSpan'], 'candle');
    out.candle = { rangeSpan: int(b.rangeSpan, 'candle.rangeSpan', 2) };
  }
  if (c.volume !== undefined) {
    const b = obj(c.volume, 'volume');
    onlyKeys(b, ['window'], 'volume');
    out.volume = { window: int(b.window, 'volume.window', 2) };
  }
  for (const flag of ['indicators', 'calendar'] as const) {
    if (c[flag] !== undefined) {
      if (typeof c[flag] !== 'boolean') fail(flag, `${flag} must be true or false`);
      if (c[flag]) out[flag] = true;
    }
  }
  if (c.higherTimeframes !== undefined) {
    const b = obj(c.higherTimeframes, 'higherTimeframes');
    onlyKeys(b, ['timeframes', 'lags'], 'higherTimeframes');
    if (!Array.isArray(b.timeframes) || b.timeframes.length === 0) {
      fail('higherTimeframes.timeframes', 'higherTimeframes.timeframes must list timeframes, e.g. ["4h", "1d"]');
    }
    const timeframes = (b.timeframes as unknown[]).map((tf, i) => {
      if (typeof tf !== 'string') fail(`higherTimeframes.timeframes[${i}]`, 'timeframes must be strings such as 4h');
      if (tf.endsWith('M') || tf.endsWith('y')) {
        fail(`higherTimeframes.timeframes[${i}]`, `${tf}: months and years have no fixed length; use up to 1w`);
      }
      timeframeToMs(tf);
      return tf;
    });
    if (new Set(timeframes).size !== timeframes.length) fail('higherTimeframes.timeframes', 'a timeframe repeats');
    out.higherTimeframes = { timeframes, lags: int(b.lags, 'higherTimeframes.lags', 1, 50) };
  }
  if (c.context !== undefined) {
    const b = obj(c.context, 'context');
    onlyKeys(b, ['symbols', 'lags', 'maxStaleness'], 'context');
    if (!Array.isArray(b.symbols) || b.symbols.length === 0) {
      fail('context.symbols', 'context.symbols must list symbols, e.g. ["BTC/USDT"]');
    }
    const symbols = (b.symbols as unknown[]).map((s, i) => {
      if (typeof s !== 'string' || s.trim() === '') fail(`context.symbols[${i}]`, 'symbols must be non-empty strings');
      return s;
    });
    if (new Set(symbols).size !== symbols.length) fail('context.symbols', 'a symbol repeats');
    out.context = {
      symbols,
      lags: int(b.lags, 'context.lags', 1, 50),
      maxStaleness: b.maxStaleness === undefined ? 2 : int(b.maxStaleness, 'context.maxStaleness', 0, 1000),
    };
  }
  const blocks = BLOCK_KEYS.filter((k) => k !== 'volatilitySpan' && k !== 'timeframe' && out[k] !== undefined);
  if (blocks.length === 0) fail('config', 'the feature configuration enables no block of features');
  return out as FeatureConfig;
}

/** Ratio of a higher timeframe to the base one; ConfigError unless it is a whole multiple > 1. */
export function timeframeRatio(base: string, higher: string): number {
  const b = timeframeToMs(base);
  const h = timeframeToMs(higher);
  if (h <= b || h % b !== 0) {
    throw new ConfigError(`higher timeframe ${higher} is not a whole multiple of the candles' timeframe ${base}`, {
      field: 'features.higherTimeframes.timeframes',
    });
  }
  return h / b;
}

/** 'BTC/USDT' -> 'btc_usdt', for feature names. */
export function symbolKey(symbol: string): string {
  return symbol
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}
