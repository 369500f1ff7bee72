/**
 * O(1)-per-value indicators for the streaming extractor.
 *
 * technicalindicators' streaming classes are not used on the hot path because
 * they round RSI to 2 decimals, let running SMA sums drift over long series,
 * treat an average of exactly 0 as "not ready" (`if (sma)`), and allocate a
 * generator result per value. These classes reproduce the same definitions
 * (SMA-seeded EMA, Wilder RSI, population standard deviation) exactly; the
 * batch extractor computes them independently and tests compare the two.
 */

/**
 * Fixed-size window with a running sum (and optionally a running sum of squared
 * deviations). Running sums accumulate rounding error, so every `period`
 * values they are recomputed from the window: amortised O(1), error bounded.
 */
export class RollingWindow {
  readonly period: number;
  private readonly trackVariance: boolean;
  private readonly buf: Float64Array;
  private filled = 0;
  private head = 0;
  private sum = 0;
  private m2 = 0;
  private zeros = 0;
  private sinceRebase = 0;

  constructor(period: number, trackVariance = false) {
    this.period = period;
    this.trackVariance = trackVariance;
    this.buf = new Float64Array(period);
  }

  push(x: number): void {
    const p = this.period;
    if (x === 0) this.zeros++;
    if (this.filled < p) {
      this.buf[this.head] = x;
      this.filled++;
      this.sum += x;
      if (this.filled === p) this.rebase();
    } else {
      const old = this.buf[this.head]!;
      if (old === 0) this.zeros--;
      this.buf[this.head] = x;
      const oldMean = this.sum / p;
      this.sum += x - old;
      if (this.trackVariance) {
        // Welford's update for replacing `old` by `x` in a fixed-size window.
        this.m2 += (x - old) * (x - this.sum / p + old - oldMean);
      }
      if (++this.sinceRebase >= p) this.rebase();
    }
    this.head = this.head + 1 === p ? 0 : this.head + 1;
    // An all-zero window (no volume) must give exactly 0, not a rounding residue.
    if (this.zeros === this.filled) {
      this.sum = 0;
      this.m2 = 0;
    }
  }

  get ready(): boolean {
    return this.filled === this.period;
  }

  /** Mean of the window, NaN until full. */
  mean(): number {
    return this.filled === this.period ? this.sum / this.period : Number.NaN;
  }

  /** Population standard deviation of the window, NaN until full. */
  std(): number {
    if (this.filled !== this.period) return Number.NaN;
    return this.m2 > 0 ? Math.sqrt(this.m2 / this.period) : 0;
  }

  private rebase(): void {
    this.sinceRebase = 0;
    let s = 0;
    for (let i = 0; i < this.filled; i++) s += this.buf[i]!;
    this.sum = s;
    if (this.trackVariance) {
      const mean = s / this.filled;
      let m2 = 0;
      for (let i = 0; i < this.filled; i++) {
        const d = this.buf[i]! - mean;
        m2 += d * d;
      }
      this.m2 = m2;
    }
  }

  reset(): void {
    this.buf.fill(0);
    this.filled = 0;
    this.head = 0;
    this.sum = 0;
    this.m2 = 0;
    this.zeros = 0;
    this.sinceRebase = 0;
  }

  clone(): RollingWindow {
    const c = new RollingWindow(this.period, this.trackVariance);
    c.buf.set(this.buf);
    c.filled = this.filled;
    c.head = this.head;
    c.sum = this.sum;
    c.m2 = this.m2;
    c.zeros = this.zeros;
    c.sinceRebase = this.sinceRebase;
    return c;
  }
}

/** EMA seeded with the SMA of its first `period` values (the technicalindicators / TA-Lib convention). */
export class SeededEma {
  readonly period: number;
  private readonly k: number;
  private count = 0;
  private seedSum = 0;
  private current = Number.NaN;

  constructor(period: number) {
    this.period = period;
    this.k = 2 / (period + 1);
  }

  push(x: number): void {
    if (this.count < this.period) {
      this.seedSum += x;
      if (++this.count === this.period) this.current = this.seedSum / this.period;
    } else {
      this.current = (x - this.current) * this.k + this.current;
    }
  }

  /** NaN until `period` values were pushed. */
  value(): number {
    return this.current;
  }

  reset(): void {
    this.count = 0;
    this.seedSum = 0;
    this.current = Number.NaN;
  }

  clone(): SeededEma {
    const c = new SeededEma(this.period);
    c.count = this.count;
    c.seedSum = this.seedSum;
    c.current = this.current;
    return c;
  }
}

/**
 * RSI from Wilder-smoothed average gain and loss. No gains gives 0, no losses
 * 100, neither (a flat market) 50. Not rounded (technicalindicators rounds to
 * 2 decimals).
 */
export function rsiFromAverages(avgGain: number, avgLoss: number): number {
  if (avgLoss === 0) return avgGain === 0 ? 50 : 100;
  if (avgGain === 0) return 0;
  return 100 - 100 / (1 + avgGain / avgLoss);
}

/** Wilder RSI: averages seeded with the mean of the first `period` changes, then smoothed by 1/period. */
export class WilderRsi {
  readonly period: number;
  private prev = Number.NaN;
  private changes = 0;
  private avgGain = 0;
  private avgLoss = 0;

  constructor(period: number) {
    this.period = period;
  }

  push(x: number): void {
    const prev = this.prev;
    this.prev = x;
    if (Number.isNaN(prev)) return;
    const diff = x - prev;
    const gain = Math.max(diff, 0);
    const loss = Math.max(-diff, 0);
    const p = this.period;
    if (this.changes < p) {
      // Accumulate sums for the seed; turned into means on the period-th change.
      this.avgGain += gain;
      this.avgLoss += loss;
      if (++this.changes === p) {
        this.avgGain /= p;
        this.avgLoss /= p;
      }
    } else {
      this.avgGain = (this.avgGain * (p - 1) + gain) / p;
      this.avgLoss = (this.avgLoss * (p - 1) + loss) / p;
    }
  }

  /** NaN until `period` changes (period + 1 values) were seen. */
  value(): number {
    return this.changes < this.period ? Number.NaN : rsiFromAverages(this.avgGain, this.avgLoss);
  }

  reset(): void {
    this.prev = Number.NaN;
    this.changes = 0;
    this.avgGain = 0;
    this.avgLoss = 0;
  }

  clone(): WilderRsi {
    const c = new WilderRsi(this.period);
    c.prev = this.prev;
    c.changes = this.changes;
    c.avgGain = this.avgGain;
    c.avgLoss = this.avgLoss;
    return c;
  }
}

/** The last `size` values, newest first by `ago(0)`. */
export class LagBuffer {
  private readonly buf: Float64Array;
  private count = 0;
  private head = 0;

  constructor(size: number) {
    this.buf = new Float64Array(size);
  }

  push(x: number): void {
    this.buf[this.head] = x;
    this.head = this.head + 1 === this.buf.length ? 0 : this.head + 1;
    this.count++;
  }

  /** The value pushed `k` pushes ago (0 = latest), NaN if not seen yet or older than the buffer. */
  ago(k: number): number {
    const n = this.buf.length;
    if (k >= this.count || k >= n) return Number.NaN;
    const i = this.head - 1 - k;
    return this.buf[i < 0 ? i + n : i]!;
  }

  reset(): void {
    this.buf.fill(0);
    this.count = 0;
    this.head = 0;
  }

  clone(): LagBuffer {
    const c = new LagBuffer(this.buf.length);
    c.buf.set(this.buf);
    c.count = this.count;
    c.head = this.head;
    return c;
  }
}
