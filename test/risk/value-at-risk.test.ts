import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  componentVar,
  DrawdownTracker,
  drawdownStats,
  filteredHistoricalVar,
  historicalVar,
  ledoitWolf,
  normalQuantile,
  parametricVar,
  portfolioReturns,
  portfolioVolatility,
  RollingHistoricalVar,
  riskContributions,
  standardisedTail,
} from '../../src/risk/index.js';
import { correlatedReturns, randomCovariance } from './helpers.js';

const reference = JSON.parse(readFileSync(new URL('./fixtures/risk-reference.json', import.meta.url), 'utf8')) as {
  normal: { q01: number; q05: number; pdfQ01: number };
};

describe('VaR and Expected Shortfall', () => {
  it('historical: linear-interpolation quantile and the mean of the tail, on a hand example', () => {
    // Sorted: -0.05 -0.04 -0.03 -0.01 0 0.01 0.02 0.02 0.03 0.04 (10 values); q = 0.1 at position 0.9.
    const r = [0.02, -0.03, 0.01, -0.05, 0.04, 0, -0.01, 0.03, -0.04, 0.02];
    const v = historicalVar(r, 0.9);
    expect(v.valueAtRisk).toBeCloseTo(0.041, 15);
    expect(v.expectedShortfall).toBeCloseTo(0.05, 15);
    const v80 = historicalVar(r, 0.8);
    expect(v80.valueAtRisk).toBeCloseTo(0.032, 15);
    expect(v80.expectedShortfall).toBeCloseTo(0.045, 15);
  });

  it('parametric normal: VaR = -(mu + sigma z), ES = -(mu - sigma phi(z) / (1 - a)), z from SciPy', () => {
    expect(normalQuantile(0.01)).toBeCloseTo(reference.normal.q01, 14);
    expect(normalQuantile(0.05)).toBeCloseTo(reference.normal.q05, 14);
    const v = parametricVar(0.001, 0.02, 0.99);
    expect(v.valueAtRisk).toBeCloseTo(-(0.001 + 0.02 * reference.normal.q01), 14);
    expect(v.expectedShortfall).toBeCloseTo(-(0.001 - (0.02 * reference.normal.pdfQ01) / 0.01), 14);
    expect(() => parametricVar(0, 0.02, 1.5)).toThrow(/level must be in \(0.5, 1\)/);
  });

  it('filtered historical: residual quantile times the volatility forecast', () => {
    const z = Array.from({ length: 1000 }, (_, i) => normalQuantile((i + 0.5) / 1000));
    const tail = standardisedTail(z, 0.99);
    const v = filteredHistoricalVar(tail, 0, 0.03);
    expect(v.valueAtRisk).toBeCloseTo(0.03 * historicalVar(z, 0.99).valueAtRisk, 15);
    // Residuals drawn from a normal give close to the normal VaR.
    expect(v.valueAtRisk / parametricVar(0, 0.03, 0.99).valueAtRisk).toBeCloseTo(1, 1);
  });

  it('the rolling historical VaR equals the batch VaR of the same window at every bar', () => {
    const r = correlatedReturns(600, [0.02], 0, 9).returns[0]!;
    // Repeated values exercise the sorted window's removal of equal entries.
    for (let t = 0; t < 600; t += 7) r[t] = 0;
    const rolling = new RollingHistoricalVar(100, 0.95);
    for (let t = 0; t < 600; t++) {
      rolling.update(r[t] as number);
      const from = Math.max(0, t - 99);
      const batch = historicalVar(r.subarray(from, t + 1), 0.95);
      const got = rolling.estimate();
      expect(got.valueAtRisk).toBe(batch.valueAtRisk);
      expect(got.expectedShortfall).toBe(batch.expectedShortfall);
    }
  });

  it('portfolio: the historical figures come from w r_t, the parametric from sqrt(w S w)', () => {
    const w = correlatedReturns(500, [0.01, 0.02, 0.03], 0.5, 4);
    const weights = [0.5, 0.3, 0.2];
    const rp = portfolioReturns(w, weights);
    expect(rp[17]).toBeCloseTo(0.5 * w.returns[0]![17]! + 0.3 * w.returns[1]![17]! + 0.2 * w.returns[2]![17]!, 17);
    const { covariance } = ledoitWolf(w);
    const sigma = portfolioVolatility(weights, covariance);
    const direct = Math.sqrt(
      weights.reduce((s, wi, i) => s + weights.reduce((t, wj, j) => t + wi * wj * covariance[i]![j]!, 0), 0),
    );
    expect(sigma).toBeCloseTo(direct, 17);
    expect(() => portfolioReturns(w, [0.5, 0.5])).toThrow(/expected 3 weights, got 2/);
  });
});

describe('risk contributions', () => {
  it('component contributions sum to the volatility and the marginal ones are the gradient', () => {
    const cov = randomCovariance(6, 21);
    const weights = [0.3, -0.1, 0.25, 0.2, 0.15, 0.2];
    const rc = riskContributions(weights, cov);
    expect(rc.component.reduce((a, b) => a + b, 0)).toBeCloseTo(rc.volatility, 16);
    expect(rc.share.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
    const h = 1e-6;
    for (let i = 0; i < 6; i++) {
      const up = weights.map((w, j) => (j === i ? w + h : w));
      const down = weights.map((w, j) => (j === i ? w - h : w));
      const numeric = (portfolioVolatility(up, cov) - portfolioVolatility(down, cov)) / (2 * h);
      expect(rc.marginal[i]).toBeCloseTo(numeric, 8);
    }
    const cvar = componentVar(rc, 0.99);
    expect(cvar.reduce((a, b) => a + b, 0)).toBeCloseTo(parametricVar(0, rc.volatility, 0.99).valueAtRisk, 14);
  });
});

describe('drawdown statistics', () => {
  it('hand-computed: depth, peak, trough, recovery and time under water', () => {
    const equity = [100, 110, 99, 88, 95, 110, 120, 108, 114];
    const s = drawdownStats(equity);
    expect(s.max).toBeCloseTo(88 / 110 - 1, 15);
    expect([s.maxPeakIndex, s.maxTroughIndex, s.maxRecoveryIndex]).toEqual([1, 3, 5]);
    expect(s.longestUnderwaterBars).toBe(3);
    expect(s.current).toBeCloseTo(114 / 120 - 1, 15);
    expect(s.currentUnderwaterBars).toBe(2);
    const dds = [0, 0, 99 / 110 - 1, 88 / 110 - 1, 95 / 110 - 1, 0, 0, 108 / 120 - 1, 114 / 120 - 1];
    expect(s.average).toBeCloseTo(dds.reduce((a, b) => a + b, 0) / 9, 15);
  });

  it('a drawdown not yet recovered has no recovery bar; bad equity is named', () => {
    const t = new DrawdownTracker();
    for (const e of [100, 90, 95]) t.update(e);
    expect(t.stats().maxRecoveryIndex).toBe(-1);
    expect(() => t.update(Number.NaN)).toThrow(/index 3.*equity NaN/);
  });
});
