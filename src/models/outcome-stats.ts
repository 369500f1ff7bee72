/**
 * Running scores of resolved up/down predictions. Adding one outcome is O(1)
 * (counters and sums, never a pass over history), so per-key totals stay cheap
 * at any size; a rolling window is scored by feeding a fresh instance. Shared by
 * the tracker (live scores) and model evaluation (validation scores).
 */
import { qlikeLoss } from '../risk/forecast-tests.js';

export const CALIBRATION_BINS = 10;
const LOG_LOSS_EPS = 1e-15;

/** One of 10 equal-width bins of predicted probability: [binLow, binHigh), the last one closed at 1. */
export interface CalibrationBin {
  readonly binLow: number;
  readonly binHigh: number;
  readonly count: number;
  /** Mean predicted probability in the bin; null when empty. */
  readonly meanPredicted: number | null;
  /** Share of "up" outcomes in the bin; null when empty. */
  readonly observedRate: number | null;
}

/**
 * Scores of resolved predictions. Ratios are null (never NaN) when undefined:
 * all of them with no scored outcome, precision with no "up" call, recall with
 * no "up" outcome, f1 with neither.
 */
export interface ScoreSummary {
  /** Outcomes 0/1 the scores are computed from. */
  readonly resolved: number;
  readonly accuracy: number | null;
  /** Positive class = up; a prediction calls up when prob > its threshold. */
  readonly precision: number | null;
  readonly recall: number | null;
  readonly f1: number | null;
  /** Mean of (p - y)^2. */
  readonly brierScore: number | null;
  /** Mean of -(y ln p + (1 - y) ln(1 - p)), p clipped to [1e-15, 1 - 1e-15]. */
  readonly logLoss: number | null;
  readonly calibration: readonly CalibrationBin[];
  /** Share of "up" outcomes. */
  readonly baseRate: number | null;
  /** Accuracy of always calling the majority outcome: max(baseRate, 1 - baseRate). */
  readonly noSkillAccuracy: number | null;
  /** Brier score of always predicting the base rate: b(1 - b), the constant a probability has to beat. */
  readonly baseRateBrier: number | null;
  /**
   * Accuracy of "the next candle reverses the last" and of "the next candle
   * continues the last", on the same outcomes (a flat last candle calls up).
   * Over the outcomes whose last move is known (`baselineRows`); null without any.
   */
  readonly reversalAccuracy: number | null;
  readonly momentumAccuracy: number | null;
  readonly baselineRows: number;
}

export class OutcomeStats {
  /** Outcomes scored (0 or 1). */
  scored = 0;
  private correct = 0;
  private truePositives = 0;
  private predictedUp = 0;
  private actualUp = 0;
  private brierSum = 0;
  private baselineRows = 0;
  private reversalHits = 0;
  private momentumHits = 0;
  private logLossSum = 0;
  private readonly binCount = new Float64Array(CALIBRATION_BINS);
  private readonly binPredicted = new Float64Array(CALIBRATION_BINS);
  private readonly binUp = new Float64Array(CALIBRATION_BINS);

