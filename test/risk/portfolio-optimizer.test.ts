import { beforeAll, describe, expect, it } from 'vitest';
import {
  estimatePortfolioInputs,
  type PortfolioInputs,
  PortfolioOptimizer,
  riskContributions,
} from '../../src/risk/index.js';
import { correlatedReturns, maxAbsDiff, randomCovariance, solveWith } from './helpers.js';
import { boxRows, type ReferenceProblem, referenceQp, signPatterns } from './quadprog-reference.js';

let optimizer: PortfolioOptimizer;
beforeAll(async () => {
  optimizer = await PortfolioOptimizer.create();
});

const symbols = (n: number) => Array.from({ length: n }, (_, i) => `S${i}`);
const ones = (n: number) => new Array<number>(n).fill(1);
/** x / sum(x): the budget-1 portfolio along a direction. */
const normalised = (x: number[]) => {
  const sum = x.reduce((a, b) => a + b, 0);
  return x.map((v) => v / sum);
};
const mu6 = [0.0004, 0.0009, 0.0002, 0.0012, 0.0006, -0.0001];

describe('minimum variance', () => {
  it('unconstrained (long/short, no caps) equals the closed form S^-1 1 / 1 S^-1 1 to 1e-9', () => {
    for (const n of [3, 10, 25]) {
      const covariance = randomCovariance(n, 100 + n);
      const t = optimizer.targetWeights(
        'min-variance',
        { symbols: symbols(n), covariance },
        { longOnly: false, maxWeight: Infinity },
      );
      expect(maxAbsDiff(t.weights, normalised(solveWith(covariance, ones(n))))).toBeLessThan(1e-9);
    }
  });

  it('long-only with a 20% cap equals quadprog to 1e-6', () => {
    const n = 6;
    const covariance = randomCovariance(n, 7);
    const t = optimizer.targetWeights('min-variance', { symbols: symbols(n), covariance }, { maxWeight: 0.2 });
    const ref = referenceQp({
      D: covariance,
      d: new Array(n).fill(0),
      rows: [{ a: ones(n), b: 1 }, ...boxRows(n, 0, 0.2)],
      equalities: 1,
    })!;
    expect(maxAbsDiff(t.weights, ref.x)).toBeLessThan(1e-6);
    expect(t.weights.some((w) => Math.abs(w - 0.2) < 1e-9)).toBe(true); // the cap binds
    expect(t.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});

describe('mean-variance with gross, net and trading costs', () => {
  it('long/short with |w| <= 0.5, gross <= 1.5, net in [0.5, 1] and 0.2% costs equals the best of quadprog over all sign patterns', () => {
    const n = 4;
    const covariance = randomCovariance(n, 31);
    const mu = [0.004, -0.003, 0.002, 0.001];
    const current = [0.2, 0.2, 0.3, 0.3];
    const lambda = 3;
    const cost = 0.002;
    const t = optimizer.targetWeights(
      'mean-variance',
      { symbols: symbols(n), covariance, expectedReturns: mu, currentWeights: current },
      { longOnly: false, maxWeight: 0.5, maxGross: 1.5, minNet: 0.5, maxNet: 1, riskAversion: lambda, feeRate: cost },
    );
    // On each orthant (sign of w, sign of the trade) |w| and |w - w0| are linear: a strictly convex QP.
    let best: { x: number[]; value: number } | undefined;
    for (const s of signPatterns(n)) {
      for (const d of signPatterns(n)) {
        const rows: ReferenceProblem['rows'] = [
          { a: ones(n), b: 0.5 },
          { a: ones(n).map((v) => -v), b: -1 },
          { a: s.map((v) => -v), b: -1.5 },
          ...boxRows(n, -0.5, 0.5),
          ...s.map((v, i) => ({ a: ones(n).map((_, j) => (j === i ? v : 0)), b: 0 })),
          ...d.map((v, i) => ({ a: ones(n).map((_, j) => (j === i ? v : 0)), b: v * current[i]! })),
        ];
        const sol = referenceQp({
          D: covariance.map((r) => r.map((v) => lambda * v)),
          d: mu.map((m, i) => m - cost * d[i]!),
          rows,
          equalities: 0,
        });
        if (sol === undefined) continue;
        const value = sol.value + cost * d.reduce((a, v, i) => a - v * current[i]!, 0);
        if (best === undefined || value < best.value) best = { x: sol.x, value };
      }
    }
    expect(maxAbsDiff(t.weights, best!.x)).toBeLessThan(1e-6);
    expect(t.weights.reduce((a, w) => a + Math.abs(w), 0)).toBeLessThanOrEqual(1.5 + 1e-9);
    expect(t.weights.some((w) => w < 0)).toBe(true);
  });

  it('costs and a turnover penalty cut turnover', () => {
    const covariance = randomCovariance(6, 8);
    const inputs: PortfolioInputs = {
      symbols: symbols(6),
      covariance,
      expectedReturns: mu6,
      currentWeights: new Array(6).fill(1 / 6),
    };
    const free = optimizer.targetWeights('mean-variance', inputs, { riskAversion: 20 });
    const costly = optimizer.targetWeights('mean-variance', inputs, {
      riskAversion: 20,
      feeRate: 0.001,
      turnoverPenalty: 0.002,
    });
    expect(costly.turnover).toBeLessThan(free.turnover);
    expect(costly.turnover).toBeGreaterThanOrEqual(0);
  });
});

describe('maximum Sharpe', () => {
  it('long/short without caps equals the tangency portfolio S^-1 mu / 1 S^-1 mu to 1e-9', () => {
    const covariance = randomCovariance(8, 55);
    const mu = [0.001, 0.0004, 0.0008, -0.0002, 0.0011, 0.0003, 0.0006, 0.0009];
    const t = optimizer.targetWeights(
      'max-sharpe',
      { symbols: symbols(8), covariance, expectedReturns: mu },
      { longOnly: false, maxWeight: Infinity },
    );
    expect(maxAbsDiff(t.weights, normalised(solveWith(covariance, mu)))).toBeLessThan(1e-9);
  });

  it('long-only with a 35% cap equals the Sharpe-maximal point of the quadprog efficient frontier to 1e-6', () => {
    const n = 6;
    const covariance = randomCovariance(n, 77);
    const t = optimizer.targetWeights(
      'max-sharpe',
      { symbols: symbols(n), covariance, expectedReturns: mu6 },
      { maxWeight: 0.35 },
    );
    // Independent route: min variance at each target return (quadprog), golden-section search on the Sharpe ratio.
    const frontier = (target: number) =>
      referenceQp({
        D: covariance,
        d: new Array(n).fill(0),
        rows: [{ a: ones(n), b: 1 }, { a: mu6, b: target }, ...boxRows(n, 0, 0.35)],
        equalities: 2,
      })!.x;
    const sharpe = (target: number) => {
      const w = frontier(target);
      return target / riskContributions(w, covariance).volatility;
    };
    const sorted = [...mu6].sort((a, b) => b - a);
    let lo = optimizer.targetWeights(
      'min-variance',
      { symbols: symbols(n), covariance, expectedReturns: mu6 },
      { maxWeight: 0.35 },
    ).expectedReturn!;
    let hi = 0.35 * (sorted[0]! + sorted[1]!) + 0.3 * sorted[2]! - 1e-12; // the largest reachable return
    const g = (Math.sqrt(5) - 1) / 2;
    for (let k = 0; k < 200 && hi - lo > 1e-14; k++) {
      const a = hi - g * (hi - lo);
      const b = lo + g * (hi - lo);
      if (sharpe(a) < sharpe(b)) lo = a;
      else hi = b;
    }
    expect(maxAbsDiff(t.weights, frontier((lo + hi) / 2))).toBeLessThan(1e-6);
  });

  it('refuses expected returns that are all below the risk-free rate', () => {
    const covariance = randomCovariance(3, 1);
    expect(() =>
      optimizer.targetWeights('max-sharpe', { symbols: symbols(3), covariance, expectedReturns: [-0.001, -0.002, 0] }),
    ).toThrow(/no symbol has an expected return above the risk-free rate/);
  });
});

describe('risk parity, inverse volatility, equal weight', () => {
  it('risk-parity contributions are equal within 1e-6 (here 1e-12), and follow given budgets', () => {
    for (const n of [4, 10, 30]) {
      const covariance = randomCovariance(n, 200 + n);
      const t = optimizer.targetWeights('risk-parity', { symbols: symbols(n), covariance });
      const c = t.risk.component;
      expect(Math.max(...c) - Math.min(...c)).toBeLessThan(1e-12);
      expect(t.weights.every((w) => w > 0)).toBe(true);
    }
    const covariance = randomCovariance(3, 5);
    const t = optimizer.targetWeights('risk-parity', { symbols: symbols(3), covariance }, { riskBudgets: [2, 1, 1] });
    expect(t.risk.share[0]).toBeCloseTo(0.5, 12);
    expect(t.risk.share[1]).toBeCloseTo(0.25, 12);
  });

  it('inverse-vol is proportional to 1/sigma; a cap that binds moves to the nearest feasible weights (quadprog projection)', () => {
    const covariance = [
      [0.0001, 0, 0],
      [0, 0.0004, 0],
      [0, 0, 0.0016],
    ];
    const t = optimizer.targetWeights('inverse-vol', { symbols: symbols(3), covariance });
    expect(maxAbsDiff(t.weights, [4 / 7, 2 / 7, 1 / 7])).toBeLessThan(1e-15);
    const capped = optimizer.targetWeights('inverse-vol', { symbols: symbols(3), covariance }, { maxWeight: 0.5 });
    const ref = referenceQp({
      D: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      d: [4 / 7, 2 / 7, 1 / 7],
      rows: [{ a: ones(3), b: 1 }, ...boxRows(3, 0, 0.5)],
      equalities: 1,
    })!;
    expect(maxAbsDiff(capped.weights, ref.x)).toBeLessThan(1e-9);
    expect(capped.weights[0]).toBeCloseTo(0.5, 12);
    const equal = optimizer.targetWeights('equal', { symbols: symbols(3), covariance });
    expect(equal.weights).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });
});

describe('confidence-weighted insights (LEAN InsightWeighting)', () => {
  const covariance = randomCovariance(4, 9);
  const probabilities = [0.9, 0.7, 0.4, 0.5];
  it('long-only: shorts dropped, weights = confidence scaled so they sum to 1', () => {
    const t = optimizer.targetWeights('insight', { symbols: symbols(4), covariance, probabilities });
    // confidences 0.8, 0.4, (0.2 down: dropped), 0; sum 1.2 > 1 -> scaled down
    expect(maxAbsDiff(t.weights, [0.8 / 1.2, 0.4 / 1.2, 0, 0])).toBeLessThan(1e-15);
  });
  it('long/short keeps the short; below the budget nothing is scaled up (the rest is cash)', () => {
    const t = optimizer.targetWeights(
      'insight',
      { symbols: symbols(4), covariance, probabilities },
      { longOnly: false, maxGross: 2 },
    );
    expect(maxAbsDiff(t.weights, [0.8, 0.4, -0.2, 0])).toBeLessThan(1e-15);
    const capped = optimizer.targetWeights(
      'insight',
      { symbols: symbols(4), covariance, probabilities },
      { minConfidence: 0.5, maxWeight: 0.5 },
    );
    expect(capped.weights).toEqual([0.5, 0, 0, 0]);
  });
});

describe('rebalancing rules and inputs', () => {
  const covariance = randomCovariance(4, 12);
  it('keeps the current weights inside the rebalance threshold; skips trades below minTrade', () => {
    const base = optimizer.targetWeights('min-variance', { symbols: symbols(4), covariance });
    const near = base.weights.map((w, i) => w + (i % 2 === 0 ? 0.01 : -0.01));
    const kept = optimizer.targetWeights(
      'min-variance',
      { symbols: symbols(4), covariance, currentWeights: near },
      { rebalanceThreshold: 0.02 },
    );
    expect(kept.rebalanced).toBe(false);
    expect(kept.weights).toEqual(near);
    expect(kept.turnover).toBe(0);
    const current = [...base.weights];
    current[0] = current[0]! + 0.005;
    current[1] = current[1]! - 0.1;
    const partial = optimizer.targetWeights(
      'min-variance',
      { symbols: symbols(4), covariance, currentWeights: current },
      { minTrade: 0.01 },
    );
    expect(partial.rebalanced).toBe(true);
    expect(partial.weights[0]).toBe(current[0]); // a 0.005 trade is not made
    expect(partial.weights[1]).toBeCloseTo(base.weights[1]!, 9);
  });

  it('estimates inputs from a returns window (Ledoit-Wolf, mean returns)', () => {
    const w = correlatedReturns(300, [0.01, 0.02, 0.03], 0.5, 2);
    const inputs = estimatePortfolioInputs(w, { probabilities: [0.6, 0.5, 0.4] });
    expect(inputs.shrinkage).toBeGreaterThan(0);
    expect(inputs.expectedReturns![1]).toBeCloseTo(w.returns[1]!.reduce((a, b) => a + b, 0) / 300, 15);
    const t = optimizer.targetWeights('min-variance', inputs);
    expect(t.weights[0]).toBeGreaterThan(t.weights[2]!);
  });

  it('names bad inputs and impossible constraints', () => {
    const inputs = { symbols: symbols(4), covariance };
    expect(() => optimizer.targetWeights('mean-variance', inputs)).toThrow(/mean-variance needs expectedReturns/);
    expect(() => optimizer.targetWeights('min-variance', inputs, { maxWeight: 0.2 })).toThrow(
      /cannot reach a net exposure of 1/,
    );
    expect(() => optimizer.targetWeights('insight', { ...inputs, probabilities: [0.5, 1.2, 0.5, 0.5] })).toThrow(
      /probabilities\[1\] = 1.2/,
    );
    expect(() => optimizer.targetWeights('risk-parity', inputs, { longOnly: false })).toThrow(/long-only/);
    expect(() => optimizer.targetWeights('nope' as 'equal', inputs)).toThrow(/unknown optimizer 'nope'/);
    expect(() =>
      optimizer.targetWeights('min-variance', inputs, { longOnly: false, maxWeight: 1, minNet: 5, maxNet: 5 }),
    ).toThrow(/has no solution: infeasible/);
  });
});
