/**
 * Metrics on a 4-bar daily fixture, computed by hand.
 *
 * Start cash 100; equity after each day: 110, 99, 121, 121.
 * Per-bar returns: 110/100-1 = 0.1, 99/110-1 = -0.1, 121/99-1 = 2/9, 0.
 *   mean = (0.1 - 0.1 + 2/9 + 0) / 4 = 1/18
 *   deviations from the mean: 2/45, -7/45, 1/6, -1/18
 *   squares over 8100: 16 + 196 + 225 + 25 = 462 -> sample variance 462/8100/3 = 154/8100
 *   Sharpe  = (1/18) / sqrt(154/8100) * sqrt(365)          (365 daily bars a year)
 *   downside deviation = sqrt((-0.1)^2 / 4) = 0.05
 *   Sortino = (1/18) / 0.05 * sqrt(365)
 * Total return 121/100 - 1 = 0.21 over 4 days (first open to last close):
 *   annualised = 1.21^(365/4) - 1
 * Max drawdown: peak 110, trough 99 -> -0.1; Calmar = annualised / 0.1.
 * Trades P&L 10, -5, 20, 0: win rate 2/4, profit factor (10+20)/5 = 6.
 * Exposure 0, 50, 50, 0 -> 2 of 4 bars exposed = 0.5.
 */
import { describe, expect, it } from 'vitest';
import type { Trade } from '../../src/core/types.js';
import { annualize, computeMetrics } from '../../src/engine/metrics.js';

const DAY = 86_400_000;
const trade = (pnl: number): Trade => ({
  symbol: 'X',
  direction: 'long',
  entryTime: 0,
  entryPrice: 1,
  exitTime: 1,
  exitPrice: 1,
  quantity: 1,
  fees: 0,
  pnl,
  returnPct: pnl,
});

describe('computeMetrics', () => {
  it('matches the hand computation on a fixture', () => {
    const m = computeMetrics({
      timestamps: [0, DAY, 2 * DAY, 3 * DAY],
      equity: [110, 99, 121, 121],
      grossExposure: [0, 50, 50, 0],
      initialCash: 100,
      trades: [trade(10), trade(-5), trade(20), trade(0)],
      totalFees: 3.5,
      timeframeMs: DAY,
    });
    const annual = 1.21 ** (365 / 4) - 1;
    expect(m.totalReturn).toBeCloseTo(0.21, 14);
    expect(m.annualizedReturn / annual).toBeCloseTo(1, 12);
    expect(m.sharpe).toBeCloseTo((1 / 18 / Math.sqrt(154 / 8100)) * Math.sqrt(365), 12);
    expect(m.sortino).toBeCloseTo((1 / 18 / 0.05) * Math.sqrt(365), 12);
    expect(m.maxDrawdown).toBeCloseTo(-0.1, 14);
    expect(m.calmar / (annual / 0.1)).toBeCloseTo(1, 12);
    expect(m.winRate).toBe(0.5);
    expect(m.profitFactor).toBe(6);
    expect(m.exposure).toBe(0.5);
    expect(m.trades).toBe(4);
    expect(m.totalFees).toBe(3.5);
    expect(m.finalEquity).toBe(121);
  });

  it('uses Infinity for a profit factor without losing trades, 0 for empty inputs', () => {
    const m = computeMetrics({
      timestamps: [0, DAY],
      equity: [101, 102],
      initialCash: 100,
      trades: [trade(2)],
      totalFees: 0,
      timeframeMs: DAY,
    });
    expect(m.profitFactor).toBe(Number.POSITIVE_INFINITY);
    expect(m.maxDrawdown).toBe(0);
    expect(m.calmar).toBe(Number.POSITIVE_INFINITY);
    const empty = computeMetrics({
      timestamps: [],
      equity: [],
      initialCash: 100,
      trades: [],
      totalFees: 0,
      timeframeMs: DAY,
    });
    expect(empty).toMatchObject({ totalReturn: 0, annualizedReturn: 0, sharpe: 0, winRate: 0, profitFactor: 0 });
  });

  it('annualises by calendar time and floors a total loss at -100%', () => {
    expect(annualize(0.21, 2)).toBeCloseTo(0.1, 14);
    expect(annualize(-1.5, 1)).toBe(-1);
    expect(annualize(0.5, 0)).toBe(0);
  });
});

describe('annualisation uses the bars a series really has per year', () => {
  const DAY = 86_400_000;
  /** Equity of alternating +1% / -0.5% days on the given days. */
  function run(days: number[]) {
    const equity: number[] = [];
    let e = 10_000;
    days.forEach((_, i) => {
      e *= i % 2 === 0 ? 1.01 : 0.995;
      equity.push(e);
    });
    return computeMetrics({
      timestamps: days.map((d) => Date.UTC(2020, 0, 6) + d * DAY),
      equity,
      initialCash: 10_000,
      trades: [],
      totalFees: 0,
      timeframeMs: DAY,
    });
  }

  it('a weekday-only daily series is annualised with about 261 bars a year, a daily crypto one with 365', () => {
    const weekdays = Array.from({ length: 730 }, (_, i) => i).filter((d) => d % 7 < 5);
    const everyDay = Array.from({ length: 730 }, (_, i) => i);
    const stock = run(weekdays);
    const crypto = run(everyDay);
    // The same per-bar Sharpe (same alternating returns), scaled by sqrt(bars per year).
    const ratio = stock.sharpe / crypto.sharpe;
    expect(ratio).toBeCloseTo(Math.sqrt(weekdays.length / 730), 2);
    expect(weekdays.length / (730 / 365)).toBeCloseTo(260.7, 0);
  });
});