  /**
   * `prob` is P(up); the prediction calls "up" when prob > threshold.
   * `lastMove` is the signed move of the candle the prediction was made on
   * (e.g. its log return), for the reversal and momentum baselines; NaN or
   * absent when unknown.
   */
  add(prob: number, threshold: number, outcome: 0 | 1, lastMove = Number.NaN): void {
    const callsUp = prob > threshold;
    if (!Number.isNaN(lastMove)) {
      this.baselineRows++;
      const reversalUp = lastMove <= 0;
      const momentumUp = lastMove >= 0;
      if (reversalUp === (outcome === 1)) this.reversalHits++;
      if (momentumUp === (outcome === 1)) this.momentumHits++;
    }
    this.scored++;
    if (callsUp === (outcome === 1)) this.correct++;
    if (callsUp) this.predictedUp++;
    if (outcome === 1) {
      this.actualUp++;
      if (callsUp) this.truePositives++;
    }
    const err = prob - outcome;
    this.brierSum += err * err;
    const p = Math.min(Math.max(prob, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
    this.logLossSum -= outcome === 1 ? Math.log(p) : Math.log(1 - p);
    const bin = calibrationBin(prob);
    this.binCount[bin]! += 1;
    this.binPredicted[bin]! += prob;
    this.binUp[bin]! += outcome;
  }

  summary(): ScoreSummary {
    const n = this.scored;
    const tp = this.truePositives;
    const fp = this.predictedUp - tp;
    const fn = this.actualUp - tp;
    const baseRate = ratio(this.actualUp, n);
    return {
      resolved: n,
      accuracy: ratio(this.correct, n),
      precision: ratio(tp, tp + fp),
      recall: ratio(tp, tp + fn),
      // Same as the harmonic mean of precision and recall, and defined when only one of them is.
      f1: ratio(2 * tp, 2 * tp + fp + fn),
      brierScore: ratio(this.brierSum, n),
      logLoss: ratio(this.logLossSum, n),
      calibration: this.calibration(),
      baseRate,
      noSkillAccuracy: baseRate === null ? null : Math.max(baseRate, 1 - baseRate),
      baseRateBrier: baseRate === null ? null : baseRate * (1 - baseRate),
      reversalAccuracy: ratio(this.reversalHits, this.baselineRows),
      momentumAccuracy: ratio(this.momentumHits, this.baselineRows),
      baselineRows: this.baselineRows,
    };
  }

  private calibration(): CalibrationBin[] {
    const bins: CalibrationBin[] = [];
    for (let k = 0; k < CALIBRATION_BINS; k++) {
      const count = this.binCount[k]!;
      bins.push({
        binLow: binEdge(k),
        binHigh: binEdge(k + 1),
        count,
        meanPredicted: ratio(this.binPredicted[k]!, count),
        observedRate: ratio(this.binUp[k]!, count),
      });
    }
    return bins;
  }
}

/** Edge k of the bins, k/10 (written as a division so 0.3 is 0.3, not 0.30000000000000004). */
function binEdge(k: number): number {
  return k / CALIBRATION_BINS;
}

/** Bin of a probability in [0, 1], consistent with the reported edges even next to a boundary. */
export function calibrationBin(prob: number): number {
  let k = Math.min(CALIBRATION_BINS - 1, Math.floor(prob * CALIBRATION_BINS));
  if (k > 0 && prob < binEdge(k)) k--;
  else if (k < CALIBRATION_BINS - 1 && prob >= binEdge(k + 1)) k++;
  return k;
}

function ratio(num: number, den: number): number | null {
  return den > 0 ? num / den : null;
}

/** Forecast volatilities below this count as this much in QLIKE (a flat stretch forecasts volatility 0). */
export const QLIKE_FLOOR = 1e-6;

/** QLIKE loss of a volatility forecast for a realised volatility (risk's definition, on variances). */
export function volatilityQlike(actual: number, forecast: number): number {
  return qlikeLoss(actual * actual, Math.max(forecast, QLIKE_FLOOR) ** 2);
}

/** Scores of resolved return or volatility forecasts next to their naive forecasts (null when undefined). */
export interface ForecastSummary {
  readonly resolved: number;
  readonly mae: number | null;
  readonly naiveMae: number | null;
  /** 1 - SSE(forecast) / SSE(naive). */
  readonly r2VsNaive: number | null;
  readonly correlation: number | null;
  /** Of the naive forecast and the outcome (null for the constant zero of returns). */
  readonly naiveCorrelation: number | null;
  /** Volatility only. */
  readonly qlike: number | null;
  readonly naiveQlike: number | null;
}

/** Running scores of resolved forecasts: O(1) per outcome, like OutcomeStats. */
export class ForecastStats {
  resolved = 0;
  private ae = 0;
  private naiveAe = 0;
  private sse = 0;
  private naiveSse = 0;
  private sy = 0;
  private sf = 0;
  private syy = 0;
  private sff = 0;
  private sfy = 0;
  private sg = 0;
  private sgg = 0;
  private sgy = 0;
  private q = 0;
  private naiveQ = 0;

  constructor(readonly target: 'return' | 'volatility') {}

  add(forecast: number, naive: number, actual: number): void {
    this.resolved++;
    this.ae += Math.abs(actual - forecast);
    this.naiveAe += Math.abs(actual - naive);
    this.sse += (actual - forecast) ** 2;
    this.naiveSse += (actual - naive) ** 2;
    this.sy += actual;
    this.sf += forecast;
    this.syy += actual * actual;
    this.sff += forecast * forecast;
    this.sfy += forecast * actual;
    this.sg += naive;
    this.sgg += naive * naive;
    this.sgy += naive * actual;
    if (this.target === 'volatility') {
      this.q += volatilityQlike(actual, forecast);
      this.naiveQ += volatilityQlike(actual, naive);
    }
  }

  summary(): ForecastSummary {
    const n = this.resolved;
    const cov = this.sfy - (this.sf * this.sy) / n;
    const vf = this.sff - (this.sf * this.sf) / n;
    const vy = this.syy - (this.sy * this.sy) / n;
    const naiveCov = this.sgy - (this.sg * this.sy) / n;
    const vg = this.sgg - (this.sg * this.sg) / n;
    const vol = this.target === 'volatility';
    return {
      resolved: n,
      mae: ratio(this.ae, n),
      naiveMae: ratio(this.naiveAe, n),
      r2VsNaive: n > 0 && this.naiveSse > 0 ? 1 - this.sse / this.naiveSse : null,
      correlation: n > 1 && vf > 0 && vy > 0 ? cov / Math.sqrt(vf * vy) : null,
      naiveCorrelation: n > 1 && vg > 1e-30 && vy > 0 ? naiveCov / Math.sqrt(vg * vy) : null,
      qlike: vol ? ratio(this.q, n) : null,
      naiveQlike: vol ? ratio(this.naiveQ, n) : null,
    };
  }
}
