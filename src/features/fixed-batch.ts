/**
 * The batch computation of the fixed feature sets (`seed`, `relative`) over
 * checked candles: EMA and MACD from technicalindicators' batch `calculate`,
 * moving averages and standard deviations summed window by window, RSI over
 * whole arrays, calendar fields from Date; only the final formulas
 * (fixed-feature-sets.ts) are shared with the streaming extractor.
 */
import { EMA, MACD } from 'technicalindicators';
import { DataError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import type { FeatureSchema } from './feature-schema.js';
import { FEATURE_WRITERS, type FixedFeatureSet, INDICATOR_PARAMS as P } from './fixed-feature-sets.js';
import { rsiFromAverages } from './incremental-indicators.js';
import { emptySnapshot } from './indicator-snapshot.js';

/** Keeps technicalindicators from rounding (its global `precision` config would otherwise apply). */
const identity = (v: number): number => v;

function nanArray(n: number): Float64Array {
  return new Float64Array(n).fill(Number.NaN);
}

function windowMean(values: Float64Array, period: number): Float64Array {
  const out = nanArray(values.length);
  for (let i = period - 1; i < values.length; i++) {
    let sum = 0;
    for (let j = i - period + 1; j <= i; j++) sum += values[j]!;
    out[i] = sum / period;
  }
  return out;
}

/** Population standard deviation, two passes per window. */
function windowStd(values: Float64Array, period: number): Float64Array {
  const out = nanArray(values.length);
  for (let i = period - 1; i < values.length; i++) {
    let sum = 0;
    for (let j = i - period + 1; j <= i; j++) sum += values[j]!;
    const mean = sum / period;
    let sq = 0;
    for (let j = i - period + 1; j <= i; j++) sq += (values[j]! - mean) ** 2;
    out[i] = Math.sqrt(sq / period);
  }
  return out;
}

function ema(values: Float64Array, period: number): Float64Array {
  const out = nanArray(values.length);
  const result = EMA.calculate({ period, values: Array.from(values), format: identity });
  out.set(result, values.length - result.length);
  return out;
}

function macd(closes: Float64Array): { line: Float64Array; signal: Float64Array } {
  const line = nanArray(closes.length);
  const signal = nanArray(closes.length);
  const result = MACD.calculate({
    values: Array.from(closes),
    fastPeriod: P.emaFast,
    slowPeriod: P.emaSlow,
    signalPeriod: P.macdSignal,
    SimpleMAOscillator: false,
    SimpleMASignal: false,
    format: identity,
  });
  const start = closes.length - result.length;
  result.forEach((r, j) => {
    line[start + j] = r.MACD ?? Number.NaN;
    signal[start + j] = r.signal ?? Number.NaN;
  });
  return { line, signal };
}

/** Wilder RSI over the whole series: seed averages are plain means of the first `period` changes. */
function wilderRsi(closes: Float64Array, period: number): Float64Array {
  const out = nanArray(closes.length);
  if (closes.length <= period) return out;
  const changes = closes.subarray(1).map((c, i) => c - closes[i]!);
  const gains = changes.map((d) => Math.max(d, 0));
  const losses = changes.map((d) => Math.max(-d, 0));
  let avgGain = gains.subarray(0, period).reduce((a, b) => a + b, 0) / period;
  let avgLoss = losses.subarray(0, period).reduce((a, b) => a + b, 0) / period;
  out[period] = rsiFromAverages(avgGain, avgLoss);
  for (let i = period; i < changes.length; i++) {
    avgGain = (avgGain * (period - 1) + gains[i]!) / period;
    avgLoss = (avgLoss * (period - 1) + losses[i]!) / period;
    out[i + 1] = rsiFromAverages(avgGain, avgLoss);
  }
  return out;
}

function lagged(values: Float64Array, k: number): Float64Array {
  const out = nanArray(values.length);
  out.set(values.subarray(0, Math.max(0, values.length - k)), k);
  return out;
}

/**
 * Row-major values of a fixed set's schema, one row per candle (NaN during
 * the warm-up). DataError for a feature still undefined after its warm-up.
 */
export function fixedFeatureValues(candles: readonly Candle[], schema: FeatureSchema): Float64Array {
  const n = candles.length;
  const cols = schema.features.length;
  const closes = Float64Array.from(candles, (c) => c.close);
  const volumes = Float64Array.from(candles, (c) => c.volume);
  const timestamps = Float64Array.from(candles, (c) => c.timestamp);
  const sma10 = windowMean(closes, P.smaFast);
  const sma20 = windowMean(closes, P.bollingerPeriod);
  const std20 = windowStd(closes, P.bollingerPeriod);
  const ema12 = ema(closes, P.emaFast);
  const ema26 = ema(closes, P.emaSlow);
  const { line, signal } = macd(closes);
  const rsi = wilderRsi(closes, P.rsi);
  const volumeSma5 = windowMean(volumes, P.volumeSmaFast);
  const volumeSma10 = windowMean(volumes, P.volumeSmaSlow);
  const [lag1, lag5, lag10] = P.returnLags.map((k) => lagged(closes, k)) as [Float64Array, Float64Array, Float64Array];

  const values = new Float64Array(n * cols);
  const write = FEATURE_WRITERS[schema.name as FixedFeatureSet];
  const s = emptySnapshot();
  for (let i = 0; i < n; i++) {
    const date = new Date(timestamps[i]!);
    s.timestamp = timestamps[i]!;
    s.close = closes[i]!;
    s.volume = volumes[i]!;
    s.close1Ago = lag1[i]!;
    s.close5Ago = lag5[i]!;
    s.close10Ago = lag10[i]!;
    s.sma10 = sma10[i]!;
    s.sma20 = sma20[i]!;
    s.std20 = std20[i]!;
    s.ema12 = ema12[i]!;
    s.ema26 = ema26[i]!;
    s.rsi14 = rsi[i]!;
    s.macd = line[i]!;
    s.macdSignal = signal[i]!;
    s.volumeSma5 = volumeSma5[i]!;
    s.volumeSma10 = volumeSma10[i]!;
    s.hourUtc = date.getUTCHours();
    s.dayOfWeekUtc = date.getUTCDay();
    s.monthUtc = date.getUTCMonth();
    write(s, values, i * cols);
  }

  // technicalindicators reports an exact 0 average as "no value"; never let that pass as a silent NaN.
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cols; j++) {
      const spec = schema.features[j]!;
      if (i >= spec.warmup && !Number.isFinite(values[i * cols + j]!)) {
        throw new DataError(`feature ${spec.name} is not finite after its warm-up`, {
          symbol: candles[i]!.symbol,
          index: i,
          field: spec.name,
        });
      }
    }
  }

  return values;
}
