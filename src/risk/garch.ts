/**
 * GARCH(1,1) volatility: fitted by Gaussian (quasi-)maximum likelihood on a
 * training window, then filtered forward one bar at a time in O(1).
 *
 *   r_t = mu + e_t,   h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}
 *
 * mu is the training mean; h_1 is the training variance of e (a common
 * "backcast"). The likelihood is maximised over (omega, alpha, beta) with
 * omega > 0, alpha, beta >= 0, alpha + beta < 1, by Nelder-Mead on an
 * unconstrained reparameterisation, on returns scaled to unit variance
 * (well-conditioned for daily and 5-minute returns alike).
 */
import { ConfigError, DataError } from '../core/errors.js';
import { nelderMead } from './nelder-mead.js';
import { checkFinite } from './returns.js';

export interface GarchParameters {
  readonly mean: number;
  readonly omega: number;
  readonly alpha: number;
  readonly beta: number;
}

export interface GarchFit extends GarchParameters {
  /** Gaussian log-likelihood of the training returns at the fitted parameters. */
  readonly logLikelihood: number;
  /** alpha + beta: how slowly shocks fade. */
  readonly persistence: number;
  /** omega / (1 - alpha - beta). */
  readonly longRunVariance: number;
  /** Variance used for the first training bar. */
  readonly initialVariance: number;
  /** Forecast variance of the first return after the training window. */
  readonly nextVariance: number;
  readonly observations: number;
  readonly iterations: number;
  readonly converged: boolean;
}

export interface GarchFitOptions {
  /** Fewer training returns than this is an error (default 100). */
  readonly minObservations?: number;
  /** Optimiser iterations (default 2000). */
  readonly maxIterations?: number;
}

const LOG_2PI = Math.log(2 * Math.PI);
/** Persistence is kept strictly below 1 so the long-run variance exists. */
const MAX_PERSISTENCE = 1 - 1e-6;

const logistic = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

function fromUnconstrained(theta: Float64Array): { omega: number; alpha: number; beta: number } {
  const persistence = MAX_PERSISTENCE * logistic(theta[1] as number);
  const alpha = persistence * logistic(theta[2] as number);
  return { omega: Math.exp(theta[0] as number), alpha, beta: persistence - alpha };
}

/**
 * Conditional variances h_t of residuals e (written to `out` when given) and
 * the Gaussian log-likelihood sum -1/2 (ln 2pi + ln h_t + e_t^2 / h_t).
 */
export function garchLogLikelihood(
  e: ArrayLike<number>,
  p: { omega: number; alpha: number; beta: number },
  initialVariance: number,
  out?: Float64Array,
): number {
  let h = initialVariance;
  let ll = 0;
  for (let t = 0; t < e.length; t++) {
    if (t > 0) h = p.omega + p.alpha * (e[t - 1] as number) ** 2 + p.beta * h;
    if (out !== undefined) out[t] = h;
    const et = e[t] as number;
    ll -= 0.5 * (LOG_2PI + Math.log(h) + (et * et) / h);
  }
  return ll;
}

