/**
 * Drawdown of an equity (or cumulative value) series from its running peak:
 * dd_t = equity_t / peak_t - 1 <= 0. The tracker updates in O(1) per bar; the
 * batch function runs it over a series.
 */
import { DataError } from '../core/errors.js';

export interface DrawdownStats {
  /** Current drawdown, <= 0. */
  readonly current: number;
  /** Deepest drawdown, <= 0. */
  readonly max: number;
  /** Bar index of the peak before the deepest drawdown, and of its trough. */
  readonly maxPeakIndex: number;
  readonly maxTroughIndex: number;
  /** Bar at which equity first regained that peak, or -1 when it has not. */
  readonly maxRecoveryIndex: number;
  /** Longest run of bars below a previous peak. */
  readonly longestUnderwaterBars: number;
  /** Bars below the peak right now. */
  readonly currentUnderwaterBars: number;
  /** Mean drawdown over all bars (<= 0). */
  readonly average: number;
  readonly bars: number;
}

export class DrawdownTracker {
  private peak = Number.NaN;
  private peakIndex = -1;
  private bars = 0;
  private current = 0;
  private max = 0;
  private maxPeakIndex = -1;
  private maxTroughIndex = -1;
  private maxRecoveryIndex = -1;
  private underwater = 0;
  private longestUnderwater = 0;
  private sum = 0;

  update(equity: number): number {
    if (!Number.isFinite(equity) || equity < 0) {
      throw new DataError(`equity ${equity} is not a finite number >= 0`, { index: this.bars });
    }
    const i = this.bars++;
    if (!(equity < this.peak)) {
      if (this.maxRecoveryIndex < 0 && this.maxTroughIndex >= 0 && this.peakIndex === this.maxPeakIndex)
        this.maxRecoveryIndex = i;
      this.peak = equity;
      this.peakIndex = i;
      this.current = 0;
      this.underwater = 0;
    } else {
      this.current = this.peak > 0 ? equity / this.peak - 1 : 0;
      this.underwater++;
      if (this.underwater > this.longestUnderwater) this.longestUnderwater = this.underwater;
      if (this.current < this.max) {
        this.max = this.current;
        this.maxPeakIndex = this.peakIndex;
        this.maxTroughIndex = i;
        this.maxRecoveryIndex = -1;
      }
    }
    this.sum += this.current;
    return this.current;
  }

  stats(): DrawdownStats {
    return {
      current: this.current,
      max: this.max,
      maxPeakIndex: this.maxPeakIndex,
      maxTroughIndex: this.maxTroughIndex,
      maxRecoveryIndex: this.maxRecoveryIndex,
      longestUnderwaterBars: this.longestUnderwater,
      currentUnderwaterBars: this.underwater,
      average: this.bars > 0 ? this.sum / this.bars : 0,
      bars: this.bars,
    };
  }
}

export function drawdownStats(equity: ArrayLike<number>): DrawdownStats {
  const tracker = new DrawdownTracker();
  for (let t = 0; t < equity.length; t++) tracker.update(equity[t] as number);
  return tracker.stats();
}
