/**
 * Gaps between consecutive candles: count, total missing bars and the largest
 * few, kept in constant memory however irregular the data.
 *
 * A gap is two candles more than one bar apart; it misses
 * max(1, round(spacing / bar) - 1) bars. For month and year timeframes the bar
 * is a calendar month, so 28-, 30- and 31-day months are all one bar apart.
 */
import { timeframeToMs } from '../core/timeframe.js';
import type { Timeframe } from '../core/types.js';
import type { CandleGap, GapReport } from './load-report.js';

export const DEFAULT_LARGEST_GAPS = 5;

function monthIndex(ts: number): number {
  const d = new Date(ts);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

export class GapTracker {
  readonly timeframeMs: number;
  private readonly monthsPerBar: number;
  private previous = Number.NaN;
  private count = 0;
  private missing = 0;
  private readonly largest: CandleGap[] = [];

  constructor(
    timeframe: Timeframe,
    private readonly keep = DEFAULT_LARGEST_GAPS,
  ) {
    this.timeframeMs = timeframeToMs(timeframe);
    const unit = timeframe.slice(-1);
    const n = Number(timeframe.slice(0, -1));
    this.monthsPerBar = unit === 'M' ? n : unit === 'y' ? 12 * n : 0;
  }

  /** The next candle's timestamp (ascending). */
  observe(ts: number): void {
    const previous = this.previous;
    this.previous = ts;
    if (Number.isNaN(previous)) return;
    const delta = ts - previous;
    let missingBars: number;
    if (this.monthsPerBar > 0) {
      if (delta < 27 * 86_400_000 * this.monthsPerBar) return;
      missingBars = Math.round((monthIndex(ts) - monthIndex(previous)) / this.monthsPerBar) - 1;
      if (missingBars < 1) return;
    } else {
      if (delta <= this.timeframeMs) return;
      missingBars = Math.max(1, Math.round(delta / this.timeframeMs) - 1);
    }
    this.count++;
    this.missing += missingBars;
    this.remember(previous, ts, missingBars);
  }

  private remember(from: number, to: number, missingBars: number): void {
    const list = this.largest;
    if (this.keep <= 0) return;
    if (list.length === this.keep && (list[list.length - 1] as CandleGap).missingBars >= missingBars) return;
    let at = list.length;
    while (at > 0 && (list[at - 1] as CandleGap).missingBars < missingBars) at--;
    list.splice(at, 0, { from, to, missingBars });
    if (list.length > this.keep) list.pop();
  }

  report(): GapReport {
    return { timeframeMs: this.timeframeMs, count: this.count, missingBars: this.missing, largest: [...this.largest] };
  }
}
