import { beforeAll, describe, expect, it } from 'vitest';
import type { Candle } from '../../src/core/types.js';
import {
  type AlignedReturns,
  alignReturns,
  evaluateRiskWalkForward,
  PortfolioOptimizer,
  portfolioRiskReport,
  weightsFromPositions,
} from '../../src/risk/index.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';
import { correlatedReturns } from './helpers.js';

let optimizer: PortfolioOptimizer;
beforeAll(async () => {
  optimizer = await PortfolioOptimizer.create();
});

const candle = (symbol: string, timestamp: number, close: number): Candle => ({
  symbol,
  timeframe: '1d',
  timestamp,
  open: close,
  high: close,
  low: close,
  close,
  volume: 1,
});

describe('aligning symbols', () => {
  it('keeps only the timestamps every symbol has and differences the closes', () => {
    const a = [candle('A', 1, 100), candle('A', 2, 110), candle('A', 3, 121), candle('A', 4, 121)];
    const b = [candle('B', 1, 50), candle('B', 3, 40), candle('B', 4, 44)];
    const r = alignReturns([a, b]);
    expect([...r.timestamps]).toEqual([3, 4]);
    expect(r.returns[0]![0]).toBeCloseTo(0.21, 15); // 100 -> 121 across the bar B is missing
    expect(r.returns[1]![0]).toBeCloseTo(-0.2, 15);
    expect([...r.lastCloses]).toEqual([121, 44]);
    expect(() => alignReturns([a, a])).toThrow(/symbol A is given twice/);
    expect(() => alignReturns([a, [candle('B', 9, 1)]])).toThrow(/share 0 timestamp/);
  });
});

/** Seeded training noise followed by hand-picked test returns, as aligned returns. */
function withTestBars(train: number, test: readonly (readonly number[])[]): AlignedReturns {
  const noise = correlatedReturns(
    train,
    test.map(() => 0.01),
    0.3,
    17,
  );
  const returns = noise.returns.map((r, i) => Float64Array.from([...r, ...(test[i] as number[])]));
  const bars = returns[0]!.length;
  return {
    symbols: noise.symbols,
    returns,
    timestamps: Float64Array.from({ length: bars }, (_, t) => Date.UTC(2020, 0, 1) + t * 86_400_000),
    lastCloses: Float64Array.from(test, () => 1),
    commonBars: bars + 1,
  };
}

describe('walk-forward portfolio accounting', () => {
  it('equal weight: buys at the first test bar with the fee, drifts with prices, pays for the turnover back to 1/n', async () => {
    const data = withTestBars(150, [
      [0.1, 0, 0.02, 0],
      [-0.1, 0, -0.02, 0],
    ]);
    const r = await evaluateRiskWalkForward(
      data,
      { trainBars: 150, testBars: 2, feeRate: 0.001, optimizers: ['equal'] },
      optimizer,
    );
    expect(r.windows).toBe(2);
    expect(r.bars).toBe(4);
    // Window 1: turnover 1 from cash, fee 0.001; bar returns 0 and 0; weights drift to 0.55 / 0.45.
    // Window 2: turnover |0.5 - 0.55| + |0.5 - 0.45| = 0.1, fee 0.0001 on equity 0.999; bar returns 0 and 0.
    const p = r.portfolios[0]!;
    expect(p.turnoverPerRebalance).toBeCloseTo((1 + 0.1) / 2, 12);
    expect(p.costs).toBeCloseTo(0.001 + 0.0001 * 0.999, 15);
    expect(p.totalReturn).toBeCloseTo(0.999 * 0.9999 - 1, 15);
    expect(p.maxDrawdown).toBeCloseTo(0.999 * 0.9999 - 1, 15);
    expect(p.volatilityVsEqual).toBe(1);
    expect(r.assets[0]!.buyAndHold.totalReturn).toBeCloseTo(1.1 * 1.02 - 1, 14);
  });

  it('scores every test bar of every symbol with each VaR method and the three variance forecasts', async () => {
    const w = correlatedReturns(900, [0.01, 0.02, 0.015], 0.5, 23);
    const data: AlignedReturns = {
      ...w,
      timestamps: Float64Array.from({ length: 900 }, (_, t) => t * 3_600_000),
      lastCloses: Float64Array.of(1, 1, 1),
      commonBars: 901,
    };
    const r = await evaluateRiskWalkForward(
      data,
      { trainBars: 500, testBars: 100, optimizers: ['equal', 'min-variance', 'max-sharpe'] },
      optimizer,
    );
    expect(r.windows).toBe(4);
    expect(r.barsPerYear).toBeCloseTo(8760, 6);
    for (const a of r.assets) {
      expect(a.garch.fits).toBe(4);
      expect(a.qlike.bars).toBe(400);
      for (const b of Object.values(a.valueAtRisk)) expect(b.observations).toBe(400);
      // Normal data: the volatility models beat nothing by much, but the naive 20-bar variance is noisier.
      expect(a.qlike.garch).toBeLessThan(a.qlike.naive);
    }
    const minVar = r.portfolios.find((p) => p.method === 'min-variance')!;
    expect(minVar.volatilityVsEqual!).toBeLessThan(1);
  });

  it('names what it cannot do', async () => {
    const data = withTestBars(150, [[0.01], [0.02]]);
    await expect(evaluateRiskWalkForward(data, { trainBars: 200, testBars: 10 }, optimizer)).rejects.toThrow(
      /151 common returns are too few for a training window of 200/,
    );
    await expect(evaluateRiskWalkForward(data, { trainBars: 50, testBars: 10 }, optimizer)).rejects.toThrow(
      /trainBars must be an integer >= 100/,
    );
    // A setting that can never work is an error, not a portfolio held in cash.
    const ok = withTestBars(150, [
      [0.01, 0.02],
      [0.02, 0.01],
    ]);
    await expect(
      evaluateRiskWalkForward(
        ok,
        { trainBars: 150, testBars: 1, optimizers: ['risk-parity'], optimizerOptions: { longOnly: false } },
        optimizer,
      ),
    ).rejects.toThrow(/risk-parity is long-only/);
    await expect(
      evaluateRiskWalkForward(ok, { trainBars: 150, testBars: 1, optimizers: ['insight'] }, optimizer),
    ).rejects.toThrow(/insight needs probabilities/);
  });
});

