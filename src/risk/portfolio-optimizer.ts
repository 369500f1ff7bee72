/**
 * Target weights for a set of symbols (fractions of equity, signed, cash is
 * what is left) from their covariance, expected returns, up-probabilities and
 * volatilities, under constraints. One call per rebalance:
 *
 *   const optimizer = await PortfolioOptimizer.create();
 *   const target = optimizer.targetWeights('min-variance', inputs, { maxWeight: 0.4 });
 *
 * Methods:
 * - `equal`: 1/n each; `inverse-vol`: proportional to 1/sigma_i;
 * - `min-variance`: minimise w'Sw (plus trading costs);
 * - `mean-variance`: maximise mu'w - (riskAversion / 2) w'Sw - trading costs;
 * - `max-sharpe`: maximise (mu - rf)'w / sqrt(w'Sw) at the given net exposure,
 *   as the convex problem min y'Sy s.t. (mu - rf)'y = 1 with homogenised
 *   constraints, w = y / kappa (Cornuejols & Tutuncu);
 * - `risk-parity`: equal risk contributions (see risk-parity.ts);
 * - `insight`: LEAN's confidence-weighted insights: w_i = direction_i x
 *   confidence_i from the probability p_i (direction sign(p - 1/2), confidence
 *   |2p - 1|), scaled down proportionally when their absolute sum exceeds the
 *   budget; the rest stays in cash.
 * The quadratic programs are solved by HiGHS (qp-solver.ts). Weights of the
 * heuristic methods (equal, inverse-vol, risk-parity) that break a constraint
 * are replaced by the nearest weights (least squares) that satisfy them all.
 *
 * Constraints: long-only (default) or long/short; |w_i| <= maxWeight; gross
 * sum |w_i| <= maxGross; net sum w_i in [minNet, maxNet] (default exactly 1:
 * fully invested). Trading costs, (feeRate + turnoverPenalty) x sum |w_i - w0_i|
 * against the current weights w0, enter the objective of mean-variance (in
 * return units) and min-variance (against half the variance). Afterwards a
 * trade smaller than `minTrade` is not made (its weight stays at w0) and when
 * no weight moves by more than `rebalanceThreshold` the current weights are kept.
 */
import { ConfigError } from '../core/errors.js';
import { type CovarianceMatrix, checkCovariance, ledoitWolf } from './covariance.js';
import { type LinearRow, NoSolutionError, QpSolver, type QuadraticProgram } from './qp-solver.js';
import { type ReturnsWindow, windowLength } from './returns.js';
import { type RiskContributions, riskContributions } from './risk-contributions.js';
import { riskParityWeights } from './risk-parity.js';

export const OPTIMIZER_METHODS = [
  'equal',
  'inverse-vol',
  'min-variance',
  'max-sharpe',
  'mean-variance',
  'risk-parity',
  'insight',
] as const;
export type OptimizerMethod = (typeof OPTIMIZER_METHODS)[number];

export interface PortfolioInputs {
  readonly symbols: readonly string[];
  /** Covariance of one-period returns (positive definite; Ledoit-Wolf makes it so). */
  readonly covariance: CovarianceMatrix;
  /** Expected one-period return per symbol (max-sharpe, mean-variance). */
  readonly expectedReturns?: readonly number[];
  /** Probability that each symbol goes up (insight). */
  readonly probabilities?: readonly number[];
  /** Forecast volatility per symbol (inverse-vol); default sqrt of the covariance's diagonal. */
  readonly volatilities?: readonly number[];
  /** Weights held now (costs, minTrade, rebalanceThreshold); default all 0. */
  readonly currentWeights?: readonly number[];
}

export interface PortfolioConstraints {
  /** Default true. */
  readonly longOnly?: boolean;
  /** Largest |w_i| (default 1). */
  readonly maxWeight?: number;
  /** Largest sum |w_i| (default no limit beyond maxWeight and the net range). */
  readonly maxGross?: number;
  /** Net exposure sum w_i range (default [1, 1]). */
  readonly minNet?: number;
  readonly maxNet?: number;
  /** Trades smaller than this weight change are not made (default 0). */
  readonly minTrade?: number;
  /** Keep the current weights when none would move by more than this (default 0). */
  readonly rebalanceThreshold?: number;
}

