/**
 * Decides, for one symbol, which predictions a closed candle resolves.
 *
 * Time is counted in candles received, not wall time: a prediction made on
 * candle t resolves on the `horizon`-th counted candle whose timestamp is
 * greater than t. A candle counts only if it is later than the last counted
 * one (replays and duplicates are ignored), so a candle at or before t never
 * counts toward a prediction made on t.
 *
 * Entries wait until the first candle later than their own timestamp arrives
 * (that candle is step 1), then sit in a bucket keyed by the count at which
 * they are due: each candle costs O(entries activated + entries due).
 */

export interface ScheduledEntry {
  readonly timestamp: number;
  readonly horizon: number;
}

const NOTHING_DUE: readonly never[] = [];

export class CandleSchedule<T extends ScheduledEntry> {
  private last: number | undefined;
  private counted = 0;
  /** Not yet activated, sorted by timestamp from `head` on. */
  private waiting: T[] = [];
  private head = 0;
  private readonly due = new Map<number, T[]>();

  /** Timestamp of the last counted candle, if any. */
  get lastTimestamp(): number | undefined {
    return this.last;
  }

  /** Whether a candle at `timestamp` would be counted (strictly later than the last counted one). */
  accepts(timestamp: number): boolean {
    return this.last === undefined || timestamp > this.last;
  }

  /**
   * Schedules an entry. Its timestamp must be >= `lastTimestamp`: candles
   * after it that were already counted could not be counted for it any more.
   */
  add(entry: T): void {
    const w = this.waiting;
    // Predictions usually arrive in time order: append without searching.
    if (w.length === this.head || w[w.length - 1]!.timestamp <= entry.timestamp) {
      w.push(entry);
      return;
    }
    let lo = this.head;
    let hi = w.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (w[mid]!.timestamp <= entry.timestamp) lo = mid + 1;
      else hi = mid;
    }
    w.splice(lo, 0, entry);
  }

  /** Counts a candle the caller checked with `accepts`; returns the entries it resolves. */
  advance(timestamp: number): readonly T[] {
    const w = this.waiting;
    while (this.head < w.length && w[this.head]!.timestamp < timestamp) {
      const entry = w[this.head++]!;
      const at = this.counted + entry.horizon;
      const bucket = this.due.get(at);
      if (bucket === undefined) this.due.set(at, [entry]);
      else bucket.push(entry);
    }
    if (this.head > 1024 && this.head * 2 > w.length) {
      this.waiting = w.slice(this.head);
      this.head = 0;
    }
    this.counted++;
    this.last = timestamp;
    const now = this.due.get(this.counted);
    if (now === undefined) return NOTHING_DUE;
    this.due.delete(this.counted);
    return now;
  }
}
