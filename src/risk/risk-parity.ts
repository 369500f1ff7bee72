/**
 * Equal risk contribution (risk parity), long-only: weights whose component
 * contributions w_i (S w)_i are equal (or proportional to given budgets b).
 * Not a quadratic program, so it is solved as Spinu (2013)'s convex problem
 *   minimise 1/2 x' S x - sum_i b_i ln x_i   (x > 0),   w = x / sum(x),
 * whose stationarity condition x_i (S x)_i = b_i is exactly the budget
 * condition, by damped Newton steps (each a Cholesky solve from ml-matrix).
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { ConfigError } from '../core/errors.js';
import { type CovarianceMatrix, checkCovariance } from './covariance.js';

export interface RiskParityOptions {
  /** Risk budgets, positive, normalised to sum 1 (default equal). */
  readonly budgets?: readonly number[];
  readonly maxIterations?: number;
  /** Stop when max_i |x_i (S x)_i - b_i| falls below this (default 1e-13). */
  readonly tolerance?: number;
}

export function riskParityWeights(covariance: CovarianceMatrix, options: RiskParityOptions = {}): number[] {
  const n = covariance.length;
  checkCovariance(covariance, n);
  const raw = options.budgets ?? new Array<number>(n).fill(1);
  if (raw.length !== n || raw.some((b) => !(b > 0 && Number.isFinite(b)))) {
    throw new ConfigError(`risk budgets must be ${n} positive numbers`, { field: 'budgets' });
  }
  const total = raw.reduce((a, b) => a + b, 0);
  const b = raw.map((v) => v / total);
  const tolerance = options.tolerance ?? 1e-13;
  const maxIterations = options.maxIterations ?? 100;
  const S = new Matrix(covariance);
  const objective = (x: number[]) => {
    const sx = S.mmul(Matrix.columnVector(x)).getColumn(0);
    let f = 0;
    for (let i = 0; i < n; i++)
      f += 0.5 * (x[i] as number) * (sx[i] as number) - (b[i] as number) * Math.log(x[i] as number);
    return { f, sx };
  };
  // Start from inverse volatility scaled so that x' S x = 1 (the optimum's scale).
  let x = covariance.map((row, i) => 1 / Math.sqrt((row[i] as number) || 1));
  const start = objective(x);
  const scale = 1 / Math.sqrt(x.reduce((s, xi, i) => s + xi * (start.sx[i] as number), 0));
  x = x.map((v) => v * scale);
  let current = objective(x);
  for (let iter = 0; iter < maxIterations; iter++) {
    let residual = 0;
    for (let i = 0; i < n; i++)
      residual = Math.max(residual, Math.abs((x[i] as number) * (current.sx[i] as number) - (b[i] as number)));
    if (residual < tolerance) break;
    const gradient = x.map((xi, i) => (current.sx[i] as number) - (b[i] as number) / xi);
    const hessian = S.clone();
    for (let i = 0; i < n; i++) hessian.set(i, i, hessian.get(i, i) + (b[i] as number) / (x[i] as number) ** 2);
    const step = new CholeskyDecomposition(hessian).solve(Matrix.columnVector(gradient)).getColumn(0);
    // Backtrack: stay positive and decrease the objective (Armijo).
    let t = 1;
    const slope = gradient.reduce((s, g, i) => s - g * (step[i] as number), 0);
    for (let k = 0; k < 60; k++, t /= 2) {
      const next = x.map((xi, i) => xi - t * (step[i] as number));
      if (next.some((v) => !(v > 0))) continue;
      const trial = objective(next);
      if (trial.f <= current.f + 1e-4 * t * slope) {
        x = next;
        current = trial;
        break;
      }
    }
  }
  const sum = x.reduce((a, v) => a + v, 0);
  return x.map((v) => v / sum);
}