export interface OptimizerOptions extends PortfolioConstraints {
  /** mean-variance's lambda (default 1). */
  readonly riskAversion?: number;
  /** One-period risk-free rate for max-sharpe (default 0). */
  readonly riskFreeRate?: number;
  /** Fee per unit of weight traded, e.g. 0.001 (default 0). */
  readonly feeRate?: number;
  /** Extra cost per unit of weight traded, to damp turnover (default 0). */
  readonly turnoverPenalty?: number;
  /** risk-parity's risk budgets (default equal). */
  readonly riskBudgets?: readonly number[];
  /** insight: probabilities with confidence |2p - 1| below this give no position (default 0). */
  readonly minConfidence?: number;
}

export interface PortfolioTarget {
  readonly method: OptimizerMethod;
  readonly symbols: readonly string[];
  readonly weights: number[];
  /** False when the rebalance threshold kept the current weights. */
  readonly rebalanced: boolean;
  /** sum |w_i - w0_i|. */
  readonly turnover: number;
  /** mu'w when expected returns were given. */
  readonly expectedReturn?: number;
  readonly risk: RiskContributions;
}

interface Settings {
  readonly n: number;
  readonly longOnly: boolean;
  readonly maxWeight: number;
  readonly maxGross: number;
  readonly minNet: number;
  readonly maxNet: number;
  readonly current: readonly number[];
  readonly cost: number;
}

const FEASIBILITY_TOLERANCE = 1e-12;

function vectorOf(
  name: keyof PortfolioInputs,
  values: readonly number[] | undefined,
  n: number,
  method: string,
): number[] {
  if (values === undefined) throw new ConfigError(`${method} needs ${name}`, { field: name });
  if (values.length !== n)
    throw new ConfigError(`${name} has ${values.length} entries for ${n} symbols`, { field: name });
  values.forEach((v, i) => {
    if (!Number.isFinite(v))
      throw new ConfigError(`${name}[${i}] = ${v} is not a finite number`, { field: name, index: i });
  });
  return [...values];
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v >= 0)) throw new ConfigError(`${name} must be >= 0, got ${v}`, { field: name });
  return v;
}

function settingsOf(inputs: PortfolioInputs, o: OptimizerOptions): Settings {
  const n = inputs.symbols.length;
  if (n === 0) throw new ConfigError('no symbols to weight', { field: 'symbols' });
  const longOnly = o.longOnly ?? true;
  const maxWeight = nonNegative('maxWeight', o.maxWeight, 1);
  const maxGross = nonNegative('maxGross', o.maxGross, Number.POSITIVE_INFINITY);
  const minNet = o.minNet ?? 1;
  const maxNet = o.maxNet ?? Math.max(1, minNet);
  if (!(minNet <= maxNet)) throw new ConfigError(`minNet ${minNet} is above maxNet ${maxNet}`, { field: 'minNet' });
  if (longOnly && minNet > Math.min(n * maxWeight, maxGross)) {
    throw new ConfigError(
      `long-only weights of at most ${maxWeight} on ${n} symbols (gross <= ${maxGross}) cannot reach a net exposure of ${minNet}`,
      { field: 'maxWeight' },
    );
  }
  const current =
    inputs.currentWeights === undefined
      ? new Array<number>(n).fill(0)
      : vectorOf('currentWeights', inputs.currentWeights, n, 'rebalancing');
  const cost = nonNegative('feeRate', o.feeRate, 0) + nonNegative('turnoverPenalty', o.turnoverPenalty, 0);
  return { n, longOnly, maxWeight, maxGross, minNet, maxNet, current, cost };
}