describe('portfolio risk report', () => {
  it('VaR/ES by four methods, contributions that add up, positions valued at the last close', () => {
    const w = correlatedReturns(600, [0.01, 0.02], 0.4, 31);
    const report = portfolioRiskReport(w, [0.6, 0.4], { level: 0.99, equity: 10_000 });
    expect(report.valueAtRisk.map((v) => v.method)).toEqual([
      'historical',
      'normal (Ledoit-Wolf covariance)',
      'normal (EWMA volatility)',
      'filtered historical (GARCH volatility)',
    ]);
    for (const v of report.valueAtRisk) {
      expect(v.estimate.expectedShortfall).toBeGreaterThan(v.estimate.valueAtRisk);
      expect(v.estimate.valueAtRisk).toBeGreaterThan(0);
    }
    expect(report.contributions.component.reduce((a, b) => a + b, 0)).toBeCloseTo(report.contributions.volatility, 15);
    const positions = weightsFromPositions(
      { symbols: ['A', 'B'], lastCloses: Float64Array.of(100, 50) },
      { A: 3, B: 4 },
      500,
    );
    expect(positions.equity).toBe(1000);
    expect(positions.weights).toEqual([0.3, 0.2]);
    expect(() => weightsFromPositions({ symbols: ['A'], lastCloses: Float64Array.of(1) }, { C: 1 })).toThrow(
      /position in C, which is not in the data/,
    );
  });
});

// The acceptance runs on real data: slower than the rest (GARCH fits per window and symbol), bounded to a few seconds.
const STOCKS = ['yahoo_GOOG_1d.csv', 'yahoo_NVDA_1d.csv', 'yahoo_ORCL_1d.csv', 'yahoo_YHOO_1d.csv'];
const BITTREX = ['ADA', 'DASH', 'ETC', 'ETH', 'NXT', 'TRX', 'XLM', 'XMR', 'ZEC'].map((s) => `bittrex_${s}-BTC_5m.csv`);

for (const [name, files, testBars] of [
  ['daily stocks (GOOG, NVDA, ORCL, YHOO)', STOCKS, 21],
  ['Bittrex 5-minute set (9 pairs)', BITTREX, 96],
] as const) {
  describe.skipIf(!files.every(hasSharedData))(`walk-forward on real data: ${name}`, () => {
    it('minimum variance realises less volatility than equal weight; filtered-GARCH 99% VaR passes Kupiec at 5% on every symbol', async () => {
      const series = await Promise.all(files.map(async (f) => (await loadSharedCandles(f)).candles));
      const data = alignReturns(series);
      const r = await evaluateRiskWalkForward(
        data,
        { trainBars: 1000, testBars, optimizers: ['equal', 'min-variance'] },
        optimizer,
      );
      expect(r.portfolios[1]!.volatilityVsEqual!).toBeLessThan(0.95);
      for (const a of r.assets) {
        expect(a.valueAtRisk['filtered-garch'].kupiec.pValue, a.symbol).toBeGreaterThan(0.05);
        expect(a.qlike.ewma, a.symbol).toBeLessThan(a.qlike.naive);
      }
    });
  });
}

it('random-walk candles of two symbols align into returns (the loader path the CLI uses)', () => {
  const a = randomWalkCandles({ count: 50, seed: 1, symbol: 'A/USDT' });
  const b = randomWalkCandles({ count: 50, seed: 2, symbol: 'B/USDT' });
  const r = alignReturns([a, b]);
  expect(r.returns[0]).toHaveLength(49);
  expect(r.returns[1]![10]).toBeCloseTo(b[11]!.close / b[10]!.close - 1, 15);
});
