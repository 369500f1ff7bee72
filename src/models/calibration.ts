/**
 * Probability calibration: a map from a model's raw probability to one whose
 * frequencies hold (of the rows given 0.6, about 60% go up). It is fitted on
 * a slice at the end of the training window that the model was not fitted on,
 * saved with the model as `calibration.json`, and applied by the predictor on
 * every path (batch, streaming, API, embedded), so no path sees raw scores.
 *
 * - `platt`: p = sigmoid(a * logit(raw) + b), two parameters fitted by
 *   maximum likelihood (Newton's method) with a >= 0 and a weak prior toward
 *   the identity. Robust on a few hundred rows.
 * - `isotonic`: the monotone step function closest to the outcomes (pool
 *   adjacent violators), interpolated linearly between its steps and clipped
 *   at the ends, as scikit-learn's IsotonicRegression predicts. More flexible,
 *   needs more rows.
 *
 * Regression targets (`residual`, in model space) get a linear map fitted on
 * the same slice and the spread of the residuals after it, which gives
 * forecast intervals and, for the return, P(up):
 * - return: a slope in [0, 1] through the origin (least squares), which
 *   shrinks a weak model toward the naive forecast of zero instead of letting
 *   it add noise;
 * - volatility: the offset of the log forecast that minimises QLIKE (the
 *   loss of variance forecasts): a model fitted on log volatility forecasts
 *   its geometric mean, which is too low.
 */
import { ConfigError, DataError, ModelError } from '../core/errors.js';

export type CalibrationMethod = 'platt' | 'isotonic';
export const CALIBRATION_METHODS: readonly (CalibrationMethod | 'none')[] = ['platt', 'isotonic', 'none'];

export const CALIBRATION_FILE = 'calibration.json';

export type Calibration =
  | { readonly method: 'platt'; readonly a: number; readonly b: number }
  | { readonly method: 'isotonic'; readonly x: readonly number[]; readonly y: readonly number[] }
  | {
      readonly method: 'residual';
      readonly sigma: number;
      /** Model space: calibrated = offset + slope x raw (1 and 0 in files written before them). */
      readonly slope: number;
      readonly offset: number;
    };

export interface CalibrationJSON {
  readonly format: 'quantflow-calibration';
  readonly version: 1;
  readonly calibration: Calibration;
  /** Rows it was fitted on. */
  readonly rows: number;
}

const P_EPS = 1e-7;

function logit(p: number): number {
  const q = Math.min(Math.max(p, P_EPS), 1 - P_EPS);
  return Math.log(q / (1 - q));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

function checkPairs(raw: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (raw.length !== labels.length) {
    throw new DataError(`${raw.length} predictions but ${labels.length} outcomes`, { field: 'calibration' });
  }
  if (raw.length < 2) throw new DataError('calibration needs at least 2 rows', { field: 'calibration' });
}

/**
 * How many rows of evidence the identity map is worth in Platt scaling: a weak
 * model calibrated on a few hundred rows must not have its probabilities
 * inverted or blown up by noise, so a and b are pulled toward (1, 0).
 */
export const PLATT_PRIOR_ROWS = 300;

/**
 * Platt scaling on the logit of the raw probability: the a >= 0, b of maximum
 * posterior likelihood under a Gaussian prior centred on the identity
 * (a = 1, b = 0) worth PLATT_PRIOR_ROWS rows. a >= 0 keeps the map monotone:
 * calibration never reorders predictions.
 */
export function fitPlatt(raw: ArrayLike<number>, labels: ArrayLike<number>, priorRows = PLATT_PRIOR_ROWS): Calibration {
  checkPairs(raw, labels);
  const n = raw.length;
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) z[i] = logit(raw[i]!);
  // The prior's weight per parameter, scaled to the spread of z so it means the same for any model.
  let zz = 0;
  for (let i = 0; i < n; i++) zz += z[i]! * z[i]!;
  const la = priorRows * Math.max(zz / n, 1e-12) * 0.25;
  const lb = priorRows * 0.25;
  let a = 1;
  let b = 0;
  for (let iter = 0; iter < 100; iter++) {
    let ga = la * (a - 1);
    let gb = lb * b;
    let haa = la;
    let hab = 0;
    let hbb = lb;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(a * z[i]! + b);
      const e = p - labels[i]!;
      const w = Math.max(p * (1 - p), 1e-12);
      ga += e * z[i]!;
      gb += e;
      haa += w * z[i]! * z[i]!;
      hab += w * z[i]!;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a = Math.max(0, a - da);
    b -= db;
    if (Math.abs(da) < 1e-12 && Math.abs(db) < 1e-12) break;
  }
  if (!Number.isFinite(a) || !Number.isFinite(b)) {
    throw new ModelError('Platt scaling did not converge', { field: 'calibration' });
  }
  return { method: 'platt', a, b };
}

