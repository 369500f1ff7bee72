/**
 * Public types of the prediction tracker: what goes in (a model's prediction),
 * what comes out (its outcome and the statistics over many of them).
 */

/**
 * How a prediction turned out: 1 = the close `horizon` candles later was above
 * the recorded price, 0 = below, 'flat' = exactly equal. Flat outcomes are kept
 * and counted but excluded from every score (accuracy, Brier, ...): an
 * unchanged price is neither a hit nor a miss for an up/down call.
 */
import type { ForecastInput } from '../core/prediction.js';
import type { ForecastSummary, ScoreSummary } from '../models/outcome-stats.js';

export type { ForecastInput } from '../core/prediction.js';
export type { CalibrationBin, ForecastSummary, ScoreSummary } from '../models/outcome-stats.js';

export type Outcome = 0 | 1 | 'flat';

/** 'candle': resolved by the tracker from a later candle; 'explicit': given by the caller. */
export type ResolutionSource = 'candle' | 'explicit';

export type { PredictionInput } from '../core/prediction.js';

/**
 * A prediction whose outcome is already known (the older `recordPrediction(prediction, actual)`
 * API). A core `Prediction` fits as is; horizon defaults to 1 and price may be absent.
 */
export interface OutcomeInput {
  readonly symbol: string;
  readonly modelVersion: string;
  readonly timestamp: number;
  readonly prediction: number;
  readonly horizon?: number;
  readonly price?: number;
  readonly threshold?: number;
  /** Close of the candle before, for the reversal and momentum baselines. */
  readonly previousPrice?: number;
}

/** The natural key of a prediction: one model version predicts once per symbol and candle. */
export interface PredictionKey {
  readonly symbol: string;
  readonly modelVersion: string;
  readonly timestamp: number;
}

/** A recorded prediction and, once known, its outcome. */
export interface TrackedPrediction {
  /** Sequence number, unique within one tracker file, stable across restarts. */
  readonly id: number;
  readonly symbol: string;
  readonly modelVersion: string;
  readonly timestamp: number;
  /** P(up); null for a pure forecast (a volatility model). */
  readonly prediction: number | null;
  readonly horizon: number;
  /** null only for predictions given with their outcome and no price (see `recordOutcome`). */
  readonly price: number | null;
  /** Close of the candle before, when known: gives the reversal and momentum baselines their call. */
  readonly previousPrice: number | null;
  readonly threshold: number;
  /** The return or volatility forecast recorded with it, if any. */
  readonly forecast: ForecastInput | null;
  /** The forecast's outcome in the same units, once resolved from candles. */
  readonly actual: number | null;
  /** null while pending. */
  readonly outcome: Outcome | null;
  readonly source: ResolutionSource | null;
  /** Open time of the candle that resolved it; null when pending or resolved explicitly. */
  readonly resolvedAt: number | null;
  /** Close of that candle; null when pending or resolved explicitly. */
  readonly closePrice: number | null;
}

/** Scores of resolved predictions plus the counts of the selection they were taken from. */
export interface TrackerStats extends ScoreSummary {
  /** Scores of return and volatility forecasts of the selection, per target (absent without any). */
  readonly forecasts: Partial<Record<'return' | 'volatility', ForecastSummary>>;
  /** Predictions recorded (whole history of the selection, whatever `window`). */
  readonly count: number;
  /** Outcomes 'flat', excluded from the scores (whole history). */
  readonly flat: number;
  /** Predictions still waiting for their outcome (whole history). */
  readonly pending: number;
  /** The window asked for, or null for all resolved. */
  readonly window: number | null;
}

export interface StatsFilter {
  readonly symbol?: string;
  readonly modelVersion?: string;
  /** Score only the last N resolved (0/1) predictions of the selection. */
  readonly window?: number;
}

export interface DriftOptions {
  /** Number of most recent resolved (0/1) predictions the rolling accuracy is taken over. */
  readonly window: number;
  /** `drift` fires when the rolling accuracy falls below this. */
  readonly minAccuracy: number;
  /** Accuracy at or above which a drifting key counts as recovered (default `minAccuracy`). */
  readonly recoverAccuracy?: number;
  /** Track each (model version, symbol) pair separately instead of each model version. */
  readonly perSymbol?: boolean;
}

export interface DriftEvent {
  /** Present when drift is tracked per symbol. */
  readonly symbol?: string;
  readonly modelVersion: string;
  /** Rolling accuracy over the last `window` resolved predictions. */
  readonly accuracy: number;
  readonly window: number;
}

export interface TrackerEvents {
  /** Each outcome, flat ones included, after it has been persisted. */
  resolved: [prediction: TrackedPrediction];
  /** Rolling accuracy crossed below `minAccuracy`. */
  drift: [event: DriftEvent];
  /** A drifting key's rolling accuracy came back to `recoverAccuracy` or above. */
  driftRecovered: [event: DriftEvent];
}

/** What `PredictionTracker.open` found in the file. */
export interface LoadReport {
  /** Non-blank lines read. */
  readonly lines: number;
  readonly predictions: number;
  readonly outcomes: number;
  readonly candles: number;
  /** Unparseable last lines (a crash mid-write) dropped from the file: 0 or 1. */
  readonly tornLines: number;
  /** Outcomes missing from the file but implied by a recorded candle, recomputed and appended. */
  readonly repairedOutcomes: number;
}
