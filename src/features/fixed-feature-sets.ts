/**
 * The two fixed feature sets: their schemas (names, order, warm-ups) and the
 * formulas that turn an IndicatorSnapshot into a feature row. Both extractors
 * use these formulas, so a feature means the same thing in training and live.
 *
 * - `seed`: raw indicator values in price/volume units (the original design).
 * - `relative`: the same information made scale-free (ratios, log
 *   returns, sin/cos of calendar fields), so a model trained on one price level
 *   or symbol still sees familiar numbers on another.
 *
 * Volume oscillator (both sets): (SMA5(volume) - SMA10(volume)) / SMA10(volume),
 * i.e. how much recent volume runs above (> 0) or below (< 0) its 10-bar mean.
 * A window with zero volume throughout gives 0 (and volume ratio 1): "as usual".
 */
import type { FeatureSchema, FeatureSpec } from './feature-schema.js';
import type { IndicatorSnapshot } from './indicator-snapshot.js';

export const INDICATOR_PARAMS = {
  smaFast: 10,
  smaSlow: 20,
  emaFast: 12,
  emaSlow: 26,
  rsi: 14,
  macdSignal: 9,
  bollingerPeriod: 20,
  bollingerStdDev: 2,
  volumeSmaFast: 5,
  volumeSmaSlow: 10,
  /** Bars looked back for log returns of the relative set. */
  returnLags: [1, 5, 10] as const,
} as const;

/** Bands narrower than this fraction of the middle band count as flat: %B is then 0.5 (mid-band). */
const FLAT_BAND_WIDTH = 1e-12;

const P = INDICATOR_PARAMS;
const W = {
  sma10: P.smaFast - 1,
  sma20: P.smaSlow - 1,
  ema12: P.emaFast - 1,
  ema26: P.emaSlow - 1,
  rsi: P.rsi,
  macd: P.emaSlow - 1,
  macdSignal: P.emaSlow - 1 + P.macdSignal - 1,
  bollinger: P.bollingerPeriod - 1,
  volumeSma10: P.volumeSmaSlow - 1,
  volumeOsc: Math.max(P.volumeSmaFast, P.volumeSmaSlow) - 1,
};

const f = (name: string, warmup: number, description: string): FeatureSpec => ({ name, warmup, description });

export const SEED_SCHEMA: FeatureSchema = {
  name: 'seed',
  version: 1,
  features: [
    f('close', 0, 'close price'),
    f('return_1', 1, 'close / previous close - 1'),
    f('sma_10', W.sma10, 'simple moving average of close, 10 bars'),
    f('sma_20', W.sma20, 'simple moving average of close, 20 bars'),
    f('ema_12', W.ema12, 'exponential moving average of close, 12 bars (SMA-seeded)'),
    f('ema_26', W.ema26, 'exponential moving average of close, 26 bars (SMA-seeded)'),
    f('rsi_14', W.rsi, 'Wilder RSI, 14 bars, 0..100'),
    f('macd_line', W.macd, 'EMA12 - EMA26'),
    f('macd_signal', W.macdSignal, 'EMA9 of the MACD line'),
    f('macd_hist', W.macdSignal, 'MACD line - signal'),
    f('bb_upper', W.bollinger, 'Bollinger upper band, SMA20 + 2 sd'),
    f('bb_middle', W.bollinger, 'Bollinger middle band, SMA20'),
    f('bb_lower', W.bollinger, 'Bollinger lower band, SMA20 - 2 sd'),
    f('volume', 0, 'candle volume'),
    f('volume_sma_10', W.volumeSma10, 'simple moving average of volume, 10 bars'),
    f('volume_osc', W.volumeOsc, '(SMA5(volume) - SMA10(volume)) / SMA10(volume)'),
    f('hour_utc', 0, 'hour of the candle open time, UTC, 0..23'),
    f('day_of_week_utc', 0, 'weekday of the candle open time, UTC, 0 = Sunday'),
    f('month_utc', 0, 'month of the candle open time, UTC, 1..12'),
  ],
};

export const RELATIVE_SCHEMA: FeatureSchema = {
  name: 'relative',
  version: 1,
  features: [
    f('log_return_1', 1, 'ln(close / close 1 bar ago)'),
    f('log_return_5', 5, 'ln(close / close 5 bars ago)'),
    f('log_return_10', 10, 'ln(close / close 10 bars ago)'),
    f('close_vs_sma_10', W.sma10, 'close / SMA10 - 1'),
    f('close_vs_sma_20', W.sma20, 'close / SMA20 - 1'),
    f('close_vs_ema_12', W.ema12, 'close / EMA12 - 1'),
    f('ema_12_vs_ema_26', W.ema26, 'EMA12 / EMA26 - 1'),
    f('rsi_14_unit', W.rsi, 'Wilder RSI 14 / 100'),
    f('macd_line_rel', W.macd, 'MACD line / close'),
    f('macd_signal_rel', W.macdSignal, 'MACD signal / close'),
    f('macd_hist_rel', W.macdSignal, 'MACD histogram / close'),
    f('bb_percent_b', W.bollinger, '(close - lower) / (upper - lower); 0.5 for a flat band'),
    f('bb_width', W.bollinger, '(upper - lower) / middle'),
    f('volume_ratio_10', W.volumeSma10, 'volume / SMA10(volume); 1 when the average is 0'),
    f('volume_osc', W.volumeOsc, '(SMA5(volume) - SMA10(volume)) / SMA10(volume)'),
    f('hour_sin', 0, 'sin(2 pi hour / 24), UTC'),
    f('hour_cos', 0, 'cos(2 pi hour / 24), UTC'),
    f('day_of_week_sin', 0, 'sin(2 pi weekday / 7), UTC, Sunday = 0'),
    f('day_of_week_cos', 0, 'cos(2 pi weekday / 7), UTC, Sunday = 0'),
    f('month_sin', 0, 'sin(2 pi month / 12), UTC, January = 0'),
    f('month_cos', 0, 'cos(2 pi month / 12), UTC, January = 0'),
  ],
};

