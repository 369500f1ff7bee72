/** Shared by the test/risk files: seeded return windows and small matrix helpers. */
import { inverse, Matrix } from 'ml-matrix';
import { Mulberry32, NormalSource } from '../../src/core/random.js';
import type { ReturnsWindow } from '../../src/risk/index.js';

/** Correlated normal returns: vols and a one-factor correlation, seeded. */
export function correlatedReturns(bars: number, vols: readonly number[], factorLoading = 0.5, seed = 7): ReturnsWindow {
  const normals = new NormalSource(new Mulberry32(seed));
  const returns = vols.map(() => new Float64Array(bars));
  for (let t = 0; t < bars; t++) {
    const market = normals.next();
    vols.forEach((v, i) => {
      const idio = normals.next();
      (returns[i] as Float64Array)[t] =
        0.0002 * (i + 1) + v * (factorLoading * market + Math.sqrt(1 - factorLoading ** 2) * idio);
    });
  }
  return { symbols: vols.map((_, i) => `S${i}`), returns };
}

/** A random positive definite covariance of size n (seeded): A A' / n + diag. */
export function randomCovariance(n: number, seed: number): number[][] {
  const normals = new NormalSource(new Mulberry32(seed));
  const a = Array.from({ length: n }, () => Array.from({ length: n }, () => normals.next() * 0.01));
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += (a[i]![k] as number) * (a[j]![k] as number);
      return s / n + (i === j ? 0.0001 * (1 + i / n) : 0);
    }),
  );
}

/** S^-1 v (dense, by ml-matrix's inverse). */
export function solveWith(covariance: number[][], v: readonly number[]): number[] {
  return inverse(new Matrix(covariance))
    .mmul(Matrix.columnVector([...v]))
    .getColumn(0);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