/**
 * Isotonic regression of the outcomes on the raw probability: equal raw values
 * are averaged first, then adjacent violators pooled; each pooled block keeps
 * its first and last raw value as interpolation knots.
 */
export function fitIsotonic(raw: ArrayLike<number>, labels: ArrayLike<number>): Calibration {
  checkPairs(raw, labels);
  const order = Array.from({ length: raw.length }, (_, i) => i).sort((i, j) => raw[i]! - raw[j]!);
  // Unique raw values with the mean outcome and the count of each.
  const xs: number[] = [];
  const sums: number[] = [];
  const weights: number[] = [];
  for (const i of order) {
    const x = raw[i]!;
    const last = xs.length - 1;
    if (last >= 0 && xs[last] === x) {
      sums[last]! += labels[i]!;
      weights[last]! += 1;
    } else {
      xs.push(x);
      sums.push(labels[i]!);
      weights.push(1);
    }
  }
  // Pool adjacent violators: blocks of [first index, last index], mean and weight.
  const blockStart: number[] = [];
  const blockEnd: number[] = [];
  const blockMean: number[] = [];
  const blockWeight: number[] = [];
  for (let k = 0; k < xs.length; k++) {
    blockStart.push(k);
    blockEnd.push(k);
    blockMean.push(sums[k]! / weights[k]!);
    blockWeight.push(weights[k]!);
    while (blockMean.length > 1 && blockMean[blockMean.length - 2]! >= blockMean[blockMean.length - 1]!) {
      const w2 = blockWeight.pop()!;
      const m2 = blockMean.pop()!;
      const e2 = blockEnd.pop()!;
      blockStart.pop();
      const j = blockMean.length - 1;
      const w1 = blockWeight[j]!;
      blockMean[j] = (blockMean[j]! * w1 + m2 * w2) / (w1 + w2);
      blockWeight[j] = w1 + w2;
      blockEnd[j] = e2;
    }
  }
  const x: number[] = [];
  const y: number[] = [];
  for (let j = 0; j < blockMean.length; j++) {
    x.push(xs[blockStart[j]!]!);
    y.push(blockMean[j]!);
    if (blockEnd[j]! !== blockStart[j]!) {
      x.push(xs[blockEnd[j]!]!);
      y.push(blockMean[j]!);
    }
  }
  return { method: 'isotonic', x, y };
}

/**
 * The regression calibration of a `target` model from its raw (model space)
 * answers on the calibration rows, their labels (model space) and outcomes
 * (the target's units).
 */
