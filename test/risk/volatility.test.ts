import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EwmaVariance,
  ewmaVarianceForecasts,
  fitGarch,
  GarchVariance,
  garchLogLikelihood,
  garchVarianceForecasts,
  nelderMead,
} from '../../src/risk/index.js';
import { correlatedReturns, maxAbsDiff } from './helpers.js';

const reference = JSON.parse(readFileSync(new URL('./fixtures/risk-reference.json', import.meta.url), 'utf8')) as {
  garch: {
    returns: number[];
    true: { omega: number; alpha: number; beta: number };
    fit: { omega: number; alpha: number; beta: number; logLikelihood: number; mean: number };
  };
};

describe('EWMA variance', () => {
  const r = correlatedReturns(400, [0.02], 0, 5).returns[0]!;

  it('streaming forecasts equal the explicit weighted sum (1 - l) sum_k l^k r_{t-1-k}^2 + l^t h_0', () => {
    const lambda = 0.94;
    const h0 = 0.0004;
    const forecasts = ewmaVarianceForecasts(r, h0, lambda);
    for (const t of [0, 1, 10, 150, 399]) {
      let explicit = lambda ** t * h0;
      for (let k = 0; k < t; k++) explicit += (1 - lambda) * lambda ** k * (r[t - 1 - k] as number) ** 2;
      expect(forecasts[t]).toBeCloseTo(explicit, 17);
    }
  });

  it('fromHistory continues exactly like the batch forecasts', () => {
    const history = r.subarray(0, 100);
    const e = EwmaVariance.fromHistory(history);
    const seed = history.reduce((s, x) => s + x * x, 0) / 100;
    const batch = ewmaVarianceForecasts(r, seed);
    expect(e.variance).toBe(batch[100]);
    for (let t = 100; t < 400; t++) {
      expect(e.variance).toBe(batch[t]);
      e.update(r[t] as number);
    }
  });

  it('rejects a lambda outside (0, 1)', () => {
    expect(() => new EwmaVariance(0.01, 1)).toThrow(/lambda must be in \(0, 1\)/);
  });
});

describe('Nelder-Mead', () => {
  it('finds the minimum of the Rosenbrock function to 1e-6', () => {
    const rosenbrock = (x: Float64Array) =>
      100 * ((x[1] as number) - (x[0] as number) ** 2) ** 2 + (1 - (x[0] as number)) ** 2;
    const m = nelderMead(rosenbrock, [-1.2, 1], { maxIterations: 5000, xTolerance: 1e-10, fTolerance: 1e-16 });
    expect(m.converged).toBe(true);
    expect(maxAbsDiff(m.x, [1, 1])).toBeLessThan(1e-6);
  });

  it('treats NaN as worse than anything', () => {
    const m = nelderMead((x) => ((x[0] as number) < 0 ? Number.NaN : ((x[0] as number) - 2) ** 2), [1]);
    expect(m.x[0]).toBeCloseTo(2, 6);
  });
});

describe('GARCH(1,1)', () => {
  const { returns, fit: expected, true: truth } = reference.garch;
  const fit = fitGarch(returns);

  it('reaches the likelihood maximum SciPy finds (SLSQP, same likelihood) and its parameters', () => {
    expect(fit.converged).toBe(true);
    expect(Math.abs(fit.logLikelihood - expected.logLikelihood)).toBeLessThan(1e-9);
    expect(Math.abs(fit.alpha - expected.alpha)).toBeLessThan(1e-5);
    expect(Math.abs(fit.beta - expected.beta)).toBeLessThan(1e-5);
    expect(Math.abs(fit.omega - expected.omega) / expected.omega).toBeLessThan(1e-4);
    expect(fit.mean).toBeCloseTo(expected.mean, 15);
  });

  it('recovers the parameters the path was simulated with', () => {
    expect(Math.abs(fit.alpha - truth.alpha)).toBeLessThan(0.03);
    expect(Math.abs(fit.beta - truth.beta)).toBeLessThan(0.05);
    expect(fit.longRunVariance).toBeCloseTo(fit.omega / (1 - fit.alpha - fit.beta), 20);
  });

  it('streaming after the fit continues the in-sample variance path, and batch forecasts agree with it', () => {
    const e = returns.map((r) => r - fit.mean);
    const path = new Float64Array(returns.length);
    garchLogLikelihood(e, fit, fit.initialVariance, path);
    // The fitted path from the backcast and batch forecasts from the same start are one recursion.
    const batch = garchVarianceForecasts(fit, returns, fit.initialVariance);
    expect(maxAbsDiff(batch, path)).toBeLessThan(1e-18);
    const g = GarchVariance.afterFit(fit);
    const last = returns.length - 1;
    expect(g.variance).toBeCloseTo(
      fit.omega + fit.alpha * (e[last] as number) ** 2 + fit.beta * (path[last] as number),
      20,
    );
    const next = [0.01, -0.02, 0.005];
    const out = garchVarianceForecasts(fit, next, g.variance);
    for (const [t, r] of next.entries()) {
      expect(g.variance).toBe(out[t]);
      g.update(r);
    }
  });

  it('multi-bar variance reverts to the long-run variance', () => {
    const g = new GarchVariance(fit, fit.longRunVariance * 4);
    expect(g.horizonVariance(1)).toBeCloseTo(fit.longRunVariance * 4, 18);
    const h10 = g.horizonVariance(10);
    expect(h10).toBeLessThan(40 * fit.longRunVariance);
    expect(h10).toBeGreaterThan(10 * fit.longRunVariance);
  });

  it('says why it cannot fit', () => {
    expect(() => fitGarch(returns.slice(0, 50))).toThrow(/at least 100 returns/);
    expect(() => fitGarch(new Array(200).fill(0.001))).toThrow(/do not vary/);
    expect(() => new GarchVariance({ mean: 0, omega: 1e-6, alpha: 0.5, beta: 0.6 }, 1e-4)).toThrow(/alpha \+ beta < 1/);
    expect(() => fitGarch([...returns.slice(0, 150), Number.NaN])).toThrow(
      /index 150, field 'returns': NaN is not a finite number/,
    );
    expect(() => GarchVariance.afterFit(fit).update(Number.NaN)).toThrow(/return NaN is not a finite number/);
    expect(() => new EwmaVariance(1e-4).update(Number.POSITIVE_INFINITY)).toThrow(/return Infinity is not a finite/);
  });
});