export function fitGarch(returns: ArrayLike<number>, options: GarchFitOptions = {}): GarchFit {
  const T = returns.length;
  checkFinite(returns, 'returns');
  const minObservations = options.minObservations ?? 100;
  if (T < minObservations) {
    throw new DataError(`GARCH needs at least ${minObservations} returns to fit, got ${T}`, { field: 'returns' });
  }
  let mean = 0;
  for (let t = 0; t < T; t++) mean += returns[t] as number;
  mean /= T;
  let variance = 0;
  for (let t = 0; t < T; t++) variance += ((returns[t] as number) - mean) ** 2;
  variance /= T;
  // Constant returns leave only the rounding residue of their mean as "variance".
  if (!(variance > 1e-20 * mean * mean) || variance === 0) {
    throw new DataError('the training returns do not vary: no volatility to fit', { field: 'returns' });
  }
  const scale = Math.sqrt(variance);
  const z = new Float64Array(T);
  for (let t = 0; t < T; t++) z[t] = ((returns[t] as number) - mean) / scale;

  // In scaled units the backcast is 1; start from a typical alpha 0.05, beta 0.90.
  const negLogLik = (theta: Float64Array) => -garchLogLikelihood(z, fromUnconstrained(theta), 1);
  const start = Float64Array.of(Math.log(0.05), logit(0.95 / MAX_PERSISTENCE), logit(0.05 / 0.95));
  const maxIterations = options.maxIterations ?? 2000;
  let best = nelderMead(negLogLik, start, { maxIterations });
  let iterations = best.iterations;
  // A restart from the optimum re-opens a simplex that may have collapsed early.
  for (let restart = 0; restart < 3; restart++) {
    const again = nelderMead(negLogLik, best.x, { maxIterations });
    iterations += again.iterations;
    const improved = best.value - again.value > 1e-9;
    if (again.value <= best.value) best = again;
    if (!improved) break;
  }
  const p = fromUnconstrained(best.x);
  const omega = p.omega * variance;
  const fitted = { mean, omega, alpha: p.alpha, beta: p.beta };
  const e = new Float64Array(T);
  for (let t = 0; t < T; t++) e[t] = (returns[t] as number) - mean;
  const h = new Float64Array(T);
  const logLikelihood = garchLogLikelihood(e, fitted, variance, h);
  const persistence = p.alpha + p.beta;
  return {
    ...fitted,
    logLikelihood,
    persistence,
    longRunVariance: omega / (1 - persistence),
    initialVariance: variance,
    nextVariance: omega + p.alpha * (e[T - 1] as number) ** 2 + p.beta * (h[T - 1] as number),
    observations: T,
    iterations,
    converged: best.converged,
  };
}

/** The fitted model run forward: `variance` is the forecast for the next return. O(1) per bar. */
export class GarchVariance {
  private h: number;

  constructor(
    readonly params: GarchParameters,
    initialVariance: number,
  ) {
    if (!(params.omega > 0 && params.alpha >= 0 && params.beta >= 0 && params.alpha + params.beta < 1)) {
      throw new ConfigError(
        `GARCH parameters need omega > 0, alpha, beta >= 0 and alpha + beta < 1, got omega ${params.omega}, alpha ${params.alpha}, beta ${params.beta}`,
      );
    }
    this.h = initialVariance;
  }

  /** Continues where the fit ended: the first forecast is for the first return after the training window. */
  static afterFit(fit: GarchFit): GarchVariance {
    return new GarchVariance(fit, fit.nextVariance);
  }

  get variance(): number {
    return this.h;
  }

  update(r: number): number {
    if (!Number.isFinite(r)) throw new DataError(`return ${r} is not a finite number`, { field: 'return' });
    const e = r - this.params.mean;
    this.h = this.params.omega + this.params.alpha * e * e + this.params.beta * this.h;
    return this.h;
  }

  /** Variance of the sum of the next `bars` returns: sum_k (V + (alpha + beta)^(k-1) (h - V)). */
  horizonVariance(bars: number): number {
    const { omega, alpha, beta } = this.params;
    const persistence = alpha + beta;
    const longRun = omega / (1 - persistence);
    let total = 0;
    let decay = 1;
    for (let k = 0; k < bars; k++) {
      total += longRun + decay * (this.h - longRun);
      decay *= persistence;
    }
    return total;
  }
}

/** One-step forecasts: `out[t]` is the variance forecast for `returns[t]`, starting from `initialVariance`. */
export function garchVarianceForecasts(
  params: GarchParameters,
  returns: ArrayLike<number>,
  initialVariance: number,
): Float64Array {
  const g = new GarchVariance(params, initialVariance);
  const out = new Float64Array(returns.length);
  for (let t = 0; t < returns.length; t++) {
    out[t] = g.variance;
    g.update(returns[t] as number);
  }
  return out;
}

/** In-sample standardised residuals (r_t - mean) / sqrt(h_t) of the returns a model was fitted on. */
export function standardisedResiduals(fit: GarchFit, returns: ArrayLike<number>): Float64Array {
  const e = Float64Array.from(returns, (x) => x - fit.mean);
  const h = new Float64Array(e.length);
  garchLogLikelihood(e, fit, fit.initialVariance, h);
  return e.map((x, t) => x / Math.sqrt(h[t] as number));
}
