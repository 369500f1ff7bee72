/**
 * The linear model family: L2-regularised logistic regression for the
 * direction target, its regression counterpart (ridge regression) for the
 * return and volatility targets. A strong, fast baseline and a sanity check
 * for the other families: it fits a window in milliseconds, has no seed, and
 * what it learned is a weight per (scaled) feature.
 *
 * Fitting minimises the mean loss plus (l2 / 2) * |w|^2 (the intercept is not
 * penalised): Newton's method with a backtracking line search for the
 * logistic loss, the normal equations for squared error. The linear systems
 * are solved by ml-matrix's Cholesky decomposition.
 *
 * Saved as `linear.json` (weights and intercept as plain JSON numbers, so
 * loading it runs no code).
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { ConfigError, DataError, ModelError } from '../core/errors.js';
import type { TargetKind } from '../features/targets.js';
import type { ModelFiles } from './model-files.js';
import type { ScaledModel } from './scaled-model.js';

export const LINEAR_MODEL_FILE = 'linear.json';

export interface LinearOptions {
  /** L2 penalty on the mean loss (default 0.3; inputs are z-scores). */
  readonly l2?: number;
  /** Newton iterations at most (default 50). */
  readonly maxIterations?: number;
}

export const DEFAULT_LINEAR_OPTIONS = { l2: 0.3, maxIterations: 50 } as const;

export interface LinearModelJSON {
  readonly format: 'quantflow-linear';
  readonly version: 1;
  /** 'logit': P(up) = sigmoid(w.x + b); 'identity': the target in model space. */
  readonly link: 'logit' | 'identity';
  readonly weights: readonly number[];
  readonly intercept: number;
  readonly l2: number;
  readonly iterations: number;
}

export interface LinearFit {
  readonly json: LinearModelJSON;
  readonly model: LinearScaledModel;
}

function resolve(options: LinearOptions): { l2: number; maxIterations: number } {
  const l2 = options.l2 ?? DEFAULT_LINEAR_OPTIONS.l2;
  if (!(Number.isFinite(l2) && l2 >= 0)) throw new ConfigError(`l2 must be a number >= 0, got ${l2}`, { field: 'l2' });
  const maxIterations = options.maxIterations ?? DEFAULT_LINEAR_OPTIONS.maxIterations;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) {
    throw new ConfigError(`maxIterations must be an integer >= 1, got ${maxIterations}`, { field: 'maxIterations' });
  }
  return { l2, maxIterations };
}

/** (X'WX)/n + diag penalty and X'v/n for the design matrix [x, 1]; weights per row (undefined = 1). */
function normalEquations(
  x: Float32Array,
  rows: number,
  cols: number,
  weights: Float64Array | undefined,
  v: Float64Array,
  l2: number,
): { h: Matrix; g: Matrix } {
  const p = cols + 1;
  const h = new Float64Array(p * p);
  const g = new Float64Array(p);
  const row = new Float64Array(p);
  row[cols] = 1;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) row[j] = x[i * cols + j]!;
    const w = weights === undefined ? 1 : weights[i]!;
    const vi = v[i]!;
    for (let j = 0; j < p; j++) {
      const wj = w * row[j]!;
      g[j]! += row[j]! * vi;
      const base = j * p;
      for (let k = j; k < p; k++) h[base + k]! += wj * row[k]!;
    }
  }
  const hm = new Matrix(p, p);
  const gm = new Matrix(p, 1);
  for (let j = 0; j < p; j++) {
    gm.set(j, 0, g[j]! / rows);
    for (let k = j; k < p; k++) {
      const value = h[j * p + k]! / rows + (j === k ? (j < cols ? l2 : 1e-10) : 0);
      hm.set(j, k, value);
      hm.set(k, j, value);
    }
  }
  return { h: hm, g: gm };
}

function solveSpd(h: Matrix, g: Matrix): Float64Array {
  const chol = new CholeskyDecomposition(h);
  if (!chol.isPositiveDefinite()) {
    throw new ModelError('the linear system is not positive definite (constant or duplicate features with l2 = 0)', {
      field: 'l2',
    });
  }
  return Float64Array.from(chol.solve(g).getColumn(0));
}

function linearScores(x: Float32Array, rows: number, cols: number, w: Float64Array, out: Float64Array): void {
  for (let i = 0; i < rows; i++) {
    let z = w[cols]!;
    const o = i * cols;
    for (let j = 0; j < cols; j++) z += w[j]! * x[o + j]!;
    out[i] = z;
  }
}

function logLoss(z: Float64Array, y: Float32Array, w: Float64Array, cols: number, l2: number): number {
  let sum = 0;
  for (let i = 0; i < z.length; i++) {
    const zi = z[i]!;
    // log(1 + exp(-z)) for y = 1, log(1 + exp(z)) for y = 0, computed without overflow.
    const s = y[i] === 1 ? -zi : zi;
    sum += s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s));
  }
  let pen = 0;
  for (let j = 0; j < cols; j++) pen += w[j]! * w[j]!;
  return sum / z.length + 0.5 * l2 * pen;
}

function checkData(x: Float32Array, y: Float32Array, rows: number, cols: number): void {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(cols) && cols >= 1)) {
    throw new DataError(`need at least one row and one column, got ${rows} x ${cols}`, { field: 'rows' });
  }
  if (x.length !== rows * cols || y.length !== rows) {
    throw new DataError(`expected ${rows} rows of ${cols} values and ${rows} targets`, { field: 'rows' });
  }
}

