/**
 * A timeframe for files that do not name one: the most common spacing between
 * the first candles. Spacings of 28-31 days are calendar months ('1M'), of
 * 365-366 days calendar years ('1y'); anything else is named by msToTimeframe.
 */
import { msToTimeframe } from '../core/timeframe.js';
import type { Timeframe } from '../core/types.js';

const DAY = 86_400_000;

/** Name for a bar spacing, treating month- and year-like spacings as calendar units. */
export function timeframeForSpacing(ms: number): Timeframe {
  if (ms >= 28 * DAY && ms <= 31 * DAY) return '1M';
  if (ms >= 365 * DAY && ms <= 366 * DAY) return '1y';
  return msToTimeframe(ms);
}

/**
 * The most common positive spacing of `timestamps[0..count)` (ascending), the
 * smallest on ties, or undefined with fewer than two candles.
 */
export function mostCommonSpacing(timestamps: ArrayLike<number>, count: number): number | undefined {
  const tally = new Map<number, number>();
  for (let i = 1; i < count; i++) {
    const d = (timestamps[i] as number) - (timestamps[i - 1] as number);
    if (d > 0) tally.set(d, (tally.get(d) ?? 0) + 1);
  }
  let best: number | undefined;
  let bestCount = 0;
  for (const [spacing, n] of tally) {
    if (n > bestCount || (n === bestCount && best !== undefined && spacing < best)) {
      best = spacing;
      bestCount = n;
    }
  }
  return best;
}
