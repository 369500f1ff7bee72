/**
 * The indicator values at one candle, from which every feature of every set is
 * derived. The streaming and the batch extractor compute these values in two
 * independent ways and share only the final formulas (feature-sets.ts), so the
 * parity test between them checks the indicator arithmetic.
 *
 * A value that is not defined yet (warm-up) is NaN.
 */
export interface IndicatorSnapshot {
  timestamp: number;
  close: number;
  volume: number;
  /** Closes 1, 5 and 10 candles before this one. */
  close1Ago: number;
  close5Ago: number;
  close10Ago: number;
  sma10: number;
  sma20: number;
  /** Population standard deviation of the last 20 closes (as Bollinger Bands use). */
  std20: number;
  ema12: number;
  ema26: number;
  /** Wilder RSI in [0, 100], unrounded. */
  rsi14: number;
  /** EMA12 - EMA26. */
  macd: number;
  /** EMA9 of the MACD line. */
  macdSignal: number;
  volumeSma5: number;
  volumeSma10: number;
  /** Calendar fields of the candle's own (open) timestamp, UTC. */
  hourUtc: number;
  /** 0 = Sunday, as Date#getUTCDay. */
  dayOfWeekUtc: number;
  /** 0 = January, as Date#getUTCMonth. */
  monthUtc: number;
}

export function emptySnapshot(): IndicatorSnapshot {
  return {
    timestamp: Number.NaN,
    close: Number.NaN,
    volume: Number.NaN,
    close1Ago: Number.NaN,
    close5Ago: Number.NaN,
    close10Ago: Number.NaN,
    sma10: Number.NaN,
    sma20: Number.NaN,
    std20: Number.NaN,
    ema12: Number.NaN,
    ema26: Number.NaN,
    rsi14: Number.NaN,
    macd: Number.NaN,
    macdSignal: Number.NaN,
    volumeSma5: Number.NaN,
    volumeSma10: Number.NaN,
    hourUtc: Number.NaN,
    dayOfWeekUtc: Number.NaN,
    monthUtc: Number.NaN,
  };
}