export function fitResidual(
  target: 'return' | 'volatility',
  predicted: ArrayLike<number>,
  labels: ArrayLike<number>,
  outcomes: ArrayLike<number>,
): Calibration {
  checkPairs(predicted, labels);
  checkPairs(predicted, outcomes);
  const n = predicted.length;
  let slope = 1;
  let offset = 0;
  if (target === 'return') {
    let xy = 0;
    let xx = 0;
    for (let i = 0; i < n; i++) {
      xy += predicted[i]! * labels[i]!;
      xx += predicted[i]! * predicted[i]!;
    }
    slope = xx > 0 ? Math.min(Math.max(xy / xx, 0), 1) : 0;
  } else {
    offset = qlikeOffset(predicted, outcomes);
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += labels[i]! - (offset + slope * predicted[i]!);
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (labels[i]! - (offset + slope * predicted[i]!) - mean) ** 2;
  return { method: 'residual', sigma: Math.sqrt(sq / n), slope, offset };
}

/**
 * The offset of the log forecast that makes the variance forecasts unbiased on
 * these rows, the QLIKE-optimal shift: ln(mean(v^2 / exp(2 raw))) / 2. (A
 * slope fitted as well overfits a few hundred rows of noisy outcomes.)
 */
function qlikeOffset(raw: ArrayLike<number>, outcomes: ArrayLike<number>): number {
  let ratio = 0;
  for (let i = 0; i < raw.length; i++) ratio += outcomes[i]! ** 2 / Math.exp(2 * raw[i]!);
  ratio /= raw.length;
  return ratio > 0 && Number.isFinite(ratio) ? Math.log(ratio) / 2 : 0;
}

/** A regression model's raw answer (model space) through its calibration. */
export function calibrateRegression(c: Calibration | undefined, raw: number): number {
  return c?.method === 'residual' ? c.offset + c.slope * raw : raw;
}

export function fitCalibration(
  method: CalibrationMethod,
  raw: ArrayLike<number>,
  labels: ArrayLike<number>,
): Calibration {
  if (method === 'platt') return fitPlatt(raw, labels);
  if (method === 'isotonic') return fitIsotonic(raw, labels);
  throw new ConfigError(`unknown calibration '${String(method)}' (expected platt, isotonic or none)`, {
    field: 'calibration',
  });
}

/** Calibrated probability of a raw one (the identity for a residual calibration). */
export function calibrate(c: Calibration, p: number): number {
  switch (c.method) {
    case 'platt':
      return sigmoid(c.a * logit(p) + c.b);
    case 'isotonic':
      return interpolate(c.x, c.y, p);
    case 'residual':
      return p;
  }
}

/** Linear interpolation through the knots, clipped to the first and last value outside them. */
function interpolate(xs: readonly number[], ys: readonly number[], v: number): number {
  const n = xs.length;
  if (v <= xs[0]!) return ys[0]!;
  if (v >= xs[n - 1]!) return ys[n - 1]!;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! <= v) lo = mid;
    else hi = mid;
  }
  const x0 = xs[lo]!;
  const x1 = xs[hi]!;
  return x1 === x0 ? ys[hi]! : ys[lo]! + ((ys[hi]! - ys[lo]!) * (v - x0)) / (x1 - x0);
}

export function calibrationToJSON(calibration: Calibration, rows: number): CalibrationJSON {
  return { format: 'quantflow-calibration', version: 1, calibration, rows };
}

/** Parses calibration.json; ModelError naming the file and field on anything malformed. */
export function parseCalibration(json: unknown, file: string): Calibration {
  const fail = (field: string, message: string): never => {
    throw new ModelError(message, { file, field });
  };
  const j = json as Partial<CalibrationJSON> | null;
  if (j === null || typeof j !== 'object' || j.format !== 'quantflow-calibration' || j.version !== 1) {
    fail('format', 'not a quantflow calibration (format/version)');
  }
  const c = (j as CalibrationJSON).calibration as Record<string, unknown> | undefined;
  if (c === undefined || c === null || typeof c !== 'object') return fail('calibration', 'must be an object');
  const finite = (v: unknown, field: string): number =>
    typeof v === 'number' && Number.isFinite(v) ? v : fail(`calibration.${field}`, 'must be a finite number');
  switch (c.method) {
    case 'platt':
      return { method: 'platt', a: finite(c.a, 'a'), b: finite(c.b, 'b') };
    case 'isotonic': {
      const { x, y } = c;
      if (!Array.isArray(x) || !Array.isArray(y) || x.length === 0 || x.length !== y.length) {
        return fail('calibration.x', 'x and y must be non-empty arrays of the same length');
      }
      x.forEach((v, i) => {
        finite(v, `x[${i}]`);
        if (i > 0 && v < x[i - 1]) fail(`calibration.x[${i}]`, 'knots must be in ascending order');
      });
      y.forEach((v, i) => {
        const p = finite(v, `y[${i}]`);
        if (p < 0 || p > 1) fail(`calibration.y[${i}]`, `${p} is not a probability`);
        if (i > 0 && p < y[i - 1]) fail(`calibration.y[${i}]`, 'values must not decrease');
      });
      return { method: 'isotonic', x: x as number[], y: y as number[] };
    }
    case 'residual': {
      const sigma = finite(c.sigma, 'sigma');
      if (sigma < 0) fail('calibration.sigma', 'must be >= 0');
      const slope = c.slope === undefined ? 1 : finite(c.slope, 'slope');
      const offset = c.offset === undefined ? 0 : finite(c.offset, 'offset');
      return { method: 'residual', sigma, slope, offset };
    }
    default:
      return fail('calibration.method', `unknown method '${String(c.method)}' (expected platt, isotonic or residual)`);
  }
}
