/**
 * Running scores of resolved up/down predictions. Adding one outcome is O(1)
 * (counters and sums, never a pass over history), so per-key totals stay cheap
 * at any size; a rolling window is scored by feeding a fresh instance.
 */
import type { CalibrationBin, TrackerStats } from './types.js';

export const CALIBRATION_BINS = 10;
const LOG_LOSS_EPS = 1e-15;

/** The stats fields that depend only on the scored outcomes. */
export type ScoreSummary = Omit<TrackerStats, 'count' | 'flat' | 'pending' | 'window'>;

export class OutcomeStats {
  /** Outcomes scored (0 or 1). */
  scored = 0;
  private correct = 0;
  private truePositives = 0;
  private predictedUp = 0;
  private actualUp = 0;
  private brierSum = 0;
  private logLossSum = 0;
  private readonly binCount = new Float64Array(CALIBRATION_BINS);
  private readonly binPredicted = new Float64Array(CALIBRATION_BINS);
  private readonly binUp = new Float64Array(CALIBRATION_BINS);

  /** `prob` is P(up); the prediction calls "up" when prob > threshold. */
  add(prob: number, threshold: number, outcome: 0 | 1): void {
    const callsUp = prob > threshold;
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
