import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backtestVar, christoffersenTest, kupiecTest, qlike } from '../../src/risk/index.js';

const reference = JSON.parse(readFileSync(new URL('./fixtures/risk-reference.json', import.meta.url), 'utf8')) as {
  kupiec: { breaches: number; observations: number; level: number; statistic: number; pValue: number }[];
  christoffersen: { hits: number[]; statistic: number; pValue: number; n11: number };
};

describe('VaR backtests', () => {
  it("Kupiec's statistic and p-value match SciPy's chi2 on published-size cases", () => {
    for (const c of reference.kupiec) {
      const k = kupiecTest(c.breaches, c.observations, c.level);
      expect(k.statistic).toBeCloseTo(c.statistic, 10);
      expect(Math.abs(k.pValue - c.pValue)).toBeLessThan(1e-9);
    }
    // The Basel-style reading: 6 breaches in 250 days at 99% is not rejected at 5%, 25 in 1000 is.
    expect(kupiecTest(6, 250, 0.99).pValue).toBeGreaterThan(0.05);
    expect(kupiecTest(25, 1000, 0.99).pValue).toBeLessThan(0.001);
  });

  it("Christoffersen's independence test flags clustered breaches (SciPy reference)", () => {
    const c = christoffersenTest(reference.christoffersen.hits);
    expect(c.statistic).toBeCloseTo(reference.christoffersen.statistic, 10);
    expect(Math.abs(c.pValue - reference.christoffersen.pValue)).toBeLessThan(1e-9);
    expect(c.n11).toBe(reference.christoffersen.n11);
    // The same number of breaches spread out is not flagged.
    const spread = new Array(500).fill(0);
    for (const t of [40, 100, 160, 220, 280, 340, 400, 460]) spread[t] = 1;
    expect(christoffersenTest(spread).pValue).toBeGreaterThan(0.5);
  });

  it('backtestVar counts returns below -VaR and combines both tests', () => {
    const returns = [0.01, -0.03, 0.002, -0.011, -0.01, 0.02];
    const vars = [0.02, 0.02, 0.02, 0.01, 0.01, 0.01];
    const b = backtestVar(returns, vars, 0.95);
    expect(b.breaches).toBe(2); // -0.03 < -0.02 and -0.011 < -0.01; -0.01 is not below -0.01
    expect(b.breachRate).toBeCloseTo(2 / 6, 15);
    expect(b.conditionalCoverage.statistic).toBeCloseTo(b.kupiec.statistic + b.christoffersen.statistic, 14);
    expect(() => backtestVar([0.1], [0.1, 0.2], 0.99)).toThrow(/1 returns but 2 VaR forecasts/);
  });
});

describe('QLIKE', () => {
  it('is lowest for the true variance and needs positive forecasts', () => {
    const r = [0.01, -0.02, 0.015, -0.005];
    const trueVariance = r.map(() => 0.0002);
    const base = qlike(r, trueVariance);
    expect(base).toBeCloseTo(r.reduce((s, x) => s + Math.log(0.0002) + (x * x) / 0.0002, 0) / 4, 12);
    const mean2 = r.reduce((s, x) => s + x * x, 0) / 4;
    // For a constant forecast h, mean QLIKE ln h + mean(r^2) / h is minimised at h = mean(r^2).
    expect(
      qlike(
        r,
        r.map(() => mean2),
      ),
    ).toBeLessThan(
      qlike(
        r,
        r.map(() => mean2 * 1.5),
      ),
    );
    expect(
      qlike(
        r,
        r.map(() => mean2),
      ),
    ).toBeLessThan(
      qlike(
        r,
        r.map(() => mean2 / 1.5),
      ),
    );
    expect(() => qlike(r, [0.1, 0, 0.1, 0.1])).toThrow(/index 1.*not > 0/);
    expect(qlike(r, [0.1, 0, 0.1, 0.1], [true, false, true, true])).toBeCloseTo(
      (Math.log(0.1) * 3 + (r[0]! ** 2 + r[2]! ** 2 + r[3]! ** 2) / 0.1) / 3,
      12,
    );
  });
});