function row(size: number, entries: readonly (readonly [number, number])[], lower: number, upper: number): LinearRow {
  const coefficients = new Float64Array(size);
  for (const [j, v] of entries) coefficients[j] = (coefficients[j] as number) + v;
  return { coefficients, lower, upper };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/**
 * Rows x_i - a_i + b_i = rhs_i (i < n) for split variables a, b >= 0 at
 * columns [at, at + n) and [at + n, at + 2n): x = rhs + a - b, |x - rhs| <= a + b.
 */
function splitRows(size: number, n: number, at: number, rhs: (i: number) => number): LinearRow[] {
  return range(0, n).map((i) => {
    const r = rhs(i);
    return row(
      size,
      [
        [i, 1],
        [at + i, -1],
        [at + n + i, 1],
      ],
      r,
      r,
    );
  });
}

/**
 * The QP over w (plus split variables for gross exposure and trades):
 * minimise 1/2 w'Qw + c'w + cost sum |w - w0| under the constraints.
 */
function weightProgram(
  s: Settings,
  Q: readonly (readonly number[])[],
  c: readonly number[],
  withCosts: boolean,
): QuadraticProgram {
  const { n } = s;
  const gross = !s.longOnly && Number.isFinite(s.maxGross);
  const costs = withCosts && s.cost > 0;
  const size = n + (gross ? 2 * n : 0) + (costs ? 2 * n : 0);
  const linear = new Float64Array(size);
  const lower = new Float64Array(size);
  const upper = new Float64Array(size).fill(Number.POSITIVE_INFINITY);
  for (let i = 0; i < n; i++) {
    linear[i] = c[i] as number;
    lower[i] = s.longOnly ? 0 : -s.maxWeight;
    upper[i] = s.maxWeight;
  }
  const w = range(0, n);
  const rows: LinearRow[] = [
    row(
      size,
      w.map((i) => [i, 1]),
      s.minNet,
      s.maxNet,
    ),
  ];
  if (s.longOnly && Number.isFinite(s.maxGross))
    rows.push(
      row(
        size,
        w.map((i) => [i, 1]),
        Number.NEGATIVE_INFINITY,
        s.maxGross,
      ),
    );
  let next = n;
  if (gross) {
    // w = p - q with p, q >= 0, so sum (p + q) >= sum |w|.
    rows.push(...splitRows(size, n, next, () => 0));
    rows.push(
      row(
        size,
        range(next, 2 * n).map((j) => [j, 1]),
        Number.NEGATIVE_INFINITY,
        s.maxGross,
      ),
    );
    next += 2 * n;
  }
  if (costs) {
    // w - w0 = u - v with u, v >= 0 priced at `cost`, so the optimum has u + v = |w - w0|.
    rows.push(...splitRows(size, n, next, (i) => s.current[i] as number));
    for (let j = next; j < next + 2 * n; j++) linear[j] = s.cost;
  }
  return { quadratic: Q, linear, lower, upper, rows };
}

/** max-sharpe in homogenised form: variables y (n), kappa, and gross split variables. */
function maxSharpeProgram(s: Settings, covariance: CovarianceMatrix, excess: readonly number[]): QuadraticProgram {
  const { n } = s;
  if (s.minNet !== s.maxNet || !(s.maxNet > 0)) {
    throw new ConfigError(
      `max-sharpe needs one positive net exposure (minNet = maxNet > 0), got [${s.minNet}, ${s.maxNet}]`,
      {
        field: 'minNet',
      },
    );
  }
  const gross = !s.longOnly && Number.isFinite(s.maxGross);
  const k = n;
  const size = n + 1 + (gross ? 2 * n : 0);
  const lower = new Float64Array(size);
  const upper = new Float64Array(size).fill(Number.POSITIVE_INFINITY);
  for (let i = 0; i < n; i++) lower[i] = s.longOnly ? 0 : Number.NEGATIVE_INFINITY;
  const rows: LinearRow[] = [
    row(
      size,
      excess.map((m, i) => [i, m]),
      1,
      1,
    ),
    row(size, [...range(0, n).map((i): [number, number] => [i, 1]), [k, -s.maxNet]], 0, 0),
  ];
  if (Number.isFinite(s.maxWeight)) {
    for (let i = 0; i < n; i++) {
      rows.push(
        row(
          size,
          [
            [i, 1],
            [k, -s.maxWeight],
          ],
          Number.NEGATIVE_INFINITY,
          0,
        ),
      );
      if (!s.longOnly)
        rows.push(
          row(
            size,
            [
              [i, 1],
              [k, s.maxWeight],
            ],
            0,
            Number.POSITIVE_INFINITY,
          ),
        );
    }
  }
  if (s.longOnly && Number.isFinite(s.maxGross)) {
    rows.push(
      row(size, [...range(0, n).map((i): [number, number] => [i, 1]), [k, -s.maxGross]], Number.NEGATIVE_INFINITY, 0),
    );
  }
  if (gross) {
    const p = n + 1;
    rows.push(...splitRows(size, n, p, () => 0));
    rows.push(
      row(
        size,
        [...range(p, 2 * n).map((j): [number, number] => [j, 1]), [k, -s.maxGross]],
        Number.NEGATIVE_INFINITY,
        0,
      ),
    );
  }
  return { quadratic: covariance, linear: new Float64Array(size), lower, upper, rows };
}

function feasible(w: readonly number[], s: Settings): boolean {
  const tol = FEASIBILITY_TOLERANCE;
  let net = 0;
  let gross = 0;
  for (const v of w) {
    if (v > s.maxWeight + tol || v < (s.longOnly ? -tol : -s.maxWeight - tol)) return false;
    net += v;
    gross += Math.abs(v);
  }
  return net >= s.minNet - tol && net <= s.maxNet + tol && gross <= s.maxGross + tol;
}

function insightWeights(probabilities: readonly number[], s: Settings, minConfidence: number): number[] {
  const raw = probabilities.map((p, i) => {
    if (!(p >= 0 && p <= 1))
      throw new ConfigError(`probabilities[${i}] = ${p} is not in [0, 1]`, { field: 'probabilities', index: i });
    const confidence = Math.abs(2 * p - 1);
    if (confidence < minConfidence || confidence === 0) return 0;
    const direction = p > 0.5 ? 1 : -1;
    return s.longOnly && direction < 0 ? 0 : direction * confidence;
  });
  // LEAN's budget is 1; here the net cap (long-only) or the gross cap (long/short) when one is set.
  const budget = s.longOnly ? s.maxNet : Number.isFinite(s.maxGross) ? s.maxGross : 1;
  const total = raw.reduce((a, v) => a + Math.abs(v), 0);
  const scaled = total > budget ? raw.map((v) => (v * budget) / total) : raw;
  // Capping only moves weight to cash, as LEAN leaves unassigned budget in cash.
  return scaled.map((v) => Math.max(-s.maxWeight, Math.min(s.maxWeight, v)));
}

export class PortfolioOptimizer {
  private constructor(private readonly solver: QpSolver) {}

  static async create(): Promise<PortfolioOptimizer> {
    return new PortfolioOptimizer(await QpSolver.create());
  }

  targetWeights(method: OptimizerMethod, inputs: PortfolioInputs, options: OptimizerOptions = {}): PortfolioTarget {
    if (!OPTIMIZER_METHODS.includes(method)) {
      throw new ConfigError(`unknown optimizer '${method}' (expected ${OPTIMIZER_METHODS.join(', ')})`, {
        field: 'method',
      });
    }
    const s = settingsOf(inputs, options);
    const { covariance } = inputs;
    checkCovariance(covariance, s.n);
    const what = `${method} portfolio of ${inputs.symbols.join(', ')}`;
    let weights: number[];
    switch (method) {
      case 'min-variance':
        weights = [
          ...this.solver.solve(weightProgram(s, covariance, new Array<number>(s.n).fill(0), true), what),
        ].slice(0, s.n);
        break;
      case 'mean-variance': {
        const mu = vectorOf('expectedReturns', inputs.expectedReturns, s.n, method);
        const lambda = options.riskAversion ?? 1;
        if (!(lambda > 0)) throw new ConfigError(`riskAversion must be > 0, got ${lambda}`, { field: 'riskAversion' });
        const Q = covariance.map((r) => r.map((v) => lambda * v));
        weights = [
          ...this.solver.solve(
            weightProgram(
              s,
              Q,
              mu.map((m) => -m),
              true,
            ),
            what,
          ),
        ].slice(0, s.n);
        break;
      }
      case 'max-sharpe': {
        const rf = options.riskFreeRate ?? 0;
        const excess = vectorOf('expectedReturns', inputs.expectedReturns, s.n, method).map((m) => m - rf);
        if (s.longOnly && excess.every((m) => m <= 0)) {
          throw new NoSolutionError('max-sharpe: no symbol has an expected return above the risk-free rate');
        }
        const x = this.solver.solve(maxSharpeProgram(s, covariance, excess), what);
        const kappa = x[s.n] as number;
        if (!(kappa > 0))
          throw new NoSolutionError(`${what}: no portfolio has a positive excess return under the constraints`);
        weights = [...x.subarray(0, s.n)].map((y) => y / kappa);
        break;
      }
      case 'insight':
        weights = insightWeights(
          vectorOf('probabilities', inputs.probabilities, s.n, method),
          s,
          nonNegative('minConfidence', options.minConfidence, 0),
        );
        break;
      default: {
        let raw: number[];
        if (method === 'equal') raw = new Array<number>(s.n).fill(1 / s.n);
        else if (method === 'risk-parity') {
          if (!s.longOnly) throw new ConfigError('risk-parity is long-only here: set longOnly', { field: 'longOnly' });
          raw = riskParityWeights(
            covariance,
            options.riskBudgets === undefined ? {} : { budgets: options.riskBudgets },
          );
        } else {
          const vol =
            inputs.volatilities === undefined
              ? covariance.map((r, i) => Math.sqrt(r[i] as number))
              : vectorOf('volatilities', inputs.volatilities, s.n, method);
          vol.forEach((v, i) => {
            if (!(v > 0))
              throw new ConfigError(`volatility of ${inputs.symbols[i]} is ${v}, not > 0`, {
                field: 'volatilities',
                index: i,
              });
          });
          const inv = vol.map((v) => 1 / v);
          const total = inv.reduce((a, v) => a + v, 0);
          raw = inv.map((v) => v / total);
        }
        const target = Math.min(Math.max(1, s.minNet), s.maxNet);
        raw = raw.map((v) => v * target);
        if (feasible(raw, s)) weights = raw;
        else {
          const identity = raw.map((_, i) => raw.map((_, j) => (i === j ? 1 : 0)));
          weights = [
            ...this.solver.solve(
              weightProgram(
                s,
                identity,
                raw.map((v) => -v),
                false,
              ),
              what,
            ),
          ].slice(0, s.n);
        }
      }
    }
    return this.finish(method, inputs, s, options, weights);
  }

  private finish(
    method: OptimizerMethod,
    inputs: PortfolioInputs,
    s: Settings,
    o: OptimizerOptions,
    solved: number[],
  ): PortfolioTarget {
    const minTrade = nonNegative('minTrade', o.minTrade, 0);
    const threshold = nonNegative('rebalanceThreshold', o.rebalanceThreshold, 0);
    // Solver residue below 1e-12 is noise: a weight of -1e-17 is 0.
    let weights = solved.map((w) => (Math.abs(w) < FEASIBILITY_TOLERANCE ? 0 : w));
    const moves = weights.map((w, i) => Math.abs(w - (s.current[i] as number)));
    const rebalanced = moves.some((m) => m > threshold);
    if (!rebalanced) weights = [...s.current];
    else if (minTrade > 0)
      weights = weights.map((w, i) => ((moves[i] as number) < minTrade ? (s.current[i] as number) : w));
    const turnover = weights.reduce((a, w, i) => a + Math.abs(w - (s.current[i] as number)), 0);
    const mu = inputs.expectedReturns;
    return {
      method,
      symbols: inputs.symbols,
      weights,
      rebalanced,
      turnover,
      ...(mu !== undefined && mu.length === s.n
        ? { expectedReturn: weights.reduce((a, w, i) => a + w * (mu[i] as number), 0) }
        : {}),
      risk: riskContributions(weights, inputs.covariance),
    };
  }
}

/**
 * Inputs from a window of returns: Ledoit-Wolf covariance and the mean
 * return per symbol as the expected return (override any of them with
 * forecasts, e.g. a model's expected returns and probabilities).
 */
export function estimatePortfolioInputs(
  window: ReturnsWindow,
  forecasts: Omit<PortfolioInputs, 'symbols' | 'covariance'> = {},
): PortfolioInputs & { readonly shrinkage: number } {
  const bars = windowLength(window);
  const { covariance, shrinkage } = ledoitWolf(window);
  const mean = window.returns.map((r) => r.reduce((a, v) => a + v, 0) / bars);
  return { symbols: window.symbols, covariance, expectedReturns: mean, ...forecasts, shrinkage };
}
