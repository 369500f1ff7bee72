import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkCovariance,
  ledoitWolf,
  type ReturnsWindow,
  RollingCovariance,
  sampleCovariance,
} from '../../src/risk/index.js';
import { correlatedReturns, maxAbsDiff } from './helpers.js';

interface LedoitWolfCase {
  name: string;
  returns: number[][];
  covariance: number[][];
  shrinkage: number;
}
const reference = JSON.parse(readFileSync(new URL('./fixtures/risk-reference.json', import.meta.url), 'utf8')) as {
  generatedBy: string;
  ledoitWolf: LedoitWolfCase[];
};

/** Bars x symbols rows to a ReturnsWindow. */
function windowOf(rows: readonly (readonly number[])[]): ReturnsWindow {
  const n = rows[0]!.length;
  return {
    symbols: Array.from({ length: n }, (_, i) => `S${i}`),
    returns: Array.from({ length: n }, (_, i) => Float64Array.from(rows, (r) => r[i] as number)),
  };
}

describe('Ledoit-Wolf shrinkage', () => {
  for (const c of reference.ledoitWolf) {
    it(`matches scikit-learn's LedoitWolf on ${c.name} (${reference.generatedBy})`, () => {
      const lw = ledoitWolf(windowOf(c.returns));
      expect(Math.abs(lw.shrinkage - c.shrinkage)).toBeLessThan(1e-12);
      const scale = Math.max(...c.covariance.flat().map(Math.abs));
      expect(maxAbsDiff(lw.covariance.flat(), c.covariance.flat()) / scale).toBeLessThan(1e-12);
    });
  }

  it('shrinks more when there are fewer bars per symbol', () => {
    const [small, large] = reference.ledoitWolf.map((c) => ledoitWolf(windowOf(c.returns)).shrinkage);
    expect(large!).toBeGreaterThan(small!);
    // 20 bars of 30 symbols: the sample covariance is singular, the shrunk one is not.
    const wide = windowOf(reference.ledoitWolf[1]!.returns);
    expect(() => checkCovariance(sampleCovariance(wide), 30)).toThrow(/not positive definite/);
    expect(() => checkCovariance(ledoitWolf(wide).covariance, 30)).not.toThrow();
  });

  const python = ['/usr/bin/python3', 'python3'].find(
    (exe) => spawnSync(exe, ['-c', 'import sklearn.covariance'], { encoding: 'utf8' }).status === 0,
  );
  it.skipIf(python === undefined)('matches scikit-learn run live on other data', () => {
    const window = correlatedReturns(250, [0.01, 0.02, 0.015, 0.03], 0.6, 11);
    const rows = Array.from({ length: 250 }, (_, t) => window.returns.map((r) => r[t] as number));
    const script =
      'import json,sys\nfrom sklearn.covariance import LedoitWolf\nlw=LedoitWolf().fit(json.load(sys.stdin))\n' +
      'print(json.dumps({"covariance": lw.covariance_.tolist(), "shrinkage": lw.shrinkage_}))';
    const run = spawnSync(python!, ['-c', script], { input: JSON.stringify(rows), encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const expected = JSON.parse(run.stdout) as { covariance: number[][]; shrinkage: number };
    const lw = ledoitWolf(window);
    expect(Math.abs(lw.shrinkage - expected.shrinkage)).toBeLessThan(1e-12);
    expect(maxAbsDiff(lw.covariance.flat(), expected.covariance.flat())).toBeLessThan(1e-15);
  });
  if (python === undefined)
    console.warn('skipping the live scikit-learn check: no python3 with scikit-learn (apt python3-sklearn)');
});

describe('sample and rolling covariance', () => {
  it('sample covariance agrees with the definition on a hand example', () => {
    const w = { symbols: ['A', 'B'], returns: [Float64Array.of(0.01, -0.02, 0.03), Float64Array.of(0.02, 0, -0.01)] };
    // means 0.00667, 0.00333; deviations A (0.00333, -0.02667, 0.02333), B (0.01667, -0.00333, -0.01333)
    const s = sampleCovariance(w);
    expect(s[0]![0]).toBeCloseTo((0.01 ** 2 + 0.02 ** 2 + 0.03 ** 2 - 3 * (0.02 / 3) ** 2) / 2, 15);
    expect(s[0]![1]).toBeCloseTo((0.01 * 0.02 + 0 + 0.03 * -0.01 - 3 * (0.02 / 3) * (0.01 / 3)) / 2, 15);
    expect(s[1]![0]).toBe(s[0]![1]);
  });

  it('the streaming window equals the batch covariance of the same bars at every bar', () => {
    const w = correlatedReturns(700, [0.01, 0.03, 0.02], 0.4, 3);
    const window = 50;
    const rolling = new RollingCovariance(3, window);
    let worst = 0;
    for (let t = 0; t < 700; t++) {
      rolling.update(w.returns.map((r) => r[t] as number));
      if (t + 1 < window) continue;
      const batch = sampleCovariance({
        symbols: w.symbols,
        returns: w.returns.map((r) => r.subarray(t + 1 - window, t + 1)),
      });
      worst = Math.max(worst, maxAbsDiff(rolling.matrix().flat(), batch.flat()));
    }
    expect(rolling.bars).toBe(window);
    expect(worst).toBeLessThan(1e-15);
  });

  it('names what is wrong with a bad covariance', () => {
    expect(() =>
      checkCovariance(
        [
          [1, 0.5],
          [0.4, 1],
        ],
        2,
      ),
    ).toThrow(/not symmetric at \[0\]\[1\]/);
    expect(() =>
      checkCovariance(
        [
          [1, Number.NaN],
          [Number.NaN, 1],
        ],
        2,
      ),
    ).toThrow(/not finite/);
    expect(() =>
      checkCovariance(
        [
          [1, 2],
          [2, 1],
        ],
        2,
      ),
    ).toThrow(/not positive definite/);
    expect(() => checkCovariance([[1]], 2)).toThrow(/1 rows, expected 2/);
    expect(() =>
      sampleCovariance({ symbols: ['A', 'B'], returns: [Float64Array.of(0.1, 0.2), Float64Array.of(0.1)] }),
    ).toThrow(/symbol B.*has 1 returns where the first symbol has 2/);
  });
});
