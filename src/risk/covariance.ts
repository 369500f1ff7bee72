/**
 * Covariance of returns: the sample estimate, Ledoit-Wolf shrinkage (batch,
 * per rebalance) and a rolling-window estimate updated in O(n^2) per bar.
 *
 * Matrices are plain `number[][]` (row-major, symmetric), so they serialise
 * as they are and any matrix library can read them.
 */
import { CholeskyDecomposition } from 'ml-matrix';
import { ConfigError, DataError } from '../core/errors.js';
import { checkFinite, type ReturnsWindow, windowLength } from './returns.js';

export type CovarianceMatrix = number[][];

function zeros(n: number): number[][] {
  return Array.from({ length: n }, () => new Array<number>(n).fill(0));
}

function columnMeans(window: ReturnsWindow, bars: number): Float64Array {
  return Float64Array.from(window.returns, (r) => {
    let s = 0;
    for (let t = 0; t < bars; t++) s += r[t] as number;
    return s / bars;
  });
}

/**
 * Sample covariance, two-pass. `ddof` 1 (default) divides by T - 1; 0 gives
 * the maximum-likelihood estimate (divide by T) that Ledoit-Wolf shrinks.
 */
export function sampleCovariance(window: ReturnsWindow, ddof: 0 | 1 = 1): CovarianceMatrix {
  const bars = windowLength(window);
  if (bars <= ddof) throw new DataError(`${bars} bar(s) are too few for a covariance`, { field: 'returns' });
  const n = window.returns.length;
  const mean = columnMeans(window, bars);
  const out = zeros(n);
  for (let i = 0; i < n; i++) {
    const ri = window.returns[i] as Float64Array;
    const mi = mean[i] as number;
    for (let j = 0; j <= i; j++) {
      const rj = window.returns[j] as Float64Array;
      const mj = mean[j] as number;
      let s = 0;
      for (let t = 0; t < bars; t++) s += ((ri[t] as number) - mi) * ((rj[t] as number) - mj);
      const c = s / (bars - ddof);
      (out[i] as number[])[j] = c;
      (out[j] as number[])[i] = c;
    }
  }
  return out;
}

export interface ShrunkCovariance {
  readonly covariance: CovarianceMatrix;
  /** Weight of the target, in [0, 1]. */
  readonly shrinkage: number;
  /** The target is `targetVariance * I`: the average sample variance. */
  readonly targetVariance: number;
}

/**
 * Ledoit & Wolf (2004), "A well-conditioned estimator for large-dimensional
 * covariance matrices": the maximum-likelihood covariance S (divided by T, of
 * demeaned returns) shrunk toward mu * I, mu = trace(S) / n, with the intensity
 * min(b^2, d^2) / d^2 where d^2 = |S - mu I|^2 / n and
 * b^2 = sum_t |x_t x_t' - S|^2 / (n T^2). The same estimator as scikit-learn's
 * `LedoitWolf()` (a test compares the two).
 */
export function ledoitWolf(window: ReturnsWindow): ShrunkCovariance {
  const bars = windowLength(window);
  const n = window.returns.length;
  if (bars < 2) throw new DataError(`${bars} bar(s) are too few for a covariance`, { field: 'returns' });
  const s = sampleCovariance(window, 0);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += (s[i] as number[])[i] as number;
  const mu = trace / n;
  if (n === 1) return { covariance: s, shrinkage: 0, targetVariance: mu };

  let sNorm2 = 0;
  let d2 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = (s[i] as number[])[j] as number;
      sNorm2 += v * v;
      const dev = i === j ? v - mu : v;
      d2 += dev * dev;
    }
  }
  // sum_t |x_t x_t' - S|^2 = sum_t |x_t|^4 - T |S|^2, with x_t the demeaned returns of bar t.
  const mean = columnMeans(window, bars);
  let fourth = 0;
  for (let t = 0; t < bars; t++) {
    let norm2 = 0;
    for (let i = 0; i < n; i++) {
      const x = ((window.returns[i] as Float64Array)[t] as number) - (mean[i] as number);
      norm2 += x * x;
    }
    fourth += norm2 * norm2;
  }
  const b2bar = Math.max(0, (fourth - bars * sNorm2) / (bars * bars));
  const shrinkage = d2 === 0 ? 0 : Math.min(b2bar, d2) / d2;
  const covariance = s.map((row, i) => row.map((v, j) => (1 - shrinkage) * v + (i === j ? shrinkage * mu : 0)));
  return { covariance, shrinkage, targetVariance: mu };
}

/**
 * Sample covariance (divided by count - 1) of the last `window` bars of
 * several return series, updated in O(n^2) per bar with Welford's add and
 * remove steps. Rounding error of the running co-moments is bounded by
 * recomputing them from the window every `window` bars (amortised O(n^2)).
 */
export class RollingCovariance {
  readonly size: number;
  readonly window: number;
  private readonly buf: Float64Array;
  private readonly mean: Float64Array;
  private readonly comoment: Float64Array;
  private readonly delta: Float64Array;
  private count = 0;
  private head = 0;
  private sinceRebase = 0;

