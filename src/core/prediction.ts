/**
 * The prediction contract between strategies, models and the tracker. A
 * strategy sees a model only as a `CandlePredictor` and records what it
 * predicted through a `PredictionSink`; neither side knows the other's
 * implementation (streaming or precomputed predictor, in-memory or journaled
 * tracker).
 */
import type { Candle, Prediction, Tick } from './types.js';

/** What a strategy needs of a model; implemented by the streaming and the precomputed predictor alike. */
export interface CandlePredictor {
  /** Candles ahead the predictions look (the model's label horizon). */
  readonly horizon: number;
  /** Closed candles of a symbol needed before its first prediction (feature warm-up and lookback). */
  readonly warmupCandles?: number;
  /**
   * A closed candle (in time order per symbol): its prediction, or undefined
   * while the symbol is warming up (or, precomputed, when the candle has none).
   */
  onCandle(candle: Candle): Prediction | undefined | Promise<Prediction | undefined>;
  /** A tick between closes: a provisional prediction for the forming candle, when enabled. */
  onTick?(tick: Tick): Prediction | undefined | Promise<Prediction | undefined>;
}

/** A prediction made at the close of candle `timestamp`, as a tracker records it. */
export interface PredictionInput {
  readonly symbol: string;
  readonly modelVersion: string;
  /** Open time (ms UTC) of the candle at whose close the prediction was made. Never the wall clock. */
  readonly timestamp: number;
  /** Probability that the close `horizon` candles later is above `price`, in [0, 1]; absent only for a pure forecast. */
  readonly prediction?: number;
  /** The outcome is decided by the close of the `horizon`-th candle after `timestamp`: a positive integer. */
  readonly horizon: number;
  /** Close of candle `timestamp`, the price the later close is compared to. */
  readonly price: number;
  /** Probability above which the prediction counts as a call for "up" (default 0.5; exactly 0.5 is "down"). */
  readonly threshold?: number;
  /**
   * Close of the candle before `timestamp`, for the reversal and momentum
   * baselines; a tracker fills it from the candles it was fed when absent.
   */
  readonly previousPrice?: number;
  /** A return or volatility forecast over the same horizon, scored next to its naive forecast. */
  readonly forecast?: ForecastInput;
}

/**
 * A forecast in the target's own units: the log return ln(close[t + h] /
 * close[t]), or the realised volatility sqrt(sum of the h squared one-candle
 * log returns); `naive` is what a no-skill forecast says (zero; the EWMA
 * volatility scaled to the horizon).
 */
export interface ForecastInput {
  readonly target: 'return' | 'volatility';
  readonly value: number;
  readonly naive: number;
}

/** What a strategy needs of a prediction tracker (a PredictionTracker fits). */
export interface PredictionSink {
  record(input: PredictionInput): unknown;
  onCandle(candle: Candle): unknown;
}
