/**
 * Risk layer speed.
 * - Optimiser solves for 10 and 50 symbols (HiGHS QPs; risk parity by Newton
 *   steps), against the closed-form unconstrained minimum variance
 *   S^-1 1 / 1'S^-1 1 (ml-matrix inverse) on the same covariance, in the same run.
 * - Streaming risk update per bar for 10 symbols (EWMA and GARCH variance,
 *   rolling 1,000-bar historical VaR, rolling 250-bar covariance, drawdown),
 *   against recomputing the window VaR and covariance from scratch every bar.
 * Run: npx tsx test/bench/risk.bench.ts
 */
import { pathToFileURL } from 'node:url';
import { inverse, Matrix } from 'ml-matrix';
import { Mulberry32, NormalSource } from '../../src/core/random.js';
import {
  DrawdownTracker,
  EwmaVariance,
  GarchVariance,
  historicalVar,
  type OptimizerMethod,
  type OptimizerOptions,
  PortfolioOptimizer,
  RollingCovariance,
  RollingHistoricalVar,
  sampleCovariance,
} from '../../src/risk/index.js';

function covarianceOf(n: number, seed: number): number[][] {
  const normals = new NormalSource(new Mulberry32(seed));
  const a = Array.from({ length: n }, () => Array.from({ length: n }, () => normals.next() * 0.01));
  return a.map((ri, i) =>
    a.map((rj, j) => ri.reduce((s, v, k) => s + v * (rj[k] as number), 0) / n + (i === j ? 1e-4 : 0)),
  );
}

function perCall(fn: () => void, minMs = 400): number {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  let calls = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    fn();
    calls++;
    elapsed = performance.now() - t0;
  }
  return elapsed / calls;
}

const ms = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);

export async function run(): Promise<void> {
  const optimizer = await PortfolioOptimizer.create();
  console.log('risk bench: optimiser solve time per call');
  const cases: [OptimizerMethod, OptimizerOptions][] = [
    ['min-variance', { maxWeight: 0.2 }],
    ['max-sharpe', { maxWeight: 0.2 }],
    ['mean-variance', { longOnly: false, maxWeight: 0.3, maxGross: 1.5, feeRate: 0.001, riskAversion: 5 }],
    ['risk-parity', {}],
  ];
  for (const n of [10, 50]) {
    const covariance = covarianceOf(n, n);
    const symbols = Array.from({ length: n }, (_, i) => `S${i}`);
    const expectedReturns = symbols.map((_, i) => 0.0002 + 0.0001 * (i % 7));
    const currentWeights = symbols.map(() => 1 / n);
    const ones = Matrix.columnVector(new Array(n).fill(1));
    const baseline = perCall(() => {
      const x = inverse(new Matrix(covariance)).mmul(ones);
      x.div(x.sum());
    });
    console.log(`  ${n} symbols; baseline closed-form unconstrained min-variance (ml-matrix inverse): ${ms(baseline)}`);
    for (const [method, options] of cases) {
      const t = perCall(() =>
        optimizer.targetWeights(method, { symbols, covariance, expectedReturns, currentWeights }, options),
      );
      console.log(
        `    ${method.padEnd(14)} ${JSON.stringify(options).padEnd(82)} ${ms(t).padStart(9)}  (${(t / baseline).toFixed(1)}x baseline)`,
      );
    }
  }

  const symbols = 10;
  const bars = 20_000;
  const normals = new NormalSource(new Mulberry32(3));
  const returns = Array.from({ length: bars }, () =>
    Float64Array.from({ length: symbols }, () => normals.next() * 0.01),
  );
  const params = { mean: 0, omega: 2e-6, alpha: 0.08, beta: 0.9 };
  let best = 0;
  for (let pass = 0; pass < 3; pass++) {
    const ewma = Array.from({ length: symbols }, () => new EwmaVariance(1e-4));
    const garch = Array.from({ length: symbols }, () => new GarchVariance(params, 1e-4));
    const hist = Array.from({ length: symbols }, () => new RollingHistoricalVar(1000, 0.99));
    const cov = new RollingCovariance(symbols, 250);
    const dd = new DrawdownTracker();
    let equity = 1;
    let sink = 0;
    const t0 = performance.now();
    for (const r of returns) {
      let rp = 0;
      for (let i = 0; i < symbols; i++) {
        const x = r[i] as number;
        ewma[i]!.update(x);
        garch[i]!.update(x);
        hist[i]!.update(x);
        rp += x / symbols;
      }
      cov.update(r);
      equity *= 1 + rp;
      dd.update(equity);
      if (cov.bars >= 2) sink += hist[0]!.estimate().valueAtRisk + cov.covariance(0, 1);
    }
    if (!Number.isFinite(sink)) throw new Error('non-finite risk');
    best = Math.max(best, bars / ((performance.now() - t0) / 1000));
  }
  // Baseline: the window VaR of each symbol and the window covariance recomputed per bar.
  const naiveBars = 300;
  const columns = Array.from({ length: symbols }, (_, i) => Float64Array.from(returns, (r) => r[i] as number));
  let sink = 0;
  const t0 = performance.now();
  for (let t = 1000; t < 1000 + naiveBars; t++) {
    for (let i = 0; i < symbols; i++)
      sink += historicalVar((columns[i] as Float64Array).subarray(t - 1000, t), 0.99).valueAtRisk;
    sink += sampleCovariance({
      symbols: columns.map((_, i) => `S${i}`),
      returns: columns.map((c) => c.subarray(t - 250, t)),
    })[0]![1]!;
  }
  if (!Number.isFinite(sink)) throw new Error('non-finite baseline');
  const naive = naiveBars / ((performance.now() - t0) / 1000);
  console.log(
    `risk bench: streaming update of ${symbols} symbols per bar (EWMA, GARCH, 1,000-bar VaR, 250-bar covariance, drawdown)`,
  );
  console.log(
    `  streaming: ${Math.round(best).toLocaleString('en-US')} bars/s (${(1e6 / best).toFixed(1)} µs per bar)`,
  );
  console.log(
    `  baseline, recomputing window VaR and covariance per bar: ${Math.round(naive).toLocaleString('en-US')} bars/s`,
  );
  console.log(`  ratio streaming/baseline: ${(best / naive).toFixed(0)}x`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