/** Logistic regression of 0/1 labels on scaled rows. */
export function fitLogistic(
  x: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  options: LinearOptions = {},
): LinearFit {
  checkData(x, y, rows, cols);
  const { l2, maxIterations } = resolve(options);
  for (let i = 0; i < rows; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new DataError(`label ${y[i]} is not 0 or 1`, { field: 'labels', index: i });
  }
  let w = new Float64Array(cols + 1);
  const z = new Float64Array(rows);
  const weights = new Float64Array(rows);
  const residual = new Float64Array(rows);
  linearScores(x, rows, cols, w, z);
  let loss = logLoss(z, y, w, cols, l2);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    for (let i = 0; i < rows; i++) {
      const p = 1 / (1 + Math.exp(-z[i]!));
      weights[i] = Math.max(p * (1 - p), 1e-12);
      residual[i] = p - y[i]!;
    }
    const { h, g } = normalEquations(x, rows, cols, weights, residual, l2);
    for (let j = 0; j < cols; j++) g.set(j, 0, g.get(j, 0) + l2 * w[j]!);
    const step = solveSpd(h, g);
    // Backtracking: Newton steps overshoot only far from the optimum.
    let t = 1;
    let next = w;
    let nextLoss = loss;
    for (let k = 0; k < 30; k++, t /= 2) {
      next = w.map((v, j) => v - t * step[j]!);
      linearScores(x, rows, cols, next, z);
      nextLoss = logLoss(z, y, next, cols, l2);
      if (nextLoss <= loss + 1e-12) break;
    }
    const moved = Math.max(...step.map((s) => Math.abs(s * t)));
    w = next;
    const improvement = loss - nextLoss;
    loss = nextLoss;
    if (moved < 1e-9 || improvement < 1e-14) {
      iterations++;
      break;
    }
  }
  linearScores(x, rows, cols, w, z);
  return finish('logit', w, cols, l2, iterations);
}

/** Ridge regression of a real-valued target on scaled rows. */
export function fitRidge(
  x: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  options: LinearOptions = {},
): LinearFit {
  checkData(x, y, rows, cols);
  const { l2 } = resolve(options);
  const target = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    if (!Number.isFinite(y[i]!)) throw new DataError(`target ${y[i]} is not finite`, { field: 'labels', index: i });
    target[i] = y[i]!;
  }
  const { h, g } = normalEquations(x, rows, cols, undefined, target, l2);
  return finish('identity', solveSpd(h, g), cols, l2, 1);
}

function finish(link: 'logit' | 'identity', w: Float64Array, cols: number, l2: number, iterations: number): LinearFit {
  if (!w.every(Number.isFinite)) throw new ModelError('the linear model did not converge to finite weights');
  const json: LinearModelJSON = {
    format: 'quantflow-linear',
    version: 1,
    link,
    weights: Array.from(w.subarray(0, cols)),
    intercept: w[cols]!,
    l2,
    iterations,
  };
  return { json, model: new LinearScaledModel(json) };
}

/** Fits the family member for a target: logistic for direction, ridge otherwise. */
export function fitLinear(
  target: TargetKind,
  x: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  options: LinearOptions = {},
): LinearFit {
  return target === 'direction' ? fitLogistic(x, y, rows, cols, options) : fitRidge(x, y, rows, cols, options);
}

export class LinearScaledModel implements ScaledModel {
  readonly inputWidth: number;
  readonly link: 'logit' | 'identity';
  private readonly weights: Float64Array;
  private readonly intercept: number;

  constructor(json: LinearModelJSON) {
    this.inputWidth = json.weights.length;
    this.link = json.link;
    this.weights = Float64Array.from(json.weights);
    this.intercept = json.intercept;
  }

  async predictScaled(rows: Float32Array): Promise<Float32Array> {
    const cols = this.inputWidth;
    const n = rows.length / cols;
    const out = new Float32Array(n);
    const w = this.weights;
    for (let i = 0; i < n; i++) {
      let z = this.intercept;
      const o = i * cols;
      for (let j = 0; j < cols; j++) z += w[j]! * rows[o + j]!;
      out[i] = this.link === 'logit' ? 1 / (1 + Math.exp(-z)) : z;
    }
    return out;
  }

  async dispose(): Promise<void> {}
}

/** Parses linear.json into a model; ModelError naming the file and field on anything malformed. */
export function loadLinearModel(files: ModelFiles, where: string): LinearScaledModel {
  const file = `${where}/${LINEAR_MODEL_FILE}`;
  const data = files.get(LINEAR_MODEL_FILE);
  if (data === undefined) throw new ModelError('file is missing', { file });
  let json: Partial<LinearModelJSON>;
  try {
    json = JSON.parse(new TextDecoder().decode(data)) as Partial<LinearModelJSON>;
  } catch (err) {
    throw new ModelError(`not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
  const fail = (field: string, message: string): never => {
    throw new ModelError(message, { file, field });
  };
  if (json === null || typeof json !== 'object' || json.format !== 'quantflow-linear' || json.version !== 1) {
    fail('format', 'not a quantflow linear model (format/version)');
  }
  if (json.link !== 'logit' && json.link !== 'identity') fail('link', `unknown link '${String(json.link)}'`);
  if (!Array.isArray(json.weights) || json.weights.length === 0) fail('weights', 'must be a non-empty array');
  (json.weights as unknown[]).forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`weights[${i}]`, 'must be a finite number');
  });
  if (typeof json.intercept !== 'number' || !Number.isFinite(json.intercept)) {
    fail('intercept', 'must be a finite number');
  }
  return new LinearScaledModel(json as LinearModelJSON);
}
