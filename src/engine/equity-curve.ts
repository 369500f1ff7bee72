import type { EquityPoint } from './result.js';

/**
 * The equity curve kept compactly: four growing Float64Arrays (32 bytes per
 * point) instead of one object per point, so a million-candle replay costs
 * ~32 MB at most and no allocation per point. `toPoints()` converts it for a
 * result; metrics read the arrays directly.
 */
export class EquityCurve {
  private capacity: number;
  private size = 0;
  private ts: Float64Array;
  private eq: Float64Array;
  private cashArr: Float64Array;
  private exp: Float64Array;

  constructor(initialCapacity = 1024) {
    this.capacity = Math.max(16, Math.floor(initialCapacity));
    this.ts = new Float64Array(this.capacity);
    this.eq = new Float64Array(this.capacity);
    this.cashArr = new Float64Array(this.capacity);
    this.exp = new Float64Array(this.capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Append a point; a point with the same timestamp as the last one replaces it. */
  push(timestamp: number, equity: number, cash: number, grossExposure: number): void {
    let i = this.size;
    if (i > 0 && this.ts[i - 1] === timestamp) i--;
    else {
      if (i === this.capacity) this.grow();
      this.size++;
    }
    this.ts[i] = timestamp;
    this.eq[i] = equity;
    this.cashArr[i] = cash;
    this.exp[i] = grossExposure;
  }

  /** Views of the recorded values (valid until the next push). */
  get timestamps(): Float64Array {
    return this.ts.subarray(0, this.size);
  }
  get equity(): Float64Array {
    return this.eq.subarray(0, this.size);
  }
  get cash(): Float64Array {
    return this.cashArr.subarray(0, this.size);
  }
  /** Gross exposure in quote currency (sum of |position value|). */
  get grossExposure(): Float64Array {
    return this.exp.subarray(0, this.size);
  }

  /**
   * Points with drawdown from the running peak (which starts at `initialEquity`
   * when given, so a loss on the first bar shows) and exposure as a share of equity.
   * With `maxPoints` below the length, the curve is cut into that many buckets
   * and each keeps its deepest-drawdown point (the first and last point are
   * always kept), so long runs give a bounded result without hiding drawdowns.
   */
  toPoints(initialEquity?: number, maxPoints?: number): EquityPoint[] {
    const n = this.size;
    const drawdown = new Float64Array(n);
    let peak = initialEquity ?? Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const equity = this.eq[i] as number;
      if (equity > peak) peak = equity;
      drawdown[i] = peak > 0 ? equity / peak - 1 : 0;
    }
    const point = (i: number): EquityPoint => {
      const equity = this.eq[i] as number;
      return {
        timestamp: this.ts[i] as number,
        equity,
        cash: this.cashArr[i] as number,
        drawdown: drawdown[i] as number,
        exposure: equity > 0 ? (this.exp[i] as number) / equity : 0,
      };
    };
    if (maxPoints === undefined || maxPoints <= 0 || n <= maxPoints) {
      const out: EquityPoint[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = point(i);
      return out;
    }
    const buckets = Math.max(2, Math.floor(maxPoints));
    const out: EquityPoint[] = [point(0)];
    const inner = buckets - 2;
    const span = (n - 2) / inner;
    for (let b = 0; b < inner; b++) {
      const from = 1 + Math.floor(b * span);
      const to = Math.min(n - 1, 1 + Math.floor((b + 1) * span));
      let pick = from;
      for (let i = from + 1; i < to; i++) if ((drawdown[i] as number) < (drawdown[pick] as number)) pick = i;
      if (from < to) out.push(point(pick));
    }
    out.push(point(n - 1));
    return out;
  }

  private grow(): void {
    this.capacity *= 2;
    const grow = (a: Float64Array) => {
      const b = new Float64Array(this.capacity);
      b.set(a);
      return b;
    };
    this.ts = grow(this.ts);
    this.eq = grow(this.eq);
    this.cashArr = grow(this.cashArr);
    this.exp = grow(this.exp);
  }
}