  constructor(size: number, window: number) {
    if (!Number.isInteger(size) || size < 1) throw new ConfigError(`size must be an integer >= 1, got ${size}`);
    if (!Number.isInteger(window) || window < 2) {
      throw new ConfigError(`window must be an integer >= 2, got ${window}`, { field: 'window' });
    }
    this.size = size;
    this.window = window;
    this.buf = new Float64Array(size * window);
    this.mean = new Float64Array(size);
    this.comoment = new Float64Array(size * size);
    this.delta = new Float64Array(size);
  }

  /** Bars in the window so far (at most `window`). */
  get bars(): number {
    return this.count;
  }

  /** Adds one bar's returns (length `size`), dropping the oldest bar once the window is full. */
  update(returns: ArrayLike<number>): void {
    const n = this.size;
    if (returns.length !== n) throw new DataError(`expected ${n} returns per bar, got ${returns.length}`);
    checkFinite(returns, 'returns');
    const slot = this.head * n;
    if (this.count === this.window) this.remove(slot);
    for (let i = 0; i < n; i++) this.buf[slot + i] = returns[i] as number;
    this.add(slot);
    this.head = this.head + 1 === this.window ? 0 : this.head + 1;
    if (this.count === this.window && ++this.sinceRebase >= this.window) this.rebase();
  }

  /** Covariance of symbols i and j over the window (NaN before 2 bars). */
  covariance(i: number, j: number): number {
    if (this.count < 2) return Number.NaN;
    return (this.comoment[i * this.size + j] as number) / (this.count - 1);
  }

  /** The whole matrix. */
  matrix(): CovarianceMatrix {
    return Array.from({ length: this.size }, (_, i) =>
      Array.from({ length: this.size }, (_, j) => this.covariance(i, j)),
    );
  }

  private add(slot: number): void {
    const n = this.size;
    this.count++;
    for (let i = 0; i < n; i++) {
      const d = (this.buf[slot + i] as number) - (this.mean[i] as number);
      this.delta[i] = d;
      this.mean[i] = (this.mean[i] as number) + d / this.count;
    }
    // C += (x - mean_before) (x - mean_after)'
    for (let i = 0; i < n; i++) {
      const di = this.delta[i] as number;
      for (let j = 0; j < n; j++) {
        const k = i * n + j;
        this.comoment[k] =
          (this.comoment[k] as number) + di * ((this.buf[slot + j] as number) - (this.mean[j] as number));
      }
    }
  }

  private remove(slot: number): void {
    const n = this.size;
    this.count--;
    for (let i = 0; i < n; i++) {
      const d = (this.buf[slot + i] as number) - (this.mean[i] as number);
      this.delta[i] = d;
      this.mean[i] = this.count === 0 ? 0 : (this.mean[i] as number) - d / this.count;
    }
    // C -= (y - mean_after) (y - mean_before)'
    for (let i = 0; i < n; i++) {
      const di = this.delta[i] as number;
      for (let j = 0; j < n; j++) {
        const k = i * n + j;
        this.comoment[k] =
          (this.comoment[k] as number) - di * ((this.buf[slot + j] as number) - (this.mean[j] as number));
      }
    }
  }

  private rebase(): void {
    const n = this.size;
    const w = this.count;
    this.sinceRebase = 0;
    this.mean.fill(0);
    this.comoment.fill(0);
    for (let t = 0; t < w; t++)
      for (let i = 0; i < n; i++) this.mean[i] = (this.mean[i] as number) + (this.buf[t * n + i] as number) / w;
    for (let t = 0; t < w; t++) {
      for (let i = 0; i < n; i++) {
        const di = (this.buf[t * n + i] as number) - (this.mean[i] as number);
        for (let j = 0; j < n; j++) {
          const k = i * n + j;
          this.comoment[k] =
            (this.comoment[k] as number) + di * ((this.buf[t * n + j] as number) - (this.mean[j] as number));
        }
      }
    }
  }
}

/**
 * Checks that `covariance` is an n x n finite, symmetric, positive definite
 * matrix (a Cholesky factorisation exists), naming what is wrong.
 */
export function checkCovariance(covariance: CovarianceMatrix, n: number, field = 'covariance'): void {
  if (covariance.length !== n)
    throw new ConfigError(`covariance has ${covariance.length} rows, expected ${n}`, { field });
  for (let i = 0; i < n; i++) {
    const row = covariance[i] as number[];
    if (row.length !== n)
      throw new ConfigError(`covariance row ${i} has ${row.length} entries, expected ${n}`, { field });
    for (let j = 0; j < n; j++) {
      const v = row[j] as number;
      if (!Number.isFinite(v)) throw new ConfigError(`covariance[${i}][${j}] = ${v} is not finite`, { field });
      const w = (covariance[j] as number[])[i] as number;
      if (Math.abs(v - w) > 1e-12 * Math.max(1, Math.abs(v))) {
        throw new ConfigError(`covariance is not symmetric at [${i}][${j}]: ${v} vs ${w}`, { field });
      }
    }
  }
  if (!new CholeskyDecomposition(covariance).isPositiveDefinite()) {
    throw new ConfigError(
      'covariance is not positive definite (collinear or constant returns, or fewer bars than symbols): use Ledoit-Wolf shrinkage',
      { field },
    );
  }
}