/** The two fixed sets (their formulas are the writers below); 'core' and custom sets come from a FeatureConfig. */
export type FixedFeatureSet = 'seed' | 'relative';

export const FEATURE_SCHEMAS: Readonly<Record<FixedFeatureSet, FeatureSchema>> = {
  seed: SEED_SCHEMA,
  relative: RELATIVE_SCHEMA,
};

export function isFixedFeatureSet(name: string): name is FixedFeatureSet {
  return name === 'seed' || name === 'relative';
}

/** Any typed array a feature row can be written into. */
export type FeatureBuffer = Float64Array | Float32Array;

export type FeatureWriter = (s: IndicatorSnapshot, out: FeatureBuffer, offset: number) => void;

function bollingerHalfWidth(s: IndicatorSnapshot): number {
  return P.bollingerStdDev * s.std20;
}

function volumeOscillator(s: IndicatorSnapshot): number {
  // Volumes are >= 0, so a zero slow average means a zero fast one too.
  return s.volumeSma10 === 0 ? 0 : (s.volumeSma5 - s.volumeSma10) / s.volumeSma10;
}

function volumeRatio(s: IndicatorSnapshot): number {
  return s.volumeSma10 === 0 ? 1 : s.volume / s.volumeSma10;
}

function percentB(s: IndicatorSnapshot): number {
  const half = bollingerHalfWidth(s);
  // NaN (warm-up) fails the comparison and propagates through the division.
  if (half * 2 <= FLAT_BAND_WIDTH * Math.abs(s.sma20)) return 0.5;
  return (s.close - (s.sma20 - half)) / (2 * half);
}

export function writeSeedFeatures(s: IndicatorSnapshot, out: FeatureBuffer, o: number): void {
  const half = bollingerHalfWidth(s);
  out[o] = s.close;
  out[o + 1] = s.close / s.close1Ago - 1;
  out[o + 2] = s.sma10;
  out[o + 3] = s.sma20;
  out[o + 4] = s.ema12;
  out[o + 5] = s.ema26;
  out[o + 6] = s.rsi14;
  out[o + 7] = s.macd;
  out[o + 8] = s.macdSignal;
  out[o + 9] = s.macd - s.macdSignal;
  out[o + 10] = s.sma20 + half;
  out[o + 11] = s.sma20;
  out[o + 12] = s.sma20 - half;
  out[o + 13] = s.volume;
  out[o + 14] = s.volumeSma10;
  out[o + 15] = volumeOscillator(s);
  out[o + 16] = s.hourUtc;
  out[o + 17] = s.dayOfWeekUtc;
  out[o + 18] = s.monthUtc + 1;
}

const TWO_PI = 2 * Math.PI;

export function writeRelativeFeatures(s: IndicatorSnapshot, out: FeatureBuffer, o: number): void {
  const c = s.close;
  out[o] = Math.log(c / s.close1Ago);
  out[o + 1] = Math.log(c / s.close5Ago);
  out[o + 2] = Math.log(c / s.close10Ago);
  out[o + 3] = c / s.sma10 - 1;
  out[o + 4] = c / s.sma20 - 1;
  out[o + 5] = c / s.ema12 - 1;
  out[o + 6] = s.ema12 / s.ema26 - 1;
  out[o + 7] = s.rsi14 / 100;
  out[o + 8] = s.macd / c;
  out[o + 9] = s.macdSignal / c;
  out[o + 10] = (s.macd - s.macdSignal) / c;
  out[o + 11] = percentB(s);
  out[o + 12] = (2 * bollingerHalfWidth(s)) / s.sma20;
  out[o + 13] = volumeRatio(s);
  out[o + 14] = volumeOscillator(s);
  const h = (TWO_PI * s.hourUtc) / 24;
  const d = (TWO_PI * s.dayOfWeekUtc) / 7;
  const m = (TWO_PI * s.monthUtc) / 12;
  out[o + 15] = Math.sin(h);
  out[o + 16] = Math.cos(h);
  out[o + 17] = Math.sin(d);
  out[o + 18] = Math.cos(d);
  out[o + 19] = Math.sin(m);
  out[o + 20] = Math.cos(m);
}

export const FEATURE_WRITERS: Readonly<Record<FixedFeatureSet, FeatureWriter>> = {
  seed: writeSeedFeatures,
  relative: writeRelativeFeatures,
};
