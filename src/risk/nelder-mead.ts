/**
 * Nelder-Mead simplex minimisation (Lagarias et al. 1998 coefficients:
 * reflect 1, expand 2, contract 1/2, shrink 1/2), stopping like SciPy's
 * `fmin`: when every vertex is within `xTolerance` of the best one and every
 * value within `fTolerance` of its value. Used for GARCH's three-parameter
 * likelihood: npm's `fmin` (the maintained candidate) exports nothing when
 * imported as an ES module, so this small, tested one is used instead.
 */
import { ConfigError } from '../core/errors.js';

export interface NelderMeadOptions {
  readonly maxIterations?: number;
  readonly xTolerance?: number;
  readonly fTolerance?: number;
  /** Relative size of the first simplex's steps (absolute 0.00025 for a zero coordinate, as SciPy). */
  readonly initialStep?: number;
}

export interface Minimum {
  readonly x: Float64Array;
  readonly value: number;
  readonly iterations: number;
  readonly converged: boolean;
}

export function nelderMead(
  f: (x: Float64Array) => number,
  start: ArrayLike<number>,
  options: NelderMeadOptions = {},
): Minimum {
  const n = start.length;
  if (n === 0) throw new ConfigError('nelderMead needs at least one variable');
  const maxIterations = options.maxIterations ?? 200 * n;
  const xTol = options.xTolerance ?? 1e-8;
  const fTol = options.fTolerance ?? 1e-10;
  const step = options.initialStep ?? 0.05;
  // NaN (outside the function's domain) ranks worst.
  const value = (x: Float64Array) => {
    const v = f(x);
    return Number.isNaN(v) ? Number.POSITIVE_INFINITY : v;
  };

  const points: Float64Array[] = [Float64Array.from(start)];
  for (let i = 0; i < n; i++) {
    const p = Float64Array.from(start);
    p[i] = p[i] !== 0 ? (p[i] as number) * (1 + step) : 0.00025;
    points.push(p);
  }
  const values = points.map(value);
  const order = Array.from({ length: n + 1 }, (_, i) => i);
  const centroid = new Float64Array(n);
  const trial = (coef: number, worst: Float64Array) => {
    const p = new Float64Array(n);
    for (let j = 0; j < n; j++)
      p[j] = (centroid[j] as number) + coef * ((centroid[j] as number) - (worst[j] as number));
    return p;
  };

  let iterations = 0;
  let converged = false;
  for (; iterations < maxIterations; iterations++) {
    order.sort((a, b) => (values[a] as number) - (values[b] as number));
    const best = points[order[0] as number] as Float64Array;
    const bestValue = values[order[0] as number] as number;
    let xSpread = 0;
    let fSpread = 0;
    for (let k = 1; k <= n; k++) {
      const p = points[order[k] as number] as Float64Array;
      for (let j = 0; j < n; j++) xSpread = Math.max(xSpread, Math.abs((p[j] as number) - (best[j] as number)));
      fSpread = Math.max(fSpread, Math.abs((values[order[k] as number] as number) - bestValue));
    }
    if (xSpread <= xTol && fSpread <= fTol) {
      converged = true;
      break;
    }
    const worstIndex = order[n] as number;
    const worst = points[worstIndex] as Float64Array;
    const worstValue = values[worstIndex] as number;
    const secondWorstValue = values[order[n - 1] as number] as number;
    centroid.fill(0);
    for (let k = 0; k < n; k++) {
      const p = points[order[k] as number] as Float64Array;
      for (let j = 0; j < n; j++) centroid[j] = (centroid[j] as number) + (p[j] as number) / n;
    }
    const reflected = trial(1, worst);
    const fr = value(reflected);
    if (fr < bestValue) {
      const expanded = trial(2, worst);
      const fe = value(expanded);
      if (fe < fr) [points[worstIndex], values[worstIndex]] = [expanded, fe];
      else [points[worstIndex], values[worstIndex]] = [reflected, fr];
      continue;
    }
    if (fr < secondWorstValue) {
      [points[worstIndex], values[worstIndex]] = [reflected, fr];
      continue;
    }
    // Contract outside (toward the reflected point) or inside (toward the worst).
    const contracted = fr < worstValue ? trial(0.5, worst) : trial(-0.5, worst);
    const fc = value(contracted);
    if (fc < Math.min(fr, worstValue)) {
      [points[worstIndex], values[worstIndex]] = [contracted, fc];
      continue;
    }
    // Shrink every vertex toward the best.
    for (let k = 1; k <= n; k++) {
      const idx = order[k] as number;
      const p = points[idx] as Float64Array;
      for (let j = 0; j < n; j++) p[j] = (best[j] as number) + 0.5 * ((p[j] as number) - (best[j] as number));
      values[idx] = value(p);
    }
  }
  order.sort((a, b) => (values[a] as number) - (values[b] as number));
  return {
    x: points[order[0] as number] as Float64Array,
    value: values[order[0] as number] as number,
    iterations,
    converged,
  };
}
